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

    /// `oldestWaiting` and `hasFullBatch` in one look (for an outbox, one query instead of two
    /// at every turn of the worker).
    func peek(maxEvents: Int, maxJSONBytes: Int) -> QueuePeek

    /// The highest sequence number given out so far (0 before the first event); for an outbox,
    /// by any process.
    var lastSequence: UInt64 { get }

    /// The lowest sequence number of any event without a fate, waiting or taken (by this
    /// client or, for an outbox, another process); nil when there is none.
    var lowestUnsettled: UInt64? { get }

    /// How many events up to `sequence` have no fate yet: as `lowestUnsettled`, waiting or
    /// taken for an outbox, waiting only for a memory queue.
    func unsettledCount(upTo sequence: UInt64) -> Int

    /// Hands the oldest waiting events to the worker: at most `maxEvents`, with JSON of at
    /// most `maxJSONBytes` in all (but at least one event), none after sequence `last`.
    func take(maxEvents: Int, maxJSONBytes: Int, upTo last: UInt64) -> [QueuedEvent]

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

    /// Damage that stops the queue for good (an outbox found corrupt, deleted or replaced):
    /// its events are not sent, new ones are refused, flush and close report it. Nil in memory.
    var damage: SuprSendError? { get }

    /// Why the queue's last operation failed (a full disk, an I/O error, a lock held too long
    /// elsewhere), while it fails; damage too. A flush that times out reports this instead.
    var failure: SuprSendError? { get }
}

/// What the worker needs to know of the waiting events to decide whether to send now.
public struct QueuePeek: Sendable {
    public var oldest: (sequence: UInt64, enqueuedAtMilliseconds: Int64)?
    public var full: Bool

    public init(oldest: (sequence: UInt64, enqueuedAtMilliseconds: Int64)?, full: Bool) {
        self.oldest = oldest
        self.full = full
    }
}

extension EventQueue {
    public var damage: SuprSendError? { nil }
    public var failure: SuprSendError? { nil }

    public func peek(maxEvents: Int, maxJSONBytes: Int) -> QueuePeek {
        guard let oldest = oldestWaiting else { return QueuePeek(oldest: nil, full: false) }
        return QueuePeek(oldest: oldest, full: hasFullBatch(maxEvents: maxEvents, maxJSONBytes: maxJSONBytes))
    }

    /// The oldest waiting events, whatever their sequence.
    public func take(maxEvents: Int, maxJSONBytes: Int) -> [QueuedEvent] {
        take(maxEvents: maxEvents, maxJSONBytes: maxJSONBytes, upTo: .max)
    }
}

/// The default queue: events in memory, bounded by count and bytes. Counts every event from
/// `add` to `settle`/`release`, so that events waiting for a retry or in flight use room too
/// and an outage cannot grow memory past the bound.
///
/// Waiting events are packed end to end (`ByteBlocks`), 32 bytes of bookkeeping each: an
/// array per event would cost its header and malloc's rounding, a tenth of a small event.
/// Events get arrays of their own when the worker takes them (a few hundred at a time).
public final class MemoryQueue: EventQueue, @unchecked Sendable {
    public static let defaultCapacity = 100_000
    public static let capacityLimit = 10_000_000
    public static let defaultMaxBytes = 256 * 1024 * 1024

    /// A waiting event: its JSON is in `store`.
    private struct Entry {
        var sequence: UInt64
        var enqueuedAtMilliseconds: Int64
        var json: ByteBlocks.Span
    }

    private let capacity: Int
    private let maxBytes: Int
    private let lock = Lock()
    /// Waiting events from `head` on; the consumed prefix is dropped now and then.
    private var entries: [Entry] = []
    private var head = 0
    /// The waiting events' JSON; blocks whose events were all taken are dropped.
    private var store = ByteBlocks()
    /// Events that failed and wait again, oldest first: older than every entry, since every
    /// taken event came from the head.
    private var requeued: [QueuedEvent] = []
    private var waitingJSONBytes = 0
    /// Events added and not yet settled or released (waiting, in flight, or awaiting a retry).
    private var held = 0
    private var heldBytes = 0
    private var sequence: UInt64 = 0

    public init(capacity: Int = defaultCapacity, maxBytes: Int = defaultMaxBytes) {
        self.capacity = max(capacity, 1)
        self.maxBytes = max(maxBytes, 1)
    }

    /// What an event holds in memory, for the byte bound: its JSON and its bookkeeping.
    private static func memoryBytes(_ jsonBytes: Int) -> Int { jsonBytes + 32 }

