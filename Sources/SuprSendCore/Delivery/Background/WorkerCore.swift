/// The background worker's decisions, as a value: whether another request may start, whether
/// the waiting events are due, how long to wait, and what each request's end means for its
/// events (their fates, their retry, the back-off), with the counters.
///
/// It does no I/O, reads no clock and takes no lock: `DeliveryWorker` keeps it under its lock,
/// reads the queue and runs the transport, passes the time in, and writes the log lines it
/// returns. Tests drive it with scripted answers and times alone.
struct WorkerCore {
    let settings: WorkerSettings
    /// Batches in requests now, by request id.
    private(set) var inFlight: [Int: [QueuedEvent]] = [:]
    private var nextRequestId = 1
    /// No request starts before this (monotonic seconds): back-off, or the hub's Retry-After.
    private(set) var pausedUntil = 0.0
    private(set) var consecutiveFailures = 0
    /// Events up to this sequence are sent without waiting for the flush interval.
    var flushTarget: UInt64 = 0
    /// Set when a close begins: the last sequence the close delivers, nothing younger goes out.
    var closeLimit: UInt64?
    /// When expiry was last looked for: once a second is enough, and an outbox pays a
    /// transaction for each look.
    private var lastExpiryCheck = -Double.infinity
    private(set) var counters = DeliveryStats()

    init(settings: WorkerSettings) {
        self.settings = settings
    }

    // MARK: - Planning a turn

    /// What a turn's planning works from, fixed at its start (the queue is read after, outside
    /// the worker's lock).
    struct TurnStart {
        var now: Double
        var wall: Int64
        var expiryDue: Bool
        var inFlight: Int
        var pausedUntil: Double
        var failing: Bool
        var closeLimit: UInt64?
        var flushTarget: UInt64
    }

    mutating func startTurn(now: Double, wall: Int64) -> TurnStart {
        let expiryDue = now - lastExpiryCheck >= 1
        if expiryDue { lastExpiryCheck = now }
        return TurnStart(now: now, wall: wall, expiryDue: expiryDue, inFlight: inFlight.count, pausedUntil: pausedUntil,
                         failing: consecutiveFailures > 0, closeLimit: closeLimit, flushTarget: flushTarget)
    }

    /// Whether one more request may start in this turn, `planned` having started in it already.
    func mayStart(_ turn: TurnStart, planned: Int) -> Bool {
        let busy = turn.inFlight + planned
        // While the hub is failing, one request probes it at a time.
        return busy < settings.maxRequestsInFlight && turn.now >= turn.pausedUntil && (!turn.failing || busy == 0)
    }

    /// Whether the waiting events should go out now.
    func isDue(_ peek: QueuePeek, _ turn: TurnStart) -> Bool {
        guard let oldest = peek.oldest else { return false }
        // Closing: only what the close waits for goes out; a request started now for younger
        // events (another process's, in a shared outbox) would be abandoned when the worker stops.
        if let closeLimit = turn.closeLimit { return oldest.sequence <= closeLimit }
        if oldest.sequence <= turn.flushTarget { return true }
        if peek.full { return true }
        let age = turn.wall - oldest.enqueuedAtMilliseconds
        return age >= Int64(settings.flushIntervalMilliseconds) || age < 0
    }

    /// The largest JSON a batch may take: the body adds brackets and commas.
    var maxBatchJSONBytes: Int { settings.maxBodyBytes - 2 - settings.maxEventsPerRequest }

    /// Marks the events of a batch taken for sending: another attempt each. Whether it is a
    /// retry (some event was sent before) is counted.
    mutating func prepareAttempt(_ events: inout [QueuedEvent]) {
        if events.contains(where: { $0.attempts > 0 }) { counters.retries += 1 }
        for index in events.indices { events[index].attempts += 1 }
    }

    /// The batches go out: each gets a request id.
    mutating func begin(_ batches: [[QueuedEvent]]) -> [(id: Int, events: [QueuedEvent])] {
        batches.map { events in
            let id = nextRequestId
            nextRequestId += 1
            inFlight[id] = events
            return (id, events)
        }
    }

