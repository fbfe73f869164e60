import Testing

@testable import SuprSendCore

// The delivery rules as values: `WorkerCore` (background delivery) and `RequestAttempts` (one
// call), driven by scripted answers and times alone. No queue, no transport, no thread.

private func event(_ sequence: UInt64, key: String = "key", at enqueued: Int64 = 0, attempts: Int32 = 0) -> QueuedEvent {
    var event = QueuedEvent(sequence: sequence, enqueuedAtMilliseconds: enqueued, json: utf8Bytes(#"{"event":"e"}"#))
    event.identity = EventIdentity(insertId: "i\(sequence)", idempotencyKey: key, name: "e", distinctId: "u")
    event.attempts = attempts
    return event
}

private func answer(_ status: Int, _ body: String = "", retryAfter: String? = nil)
    -> Result<HTTPAnswer, TransportFailure> {
    .success(HTTPAnswer(status: status, body: utf8Bytes(body), retryAfter: retryAfter))
}

private func records(_ items: String...) -> String { #"{"records":["# + items.joined(separator: ",") + "]}" }
private let ok = #"{"status":"success","status_code":202,"message_id":"m"}"#
private func refused(_ code: Int) -> String { #"{"status":"error","status_code":\#(code),"error":{"message":"no"}}"# }

private let noConnection: Result<HTTPAnswer, TransportFailure> = .failure(TransportFailure(.transient, "Connection refused"))
private let cutOff: Result<HTTPAnswer, TransportFailure> =
    .failure(TransportFailure(.transient, "cut off", mayHaveBeenProcessed: true))
private let badURL: Result<HTTPAnswer, TransportFailure> = .failure(TransportFailure(.permanent, "bad URL"))

/// A core with one batch of `events` in flight as request 1.
private func inFlight(_ events: [QueuedEvent], settings: WorkerSettings = WorkerSettings()) -> WorkerCore {
    var core = WorkerCore(settings: settings)
    #expect(core.begin([events]).map(\.id) == [1])
    return core
}

private func settle(_ core: inout WorkerCore, _ result: Result<HTTPAnswer, TransportFailure>, id: Int = 1,
                    now: Double = 100, unixNow: Int = 1_800_000_000) -> WorkerCore.Settlement {
    core.settle([(id, result)], now: now, unixNow: unixNow, unitRandom: { 0.5 })
}

@Suite("Delivery core: what each answer means for background delivery")
struct WorkerCoreAnswerTests {
    @Test func eachRecordDecidesItsEventsFate() {
        var core = inFlight([event(1), event(2), event(3)])
        let out = settle(&core, answer(202, records(ok, refused(400), refused(503))))
        #expect(out.reports.map(\.status) == [.ok, .http])
        #expect(out.reports.map(\.event.sequence) == [1, 2])
        #expect(out.reports[1].httpStatus == 400 && out.reports[1].message == "no")
        #expect(out.requeue.map(\.sequence) == [3], "a record refused 'not now' waits for a retry")
        #expect(out.requeue[0].lastHTTPStatus == 202)
        #expect(out.lines.contains { $0.0 == .error && $0.1.contains("refused event 'e' (HTTP 400)") })
        #expect(core.counters.delivered == 1 && core.counters.refused == 1)
        #expect(core.inFlight.isEmpty)
        #expect(core.pausedUntil == 100.25, "the retry backs off: 0.5 s bound, jitter 0.5")
    }

    @Test func aSuccessWithoutRecordsDeliversTheWholeBatch() {
        var core = inFlight([event(1), event(2)])
        let out = settle(&core, answer(202, #"{"status":"success"}"#))
        #expect(out.reports.allSatisfy { $0.status == .ok && $0.httpStatus == 202 } && out.reports.count == 2)
        #expect(out.requeue.isEmpty && core.consecutiveFailures == 0)
    }

    @Test(arguments: [400, 401, 413, 415, 422])
    func aRefusedRequestIsNeverRetried(status: Int) {
        var core = inFlight([event(1), event(2)])
        let out = settle(&core, answer(status, #"{"error":{"message":"bad"}}"#))
        #expect(out.reports.count == 2 && out.reports.allSatisfy { $0.status == .http && $0.httpStatus == status })
        #expect(out.requeue.isEmpty && core.counters.refused == 2)
        #expect(core.consecutiveFailures == 0 && core.pausedUntil == 0)
    }

    @Test(arguments: [408, 429, 503])
    func whatWasCertainlyNotProcessedIsRetriedKeyedOrNot(status: Int) {
        var core = inFlight([event(1, key: ""), event(2)])
        let out = settle(&core, answer(status))
        #expect(out.reports.isEmpty)
        #expect(out.requeue.map(\.sequence) == [1, 2] && out.requeue.allSatisfy { $0.lastHTTPStatus == status })
        #expect(core.consecutiveFailures == 1)
    }

    @Test(arguments: [500, 502, 504])
    func whatMayHaveBeenProcessedIsRetriedOnlyWithAKey(status: Int) {
        var core = inFlight([event(1, key: ""), event(2)])
        let out = settle(&core, answer(status))
        #expect(out.reports.map(\.event.sequence) == [1])
        #expect(out.reports[0].status == .network && out.reports[0].httpStatus == status)
        #expect(out.reports[0].message.contains("not sent again"))
        #expect(out.requeue.map(\.sequence) == [2])
        #expect(core.counters.dropped == 1)
    }

    @Test func noAnswerAfterTheRequestWentOutIsRetriedOnlyWithAKey() {
        var core = inFlight([event(1, key: ""), event(2)])
        let out = settle(&core, cutOff)
        #expect(out.reports.map(\.event.sequence) == [1] && out.reports[0].status == .network && out.reports[0].httpStatus == 0)
        #expect(out.requeue.map(\.sequence) == [2] && out.requeue[0].lastHTTPStatus == 0)
    }

    @Test func noConnectionIsRetriedKeyedOrNot() {
        var core = inFlight([event(1, key: ""), event(2)])
        let out = settle(&core, noConnection)
        #expect(out.reports.isEmpty && out.requeue.count == 2)
    }

    @Test func aPermanentFailureWaitsForItsCauseToBeFixed() {
        // A call ends with it; background events are retried until they expire.
        var core = inFlight([event(1)])
        let out = settle(&core, badURL)
        #expect(out.reports.isEmpty && out.requeue.count == 1)
        #expect(out.lines.contains { $0.1.contains("bad URL") })
    }

    @Test func anUnreadableAnswerIsRetriedNotRefused() {
        var core = inFlight([event(1), event(2)])
        let out = settle(&core, .success(HTTPAnswer(status: 202, body: utf8Bytes(#"{"records":[{"status":"su"#),
                                                    bodyTruncated: true)))
        #expect(out.reports.isEmpty && out.requeue.count == 2)
    }

    @Test func fewerRecordsThanEventsRetriesTheRest() {
        var core = inFlight([event(1), event(2), event(3)])
        let out = settle(&core, answer(202, records(ok)))
        #expect(out.reports.map(\.event.sequence) == [1])
        #expect(out.requeue.map(\.sequence) == [2, 3])
    }

    @Test func retryAfterIsTheLeastWait() {
        var core = inFlight([event(1)])
        _ = settle(&core, answer(429, retryAfter: "7"), now: 100)
        #expect(core.pausedUntil == 107)
        var dated = inFlight([event(1)])
        _ = settle(&dated, answer(503, retryAfter: HTTPDate.format(unixSeconds: 1_800_000_012)), now: 100,
                   unixNow: 1_800_000_000)
        #expect(dated.pausedUntil == 112, "an HTTP date counts from the wall clock")
        var capped = inFlight([event(1)])
        _ = settle(&capped, answer(503, retryAfter: "86400"), now: 100)
        #expect(capped.pausedUntil == 100 + RetryPolicy.retryAfterCap)
    }

    @Test func backOffGrowsWithEachFailureAndIsCapped() {
        var core = WorkerCore(settings: WorkerSettings())
        var pauses: [Double] = []
        var now = 0.0
        for _ in 0..<10 {
            let id = core.begin([[event(1)]])[0].id
            _ = settle(&core, noConnection, id: id, now: now)
            pauses.append(core.pausedUntil - now)
            now = core.pausedUntil
        }
        #expect(Array(pauses.prefix(5)) == [0.25, 0.5, 1, 2, 4])
        #expect(pauses.suffix(3).allSatisfy { $0 == 15 }, "half of the 30 s cap, at jitter 0.5")
        let id = core.begin([[event(1)]])[0].id
        _ = settle(&core, answer(202, records(ok)), id: id, now: now)
        #expect(core.consecutiveFailures == 0, "an answer ends the failing")
    }

    @Test func anUnknownRequestIsIgnored() {
        var core = inFlight([event(1)])
        let out = settle(&core, answer(202, records(ok)), id: 9)
        #expect(out.reports.isEmpty && out.requeue.isEmpty && core.inFlight.count == 1)
    }
}

@Suite("Delivery core: when background requests start")
struct WorkerCoreTimingTests {
    private func settings(flushMs: Int = 1000, maxInFlight: Int = 4) -> WorkerSettings {
        var settings = WorkerSettings()
        settings.flushIntervalMilliseconds = flushMs
        settings.maxRequestsInFlight = maxInFlight
        return settings
    }

    private func peek(_ sequence: UInt64, at enqueued: Int64, full: Bool = false) -> QueuePeek {
        QueuePeek(oldest: (sequence, enqueued), full: full)
    }

    @Test func aFullBatchGoesAtOnceAndAPartialOneAfterTheInterval() {
        var core = WorkerCore(settings: settings())
        let turn = core.startTurn(now: 10, wall: 50_000)
        #expect(core.isDue(peek(1, at: 49_500, full: true), turn))
        #expect(!core.isDue(peek(1, at: 49_500), turn))
        #expect(core.isDue(peek(1, at: 49_000), turn))
        #expect(core.isDue(peek(1, at: 51_000), turn), "an event from the future (the clock moved back) is not held")
        #expect(!core.isDue(QueuePeek(oldest: nil, full: false), turn))
    }

    @Test func aFlushSendsWhatItWaitsForAtOnce() {
        var core = WorkerCore(settings: settings())
        core.flushTarget = 5
        let turn = core.startTurn(now: 10, wall: 50_000)
        #expect(core.isDue(peek(5, at: 50_000), turn))
        #expect(!core.isDue(peek(6, at: 50_000), turn))
    }

    @Test func aCloseSendsNothingYoungerThanItsLimit() {
        var core = WorkerCore(settings: settings())
        core.closeLimit = 3
        let turn = core.startTurn(now: 10, wall: 50_000)
        #expect(core.isDue(peek(3, at: 50_000), turn))
        #expect(!core.isDue(peek(4, at: 0, full: true), turn))
    }

    @Test func requestsInFlightAreCappedAndAFailingHubIsProbedByOne() {
        var core = WorkerCore(settings: settings(maxInFlight: 2))
        var turn = core.startTurn(now: 10, wall: 0)
        #expect(core.mayStart(turn, planned: 1) && !core.mayStart(turn, planned: 2))
        _ = core.begin([[event(1)], [event(2)]])
        _ = settle(&core, noConnection, id: 1, now: 10)
        turn = core.startTurn(now: 10.1, wall: 0)
        #expect(!core.mayStart(turn, planned: 0), "paused by the back-off")
        turn = core.startTurn(now: 20, wall: 0)
        #expect(!core.mayStart(turn, planned: 0), "failing: nothing starts beside the request still out")
        _ = settle(&core, noConnection, id: 2, now: 20)
        turn = core.startTurn(now: 40, wall: 0)
        #expect(core.mayStart(turn, planned: 0) && !core.mayStart(turn, planned: 1), "one probe at a time")
    }

    @Test func expiryIsLookedForOnceASecond() {
        var core = WorkerCore(settings: settings())
        #expect(core.startTurn(now: 10, wall: 0).expiryDue)
        #expect(!core.startTurn(now: 10.5, wall: 0).expiryDue)
        #expect(core.startTurn(now: 11, wall: 0).expiryDue)
    }

    @Test func expiredEventsReportTheLastStatusTheyGot() {
        var settings = WorkerSettings()
        settings.maxEventAgeSeconds = 60
        var core = WorkerCore(settings: settings)
        #expect(core.expiryCutoff(wall: 100_000) == 40_000)
        var old = event(1)
        old.lastHTTPStatus = 503
        let reports = core.expired([old, event(2)])
        #expect(reports.map(\.status) == [.timeout, .timeout] && reports.map(\.httpStatus) == [503, 0])
        #expect(reports[0].message.contains("max_event_age_s (60 s)"))
        #expect(core.counters.dropped == 2)
    }

    @Test func theWaitEndsWhenSomethingIsDue() {
        var core = WorkerCore(settings: settings(flushMs: 1000))
        #expect(core.waitTime(now: 10, wall: 50_000, oldest: nil, pollInterval: nil) == 3600, "nothing waits")
        #expect(core.waitTime(now: 10, wall: 50_000, oldest: nil, pollInterval: 2) == 2, "an outbox is looked at")
        #expect(core.waitTime(now: 10, wall: 50_000, oldest: (1, 49_700), pollInterval: nil) == 0.7)
        #expect(core.waitTime(now: 10, wall: 50_000, oldest: (1, 10_000), pollInterval: nil) == 0.001, "overdue: never zero")
        _ = core.begin([[event(1)]])
        _ = settle(&core, answer(429, retryAfter: "5"), now: 10)
        #expect(core.waitTime(now: 11, wall: 50_000, oldest: (1, 10_000), pollInterval: nil) == 4, "until the pause ends")
        core.closeLimit = 0
        #expect(core.waitTime(now: 20, wall: 50_000, oldest: (1, 10_000), pollInterval: nil) == 60,
                "closing: younger events are not waited for; expiry still looked at")
    }

    @Test func eachAttemptIsCountedAndARetryCountsOnce() {
        var core = WorkerCore(settings: settings())
        var batch = [event(1), event(2, attempts: 1)]
        core.prepareAttempt(&batch)
        #expect(batch.map(\.attempts) == [1, 2] && core.counters.retries == 1)
        var fresh = [event(3)]
        core.prepareAttempt(&fresh)
        #expect(core.counters.retries == 1)
    }

    @Test func stopAbandonsWhatIsInFlight() {
        var core = WorkerCore(settings: settings())
        _ = core.begin([[event(1), event(2)], [event(3)]])
        #expect(core.lowestInFlight == 1)
        #expect(core.stats(queued: 4, storageBytes: 0).inFlight == 3)
        #expect(Set(core.abandonAll().map(\.sequence)) == [1, 2, 3])
        #expect(core.inFlight.isEmpty && core.lowestInFlight == nil)
    }
}

@Suite("Delivery core: the attempts of one call")
struct RequestAttemptsTests {
    private func attempts(keyed: Bool = true, deadline: Double = 1000, maxRetries: Int = 3) -> RequestAttempts {
        RequestAttempts(url: "http://hub/v2/event/", retryPolicy: RetryPolicy(maxRetries: maxRetries), deadline: deadline,
                        keyed: { keyed })
    }

    private func attemptsMade(_ calls: inout RequestAttempts, _ results: [Result<HTTPAnswer, TransportFailure>])
        -> (sent: Int, last: RequestSender.Delivery?) {
        var now = 0.0
        var step = calls.begin(now: now)
        var sent = 0
        var results = results[...]
        while true {
            switch step {
            case .send:
                sent += 1
                guard let result = results.popFirst() else { return (sent, nil) }
                step = calls.ended(result, now: now, unixNow: 0, unitRandom: { 0.5 })
            case .wait(let seconds):
                now += seconds
                step = calls.resume(now: now)
            case .finish(let delivery):
                return (sent, delivery)
            }
        }
    }

    @Test func anAnswerEndsTheCall() {
        var calls = attempts()
        let (sent, last) = attemptsMade(&calls, [answer(202), answer(202)])
        #expect(sent == 1 && last?.answer?.status == 202 && last?.attempts == 1)
    }

    @Test func retriesStopAtTheLimitWithTheLastOutcome() {
        var calls = attempts(maxRetries: 2)
        let (sent, last) = attemptsMade(&calls, [answer(503), answer(503), answer(502), answer(202)])
        #expect(sent == 3 && last?.answer?.status == 502 && last?.attempts == 3)
    }

    @Test(arguments: [500, 502, 504])
    func withoutAKeyWhatMayHaveBeenProcessedIsNotSentAgain(status: Int) {
        var calls = attempts(keyed: false)
        let (sent, last) = attemptsMade(&calls, [answer(status), answer(202)])
        #expect(sent == 1 && last?.answer?.status == status)
        #expect(calls.lines.contains { $0.1.contains("not sent again") })
    }

    @Test func withoutAKeyNoAnswerAfterSendingEndsTheCallSayingWhy() {
        var calls = attempts(keyed: false)
        let (sent, last) = attemptsMade(&calls, [cutOff, answer(202)])
        #expect(sent == 1 && last?.failure?.message.contains("not sent again") == true)
    }

    @Test func withoutAKeyWhatWasNotProcessedIsSentAgain() {
        var calls = attempts(keyed: false)
        let (sent, last) = attemptsMade(&calls, [noConnection, answer(429), answer(408), answer(202)])
        #expect(sent == 4 && last?.answer?.status == 202)
    }

    @Test func aPermanentFailureEndsTheCallAtOnce() {
        var calls = attempts()
        let (sent, last) = attemptsMade(&calls, [badURL, answer(202)])
        #expect(sent == 1 && last?.failure?.message == "bad URL")
    }

    @Test func retryAfterBeyondTheDeadlineEndsTheCall() {
        var calls = attempts(deadline: 5)
        let (sent, last) = attemptsMade(&calls, [answer(429, retryAfter: "10"), answer(202)])
        #expect(sent == 1 && last?.answer?.status == 429)
        #expect(calls.lines.contains { $0.1.contains("Retry-After") })
    }
}

@Suite("Delivery core: an event's identity read back from its bytes")
struct EventIdentityTests {
    private func prepared(_ event: Event, autoIdempotency: Bool = true) throws -> PreparedEvent {
        let preparer = EventPreparer(workspaceKey: "ws", sdkVersion: "test", rules: EventRules(), autoIdempotency: autoIdempotency)
        guard case .success(let prepared) = preparer.prepare(event) else { throw SuprSendError(.internal, "refused") }
        return prepared
    }

    @Test(arguments: [("user_1", "order_placed", "key-1", "t1"),
                      ("u \"quoted\" \\ back", "naïve ☕ event", "k\"ey\\é", "tenant_2"),
                      ("tab\there", "line\nbreak", "", "")])
    func oneWalkReadsWhatTheQueueWouldKeep(distinctId: String, name: String, key: String, tenant: String) throws {
        var event = Event(distinctId: distinctId, name: name)
        if !key.isEmpty { event.idempotencyKey = key }
        if !tenant.isEmpty { event.tenantId = tenant }
        try event.setProperties(json: utf8Bytes(#"{"a":{"event":"nested","distinct_id":"no"},"n":[1,2]}"#))
        let prepared = try prepared(event, autoIdempotency: !key.isEmpty)
        let queued = QueuedEvent(sequence: 1, prepared: prepared)
        let identity = queued.fullIdentity
        #expect(identity == EventIdentity(insertId: prepared.insertId, idempotencyKey: prepared.idempotencyKey ?? "",
                                          name: prepared.name, distinctId: prepared.distinctId))
        #expect(queued.insertId == identity.insertId && queued.name == identity.name
                && queued.distinctId == identity.distinctId && queued.idempotencyKey == identity.idempotencyKey)
        // The C hosts' form: the same strings, NUL-terminated in one buffer, read from the bytes
        // and from an identity the queue kept apart.
        for form in [queued, { var kept = queued; kept.identity = identity; return kept }()] {
            let (bytes, starts) = form.identityCStrings
            func text(_ start: Int) -> String {
                String(decoding: bytes[start...].prefix { $0 != 0 }, as: UTF8.self)
            }
            #expect(bytes.filter { $0 == 0 }.count == 4 && bytes.last == 0)
            #expect(EventIdentity(insertId: text(starts.0), idempotencyKey: text(starts.1), name: text(starts.2),
                                  distinctId: text(starts.3)) == identity)
        }
    }
}
