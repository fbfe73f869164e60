/// Where enqueued events wait until the worker has settled their fate. The memory queue is
/// one; the durable outbox is another. The worker drives any of them the same way:
///
///     add (caller's thread) -> take (worker) -> send -> settle, or requeue to try again later
///
/// Every method may be called from any thread; an implementation does its own locking, and
/// none may block for long (the caller's thread waits on `add`).
public protocol EventQueue: AnyObject, Sendable {
    /// Queues a prepared event. Returns its sequence number and about how many events wait to
    /// be taken now (so the caller knows when to wake the worker). Throws `.queueFull` or
    /// `.storage`; nothing is queued then.
    func add(_ event: PreparedEvent) throws(SuprSendError) -> (sequence: UInt64, waiting: Int)

    /// Events waiting to be taken (for the stats).
    var waitingCount: Int { get }

    /// Whether the waiting events fill a request (by count, or by bytes).
    func hasFullBatch(maxEvents: Int, maxJSONBytes: Int) -> Bool

    /// The oldest waiting event's sequence number and enqueue time.
    var oldestWaiting: (sequence: UInt64, enqueuedAtMilliseconds: Int64)? { get }

    /// The highest sequence number given out so far (0 before the first event); for an outbox,
    /// by any process.
    var lastSequence: UInt64 { get }

    /// The lowest sequence number of any event without a fate, waiting or taken (by this
    /// client or, for an outbox, another process); nil when there is none.
    var lowestUnsettled: UInt64? { get }

    /// Hands the oldest waiting events to the worker: at most `maxEvents`, with JSON of at
    /// most `maxJSONBytes` in all (but at least one event).
    func take(maxEvents: Int, maxJSONBytes: Int) -> [QueuedEvent]

    /// Removes waiting events enqueued before `cutoffMilliseconds` (expired), oldest first.
    func takeExpired(enqueuedBefore cutoffMilliseconds: Int64, maxEvents: Int) -> [QueuedEvent]

    /// These events, taken earlier, failed for now: they wait again, before younger ones,
    /// with their attempts counted.
    func requeue(_ events: [QueuedEvent])

    /// These events, taken earlier, have their fate: the queue forgets them.
    func settle(_ events: [QueuedEvent])

    /// The worker is stopping: these events, taken earlier, have no fate. A durable queue
    /// keeps them (and whatever waits) for the next client; a memory queue forgets them.
    func release(_ events: [QueuedEvent])

    /// Whether events outlive the client (an outbox) or die with it (memory).
    var isDurable: Bool { get }

    /// How often the worker should look for events it was not told of (added by another
    /// process, or left by one that died); nil when every event comes through `add`.
    var pollInterval: Double? { get }

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
            guard held < capacity, heldBytes + Self.memoryBytes(queued) <= maxBytes else { return nil }
            sequence += 1
            events.append(queued)
            held += 1
            heldBytes += Self.memoryBytes(queued)
            waitingJSONBytes += queued.jsonByteCount
            return (sequence, events.count - head)
        }
        guard let result else {
            throw SuprSendError(.queueFull, "queue full: \(capacity) events, or \(maxBytes / (1024 * 1024)) MiB, wait "
                + "for delivery (the hub may be slow or unreachable); nothing was queued")
        }
        return result
    }

    public var waitingCount: Int { lock.withLock { events.count - head } }

    public func hasFullBatch(maxEvents: Int, maxJSONBytes: Int) -> Bool {
        lock.withLock { events.count - head >= maxEvents || waitingJSONBytes >= maxJSONBytes }
    }

    public var oldestWaiting: (sequence: UInt64, enqueuedAtMilliseconds: Int64)? {
        lock.withLock {
            guard head < events.count else { return nil }
            return (events[head].sequence, events[head].enqueuedAtMilliseconds)
        }
    }

    /// Waiting events only: the worker knows what it took.
    public var lowestUnsettled: UInt64? { oldestWaiting?.sequence }

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

    /// What an event holds in memory, for the byte bound: its JSON and its place in the queue.
    private static func memoryBytes(_ event: QueuedEvent) -> Int { event.jsonByteCount + 64 }

    public func requeue(_ failed: [QueuedEvent]) {
        guard !failed.isEmpty else { return }
        let sorted = failed.sorted { $0.sequence < $1.sequence }
        lock.withLock {
            // Oldest first: they go back in front of the waiting events, into the consumed
            // prefix when it has room.
            if head >= sorted.count {
                head -= sorted.count
                events.replaceSubrange(head..<(head + sorted.count), with: sorted)
            } else {
                events.insert(contentsOf: sorted, at: head)
            }
            waitingJSONBytes += sorted.reduce(0) { $0 + $1.jsonByteCount }
        }
    }

    public func settle(_ events: [QueuedEvent]) {
        let bytes = events.reduce(0) { $0 + Self.memoryBytes($1) }
        lock.withLock {
            held -= events.count
            heldBytes -= bytes
        }
    }

    public func release(_ events: [QueuedEvent]) { settle(events) }

    public var isDurable: Bool { false }
    public var pollInterval: Double? { nil }
    public var storageBytes: Int64 { 0 }
}
