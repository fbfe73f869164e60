/// The background worker's rules, from the options.
public struct WorkerSettings: Sendable {
    /// The longest an event waits for its batch to fill.
    public var flushIntervalMilliseconds = 1000
    /// After this long since enqueue, an event's fate is `.timeout`.
    public var maxEventAgeSeconds = 82_800
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
    /// Batches in requests now, by request id.
    private var inFlight: [Int: [QueuedEvent]] = [:]
    private var nextRequestId = 1
    /// No request starts before this (monotonic seconds): back-off, or the hub's Retry-After.
    private var pausedUntil = 0.0
    private var consecutiveFailures = 0
    /// Events up to this sequence are sent without waiting for the flush interval.
    private var flushTarget: UInt64 = 0
    /// The lowest sequence whose fate is being reported now; a flush waits for the callbacks.
    private var reportingFrom: UInt64?
    /// Set by `beginClosing`: the last sequence the close delivers.
    private var closeLimit: UInt64?
    /// When expiry was last looked for (monotonic): once a second is enough, and an outbox
    /// pays a transaction for each look.
    private var lastExpiryCheck = -Double.infinity
    private var stopRequested = false
    private var stopped = false
    private var counters = DeliveryStats()
    /// Events that had no fate when the worker stopped.
    public private(set) var leftAtStop = 0