    /// The queue could not be read or written (it logged why): look again in a second rather
    /// than spin.
    mutating func queueFailed(now: Double) {
        pausedUntil = max(pausedUntil, now + 1)
    }

    /// Seconds until something is due: the end of a pause, or the flush interval of the
    /// oldest waiting event when a request could start. A full set of requests in flight
    /// wakes the wait by ending. `pollInterval`: how often the queue must be looked at anyway
    /// (an outbox that other processes add to).
    func waitTime(now: Double, wall: Int64, oldest: (sequence: UInt64, enqueuedAtMilliseconds: Int64)?,
                  pollInterval: Double?) -> Double {
        let hasWork = oldest != nil
        // Expiry is checked at least once a minute while events wait.
        var wait = hasWork ? 60.0 : 3600.0
        if let pollInterval { wait = min(wait, pollInterval) }
        let canStart = inFlight.count < settings.maxRequestsInFlight && (consecutiveFailures == 0 || inFlight.isEmpty)
        if now < pausedUntil {
            if hasWork { wait = min(wait, pausedUntil - now) }
        } else if canStart, let oldest, closeLimit.map({ oldest.sequence <= $0 }) ?? true {
            let due = oldest.enqueuedAtMilliseconds + Int64(settings.flushIntervalMilliseconds) - wall
            wait = min(wait, max(Double(due) / 1000, 0.001))
        }
        return max(wait, 0.001)
    }

    // MARK: - Fates

    /// The wall-clock time before which an event has expired.
    func expiryCutoff(wall: Int64) -> Int64 {
        wall - Int64(settings.maxEventAgeSeconds) * 1000
    }

    /// Events taken out of the queue for their age.
    mutating func expired(_ events: [QueuedEvent]) -> [DeliveryReport] {
        guard !events.isEmpty else { return [] }
        counters.dropped += events.count
        let message = "not delivered within max_event_age_s (\(settings.maxEventAgeSeconds) s)"
        return events.map { DeliveryReport(status: .timeout, httpStatus: Int($0.lastHTTPStatus), message: message, event: $0) }
    }

    /// What the ends of requests decided.
    struct Settlement {
        /// Final fates, to report and to take out of the queue.
        var reports: [DeliveryReport] = []
        /// Events to wait in the queue again, in front, for a retry.
        var requeue: [QueuedEvent] = []
        /// The answers, for the driver's debug log.
        var answers: [HTTPAnswer] = []
        var lines: [(LogLevel, String)] = []
    }

    /// Reads the ends of requests: each event's fate, or back to wait for a retry after a
    /// back-off that pauses the whole worker. `unixNow` reads a Retry-After date.
    mutating func settle(_ ended: [(id: Int, result: Result<HTTPAnswer, TransportFailure>)], now: Double, unixNow: Int,
                         unitRandom: () -> Double) -> Settlement {
        var out = Settlement()
        for (id, result) in ended {
            guard let events = inFlight.removeValue(forKey: id) else { continue }
            if case .success(let answer) = result { out.answers.append(answer) }
            switch AttemptEnd(result) {
            case .final(let answer):
                consecutiveFailures = 0
                var retry: [QueuedEvent] = []
                let records = HubResponses.bulk(status: answer.status, body: answer.body, bodyTruncated: answer.bodyTruncated,
                                                eventCount: events.count)
                for (event, record) in zip(events, records) {
                    if record.accepted {
                        counters.delivered += 1
                        out.reports.append(DeliveryReport(status: .ok, httpStatus: record.statusCode, message: record.message,
                                                          event: event))
                    } else if record.mayRetry {
                        retry.append(event)
                    } else {
                        counters.refused += 1
                        out.lines.append((.error, "the hub refused event '\(excerpt(event.name))' (HTTP \(record.statusCode)): "
                            + record.message))
                        out.reports.append(DeliveryReport(status: .http, httpStatus: record.statusCode, message: record.message,
                                                          event: event))
                    }
                }
                if !retry.isEmpty {
                    failed(retry, reason: "no usable record in the hub's answer", httpStatus: answer.status, retryAfter: nil,
                           now: now, unitRandom: unitRandom, into: &out)
                }
            case .transient(let end):
                let retryAfter = end.retryAfter.flatMap { RetryPolicy.parseRetryAfter($0, nowUnixSeconds: unixNow) }
                let keyed = withoutUnkeyed(events, mayHaveBeenProcessed: end.mayHaveBeenProcessed, httpStatus: end.httpStatus,
                                           reason: end.reason, into: &out)
                failed(keyed, reason: end.reason, httpStatus: end.httpStatus, retryAfter: retryAfter, now: now,
                       unitRandom: unitRandom, into: &out)
            case .permanent(let failure):
                let keyed = withoutUnkeyed(events, mayHaveBeenProcessed: failure.mayHaveBeenProcessed, httpStatus: 0,
                                           reason: failure.message, into: &out)
                failed(keyed, reason: failure.message, httpStatus: 0, retryAfter: nil, now: now, unitRandom: unitRandom,
                       into: &out)
            }
        }
        return out
    }

