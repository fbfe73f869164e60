/// One enqueued event, as it waits and travels: its serialized bytes, fixed at enqueue, so
/// that every retry, in any process, sends the same $insert_id and idempotency key.
///
/// The fields a delivery report names (insert id, key, name, distinct_id) travel beside the
/// bytes when the queue stores them anyway (the outbox's columns); the memory queue keeps only
/// the bytes, so that 100,000 events cost little more than their JSON, and they are read back
/// from those when asked for.
public struct QueuedEvent: Sendable {
    /// Order of enqueueing, from 1; a flush waits for every event up to a sequence number.
    public var sequence: UInt64
    /// Wall-clock milliseconds at enqueue (the event's $time): the flush interval and the
    /// maximum age count from it.
    public let enqueuedAtMilliseconds: Int64
    /// Requests that carried the event so far.
    public var attempts: Int32 = 0
    /// The HTTP status of the last answer that did not settle it (0: none yet), reported
    /// with a fate that came without one (expired, closed).
    public var lastHTTPStatus: Int32 = 0
    /// The event object, as sent (made by `EventEncoder`).
    public let json: [UInt8]
    /// Its identity, when the queue keeps it apart from the bytes.
    public var identity: EventIdentity?

    public init(sequence: UInt64, enqueuedAtMilliseconds: Int64, json: [UInt8]) {
        self.sequence = sequence
        self.enqueuedAtMilliseconds = enqueuedAtMilliseconds
        self.json = json
    }

    public init(sequence: UInt64, prepared: PreparedEvent) {
        self.init(sequence: sequence, enqueuedAtMilliseconds: prepared.time, json: prepared.json)
    }

    /// Bytes of the event JSON.
    public var jsonByteCount: Int { json.count }

    public func withJSON<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        json.withUnsafeBufferPointer(body)
    }

    /// Its identity: kept apart by the queue, or read from the bytes in one walk. For a caller
    /// that wants more than one of the fields below (each of those reads the bytes again).
    public var fullIdentity: EventIdentity { identity ?? EventFields.identity(in: json) }

    /// Its identity's strings, decoded, each followed by a NUL, end to end in one buffer (insert
    /// id, idempotency key, name, distinct_id; `starts` says where each begins): for a C host
    /// that reads them all, without a `String` or an allocation per field.
    public var identityCStrings: (bytes: [UInt8], starts: (Int, Int, Int, Int)) {
        guard let identity else { return EventFields.identityCStrings(in: json) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(identity.insertId.utf8.count + identity.idempotencyKey.utf8.count
            + identity.name.utf8.count + identity.distinctId.utf8.count + 4)
        func append(_ text: String) -> Int {
            let start = bytes.count
            bytes.append(contentsOf: text.utf8)
            bytes.append(0)
            return start
        }
        let starts = (append(identity.insertId), append(identity.idempotencyKey), append(identity.name),
                      append(identity.distinctId))
        return (bytes, starts)
    }

    public var insertId: String { identity?.insertId ?? EventFields.string(EventFields.insertIdKey, in: json) }
    /// "" when the event has none.
    public var idempotencyKey: String { identity?.idempotencyKey ?? EventFields.idempotencyKey(in: json) }
    /// Whether the event carries an idempotency key (the hub drops a repeat of it).
    public var carriesIdempotencyKey: Bool {
        identity.map { !$0.idempotencyKey.isEmpty } ?? withJSON(EventEncoder.carriesIdempotencyKey)
    }
    public var name: String { identity?.name ?? EventFields.string(EventFields.nameKey, in: json) }
    public var distinctId: String { identity?.distinctId ?? EventFields.string(EventFields.distinctIdKey, in: json) }
}

/// What names an event in its fate, as fixed at enqueue.
public struct EventIdentity: Sendable, Equatable {
    public var insertId: String
    /// "" when the event has none.
    public var idempotencyKey: String
    public var name: String
    public var distinctId: String
}

