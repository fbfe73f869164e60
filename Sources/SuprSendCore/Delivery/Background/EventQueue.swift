/// Where enqueued events wait until the worker has settled their fate. The memory queue is
/// one; a durable outbox is another. The worker drives any of them the same way:
///
///     add (caller's thread) -> take (worker) -> send, retry -> settle, each event once
///
/// Every method may be called from any thread; an implementation does its own locking, and
/// none may block for long (the caller's thread waits on `add`).
public protocol EventQueue: AnyObject, Sendable {
    /// Queues a prepared event. Returns its sequence number and how many events wait to be
    /// taken now (so the caller knows when to wake the worker). Throws `.queueFull` or
    /// `.storage`; nothing is queued then.
    func add(_ event: PreparedEvent) throws(SuprSendError) -> (sequence: UInt64, waiting: Int)

    /// Events waiting to be taken, and their bytes of JSON.
    var waiting: (count: Int, jsonBytes: Int) { get }

    /// The oldest waiting event's sequence number and enqueue time.
    var oldestWaiting: (sequence: UInt64, enqueuedAtMilliseconds: Int64)? { get }

    /// The last sequence number given out (0 before the first event).
    var lastSequence: UInt64 { get }

    /// Removes the oldest waiting events from the queue and hands them to the worker: at most
    /// `maxEvents`, with JSON of at most `maxJSONBytes` in all (but at least one event).
    func take(maxEvents: Int, maxJSONBytes: Int) -> [QueuedEvent]

    /// Removes waiting events enqueued before `cutoffMilliseconds` (expired), oldest first.
    func takeExpired(enqueuedBefore cutoffMilliseconds: Int64, maxEvents: Int) -> [QueuedEvent]

    /// These events, taken earlier, have their fate: the queue forgets them.
    func settle(_ events: [QueuedEvent])

    /// These events, taken earlier, have no fate and the worker is stopping. A durable queue
    /// keeps them for the next client; a memory queue forgets them (they are reported closed).
    func release(_ events: [QueuedEvent])

    /// Whether events outlive the client (an outbox) or die with it (memory).
    var isDurable: Bool { get }

    /// Bytes the queue takes on disk (0 in memory).
    var storageBytes: Int64 { get }
}

/// The default queue: events in memory, bounded by count and bytes. Counts every event from
/// `add` to `settle`/`release`, so that events waiting for a retry or in flight use room too
/// and an outage cannot grow memory past the bound.
public final class MemoryQueue: EventQueue, @unchecked Sendable {
    public static let defaultCapacity = 100_000
    public static let capacityLimit = 10_000_000
    public static let defaultMaxBytes = 256 * 1024 * 1024

    private let capacity: Int
    private let maxBytes: Int
    private let lock = Lock()
    /// Waiting events from `head` on; the consumed prefix is dropped now and then.
    private var events: [QueuedEvent] = []
    private var head = 0
    private var waitingJSONBytes = 0
    /// Events added and not yet settled or released (waiting, in flight, or awaiting a retry).
    private var held = 0
    private var heldBytes = 0
    private var sequence: UInt64 = 0

    public init(capacity: Int = defaultCapacity, maxBytes: Int = defaultMaxBytes) {
        self.capacity = max(capacity, 1)
        self.maxBytes = max(maxBytes, 1)
    }

    public func add(_ event: PreparedEvent) throws(SuprSendError) -> (sequence: UInt64, waiting: Int) {
        let result: (UInt64, Int)? = lock.withLock {
            let queued = QueuedEvent(sequence: sequence + 1, prepared: event)
            guard held < capacity, heldBytes + queued.memoryBytes <= maxBytes else { return nil }
            sequence += 1
            events.append(queued)
            held += 1
            heldBytes += queued.memoryBytes
            waitingJSONBytes += queued.jsonByteCount
            return (sequence, events.count - head)
        }
        guard let result else {
            throw SuprSendError(.queueFull, "queue full: \(capacity) events, or \(maxBytes / (1024 * 1024)) MiB, wait "
                + "for delivery (the hub may be slow or unreachable); nothing was queued")
        }
        return result
    }

    public var waiting: (count: Int, jsonBytes: Int) {
        lock.withLock { (events.count - head, waitingJSONBytes) }
    }

    public var oldestWaiting: (sequence: UInt64, enqueuedAtMilliseconds: Int64)? {
        lock.withLock {
            guard head < events.count else { return nil }
            return (events[head].sequence, events[head].enqueuedAtMilliseconds)
        }
    }

    public var lastSequence: UInt64 { lock.withLock { sequence } }

    public func take(maxEvents: Int, maxJSONBytes: Int) -> [QueuedEvent] {
        lock.withLock {
            var end = head
            var bytes = 0
            while end < events.count, end - head < maxEvents,
                  end == head || bytes + events[end].jsonByteCount <= maxJSONBytes {
                bytes += events[end].jsonByteCount
                end += 1
            }
            return removeWaiting(upTo: end, jsonBytes: bytes)
        }
    }

    public func takeExpired(enqueuedBefore cutoffMilliseconds: Int64, maxEvents: Int) -> [QueuedEvent] {
        lock.withLock {
            var end = head
            var bytes = 0
            while end < events.count, end - head < maxEvents, events[end].enqueuedAtMilliseconds < cutoffMilliseconds {
                bytes += events[end].jsonByteCount
                end += 1
            }
            return removeWaiting(upTo: end, jsonBytes: bytes)
        }
    }

    /// Called with the lock held.
    private func removeWaiting(upTo end: Int, jsonBytes: Int) -> [QueuedEvent] {
        guard end > head else { return [] }
        let taken = Array(events[head..<end])
        head = end
        waitingJSONBytes -= jsonBytes
        if head == events.count {
            events.removeAll(keepingCapacity: events.count <= 4096)
            head = 0
        } else if head >= 4096 && head * 2 >= events.count {
            events.removeFirst(head)
            head = 0
        }
        return taken
    }

    public func settle(_ events: [QueuedEvent]) {
        let bytes = events.reduce(0) { $0 + $1.memoryBytes }
        lock.withLock {
            held -= events.count
            heldBytes -= bytes
        }
    }

    public func release(_ events: [QueuedEvent]) { settle(events) }

    public var isDurable: Bool { false }
    public var storageBytes: Int64 { 0 }
}
