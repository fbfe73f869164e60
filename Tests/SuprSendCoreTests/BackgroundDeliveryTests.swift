import Glibc
import Testing

@testable import SuprSendCore

// The background pipeline (queue -> batch -> send -> answer -> fates) driven one turn at a
// time, with a scripted transport and a clock moved by hand: no threads, no sleeps.

/// A clock that moves only when the scripted transport waits.
final class ManualClock: WorkerClock, @unchecked Sendable {
    private let lock = Lock()
    private var seconds = 1000.0
    private let wallStart: Int64 = 1_795_773_600_000

    func monotonicSeconds() -> Double { lock.withLock { seconds } }
    func wallMilliseconds() -> Int64 { lock.withLock { wallStart + Int64((seconds - 1000) * 1000) } }
    func advance(_ by: Double) { lock.withLock { seconds += by } }
}

/// Starts requests, and ends them from a script when the worker waits; with nothing to end,
/// a wait moves the clock by its whole timeout.
final class ScriptedConcurrentTransport: ConcurrentTransport, @unchecked Sendable {
    typealias Answer = (HTTPRequest) -> Result<HTTPAnswer, TransportFailure>
    private let lock = Lock()
    private let clock: ManualClock
    private var script: [Answer]
    private var started: [(id: Int, request: HTTPRequest)] = []
    private(set) var requests: [HTTPRequest] = []
    private(set) var waits: [Double] = []
    /// The clock reading at each request's start.
    private(set) var startTimes: [Double] = []
    var holdAnswers = false

    init(clock: ManualClock, _ script: [Answer] = []) {
        self.clock = clock
        self.script = script
    }

    func add(_ answers: [Answer]) { lock.withLock { script.append(contentsOf: answers) } }

    func start(_ request: HTTPRequest, id: Int) {
        lock.withLock {
            started.append((id, request))
            requests.append(request)
            startTimes.append(clock.monotonicSeconds())
        }
    }

    func wait(timeout: Double) -> [(id: Int, result: Result<HTTPAnswer, TransportFailure>)] {
        lock.withLock { waits.append(timeout) }
        if lock.withLock({ holdAnswers }) {
            usleep(1000)  // a transfer that never ends: the worker waits, as on a stalled hub
            return []
        }
        let ending: [(id: Int, request: HTTPRequest)] = lock.withLock {
            defer { started.removeAll() }
            return started
        }
        guard !ending.isEmpty else {
            clock.advance(timeout)
            return []
        }
        return ending.map { started in
            let answer: Answer? = lock.withLock { script.isEmpty ? nil : script.removeFirst() }
            return (started.id, answer?(started.request) ?? .failure(TransportFailure(.transient, "script exhausted")))
        }
    }

    func wake() {}
    func cancelAll() -> [Int] { lock.withLock { defer { started.removeAll() }; return started.map(\.id) } }
    func abandonAfterFork() {}

    var inFlight: Int { lock.withLock { started.count } }

