/// The background worker's rules, from the options.
public struct WorkerSettings: Sendable {
    /// The longest an event waits for its batch to fill.
    public var flushIntervalMilliseconds = Configuration.Defaults.flushIntervalMilliseconds
    /// After this long since enqueue, an event's fate is `.timeout`.
    public var maxEventAgeSeconds = Configuration.Defaults.maxEventAgeSeconds
    public var maxEventsPerRequest = Chunking.maxEventsPerRequest
    public var maxBodyBytes = Chunking.maxBodyBytes
    /// Requests in flight at once when the queue is deep.
    public var maxRequestsInFlight = 4
    /// Back-off after failed requests (its maxRetries is not used: events are retried until
    /// they expire).
    public var retryPolicy = RetryPolicy()

    public init() {}
}

/// Time as the worker sees it; tests give a clock they move by hand.
public protocol WorkerClock: Sendable {
    /// Seconds on a clock that never jumps, for waits.
    func monotonicSeconds() -> Double
    /// Milliseconds since the Unix epoch, for the age of events (it must mean the same in
    /// another process, for an outbox).
    func wallMilliseconds() -> Int64
}

public struct SystemClock: WorkerClock {
    public init() {}
    public func monotonicSeconds() -> Double { Clock.monotonicSeconds() }
    public func wallMilliseconds() -> Int64 { Clock.nowMilliseconds() }
}

/// Counters of one client's background delivery (suprsend_client_stat).
public struct DeliveryStats: Sendable, Equatable {
    public var queued = 0
    public var inFlight = 0
    public var delivered = 0
    public var refused = 0
    public var dropped = 0
    public var retries = 0
    public var storageBytes: Int64 = 0
}

/// Takes batches from a queue, sends them through the bulk endpoint, reads each event's
/// fate from the answer and reports it; what may succeed later waits and is tried again.
///
/// The pipeline, one turn of `runOnce`:
///
///     plan (expire, pick batches to send) -> send (sign, start) -> wait -> settle (read answers, fates)
///
/// This class is the driver: it reads and writes the queue, runs the transport and the
/// callbacks, and keeps the flush and close protocol. What to send, when, and what each
/// answer means are `WorkerCore`'s decisions (no I/O, no lock), and the retry rules are
/// `RetryRules.swift`'s, shared with the calls.
///
/// One thread runs it (`run`); other threads only call `flush`, `requestStop`, `stats` and
/// `wake`. Nothing here knows of libcurl or of the C API: tests drive it with a scripted
/// transport and a hand-moved clock.
public final class DeliveryWorker: @unchecked Sendable {
    public typealias Report = @Sendable (DeliveryReport) -> Void

    let queue: EventQueue
    let transport: ConcurrentTransport
    let sender: RequestSender
    let settings: WorkerSettings
    let clock: WorkerClock
    let onReport: Report?
    let unitRandom: @Sendable () -> Double

    /// Guards everything below; held for bookkeeping only, never across I/O (the queue's SQL
    /// included) or callbacks.
    let state = ConditionLock()
    /// Events between the queue and `inFlight`, while the worker takes, returns or settles them
    /// outside the lock: the lowest sequence among them, 0 while a take has not said which. A
    /// flush counts them as without a fate.
    private var inTransit: UInt64?
    /// Counts the changes a flush waits for, so that one made while it read the queue (outside
    /// the lock) is not missed.
    private var changes = 0
    /// The decisions: batches in flight, back-off, flush and close targets, counters.
    private var core: WorkerCore
    /// The lowest sequence whose fate is being reported now; a flush waits for the callbacks.
    private var reportingFrom: UInt64?
    private var stopRequested = false
    private var stopped = false
    /// Events that had no fate when the worker stopped.
    public private(set) var leftAtStop = 0