    /// After a failure that the hub may have processed, events without an idempotency key
    /// (auto-idempotency off and none set) are not sent again: the hub could not drop the
    /// repeat. Their fate is `.network`; the rest are returned.
    private mutating func withoutUnkeyed(_ events: [QueuedEvent], mayHaveBeenProcessed: Bool, httpStatus: Int, reason: String,
                                         into out: inout Settlement) -> [QueuedEvent] {
        var keyed: [QueuedEvent] = []
        for event in events {
            if RetryPolicy.maySendAgain(mayHaveBeenProcessed: mayHaveBeenProcessed, keyed: event.carriesIdempotencyKey) {
                keyed.append(event)
            } else {
                counters.dropped += 1
                out.reports.append(DeliveryReport(status: .network, httpStatus: httpStatus,
                                                  message: "\(reason); not sent again: " + RetryPolicy.unkeyedNote, event: event))
            }
        }
        return keyed
    }

    /// A request failed for now: its events wait in the queue again, and the whole worker
    /// pauses for the back-off.
    private mutating func failed(_ events: [QueuedEvent], reason: String, httpStatus: Int, retryAfter: Double?, now: Double,
                                 unitRandom: () -> Double, into out: inout Settlement) {
        consecutiveFailures += 1
        let delay = settings.retryPolicy.delay(beforeRetry: consecutiveFailures, retryAfter: retryAfter, unitRandom: unitRandom)
        pausedUntil = max(pausedUntil, now + delay)
        guard !events.isEmpty else { return }
        var events = events
        if httpStatus != 0 {
            for index in events.indices { events[index].lastHTTPStatus = Int32(clamping: httpStatus) }
        }
        out.lines.append((.warning, "background request of \(events.count) event(s) failed (\(reason)); "
            + "sending again in \(Int((delay * 1000).rounded())) ms"))
        out.requeue += events
    }

    // MARK: - Stop

    /// The worker stops: the requests in flight are abandoned; their events are returned.
    mutating func abandonAll() -> [QueuedEvent] {
        defer { inFlight.removeAll() }
        return inFlight.values.flatMap { $0 }
    }

    /// Events of a memory queue left without a fate at stop.
    mutating func droppedAtStop(_ count: Int) {
        counters.dropped += count
    }

    /// The counters, with what the queue says waits.
    func stats(queued: Int, storageBytes: Int64) -> DeliveryStats {
        var stats = counters
        stats.queued = queued
        stats.inFlight = inFlight.values.reduce(0) { $0 + $1.count }
        stats.storageBytes = storageBytes
        return stats
    }

    /// The lowest sequence among the events in requests now.
    var lowestInFlight: UInt64? {
        inFlight.values.lazy.compactMap { $0.lazy.map(\.sequence).min() }.min()
    }
}
