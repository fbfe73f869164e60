/// One enqueued event, as it waits and travels: its serialized bytes (fixed at enqueue, so
/// every retry, in any process, sends the same $insert_id and idempotency key) and what the
/// delivery callback reports of it.
///
/// Kept as one allocation: a queue of 100,000 events should cost little more than their bytes.
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
    /// The event JSON, then its insert id, idempotency key, name and distinct_id.
    private let storage: [UInt8]
    private let jsonCount: Int32
    private let insertIdCount: Int32
    private let keyCount: Int32
    private let nameCount: Int32

    public init(sequence: UInt64, enqueuedAtMilliseconds: Int64, json: [UInt8], insertId: String,
                idempotencyKey: String?, name: String, distinctId: String) {
        self.sequence = sequence
        self.enqueuedAtMilliseconds = enqueuedAtMilliseconds
        let key = idempotencyKey ?? ""
        var storage = [UInt8]()
        storage.reserveCapacity(json.count + insertId.utf8.count + key.utf8.count + name.utf8.count + distinctId.utf8.count)
        storage.append(contentsOf: json)
        storage.append(contentsOf: insertId.utf8)
        storage.append(contentsOf: key.utf8)
        storage.append(contentsOf: name.utf8)
        storage.append(contentsOf: distinctId.utf8)
        self.storage = storage
        jsonCount = Int32(json.count)
        insertIdCount = Int32(insertId.utf8.count)
        keyCount = Int32(key.utf8.count)
        nameCount = Int32(name.utf8.count)
    }

    public init(sequence: UInt64, prepared: PreparedEvent) {
        self.init(sequence: sequence, enqueuedAtMilliseconds: prepared.time, json: prepared.json,
                  insertId: prepared.insertId, idempotencyKey: prepared.idempotencyKey,
                  name: prepared.name, distinctId: prepared.distinctId)
    }

    /// Bytes of the event JSON.
    public var jsonByteCount: Int { Int(jsonCount) }
    /// What the event holds in memory, for the queue's byte bound.
    var memoryBytes: Int { storage.count + 64 }

    public func withJSON<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        storage.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[0..<Int(jsonCount)])) }
    }

    public var json: [UInt8] { Array(storage[0..<Int(jsonCount)]) }

    private func text(from start: Int, count: Int32) -> String {
        String(decoding: storage[start..<(start + Int(count))], as: UTF8.self)
    }

    public var insertId: String { text(from: Int(jsonCount), count: insertIdCount) }
    /// "" when the event has none.
    public var idempotencyKey: String { text(from: Int(jsonCount + insertIdCount), count: keyCount) }
    public var name: String { text(from: Int(jsonCount + insertIdCount + keyCount), count: nameCount) }
    public var distinctId: String {
        let start = Int(jsonCount + insertIdCount + keyCount + nameCount)
        return String(decoding: storage[start...], as: UTF8.self)
    }
}

/// The final fate of one event, as the delivery callback reports it.
public struct DeliveryReport: Sendable {
    /// .ok delivered; .http refused by the hub; .timeout expired; .closed dropped at close.
    public var status: Status
    /// The hub's status for the event (its record's, or the request's); 0 when none.
    public var httpStatus: Int
    /// The message_id when delivered, else why not.
    public var message: String
    public var event: QueuedEvent
}