    public init(queue: EventQueue, transport: ConcurrentTransport, sender: RequestSender, settings: WorkerSettings,
                clock: WorkerClock = SystemClock(), onReport: Report? = nil,
                unitRandom: (@Sendable () -> Double)? = nil) {
        self.queue = queue
        self.transport = transport
        self.sender = sender
        self.settings = settings
        self.core = WorkerCore(settings: settings)
        self.clock = clock
        self.onReport = onReport
        self.unitRandom = unitRandom ?? { SecureRandom.unitInterval() }
    }

    var logger: Logger { sender.logger }

    // MARK: - The worker's thread

    /// Runs until `requestStop`; then settles what is left (see `shutdown`).
    public func run() {
        while runOnce() {}
        shutdown()
    }

    /// One turn: returns false when a stop was requested.
    @discardableResult
    public func runOnce() -> Bool {
        // fork() waits for the planning, the sending and the settling as for any critical
        // section: the first turns make the Swift runtime build type metadata lazily, under its
        // own locks, and a child forked in the middle would inherit them held and hang on its
        // first turn. No user code runs in those parts: their log lines are written as each ends
        // (`Logger.log`, `ForkGeneration.afterSection`), callbacks run in `deliver`, and the
        // wait for the network is outside.
        let plan = ForkGeneration.withoutFork { makePlan() }
        if !plan.reports.isEmpty {
            logger.log(.error, "\(plan.reports.count) event(s) expired undelivered: \(plan.reports[0].message)")
        }
        deliver(plan.reports)
        guard !plan.stop else { return false }
        ForkGeneration.withoutFork {
            for batch in plan.batches {
                sendBatch(batch.events, id: batch.id)
            }
        }
        let ended = transport.wait(timeout: plan.timeout)
        let reports = ForkGeneration.withoutFork { settle(ended) }
        deliver(reports)
        return true
    }

    private struct Plan {
        var batches: [(id: Int, events: [QueuedEvent])] = []
        var reports: [DeliveryReport] = []
        var timeout = 3600.0
        var stop = false
    }

    /// Decides what expires and which batches go out now, and how long to wait after: the
    /// turn's start under the lock, the queue's reads and takes outside it, the bookkeeping
    /// under it.
    private func makePlan() -> Plan {
        let now = clock.monotonicSeconds()
        let wall = clock.wallMilliseconds()
        let turn: WorkerCore.TurnStart? = state.withLock {
            guard !stopRequested else { return nil }
            inTransit = 0
            changed()
            return core.startTurn(now: now, wall: wall)
        }
        guard let turn else { return Plan(stop: true) }

        let expired = turn.expiryDue
            ? queue.takeExpired(enqueuedBefore: core.expiryCutoff(wall: wall), maxEvents: 10_000) : []
        if !expired.isEmpty { queue.settle(expired) }
        var batches: [[QueuedEvent]] = []
        var takeFailed = false
        // The last look at the queue, while no take has changed it since.
        var peek: QueuePeek?
        while core.mayStart(turn, planned: batches.count) {
            let look = queue.peek(maxEvents: settings.maxEventsPerRequest, maxJSONBytes: settings.maxBodyBytes / 2)
            peek = look
            guard core.isDue(look, turn) else { break }
            peek = nil
            // Closing: nothing younger than what the close waits for (see isDue).
            let events = queue.take(maxEvents: settings.maxEventsPerRequest, maxJSONBytes: core.maxBatchJSONBytes,
                                    upTo: turn.closeLimit ?? .max)
            if events.isEmpty {
                // Due, yet nothing could be taken: the outbox failed to read or write (it
                // logged why).
                takeFailed = true
                break
            }
            batches.append(events)
        }
        let oldest = if let peek { peek.oldest } else { queue.oldestWaiting }

        return state.withLock {
            var plan = Plan()
            plan.reports = core.expired(expired)
            reportingFrom = expired.lazy.map(\.sequence).min()
            if takeFailed { core.queueFailed(now: now) }
            for index in batches.indices { core.prepareAttempt(&batches[index]) }
            plan.batches = core.begin(batches)
            inTransit = nil
            changed()
            plan.timeout = core.waitTime(now: now, wall: wall, oldest: oldest, pollInterval: queue.pollInterval)
            return plan
        }
    }

