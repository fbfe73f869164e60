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

    /// The attachments added so far, kept in a core event (its other fields are set when sent).
    private var withAttachments = SuprSendCore.Event(distinctId: "", name: "")
    /// An attachment that could not be added by a call that does not throw: thrown when sent.
    private var attachmentError: SuprSendCore.SuprSendError?

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
        do throws(SuprSendCore.SuprSendError) {
            try withAttachments.addAttachment(url, fileName: fileName, ignoreIfError: ignoreIfError)
        } catch {
            if attachmentError == nil { attachmentError = error }
        }
    }

    /// Reads a local file now and attaches it inline (base64). Throws `.attachment` when the
    /// file cannot be read, `.tooLarge` when no event could carry it.
    public mutating func addAttachment(file path: String, fileName: String?) throws(SuprSendError) {
        do throws(SuprSendCore.SuprSendError) {
            try withAttachments.addAttachment(path, fileName: fileName, ignoreIfError: false)
        } catch {
            throw SuprSendError(core: error)
        }
    }

    /// The core's event: what `track`, `enqueue` and bulks hand to SuprSendCore.
    func coreEvent() throws(SuprSendError) -> SuprSendCore.Event {
        if let attachmentError { throw SuprSendError(core: attachmentError) }
        var event = withAttachments
        event.distinctId = distinctID
        event.name = name
        event.idempotencyKey = idempotencyKey
        event.tenantId = tenantID
        event.brandId = brandID
        if !properties.isEmpty {
            var json: [UInt8] = []
            json.reserveCapacity(256)
            var keys: [String] = []
            keys.reserveCapacity(properties.count)
            if EventValue.writeObject(properties, to: &json, level: 1, keys: &keys) {
                // Well formed by construction: the core does not scan it again.
                event.setProperties(wellFormedObject: json, topLevelKeys: keys)
            } else {
                // A non-finite number or nesting too deep: the checked path says what and where.
                json.removeAll(keepingCapacity: true)
                try EventValue.object(properties).write(to: &json, path: "properties")
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

    /// Writes an object's members sorted by key (the same properties make the same bytes, and
    /// the same idempotent body), the object being at nesting `level`; `keys` gets the keys in
    /// that order. False, with `out` partly written, for what `write(to:path:)` refuses (a
    /// non-finite number) or the core would (nesting deeper than `maxLevel`): the caller then
    /// takes that path, whose error names the place. No path strings are built on the way.
    static func writeObject(_ members: [String: EventValue], to out: inout [UInt8], level: Int,
                            keys: inout [String]) -> Bool {
        writeObject(members, to: &out, level: level, keys: &keys, collectingKeys: true)
    }

    private static func writeObject(_ members: [String: EventValue], to out: inout [UInt8], level: Int,
                                    keys: inout [String], collectingKeys: Bool) -> Bool {
        out.append(UInt8(ascii: "{"))
        let count = members.count
        let done: Bool
        if count <= 32 {
            // The members' positions sorted by key in a buffer on the stack (insertion sort: a
            // handful of keys), instead of an array of (key, value) pairs on the heap.
            done = withUnsafeTemporaryAllocation(of: Dictionary<String, EventValue>.Index.self, capacity: count) { order in
                var sorted = 0
                var position = members.startIndex
                while position != members.endIndex {
                    let key = members.keys[position]
                    var slot = sorted
                    while slot > 0 && key < members.keys[order[slot - 1]] {
                        order.initializeElement(at: slot, to: order[slot - 1])
                        slot -= 1
                    }
                    order.initializeElement(at: slot, to: position)
                    sorted += 1
                    members.formIndex(after: &position)
                }
                for index in 0..<sorted {
                    let (key, value) = members[order[index]]
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    if collectingKeys { keys.append(key) }
                    writeString(key, to: &out)
                    out.append(UInt8(ascii: ":"))
                    guard value.writeUnchecked(to: &out, level: level) else { return false }
                }
                return true
            }
        } else {
            var first = true
            var ok = true
            for (key, value) in members.sorted(by: { $0.key < $1.key }) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                if collectingKeys { keys.append(key) }
                writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                guard value.writeUnchecked(to: &out, level: level) else {
                    ok = false
                    break
                }
            }
            done = ok
        }
        guard done else { return false }
        out.append(UInt8(ascii: "}"))
        return true
    }

    /// The value of a member or element of a container at nesting `level`. See `writeObject`.
    private func writeUnchecked(to out: inout [UInt8], level: Int) -> Bool {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value): Self.writeInteger(value, to: &out)
        case .double(let value):
            guard value.isFinite else { return false }
            out.append(contentsOf: value.description.utf8)
        case .string(let value): Self.writeString(value, to: &out)
        case .array(let values):
            guard level < Self.maxLevel else { return false }
            out.append(UInt8(ascii: "["))
            var first = true
            for value in values {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                guard value.writeUnchecked(to: &out, level: level + 1) else { return false }
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            guard level < Self.maxLevel else { return false }
            var none: [String] = []
            return Self.writeObject(members, to: &out, level: level + 1, keys: &none, collectingKeys: false)
        }
        return true
    }

    /// Decimal digits, as `String(value)` writes them, without making the string.
    private static func writeInteger(_ value: Int64, to out: inout [UInt8]) {
        if value >= 0 && value < 10 {
            out.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = 20
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }

    func write(to out: inout [UInt8], path: String) throws(SuprSendError) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value): out.append(contentsOf: String(value).utf8)
        case .double(let value):
            guard value.isFinite else {
                throw SuprSendError(code: .argument, message: "\(path): \(value) is not a JSON number")
            }
            out.append(contentsOf: value.description.utf8)
        case .string(let value): Self.writeString(value, to: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try value.write(to: &out, path: "\(path)[\(index)]")
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            // Sorted: the same properties make the same bytes (and the same idempotent body).
            for (index, (key, value)) in members.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                try value.write(to: &out, path: "\(path).\(key)")
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings need no escape: their bytes go in at once.
        let copied = string.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard bytes.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) else {
                return false
            }
            out.append(contentsOf: bytes)
            return true
        }
        if copied == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case 0x0A: out.append(contentsOf: "\\n".utf8)
            case 0x0D: out.append(contentsOf: "\\r".utf8)
            case 0x09: out.append(contentsOf: "\\t".utf8)
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(Hex.digit(byte >> 4))
                out.append(Hex.digit(byte & 0xF))
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
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
