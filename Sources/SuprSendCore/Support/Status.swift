/// The status codes of the C API (include/suprsend.h). Values are append-only.
public enum Status: Int32, Sendable {
    case ok = 0
    case argument = 1
    case validation = 2
    case tooLarge = 3
    case attachment = 4
    case network = 5
    case http = 6
    case timeout = 7
    case queueFull = 8
    case storage = 9
    case closed = 10
    case `internal` = 99

    public var name: StaticString {
        switch self {
        case .ok: "SUPRSEND_OK"
        case .argument: "SUPRSEND_E_ARGUMENT"
        case .validation: "SUPRSEND_E_VALIDATION"
        case .tooLarge: "SUPRSEND_E_TOO_LARGE"
        case .attachment: "SUPRSEND_E_ATTACHMENT"
        case .network: "SUPRSEND_E_NETWORK"
        case .http: "SUPRSEND_E_HTTP"
        case .timeout: "SUPRSEND_E_TIMEOUT"
        case .queueFull: "SUPRSEND_E_QUEUE_FULL"
        case .storage: "SUPRSEND_E_STORAGE"
        case .closed: "SUPRSEND_E_CLOSED"
        case .internal: "SUPRSEND_E_INTERNAL"
        }
    }
}

/// An error with the status the C API returns for it and a message for suprsend_last_error().
public struct SuprSendError: Error, Sendable, Equatable {
    public var status: Status
    public var message: String

    public init(_ status: Status, _ message: String) {
        self.status = status
        self.message = message
    }

    static func argument(_ message: String) -> SuprSendError { SuprSendError(.argument, message) }
    static func validation(_ message: String) -> SuprSendError { SuprSendError(.validation, message) }
}