    /// A change a flush may be waiting for. Called with the lock held.
    private func changed() {
        changes &+= 1
        state.broadcast()
    }

    private func sendBatch(_ events: [QueuedEvent], id: Int) {
        var body = [UInt8]()
        body.reserveCapacity(events.reduce(2) { $0 + $1.jsonByteCount + 1 })
        body.append(UInt8(ascii: "["))
        for (index, event) in events.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            event.withJSON { body.append(contentsOf: $0) }
        }
        body.append(UInt8(ascii: "]"))
        let request = sender.signedRequest(.bulk, body: body)
        sender.logRequest(request, attempt: Int(events.first?.attempts ?? 1), of: nil)
        transport.start(request, id: id)
    }

    /// Reads the ends of requests (`WorkerCore.settle`, under the lock): each event's fate, or
    /// back to wait for a retry. The queue is told, and the log written, outside the lock.
    private func settle(_ ended: [(id: Int, result: Result<HTTPAnswer, TransportFailure>)]) -> [DeliveryReport] {
        guard !ended.isEmpty else { return [] }
        let now = clock.monotonicSeconds()
        let unixNow = Int(clock.wallMilliseconds() / 1000)
        let settled: WorkerCore.Settlement = state.withLock {
            let settled = core.settle(ended, now: now, unixNow: unixNow, unitRandom: unitRandom)
            if let lowest = settled.reports.lazy.map(\.event.sequence).min() {
                reportingFrom = lowest
            }
            inTransit = (settled.reports.lazy.map(\.event.sequence) + settled.requeue.lazy.map(\.sequence)).min()
            changed()
            return settled
        }
        for answer in settled.answers { sender.logAnswer(answer, seconds: 0) }
        for (level, line) in settled.lines { logger.log(level, line) }
        queue.requeue(settled.requeue)
        queue.settle(settled.reports.map(\.event))
        state.withLock {
            inTransit = nil
            changed()
        }
        return settled.reports
    }

    /// Runs the callback for each fate, outside the lock, then lets flushes see them.
    private func deliver(_ reports: [DeliveryReport]) {
        guard !reports.isEmpty else { return }
        if let onReport {
            for report in reports { onReport(report) }
        }
        state.withLock {
            reportingFrom = nil
            changed()
        }
    }

    /// At stop: abandons requests in flight; events without a fate stay in a durable queue, or
    /// are reported `.closed` from a memory queue.
    private func shutdown() {
        transport.cancelAll()
        let (taken, closeLimit): ([QueuedEvent], UInt64?) = state.withLock {
            let taken = core.abandonAll()
            inTransit = taken.lazy.map(\.sequence).min() ?? 0
            changed()
            return (taken, core.closeLimit)
        }
        var left: [QueuedEvent] = []
        let leftCount: Int
        if queue.isDurable {
            // The outbox keeps them, and what waits, for the next client.
            queue.release(taken)
            // Only what the close waited for counts: younger events (another process's, in a
            // shared outbox) are not this close's to deliver.
            leftCount = closeLimit.map { queue.unsettledCount(upTo: $0) } ?? queue.waitingCount
        } else {
            left = taken
            while true {
                let more = queue.take(maxEvents: 10_000, maxJSONBytes: Int.max)
                if more.isEmpty { break }
                left.append(contentsOf: more)
            }
            left.sort { $0.sequence < $1.sequence }
            queue.settle(left)
            leftCount = left.count
        }
        state.withLock {
            if !queue.isDurable { core.droppedAtStop(left.count) }
            leftAtStop = leftCount
            stopped = true
            reportingFrom = left.first?.sequence
            inTransit = nil
            changed()
        }
        if !left.isEmpty {
            logger.log(.error, "\(left.count) event(s) not delivered before the client closed")
            let message = "the client was closed before the event was delivered"
            deliver(left.map { DeliveryReport(status: .closed, httpStatus: Int($0.lastHTTPStatus), message: message, event: $0) })
        }
    }

    // MARK: - Other threads

    /// Makes the worker look at the queue now (an event arrived, a flush began).
    public func wake() {
        transport.wake()
    }

    /// The lowest sequence without a final, reported fate, from what the queue said (read
    /// outside the lock) and what the worker holds; nil when every event has one. Called with
    /// the lock held.
    private func lowestUnsettled(queueSays: UInt64?) -> UInt64? {
        var lowest = reportingFrom
        func consider(_ value: UInt64?) {
            guard let value else { return }
            lowest = min(lowest ?? value, value)
        }
        consider(queueSays)
        consider(inTransit)
        consider(core.lowestInFlight)
        return lowest
    }

    /// How a flush ended.
    public enum FlushOutcome: Equatable, Sendable {
        /// Every event it waited for has its fate.
        case done
        /// The deadline passed (or the worker stopped) first.
        case timedOut
        /// The queue is damaged, or was failing when the deadline passed: events may be stuck.
        case failed(SuprSendError)
    }

    /// Sends what is waiting now and waits until every event up to `sequence` has its fate,
    /// or the monotonic `deadline` passes (nil: no deadline). A damaged queue ends the wait at
    /// once; one that fails (a full disk) is named when the deadline passes.
    public func flush(upTo sequence: UInt64, deadline: Double?) -> FlushOutcome {
        var seen = state.withLock {
            core.flushTarget = max(core.flushTarget, sequence)
            return changes
        }
        transport.wake()
        func gaveUp() -> FlushOutcome { queue.failure.map { .failed($0) } ?? .timedOut }
        while true {
            if let damage = queue.damage { return .failed(damage) }
            // The queue is read outside the lock (an outbox reads its file), once per look: an
            // outbox changes under us (other processes), and two readings could disagree.
            let queueSays = queue.lowestUnsettled
            let outcome: FlushOutcome? = state.withLock {
                // The worker moved events meanwhile: what the queue said may be stale. Look
                // again, after a moment if it is busy (not to spin on the queue's reads).
                guard changes == seen else {
                    state.wait(until: Clock.monotonicSeconds() + 0.001)
                    seen = changes
                    return nil
                }
                guard let lowest = lowestUnsettled(queueSays: queueSays), lowest <= sequence else { return .done }
                if stopped { return gaveUp() }
                let now = clock.monotonicSeconds()
                if let deadline, now >= deadline { return gaveUp() }
                // Another process settling events of a shared outbox wakes no one here:
                // look again now and then.
                let wake = queue.pollInterval.map { now + min($0, 0.2) }
                state.wait(until: [deadline, wake].compactMap { $0 }.min())
                seen = changes
                return nil
            }
            if let outcome { return outcome }
        }
    }

    /// A close has begun: everything up to `sequence` goes out at once, nothing younger.
    public func beginClosing(upTo sequence: UInt64) {
        state.withLock { core.closeLimit = sequence }
        transport.wake()
    }

    /// Makes `run` end after its current turn.
    public func requestStop() {
        state.withLock { stopRequested = true }
        transport.wake()
    }

    /// The counters, with the queue's counts read outside the lock (an outbox reads its file)
    /// while no event is between the queue and the requests, so that each event is counted
    /// once: queued or in flight.
    public var stats: DeliveryStats {
        var seen = state.withLock {
            waitOutTransit()
            return changes
        }
        while true {
            let queued = queue.waitingCount
            let storageBytes = queue.storageBytes
            let stats: DeliveryStats? = state.withLock {
                guard changes == seen, inTransit == nil else {
                    waitOutTransit()
                    seen = changes
                    return nil
                }
                return core.stats(queued: queued, storageBytes: storageBytes)
            }
            if let stats { return stats }
        }
    }

    /// Waits while the worker moves events between the queue and the requests (it does not
    /// wait on the network meanwhile). Called with the lock held.
    private func waitOutTransit() {
        while inTransit != nil, !stopped { state.wait(until: Clock.monotonicSeconds() + 0.01) }
    }
}