    public func add(_ event: PreparedEvent) throws(SuprSendError) -> (sequence: UInt64, waiting: Int) {
        let count = event.json.count
        let result: (UInt64, Int)? = lock.withLock {
            guard held < capacity, heldBytes + Self.memoryBytes(count) <= maxBytes, count < Int(Int32.max) else { return nil }
            sequence += 1
            entries.append(Entry(sequence: sequence, enqueuedAtMilliseconds: event.time, json: store.append(event.json)))
            held += 1
            heldBytes += Self.memoryBytes(count)
            waitingJSONBytes += count
            return (sequence, requeued.count + entries.count - head)
        }
        guard let result else {
            throw SuprSendError(.queueFull, "queue full: \(capacity) events, or \(maxBytes / (1024 * 1024)) MiB, wait "
                + "for delivery (the hub may be slow or unreachable); nothing was queued")
        }
        return result
    }

    public var waitingCount: Int { lock.withLock { requeued.count + entries.count - head } }

    public func hasFullBatch(maxEvents: Int, maxJSONBytes: Int) -> Bool {
        lock.withLock { requeued.count + entries.count - head >= maxEvents || waitingJSONBytes >= maxJSONBytes }
    }

    public var oldestWaiting: (sequence: UInt64, enqueuedAtMilliseconds: Int64)? {
        lock.withLock {
            if let first = requeued.first { return (first.sequence, first.enqueuedAtMilliseconds) }
            guard head < entries.count else { return nil }
            return (entries[head].sequence, entries[head].enqueuedAtMilliseconds)
        }
    }

    /// Waiting events only: the worker knows what it took.
    public var lowestUnsettled: UInt64? { oldestWaiting?.sequence }

    public var lastSequence: UInt64 { lock.withLock { sequence } }

    public func unsettledCount(upTo sequence: UInt64) -> Int {
        lock.withLock {
            // Both lists are in sequence order.
            requeued.prefix { $0.sequence <= sequence }.count
                + entries[head...].prefix { $0.sequence <= sequence }.count
        }
    }

    public func take(maxEvents: Int, maxJSONBytes: Int, upTo last: UInt64) -> [QueuedEvent] {
        lock.withLock {
            var taken: [QueuedEvent] = []
            var bytes = 0
            func fits(_ count: Int) -> Bool { taken.count < maxEvents && (taken.isEmpty || bytes + count <= maxJSONBytes) }
            while let first = requeued.first, first.sequence <= last, fits(first.jsonByteCount) {
                bytes += first.jsonByteCount
                taken.append(requeued.removeFirst())
            }
            var end = head
            while end < entries.count, entries[end].sequence <= last, fits(Int(entries[end].json.count)) {
                bytes += Int(entries[end].json.count)
                taken.append(event(at: end))
                end += 1
            }
            dropEntries(upTo: end)
            waitingJSONBytes -= bytes
            return taken
        }
    }

    public func takeExpired(enqueuedBefore cutoffMilliseconds: Int64, maxEvents: Int) -> [QueuedEvent] {
        lock.withLock {
            var taken: [QueuedEvent] = []
            var bytes = 0
            while let first = requeued.first, taken.count < maxEvents, first.enqueuedAtMilliseconds < cutoffMilliseconds {
                bytes += first.jsonByteCount
                taken.append(requeued.removeFirst())
            }
            var end = head
            while end < entries.count, taken.count < maxEvents, entries[end].enqueuedAtMilliseconds < cutoffMilliseconds {
                bytes += Int(entries[end].json.count)
                taken.append(event(at: end))
                end += 1
            }
            dropEntries(upTo: end)
            waitingJSONBytes -= bytes
            return taken
        }
    }

    /// The waiting event at `index` of `entries`, with its JSON copied out. Lock held.
    private func event(at index: Int) -> QueuedEvent {
        let entry = entries[index]
        return QueuedEvent(sequence: entry.sequence, enqueuedAtMilliseconds: entry.enqueuedAtMilliseconds,
                           json: store.bytes(entry.json))
    }

    /// Forgets the entries before `end` (taken), and the blocks no waiting entry is in. Lock held.
    private func dropEntries(upTo end: Int) {
        guard end > head else { return }
        head = end
        if head == entries.count {
            entries.removeAll(keepingCapacity: entries.count <= 4096)
            head = 0
            store.removeAll()
            return
        }
        store.dropBlocks(before: entries[head].json)
        if head >= 4096 && head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    public func requeue(_ failed: [QueuedEvent]) {
        guard !failed.isEmpty else { return }
        lock.withLock {
            requeued = (requeued + failed).sorted { $0.sequence < $1.sequence }
            waitingJSONBytes += failed.reduce(0) { $0 + $1.jsonByteCount }
        }
    }

    public func settle(_ events: [QueuedEvent]) {
        let bytes = events.reduce(0) { $0 + Self.memoryBytes($1.jsonByteCount) }
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
