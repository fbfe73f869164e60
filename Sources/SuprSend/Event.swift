internal import SuprSendCore

/// One event to track: who (`distinctID`), what (`name`), its properties, and optionally an
/// idempotency key, a tenant and attachments. A value: each `track` or `enqueue` of it is a new
/// occurrence with its own `$insert_id` and `$time`.
///
/// ```swift
/// var event = Event(distinctID: "user-1", name: "order_placed",
///                   properties: ["n": 1, "f": 0.5, "s": "x", "b": true, "z": nil, "a": [1, 2], "o": ["k": "v"]])
/// event.addAttachment(url: "https://example.com/invoice.pdf")
/// try event.addAttachment(file: "invoices/receipt.pdf", fileName: "receipt.pdf")
/// ```
public struct Event: Sendable {
    public var distinctID: String
    public var name: String
    public var properties: [String: EventValue]
    /// The hub accepts one event per key within 24 hours; nil (or blank) means none.
    public var idempotencyKey: String?
    public var tenantID: String?
    /// The brand the event is sent for; nil means none.
    public var brandID: String?

    /// What `addAttachment` gathered, behind one reference: most events have none, and stay
    /// small to build, copy and drop.
    private var attachments: Attachments?

    public init(distinctID: String, name: String, properties: [String: EventValue] = [:],
                idempotencyKey: String? = nil, tenantID: String? = nil) {
        self.distinctID = distinctID
        self.name = name
        self.properties = properties
        self.idempotencyKey = idempotencyKey
        self.tenantID = tenantID
    }

    /// Adds an attachment the hub downloads. A URL that is not http(s) with a host makes the
    /// send of this event throw `.argument`.
    public mutating func addAttachment(url: String, fileName: String? = nil, ignoreIfError: Bool = false) {
        var event = attachments?.event ?? SuprSendCore.Event(distinctId: "", name: "")
        var firstError = attachments?.error
        do throws(SuprSendCore.SuprSendError) {
            try event.addAttachment(url, fileName: fileName, ignoreIfError: ignoreIfError)
        } catch {
            if firstError == nil { firstError = error }
        }
        attachments = Attachments(event: event, error: firstError)
    }

    /// Reads a local file now and attaches it inline (base64). Throws `.attachment` when the
    /// file cannot be read, `.tooLarge` when no event could carry it.
    public mutating func addAttachment(file path: String, fileName: String?) throws(SuprSendError) {
        var event = attachments?.event ?? SuprSendCore.Event(distinctId: "", name: "")
        do throws(SuprSendCore.SuprSendError) {
            try event.addAttachment(path, fileName: fileName, ignoreIfError: false)
        } catch {
            throw SuprSendError(core: error)
        }
        attachments = Attachments(event: event, error: attachments?.error)
    }

    /// The core's event: what `track`, `enqueue` and bulks hand to SuprSendCore.
    func coreEvent() throws(SuprSendError) -> SuprSendCore.Event {
        if let error = attachments?.error { throw SuprSendError(core: error) }
        var event: SuprSendCore.Event
        if let withAttachments = attachments?.event {
            event = withAttachments
            event.distinctId = distinctID
            event.name = name
        } else {
            event = SuprSendCore.Event(distinctId: distinctID, name: name)
        }
        event.idempotencyKey = idempotencyKey
        event.tenantId = tenantID
        event.brandId = brandID
        if !properties.isEmpty {
            var reservedKeys: [String] = []
            if let json = EventValue.objectJSON(properties, reservedKeys: &reservedKeys) {
                // Well formed by construction: the core does not scan it again.
                event.setProperties(wellFormedObject: json, reservedKeys: reservedKeys)
            } else {
                // A non-finite number or nesting too deep: the checked path says what and where.
                let json = try EventValue.checkedObjectJSON(properties)
                do throws(SuprSendCore.SuprSendError) {
                    try event.setProperties(json: json)
                } catch {
                    throw SuprSendError(core: error)
                }
            }
        }
        return event
    }
}

/// The attachments added to an `Event` (kept in a core event, whose other fields are set when it
/// is sent) and the first that could not be added by a call that does not throw (thrown then).
/// Immutable, so events that share one stay values: adding makes a new one.
private final class Attachments: Sendable {
    let event: SuprSendCore.Event
    let error: SuprSendCore.SuprSendError?

    init(event: SuprSendCore.Event, error: SuprSendCore.SuprSendError?) {
        self.event = event
        self.error = error
    }
}

/// A JSON value of an event's properties, written as a literal of its kind:
/// `1`, `0.5`, `"x"`, `true`, `nil`, `[1, 2]`, `["k": "v"]`.
public enum EventValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    /// Must be finite: NaN and infinities make the send throw `.argument` (JSON has neither).
    case double(Double)
    case string(String)
    case array([EventValue])
    case object([String: EventValue])

    /// The deepest nesting the core accepts (the properties object itself is level 1).
    static let maxLevel = SuprSendCore.EventProperties.maxDepth
}

extension EventValue: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { self = .null }
}

extension EventValue: ExpressibleByBooleanLiteral {
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension EventValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .int(value) }
}

extension EventValue: ExpressibleByFloatLiteral {
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension EventValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension EventValue: ExpressibleByArrayLiteral {
    public init(arrayLiteral elements: EventValue...) { self = .array(elements) }
}

extension EventValue: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, EventValue)...) {
        // The last of a repeated key wins.
        var members = [String: EventValue](minimumCapacity: elements.count)
        for (key, value) in elements { members[key] = value }
        self = .object(members)
    }
}
