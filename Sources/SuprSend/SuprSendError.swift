internal import SuprSendCore

/// Every error the `SuprSend` module throws: what went wrong (`code`, the C API's status),
/// the hub's HTTP status when it answered, and a message for people.
///
/// A struct with an open set of codes, in the style of AsyncHTTPClient's `HTTPClientError`, so
/// that a new code is not a breaking change. It is not the core's `SuprSendError` (from
/// `SuprSendCore`, which this module imports internally): that one is the C API's status and
/// message, with the status numbers of suprsend.h, and stays free to change with the core; this
/// one is public API, adds the HTTP status the core keeps elsewhere, and is made from the
/// core's at the module's edge (`init(core:)`).
public struct SuprSendError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is: one of the C API's statuses (`SUPRSEND_E_*`).
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        fileprivate enum Base: String, Sendable, Hashable {
            case argument, validation, tooLarge, attachment, network, http, timeout, queueFull, storage, closed
            case `internal`
        }

        fileprivate let base: Base

        /// A bad argument or option (SUPRSEND_E_ARGUMENT).
        public static let argument = Code(base: .argument)
        /// The event breaks one of the hub's rules; nothing was sent (SUPRSEND_E_VALIDATION).
        public static let validation = Code(base: .validation)
        /// The event or an attachment is too large (SUPRSEND_E_TOO_LARGE).
        public static let tooLarge = Code(base: .tooLarge)
        /// An attachment could not be read (SUPRSEND_E_ATTACHMENT).
        public static let attachment = Code(base: .attachment)
        /// No answer from the hub after every try (SUPRSEND_E_NETWORK).
        public static let network = Code(base: .network)
        /// The hub refused the event; `httpStatus` says how (SUPRSEND_E_HTTP).
        public static let http = Code(base: .http)
        /// A flush or shutdown deadline passed (SUPRSEND_E_TIMEOUT).
        public static let timeout = Code(base: .timeout)
        /// The background queue is full (SUPRSEND_E_QUEUE_FULL).
        public static let queueFull = Code(base: .queueFull)
        /// The outbox failed (SUPRSEND_E_STORAGE).
        public static let storage = Code(base: .storage)
        /// The client is shut down (SUPRSEND_E_CLOSED).
        public static let closed = Code(base: .closed)
        /// A bug or a resource the library could not get (SUPRSEND_E_INTERNAL).
        public static let `internal` = Code(base: .internal)

        public var description: String { base.rawValue }
    }

    public let code: Code
    /// The hub's HTTP status when it answered (`.http`), else nil.
    public let httpStatus: Int?
    public let message: String

    public init(code: Code, httpStatus: Int? = nil, message: String) {
        self.code = code
        self.httpStatus = httpStatus
        self.message = message
    }

    public var description: String {
        "SuprSendError.\(code)\(httpStatus.map { " (HTTP \($0))" } ?? ""): \(message)"
    }

    init(core error: SuprSendCore.SuprSendError, httpStatus: Int? = nil) {
        self.init(code: Code(core: error.status), httpStatus: httpStatus, message: error.message)
    }

    init(_ status: SuprSendCore.Status, httpStatus: Int? = nil, message: String) {
        self.init(code: Code(core: status), httpStatus: httpStatus, message: message)
    }
}

extension SuprSendError.Code {
    init(core status: SuprSendCore.Status) {
        switch status {
        case .argument: self = .argument
        case .validation: self = .validation
        case .tooLarge: self = .tooLarge
        case .attachment: self = .attachment
        case .network: self = .network
        case .http: self = .http
        case .timeout: self = .timeout
        case .queueFull: self = .queueFull
        case .storage: self = .storage
        case .closed: self = .closed
        case .internal, .ok: self = .internal
        }
    }
}