/// Reads the top-level fields that `EventEncoder` writes before the properties
/// (`{"$insert_id":…,"$time":…,"event":…,"env":…,"distinct_id":…,"properties":`) and the
/// idempotency key after them, without parsing the caller's properties.
enum EventFields {
    // The quoted keys, as static strings: a stored static would be initialized lazily
    // (swift_once), and these are read on the host's threads, outside the sections fork()
    // waits for.
    static var insertIdKey: StaticString { #""$insert_id""# }
    static var nameKey: StaticString { #""event""# }
    static var distinctIdKey: StaticString { #""distinct_id""# }

    /// One member's string value ("" when absent).
    static func string(_ key: StaticString, in json: [UInt8]) -> String {
        json.withUnsafeBufferPointer { bytes in
            var found = ""
            walkLeadingStrings(bytes) { keyRange, valueRange in
                guard keyIs(bytes, keyRange, key) else { return true }
                found = decode(bytes, valueRange)
                return false
            }
            return found
        }
    }

    /// The insert id, name and distinct_id in one walk, and the key.
    static func identity(in json: [UInt8]) -> EventIdentity {
        json.withUnsafeBufferPointer { bytes in
            let found = identityRanges(bytes)
            func text(_ quoted: Range<Int>?) -> String { quoted.map { decode(bytes, $0) } ?? "" }
            return EventIdentity(insertId: text(found.insertId), idempotencyKey: text(found.idempotencyKey),
                                 name: text(found.name), distinctId: text(found.distinctId))
        }
    }

    /// The same, decoded into one buffer of NUL-terminated strings (see `QueuedEvent.identityCStrings`).
    static func identityCStrings(in json: [UInt8]) -> (bytes: [UInt8], starts: (Int, Int, Int, Int)) {
        json.withUnsafeBufferPointer { bytes in
            let found = identityRanges(bytes)
            var out: [UInt8] = []
            out.reserveCapacity((found.insertId?.count ?? 0) + (found.idempotencyKey?.count ?? 0)
                + (found.name?.count ?? 0) + (found.distinctId?.count ?? 0) + 4)
            func append(_ quoted: Range<Int>?) -> Int {
                let start = out.count
                if let quoted {
                    let inner = UnsafeBufferPointer(rebasing: bytes[(quoted.lowerBound + 1)..<(quoted.upperBound - 1)])
                    if inner.contains(UInt8(ascii: "\\")) {
                        out.append(contentsOf: decode(bytes, quoted).utf8)
                    } else {
                        out.append(contentsOf: inner)
                    }
                }
                out.append(0)
                return start
            }
            let starts = (append(found.insertId), append(found.idempotencyKey), append(found.name),
                          append(found.distinctId))
            return (out, starts)
        }
    }

    /// Where the quoted values of the identity's members stand (nil: absent), in one walk.
    private static func identityRanges(_ bytes: UnsafeBufferPointer<UInt8>)
        -> (insertId: Range<Int>?, idempotencyKey: Range<Int>?, name: Range<Int>?, distinctId: Range<Int>?) {
        var insertId: Range<Int>?, name: Range<Int>?, distinctId: Range<Int>?
        var left = 3
        walkLeadingStrings(bytes) { keyRange, valueRange in
            if keyIs(bytes, keyRange, insertIdKey) {
                insertId = valueRange
            } else if keyIs(bytes, keyRange, nameKey) {
                name = valueRange
            } else if keyIs(bytes, keyRange, distinctIdKey) {
                distinctId = valueRange
            } else {
                return true
            }
            left -= 1
            return left > 0
        }
        return (insertId, EventEncoder.idempotencyKeyValue(bytes), name, distinctId)
    }

    /// Whether `bytes[range]` is exactly `key`.
    private static func keyIs(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ key: StaticString) -> Bool {
        range.count == key.utf8CodeUnitCount && bytes.hasBytes(key, at: range.lowerBound)
    }

    /// Calls `visit` with the quoted key and quoted value of each string member before the
    /// properties, until it returns false. Integer members are stepped over.
    private static func walkLeadingStrings(_ bytes: UnsafeBufferPointer<UInt8>,
                                           _ visit: (Range<Int>, Range<Int>) -> Bool) {
        var index = 1  // past "{"
        // Members before "properties" are strings or integers; walk them one by one.
        while index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
            guard let keyEnd = stringEnd(bytes, from: index), keyEnd + 1 < bytes.count,
                  bytes[keyEnd + 1] == UInt8(ascii: ":") else { return }
            let valueStart = keyEnd + 2
            // The properties object comes after every member read here.
            guard valueStart < bytes.count, bytes[valueStart] != UInt8(ascii: "{"),
                  bytes[valueStart] != UInt8(ascii: "[") else { return }
            if bytes[valueStart] == UInt8(ascii: "\"") {
                guard let valueEnd = stringEnd(bytes, from: valueStart) else { return }
                guard visit(index..<(keyEnd + 1), valueStart..<(valueEnd + 1)) else { return }
                index = valueEnd + 2
            } else {
                var end = valueStart
                while end < bytes.count, bytes[end] != UInt8(ascii: ","), bytes[end] != UInt8(ascii: "}") { end += 1 }
                if end < bytes.count, bytes[end] == UInt8(ascii: "}") { return }
                index = end + 1
            }
            guard index < bytes.count, bytes[index - 1] == UInt8(ascii: ",") else { return }
        }
    }

    static func idempotencyKey(in json: [UInt8]) -> String {
        json.withUnsafeBufferPointer { bytes in
            guard let range = EventEncoder.idempotencyKeyValue(bytes) else { return "" }
            return decode(bytes, range)
        }
    }

    /// The index of the closing quote of the JSON string whose opening quote is at `start`.
    private static func stringEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var index = start + 1
        // Past the words with neither a quote nor a backslash (a UUID, a name) eight bytes at a time.
        let words = UnsafeRawBufferPointer(bytes)
        while index + 8 <= words.count {
            let word = words.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            if ByteWords.contains(UInt8(ascii: "\""), in: word) || ByteWords.contains(UInt8(ascii: "\\"), in: word) { break }
            index += 8
        }
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""): return index
            default: index += 1
            }
        }
        return nil
    }

    /// A quoted JSON string (quotes included) as text.
    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ quoted: Range<Int>) -> String {
        let inner = UnsafeBufferPointer(rebasing: bytes[(quoted.lowerBound + 1)..<(quoted.upperBound - 1)])
        if !inner.contains(UInt8(ascii: "\\")) { return String(decoding: inner, as: UTF8.self) }
        return JSONValue.parse(UnsafeBufferPointer(rebasing: bytes[quoted]))?.stringValue ?? ""
    }
}