    /// A 202 with one success record per event of the request.
    static func acceptAll(_ request: HTTPRequest) -> Result<HTTPAnswer, TransportFailure> {
        let count = JSONValue.parse(request.body)?.arrayValue?.count ?? 0
        let records = (0..<count).map { #"{"status":"success","status_code":202,"message_id":"m\#($0)"}"# }
        return .success(HTTPAnswer(status: 202, body: utf8Bytes(#"{"status":"success","records":["# + records.joined(separator: ",") + "]}")))
    }

    static func status(_ code: Int, retryAfter: String? = nil) -> Answer {
        { _ in .success(HTTPAnswer(status: code, body: utf8Bytes(#"{"error":{"message":"busy"}}"#), retryAfter: retryAfter)) }
    }

    static func noAnswer(_ request: HTTPRequest) -> Result<HTTPAnswer, TransportFailure> {
        .failure(TransportFailure(.transient, "Connection refused"))
    }
}

/// Collects the fates the worker reports.
final class ReportLog: @unchecked Sendable {
    private let lock = Lock()
    private var collected: [DeliveryReport] = []
    var reports: [DeliveryReport] { lock.withLock { collected } }
    var closure: DeliveryWorker.Report { { [self] report in lock.withLock { collected.append(report) } } }
}

private struct Rig {
    let clock = ManualClock()
    let transport: ScriptedConcurrentTransport
    let queue: MemoryQueue
    let worker: DeliveryWorker
    let log = ReportLog()
    let preparer: EventPreparer

    init(capacity: Int = 1000, flushIntervalMilliseconds: Int = 1000, maxEventAgeSeconds: Int = 3600,
         autoIdempotency: Bool = true, script: [ScriptedConcurrentTransport.Answer] = []) {
        preparer = EventPreparer(workspaceKey: "ws_key", sdkVersion: "test", rules: EventRules(), autoIdempotency: autoIdempotency)
        transport = ScriptedConcurrentTransport(clock: clock, script)
        queue = MemoryQueue(capacity: capacity)
        var settings = WorkerSettings()
        settings.flushIntervalMilliseconds = flushIntervalMilliseconds
        settings.maxEventAgeSeconds = maxEventAgeSeconds
        let sender = RequestSender(baseURL: "http://127.0.0.1:1/", workspaceKey: "ws_key", workspaceSecret: "secret",
                                   transport: ScriptedTransport([]), retryPolicy: RetryPolicy(), logger: .off)
        worker = DeliveryWorker(queue: queue, transport: transport, sender: sender, settings: settings,
                                clock: clock, onReport: log.closure, unitRandom: { 0.5 })
    }

    /// Enqueues `count` events stamped with the manual clock's time.
    @discardableResult
    func enqueue(_ count: Int, name: String = "order_placed") throws -> [PreparedEvent] {
        try (0..<count).map { index in
            guard case .success(let prepared) = preparer.prepare(Event(distinctId: "user_\(index)", name: name)) else {
                throw SuprSendError(.internal, "the test event was refused")
            }
            let stamped = PreparedEvent(json: prepared.json, insertId: prepared.insertId, idempotencyKey: prepared.idempotencyKey,
                                        name: prepared.name, distinctId: prepared.distinctId, time: clock.wallMilliseconds())
            _ = try queue.add(stamped)
            return stamped
        }
    }

    func turns(_ count: Int) { for _ in 0..<count { worker.runOnce() } }

    func eventCounts() -> [Int] {
        transport.requests.map { JSONValue.parse($0.body)?.arrayValue?.count ?? -1 }
    }

    func insertIds(of request: HTTPRequest) -> [String] {
        JSONValue.parse(request.body)?.arrayValue?.compactMap { $0["$insert_id"]?.stringValue } ?? []
    }
}

@Suite("Background delivery: queue, batches, worker")
struct BackgroundDeliveryTests {
    @Test func fullBatchesGoAtOnceAndTheRestAfterTheFlushInterval() throws {
        let rig = Rig(script: Array(repeating: ScriptedConcurrentTransport.acceptAll, count: 3))
        try rig.enqueue(250)
        rig.turns(1)
        #expect(rig.eventCounts() == [100, 100], "two full batches go at once; 50 wait for the interval")
        #expect(rig.log.reports.count == 200)
        rig.turns(2)
        #expect(rig.eventCounts() == [100, 100, 50])
        #expect(rig.transport.startTimes[2] - rig.transport.startTimes[0] >= 0.999)
        let reports = rig.log.reports
        #expect(reports.count == 250)
        #expect(reports.allSatisfy { $0.status == .ok && $0.httpStatus == 202 && $0.event.attempts == 1 })
        #expect(Set(reports.map(\.event.insertId)).count == 250)
        #expect(rig.worker.stats == DeliveryStats(queued: 0, inFlight: 0, delivered: 250))
    }

    @Test func batchesStayUnder800KiB() throws {
        let rig = Rig(script: Array(repeating: ScriptedConcurrentTransport.acceptAll, count: 10))
        let big = "{\"text\":\"" + String(repeating: "x", count: 90_000) + "\"}"
        for index in 0..<20 {
            var event = Event(distinctId: "u\(index)", name: "big_event")
            try event.setProperties(json: utf8Bytes(big))
            guard case .success(let prepared) = rig.preparer.prepare(event) else { Issue.record("refused"); return }
            _ = try rig.queue.add(prepared)
        }
        rig.turns(4)
        #expect(rig.transport.requests.allSatisfy { $0.body.count <= Chunking.maxBodyBytes })
        #expect(rig.eventCounts().reduce(0, +) == 20)
        #expect(rig.eventCounts().count >= 3)
    }

    @Test func recordsDecideEachEventsFate() throws {
        let answer: ScriptedConcurrentTransport.Answer = { _ in
            .success(HTTPAnswer(status: 202, body: utf8Bytes(#"{"records":[{"status":"success","status_code":202,"message_id":"m1"},"#
                + #"{"status":"error","status_code":400,"error":{"message":"event: reserved","type":"validation_error"}},"#
                + #"{"status":"error","status_code":503,"error":{"message":"try later"}}]}"#)))
        }
        let rig = Rig(flushIntervalMilliseconds: 0, script: [answer, ScriptedConcurrentTransport.acceptAll])
        try rig.enqueue(3)
        rig.turns(1)
        var reports = rig.log.reports
        #expect(reports.map(\.status) == [.ok, .http])
        #expect(reports[0].message == "m1")
        #expect(reports[1].httpStatus == 400 && reports[1].message.contains("reserved"))
        // The third (a record with 503) waits for its retry: alone, same bytes.
        rig.turns(3)
        reports = rig.log.reports
        #expect(reports.count == 3)
        #expect(reports[2].status == .ok && reports[2].event.attempts == 2)
        #expect(rig.insertIds(of: rig.transport.requests[1]) == [rig.insertIds(of: rig.transport.requests[0])[2]])
        #expect(rig.worker.stats.refused == 1 && rig.worker.stats.delivered == 2 && rig.worker.stats.retries == 1)
    }

    @Test(arguments: [408, 429, 500, 502, 503, 504])
    func retryableStatusesAreSentAgainWithTheSameBytes(status: Int) throws {
        let rig = Rig(flushIntervalMilliseconds: 0,
                      script: [ScriptedConcurrentTransport.status(status), ScriptedConcurrentTransport.acceptAll])
        try rig.enqueue(5)
        rig.turns(4)
        #expect(rig.transport.requests.count == 2)
        #expect(rig.transport.requests[0].body == rig.transport.requests[1].body)
        #expect(headerValue(rig.transport.requests[1], "Date") != nil)
        #expect(rig.log.reports.count == 5 && rig.log.reports.allSatisfy { $0.status == .ok && $0.event.attempts == 2 })
        #expect(rig.worker.stats.retries == 1)
    }

    @Test(arguments: [400, 401, 413, 415, 422])
    func refusedRequestsAreNeverRetried(status: Int) throws {
        let rig = Rig(flushIntervalMilliseconds: 0, script: [ScriptedConcurrentTransport.status(status)])
        try rig.enqueue(4)
        rig.turns(3)
        #expect(rig.transport.requests.count == 1)
        #expect(rig.log.reports.count == 4 && rig.log.reports.allSatisfy { $0.status == .http && $0.httpStatus == status })
        #expect(rig.worker.stats.refused == 4 && rig.worker.stats.queued == 0)
    }

    @Test func retryAfterPausesTheWholeWorker() throws {
        let rig = Rig(flushIntervalMilliseconds: 0,
                      script: [ScriptedConcurrentTransport.status(429, retryAfter: "7"), ScriptedConcurrentTransport.acceptAll,
                               ScriptedConcurrentTransport.acceptAll])
        try rig.enqueue(1)
        rig.turns(1)
        try rig.enqueue(1)  // a new event waits for the pause too
        rig.turns(4)
        let times = rig.transport.startTimes
        // The failed event waits in front of the new one; both go in one request after the pause.
        #expect(times.count == 2)
        #expect(times.count == 2 && times[1] - times[0] >= 7)
        #expect(rig.eventCounts() == [1, 2])
        #expect(rig.log.reports.count == 2 && rig.log.reports.allSatisfy { $0.status == .ok })
    }

    @Test func anOutageBacksOffExponentiallyAndNeverSpins() throws {
        let rig = Rig(flushIntervalMilliseconds: 0, maxEventAgeSeconds: 3600,
                      script: Array(repeating: ScriptedConcurrentTransport.noAnswer, count: 200))
        try rig.enqueue(10)
        rig.turns(400)
        let times = rig.transport.startTimes
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        // Jitter at 0.5: 0.25, 0.5, 1, ... capped at 15 s (half of the 30 s cap).
        #expect(gaps.prefix(4).map { ($0 * 100).rounded() / 100 } == [0.25, 0.5, 1, 2])
        #expect(gaps.allSatisfy { $0 >= 0.25 }, "no request follows another at once")
        #expect(gaps.suffix(5).allSatisfy { $0 >= 14.9 }, "the wait is capped, not growing forever")
        #expect(rig.transport.waits.allSatisfy { $0 > 0 }, "the worker never waits zero seconds")
        #expect(rig.worker.stats.queued == 10, "one batch probes the hub; the events wait")
    }

    @Test func eventsExpireAfterTheirMaximumAge() throws {
        let rig = Rig(flushIntervalMilliseconds: 0, maxEventAgeSeconds: 60,
                      script: Array(repeating: ScriptedConcurrentTransport.noAnswer, count: 100))
        try rig.enqueue(3)
        rig.turns(60)
        let reports = rig.log.reports
        #expect(reports.count == 3)
        #expect(reports.allSatisfy { $0.status == .timeout && $0.event.attempts >= 3 && $0.httpStatus == 0 })
        #expect(rig.worker.stats.dropped == 3 && rig.worker.stats.queued == 0)
        let lastStart = rig.transport.startTimes.last ?? 0
        #expect(lastStart - 1000 <= 61, "nothing is sent after the events expired")
    }

    @Test(arguments: [500, 502, 504, 0])
    func withoutAKeyWhatMayHaveBeenProcessedIsNotSentAgain(status: Int) throws {
        let mayHaveBeenProcessed: ScriptedConcurrentTransport.Answer = status == 0
            ? { _ in .failure(TransportFailure(.transient, "the answer was cut off", mayHaveBeenProcessed: true)) }
            : ScriptedConcurrentTransport.status(status)
        let rig = Rig(flushIntervalMilliseconds: 0, autoIdempotency: false,
                      script: [mayHaveBeenProcessed, ScriptedConcurrentTransport.acceptAll])
        try rig.enqueue(3)
        rig.turns(6)
        #expect(rig.transport.requests.count == 1, "never sent twice")
        #expect(rig.log.reports.count == 3)
        #expect(rig.log.reports.allSatisfy { $0.status == .network && $0.httpStatus == status && $0.event.idempotencyKey == "" })
        #expect(rig.worker.stats.dropped == 3 && rig.worker.stats.queued == 0)
    }

    @Test(arguments: [408, 429, 503])
    func withoutAKeyWhatWasCertainlyNotProcessedIsSentAgain(status: Int) throws {
        let rig = Rig(flushIntervalMilliseconds: 0, autoIdempotency: false,
                      script: [ScriptedConcurrentTransport.status(status), ScriptedConcurrentTransport.acceptAll])
        try rig.enqueue(3)
        rig.turns(6)
        #expect(rig.transport.requests.count == 2)
        #expect(rig.log.reports.count == 3 && rig.log.reports.allSatisfy { $0.status == .ok })
    }

    @Test func anExpiredEventReportsTheLastStatusItGot() throws {
        let rig = Rig(flushIntervalMilliseconds: 0, maxEventAgeSeconds: 10,
                      script: Array(repeating: ScriptedConcurrentTransport.status(503), count: 100))
        try rig.enqueue(2)
        rig.turns(40)
        #expect(rig.log.reports.count == 2)
        #expect(rig.log.reports.allSatisfy { $0.status == .timeout && $0.httpStatus == 503 })
    }

    @Test func anAnswerThatCannotBeReadIsRetriedNotRefused() throws {
        let truncated: ScriptedConcurrentTransport.Answer = { _ in
            .success(HTTPAnswer(status: 202, body: utf8Bytes(#"{"records":[{"status":"succ"#), bodyTruncated: true))
        }
        let rig = Rig(flushIntervalMilliseconds: 0, script: [truncated, ScriptedConcurrentTransport.acceptAll])
        try rig.enqueue(2)
        rig.turns(4)
        #expect(rig.log.reports.count == 2 && rig.log.reports.allSatisfy { $0.status == .ok && $0.event.attempts == 2 })
    }

    @Test func stopReportsWhatIsLeftAsClosed() throws {
        let rig = Rig(flushIntervalMilliseconds: 0, script: [])
        rig.transport.holdAnswers = true
        try rig.enqueue(150)
        rig.turns(1)
        #expect(rig.worker.stats.inFlight == 150)
        try rig.enqueue(5)
        rig.worker.requestStop()
        rig.worker.run()
        let reports = rig.log.reports
        #expect(reports.count == 155)
        #expect(reports.allSatisfy { $0.status == .closed })
        #expect(reports.map(\.event.sequence) == Array(1...155).map(UInt64.init))
        #expect(rig.worker.leftAtStop == 155)
        #expect(rig.worker.stats.dropped == 155)
    }
}

@Suite("Background delivery: the memory queue")
struct MemoryQueueTests {
    private let preparer = EventPreparer(workspaceKey: "k", sdkVersion: "t", rules: EventRules(), autoIdempotency: true)

    private func prepared(_ index: Int) -> PreparedEvent {
        guard case .success(let event) = preparer.prepare(Event(distinctId: "u\(index)", name: "ev_name")) else {
            fatalError("refused")
        }
        return event
    }

    @Test func boundCountsEventsUntilTheyAreSettled() throws {
        let queue = MemoryQueue(capacity: 3)
        for index in 0..<3 { _ = try queue.add(prepared(index)) }
        #expect(throws: SuprSendError.self) { try queue.add(prepared(9)) }
        let taken = queue.take(maxEvents: 2, maxJSONBytes: .max)
        #expect(taken.map(\.sequence) == [1, 2])
        #expect(throws: SuprSendError.self, "taken but unsettled events still hold room") { try queue.add(prepared(9)) }
        queue.settle(taken)
        let (sequence, waiting) = try queue.add(prepared(4))
        #expect(sequence == 4 && waiting == 2)
        _ = try queue.add(prepared(5))
        do {
            _ = try queue.add(prepared(6))
            Issue.record("a full queue must refuse")
        } catch {
            #expect(error.status == .queueFull)
        }
    }

    @Test func eventsKeepTheirIdentity() throws {
        let queue = MemoryQueue()
        var event = Event(distinctId: "  user_7 ", name: "order_placed")
        event.idempotencyKey = "order-7"
        guard case .success(let ready) = preparer.prepare(event) else { Issue.record("refused"); return }
        _ = try queue.add(ready)
        let taken = queue.take(maxEvents: 10, maxJSONBytes: .max)
        #expect(taken.count == 1)
        #expect(taken[0].json == ready.json)
        #expect(taken[0].insertId == ready.insertId)
        #expect(taken[0].idempotencyKey == "order-7")
        #expect(taken[0].name == "order_placed")
        #expect(taken[0].distinctId == "user_7")
    }

    @Test(arguments: [("order_placed", "user_7", nil), ("na\"me\\ \u{1}é", "id \"q\" ☃", "key \"1\",\"tenant_id\":\"x"),
                      ("$identify", "u", "k")])
    func reportedFieldsAreReadBackFromTheBytes(name: String, distinctId: String, key: String?) throws {
        var event = Event(distinctId: distinctId, name: name)
        event.idempotencyKey = key
        event.tenantId = "tenant_1"
        try event.setProperties(json: utf8Bytes(#"{"event":"not this","distinct_id":"nor this","n":{"$idempotency_key":"no"}}"#))
        guard case .success(let ready) = preparer.prepare(event) else { Issue.record("refused"); return }
        let queued = QueuedEvent(sequence: 1, prepared: ready)
        #expect(queued.name == name)
        #expect(queued.distinctId == distinctId)
        #expect(queued.insertId == ready.insertId && queued.insertId.count == 36)
        #expect(queued.idempotencyKey == (key ?? ready.insertId), "the automatic key is the insert id")
        let keyless = EventPreparer(workspaceKey: "k", sdkVersion: "t", rules: EventRules(), autoIdempotency: false)
        event.idempotencyKey = nil
        guard case .success(let bare) = keyless.prepare(event) else { Issue.record("refused"); return }
        #expect(QueuedEvent(sequence: 1, prepared: bare).idempotencyKey == "")
    }

    @Test func eventsPackedAcrossBlocksComeOutWholeAndInOrder() throws {
        let queue = MemoryQueue(capacity: 20_000)
        var added: [PreparedEvent] = []
        for index in 0..<8000 {
            var event = Event(distinctId: "u\(index)", name: "ev_name")
            try event.setProperties(json: utf8Bytes("{\"pad\":\"" + String(repeating: "p", count: index % 300) + "\"}"))
            guard case .success(let ready) = preparer.prepare(event) else { Issue.record("refused"); return }
            _ = try queue.add(ready)
            added.append(ready)
        }
        var out: [QueuedEvent] = []
        var round = 0
        while true {
            var batch = queue.take(maxEvents: 100, maxJSONBytes: 400_000)
            if batch.isEmpty { break }
            round += 1
            if round % 7 == 0 {
                // A failed batch waits again in front, and comes out first, whole.
                for index in batch.indices { batch[index].attempts += 1 }
                queue.requeue(batch)
                let again = queue.take(maxEvents: 100, maxJSONBytes: 400_000)
                #expect(again.map(\.sequence) == batch.map(\.sequence))
                #expect(again.allSatisfy { $0.attempts == 1 })
                batch = again
            }
            out.append(contentsOf: batch)
            queue.settle(batch)
            if round == 30 {
                // More arrive while the queue is half drained.
                for index in 0..<500 {
                    guard case .success(let ready) = preparer.prepare(Event(distinctId: "late\(index)", name: "ev_name")) else { return }
                    _ = try queue.add(ready)
                    added.append(ready)
                }
            }
        }
        #expect(out.count == added.count)
        #expect(out.map(\.sequence) == Array(1...UInt64(added.count)))
        #expect(zip(out, added).allSatisfy { $0.json == $1.json })
        #expect(queue.waitingCount == 0 && queue.oldestWaiting == nil)
    }

    @Test func takeRespectsTheByteBoundButAlwaysTakesOne() throws {
        let queue = MemoryQueue()
        for index in 0..<5 { _ = try queue.add(prepared(index)) }
        let one = queue.take(maxEvents: 10, maxJSONBytes: 1)
        #expect(one.count == 1)
        let size = one[0].jsonByteCount
        let two = queue.take(maxEvents: 10, maxJSONBytes: size * 2 + 1)
        #expect(two.count == 2)
        #expect(queue.waitingCount == 2)
    }
}

@Suite("Background delivery: threads")
struct BackgroundThreadTests {
    @Test func flushWaitsForTheCallbacksAndCloseForTheWorker() throws {
        let clock = ManualClock()
        let transport = ScriptedConcurrentTransport(clock: clock, Array(repeating: ScriptedConcurrentTransport.acceptAll, count: 50))
        let log = ReportLog()
        var configuration = try Configuration(workspaceKey: "ws_key", workspaceSecret: "secret")
        try configuration.setBaseURL("http://127.0.0.1:1/")
        configuration.onDelivery = log.closure
        let client = Client(configuration: configuration, transport: ScriptedTransport([]),
                            concurrentTransport: { .success(transport) }, workerClock: SystemClock())
        for index in 0..<1000 { try client.enqueue(Event(distinctId: "u\(index)", name: "order_placed")) }
        try client.flush(timeoutMilliseconds: 10_000)
        #expect(log.reports.count == 1000, "flush returns after every callback ran")
        #expect(client.deliveryStats.delivered == 1000)
        try client.close(timeoutMilliseconds: 1000)
        // Closed: every call says so, close included; the counters stay readable.
        let event = Event(distinctId: "u", name: "order_placed")
        #expect(status(of: { () throws(SuprSendError) in try client.enqueue(event) }) == .closed)
        #expect(status(of: { () throws(SuprSendError) in _ = try client.track(event) }) == .closed)
        #expect(status(of: { () throws(SuprSendError) in try client.flush(timeoutMilliseconds: 10) }) == .closed)
        #expect(status(of: { () throws(SuprSendError) in try client.close(timeoutMilliseconds: 10) }) == .closed)
        #expect(client.deliveryStats.delivered == 1000)
    }

    @Test func closeKeepsItsDeadlineWithARequestInFlight() throws {
        let clock = ManualClock()
        let transport = ScriptedConcurrentTransport(clock: clock, [])
        transport.holdAnswers = true
        let log = ReportLog()
        var configuration = try Configuration(workspaceKey: "ws_key", workspaceSecret: "secret")
        try configuration.setBaseURL("http://127.0.0.1:1/")
        configuration.onDelivery = log.closure
        try configuration.setFlushInterval(milliseconds: 0)
        let client = Client(configuration: configuration, transport: ScriptedTransport([]),
                            concurrentTransport: { .success(transport) }, workerClock: SystemClock())
        for index in 0..<10 { try client.enqueue(Event(distinctId: "u\(index)", name: "order_placed")) }
        let started = Clock.monotonicSeconds()
        #expect(status(of: { () throws(SuprSendError) in try client.flush(timeoutMilliseconds: 100) }) == .timeout)
        #expect(status(of: { () throws(SuprSendError) in try client.close(timeoutMilliseconds: 200) }) == .timeout)
        #expect(Clock.monotonicSeconds() - started < 2)
        #expect(log.reports.count == 10 && log.reports.allSatisfy { $0.status == .closed })
    }
}

/// The status a call threw, nil when it returned.
func status(of call: () throws(SuprSendError) -> Void) -> Status? {
    do throws(SuprSendError) {
        try call()
        return nil
    } catch {
        return error.status
    }
}