    public init(queue: EventQueue, transport: ConcurrentTransport, sender: RequestSender, settings: WorkerSettings,
                clock: WorkerClock = SystemClock(), onReport: Report? = nil,
                unitRandom: (@Sendable () -> Double)? = nil) {
        self.queue = queue
        self.transport = transport
        self.sender = sender
        self.settings = settings
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
    /// inputs under the lock, the queue's reads and takes outside it, the bookkeeping under it.
    private func makePlan() -> Plan {
        let now = clock.monotonicSeconds()
        let wall = clock.wallMilliseconds()
        struct Inputs {
            var stop = false
            var expiryDue = false
            var inFlight = 0
            var pausedUntil = 0.0
            var failing = false
            var closeLimit: UInt64?
            var flushTarget: UInt64 = 0
        }
        let inputs: Inputs = state.withLock {
            guard !stopRequested else { return Inputs(stop: true) }
            let expiryDue = now - lastExpiryCheck >= 1
            if expiryDue { lastExpiryCheck = now }
            inTransit = 0
            changed()
            return Inputs(expiryDue: expiryDue, inFlight: inFlight.count, pausedUntil: pausedUntil,
                          failing: consecutiveFailures > 0, closeLimit: closeLimit, flushTarget: flushTarget)
        }
        guard !inputs.stop else { return Plan(stop: true) }

        let expired = inputs.expiryDue ? expire(wall: wall) : []
        let maxJSONBytes = settings.maxBodyBytes - 2 - settings.maxEventsPerRequest
        var batches: [[QueuedEvent]] = []
        var retried = 0
        var takeFailed = false
        // The last look at the queue, while no take has changed it since.
        var peek: QueuePeek?
        while inputs.inFlight + batches.count < settings.maxRequestsInFlight, now >= inputs.pausedUntil,
              // While the hub is failing, one request probes it at a time.
              !inputs.failing || inputs.inFlight + batches.count == 0 {
            let look = queue.peek(maxEvents: settings.maxEventsPerRequest, maxJSONBytes: settings.maxBodyBytes / 2)
            peek = look
            guard queueIsDue(look, wall: wall, closeLimit: inputs.closeLimit, flushTarget: inputs.flushTarget) else { break }
            peek = nil
            // Closing: nothing younger than what the close waits for (see queueIsDue).
            var events = queue.take(maxEvents: settings.maxEventsPerRequest, maxJSONBytes: maxJSONBytes,
                                    upTo: inputs.closeLimit ?? .max)
            if events.isEmpty {
                // Due, yet nothing could be taken: the outbox failed to read or write (it
                // logged why). Look again in a second rather than spin.
                takeFailed = true
                break
            }
            // Failed events wait in the queue again, in front: sending them is a retry.
            if events.contains(where: { $0.attempts > 0 }) { retried += 1 }
            for index in events.indices { events[index].attempts += 1 }
            batches.append(events)
        }
        let oldest = if let peek { peek.oldest } else { queue.oldestWaiting }

        return state.withLock {
            var plan = Plan()
            plan.reports = expired
            counters.dropped += expired.count
            counters.retries += retried
            reportingFrom = expired.lazy.map(\.event.sequence).min()
            if takeFailed { pausedUntil = max(pausedUntil, now + 1) }
            for events in batches {
                let id = nextRequestId
                nextRequestId += 1
                inFlight[id] = events
                plan.batches.append((id, events))
            }
            inTransit = nil
            changed()
            plan.timeout = waitTime(now: now, wall: wall, oldest: oldest)
            return plan
        }
    }

    /// A change a flush may be waiting for. Called with the lock held.
    private func changed() {
        changes &+= 1
        state.broadcast()
    }

    /// Whether the waiting events should go out now.
    private func queueIsDue(_ peek: QueuePeek, wall: Int64, closeLimit: UInt64?, flushTarget: UInt64) -> Bool {
        guard let oldest = peek.oldest else { return false }
        // Closing: only what the close waits for goes out; a request started now for younger
        // events (another process's, in a shared outbox) would be abandoned when the worker stops.
        if let closeLimit { return oldest.sequence <= closeLimit }
        if oldest.sequence <= flushTarget { return true }
        if peek.full { return true }
        let age = wall - oldest.enqueuedAtMilliseconds
        return age >= Int64(settings.flushIntervalMilliseconds) || age < 0
    }

    /// Seconds until something is due: the end of a pause, or the flush interval of the
    /// oldest waiting event when a request could start. A full set of requests in flight
    /// wakes the wait by ending. Called with the lock held.
    private func waitTime(now: Double, wall: Int64, oldest: (sequence: UInt64, enqueuedAtMilliseconds: Int64)?) -> Double {
        let hasWork = oldest != nil
        // Expiry is checked at least once a minute while events wait; an outbox is looked at
        // now and then for events that other processes added.
        var wait = hasWork ? 60.0 : 3600.0
        if let poll = queue.pollInterval { wait = min(wait, poll) }
        let canStart = inFlight.count < settings.maxRequestsInFlight && (consecutiveFailures == 0 || inFlight.isEmpty)
        if now < pausedUntil {
            if hasWork { wait = min(wait, pausedUntil - now) }
        } else if canStart, let oldest, closeLimit.map({ oldest.sequence <= $0 }) ?? true {
            let due = oldest.enqueuedAtMilliseconds + Int64(settings.flushIntervalMilliseconds) - wall
            wait = min(wait, max(Double(due) / 1000, 0.001))
        }
        return max(wait, 0.001)
    }

    /// Takes expired events out of the queue. Without the lock (the caller counts them).
    private func expire(wall: Int64) -> [DeliveryReport] {
        let cutoff = wall - Int64(settings.maxEventAgeSeconds) * 1000
        let expired = queue.takeExpired(enqueuedBefore: cutoff, maxEvents: 10_000)
        guard !expired.isEmpty else { return [] }
        queue.settle(expired)
        let message = "not delivered within max_event_age_s (\(settings.maxEventAgeSeconds) s)"
        return expired.map { DeliveryReport(status: .timeout, httpStatus: Int($0.lastHTTPStatus), message: message, event: $0) }
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

    /// Reads the ends of requests: each event's fate, or back to wait for a retry. The fates
    /// and the back-off are decided under the lock; the queue is told outside it.
    private func settle(_ ended: [(id: Int, result: Result<HTTPAnswer, TransportFailure>)]) -> [DeliveryReport] {
        guard !ended.isEmpty else { return [] }
        let now = clock.monotonicSeconds()
        var again: [QueuedEvent] = []
        let reports: [DeliveryReport] = state.withLock {
            var reports: [DeliveryReport] = []
            for (id, result) in ended {
                guard let events = inFlight.removeValue(forKey: id) else { continue }
                switch result {
                case .success(let answer) where RetryPolicy.isRetryable(status: answer.status):
                    sender.logAnswer(answer, seconds: 0)
                    let retryAfter = answer.retryAfter.flatMap {
                        RetryPolicy.parseRetryAfter($0, nowUnixSeconds: Int(clock.wallMilliseconds() / 1000))
                    }
                    // 500, 502, 504: the hub may have processed the request.
                    let keyed = withoutUnkeyed(events, if: !RetryPolicy.certainlyNotProcessed(status: answer.status),
                                               httpStatus: answer.status, reason: "HTTP \(answer.status)", into: &reports)
                    again += failed(keyed, reason: "HTTP \(answer.status)", httpStatus: answer.status, retryAfter: retryAfter,
                                    now: now)
                case .success(let answer):
                    sender.logAnswer(answer, seconds: 0)
                    consecutiveFailures = 0
                    var retry: [QueuedEvent] = []
                    let records = HubResponses.bulk(status: answer.status, body: answer.body,
                                                    bodyTruncated: answer.bodyTruncated, eventCount: events.count)
                    for (event, record) in zip(events, records) {
                        if record.accepted {
                            counters.delivered += 1
                            reports.append(DeliveryReport(status: .ok, httpStatus: record.statusCode,
                                                          message: record.message, event: event))
                        } else if record.mayRetry {
                            retry.append(event)
                        } else {
                            counters.refused += 1
                            logger.log(.error, "the hub refused event '\(excerpt(event.name))' (HTTP \(record.statusCode)): \(record.message)")
                            reports.append(DeliveryReport(status: .http, httpStatus: record.statusCode,
                                                          message: record.message, event: event))
                        }
                    }
                    if !retry.isEmpty {
                        again += failed(retry, reason: "no usable record in the hub's answer", httpStatus: answer.status,
                                        retryAfter: nil, now: now)
                    }
                case .failure(let failure):
                    let keyed = withoutUnkeyed(events, if: failure.mayHaveBeenProcessed, httpStatus: 0,
                                               reason: failure.message, into: &reports)
                    again += failed(keyed, reason: failure.message, httpStatus: 0, retryAfter: nil, now: now)
                }
            }
            if let lowest = reports.lazy.map(\.event.sequence).min() {
                reportingFrom = lowest
            }
            inTransit = (reports.lazy.map(\.event.sequence) + again.lazy.map(\.sequence)).min()
            changed()
            return reports
        }
        queue.requeue(again)
        queue.settle(reports.map(\.event))
        state.withLock {
            inTransit = nil
            changed()
        }
        return reports
    }

    /// After a failure that the hub may have processed, events without an idempotency key
    /// (auto-idempotency off and none set) are not sent again: the hub could not drop the
    /// repeat. Their fate is `.network`; the rest are returned. Called with the lock held.
    private func withoutUnkeyed(_ events: [QueuedEvent], if mayHaveBeenProcessed: Bool, httpStatus: Int, reason: String,
                                into reports: inout [DeliveryReport]) -> [QueuedEvent] {
        guard mayHaveBeenProcessed else { return events }
        var keyed: [QueuedEvent] = []
        for event in events {
            if event.withJSON(EventEncoder.carriesIdempotencyKey) {
                keyed.append(event)
            } else {
                counters.dropped += 1
                reports.append(DeliveryReport(status: .network, httpStatus: httpStatus,
                                              message: "\(reason); the hub may have processed the event, and without an "
                                                + "idempotency key it is not sent again", event: event))
            }
        }
        return keyed
    }

    /// A request failed for now: its events (returned, for the caller to requeue) wait in the
    /// queue again, and the whole worker pauses for the back-off. Called with the lock held.
    private func failed(_ events: [QueuedEvent], reason: String, httpStatus: Int, retryAfter: Double?,
                        now: Double) -> [QueuedEvent] {
        consecutiveFailures += 1
        let delay = settings.retryPolicy.delay(beforeRetry: consecutiveFailures, retryAfter: retryAfter, unitRandom: unitRandom)
        pausedUntil = max(pausedUntil, now + delay)
        var events = events
        if httpStatus != 0 {
            for index in events.indices { events[index].lastHTTPStatus = Int32(clamping: httpStatus) }
        }
        logger.log(.warning, "background request of \(events.count) event(s) failed (\(reason)); "
            + "sending again in \(Int((delay * 1000).rounded())) ms")
        return events
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
            let taken = inFlight.values.flatMap { $0 }
            inFlight.removeAll()
            inTransit = taken.lazy.map(\.sequence).min() ?? 0
            changed()
            return (taken, self.closeLimit)
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
            if !queue.isDurable { counters.dropped += left.count }
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
        for batch in inFlight.values { consider(batch.lazy.map(\.sequence).min()) }
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
            flushTarget = max(flushTarget, sequence)
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
        state.withLock { closeLimit = sequence }
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
                var stats = counters
                stats.queued = queued
                stats.inFlight = inFlight.values.reduce(0) { $0 + $1.count }
                stats.storageBytes = storageBytes
                return stats
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
