import SuprSendCore

/// The objects behind the opaque C handles. Each is a Swift object retained once when its
/// handle is given out and released by the matching _free.
final class OptionsObject {
    var configuration: Configuration
    init(_ configuration: Configuration) { self.configuration = configuration }
}

final class ClientObject {
    let client: Client
    init(_ client: Client) { self.client = client }
}

final class EventObject {
    var event: Event
    init(_ event: Event) { self.event = event }
}

final class ResponseObject {
    let accepted: Bool
    let statusCode: Int32
    let message: OwnedCString
    let body: OwnedCString

    init(_ result: Client.TrackResult) {
        accepted = result.accepted
        statusCode = Int32(clamping: result.statusCode)
        message = OwnedCString(result.message)
        body = OwnedCString(bytes: result.body)
    }
}

final class BulkObject {
    /// The bulk keeps its client alive, so freeing the client first cannot break it.
    let owner: ClientObject
    let batch: BulkBatch
    init(_ owner: ClientObject) {
        self.owner = owner
        self.batch = BulkBatch(client: owner.client)
    }
}

final class BulkResponseObject {
    let result: BulkResult
    let status: OwnedCString
    let failedRecordsJSON: OwnedCString
    /// Each failed record's message and JSON as C strings, made when first asked for; they
    /// live as long as the response.
    private var messages: [OwnedCString?]
    private var records: [OwnedCString?]

    init(_ result: BulkResult) {
        self.result = result
        status = OwnedCString(result.status)
        failedRecordsJSON = OwnedCString(bytes: result.failedRecordsJSON())
        messages = Array(repeating: nil, count: result.failedRecords.count)
        records = Array(repeating: nil, count: result.failedRecords.count)
    }

    /// The failed record at `index`, nil past the end.
    func failed(_ index: Int) -> FailedRecord? {
        result.failedRecords.indices.contains(index) ? result.failedRecords[index] : nil
    }

    func message(_ index: Int) -> UnsafePointer<CChar>? {
        guard let record = failed(index) else { return nil }
        if let made = messages[index] { return made.cString }
        let made = OwnedCString(record.error)
        messages[index] = made
        return made.cString
    }

    func recordJSON(_ index: Int) -> UnsafePointer<CChar>? {
        guard let record = failed(index) else { return nil }
        if let made = records[index] { return made.cString }
        let made = OwnedCString(bytes: record.record.isEmpty ? Array("null".utf8) : record.record)
        records[index] = made
        return made.cString
    }
}

/// One event's fate, as the delivery callback sees it. Its C strings are made only when a
/// getter asks for them: most callbacks read the status and little else.
final class DeliveryObject {
    enum Field { case message, insertId, idempotencyKey, eventName, distinctId }

    let report: DeliveryReport
    private var message: OwnedCString?
    /// The identity's four strings, read from the event's bytes in one walk into one buffer when
    /// the first is asked for: a host that shows a fate (the Go, Node and Python bindings) reads
    /// them all.
    private lazy var identity: (texts: OwnedCString, starts: (Int, Int, Int, Int)) = {
        let (bytes, starts) = report.event.identityCStrings
        return (OwnedCString(bytes: bytes), starts)
    }()

    init(_ report: DeliveryReport) { self.report = report }

    func text(_ field: Field) -> UnsafePointer<CChar> {
        let start: Int
        switch field {
        case .message:
            if let message { return message.cString }
            let made = OwnedCString(report.message)
            message = made
            return made.cString
        case .insertId: start = identity.starts.0
        case .idempotencyKey: start = identity.starts.1
        case .eventName: start = identity.starts.2
        case .distinctId: start = identity.starts.3
        }
        return identity.texts.cString + start
    }
}

/// Converting between objects and the pointers C holds.
///
/// Every handle is checked to be of the kind the function takes: a C host (or a binding that
/// passes `void *` around) may hand an event to a response getter, and that must be an error,
/// not a read of the wrong object's memory. A pointer that is no handle at all cannot be told
/// apart; that stays undefined, as in every C API.
enum Handle {
    static func make<T: AnyObject>(_ object: T) -> OpaquePointer {
        OpaquePointer(Unmanaged.passRetained(object).toOpaque())
    }

    static func get<T: AnyObject>(_ pointer: OpaquePointer?, as type: T.Type = T.self) -> T? {
        guard let pointer else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue() as? T
    }

    /// Releases the handle's object if it is of this kind; anything else is left alone.
    static func release<T: AnyObject>(_ pointer: OpaquePointer?, as type: T.Type) {
        guard let pointer else { return }
        let unmanaged = Unmanaged<AnyObject>.fromOpaque(UnsafeRawPointer(pointer))
        guard unmanaged.takeUnretainedValue() is T else {
            LastError.set("free: the handle is another kind of suprsend object; nothing was freed")
            return
        }
        unmanaged.release()
    }

    /// The object behind a handle, or an argument error naming it.
    static func require<T: AnyObject>(_ pointer: OpaquePointer?, _ name: String, as type: T.Type = T.self) throws(SuprSendError) -> T {
        guard let pointer else { throw SuprSendError(.argument, "\(name): must not be NULL") }
        guard let object: T = get(pointer) else {
            throw SuprSendError(.argument, "\(name): the handle is another kind of suprsend object")
        }
        return object
    }
}
