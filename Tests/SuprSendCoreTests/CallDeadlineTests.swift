import Testing

@testable import SuprSendCore

// A whole track or bulk trigger has a deadline (call_timeout_ms), retries and waits included.

/// A monotonic clock that only moves when told: by the sender's waits and by each request.
private final class FakeClock: @unchecked Sendable {
    private let lock = Lock()
    private var seconds = 1000.0
    private var sleeps: [Double] = []
    var now: Double { lock.withLock { seconds } }
    var waits: [Double] { lock.withLock { sleeps } }
    func advance(_ by: Double) { lock.withLock { seconds += by } }
    var sleep: @Sendable (Double) -> Void {
        { [self] wait in lock.withLock { sleeps.append(wait); seconds += wait } }
    }
    var monotonic: @Sendable () -> Double { { [self] in now } }
}

/// Answers from a script; each request takes `requestSeconds` of the fake clock, or its own
/// timeout when shorter (as libcurl would end it). Records each request's timeout and start.
private final class TimedTransport: HTTPTransport, @unchecked Sendable {
    private let lock = Lock()
    private var script: [Result<HTTPAnswer, TransportFailure>]
    private let clock: FakeClock
    private let requestSeconds: Double
    private(set) var timeouts: [Int?] = []
    private(set) var starts: [Double] = []

    init(_ script: [Result<HTTPAnswer, TransportFailure>], clock: FakeClock, requestSeconds: Double) {
        self.script = script
        self.clock = clock
        self.requestSeconds = requestSeconds
    }

    var count: Int { lock.withLock { starts.count } }

    func post(_ request: HTTPRequest) -> Result<HTTPAnswer, TransportFailure> {
        let next: Result<HTTPAnswer, TransportFailure> = lock.withLock {
            timeouts.append(request.timeoutMilliseconds)
            starts.append(clock.now)
            return script.isEmpty ? .failure(TransportFailure(.transient, "timed out")) : script.removeFirst()
        }
        let limit = request.timeoutMilliseconds.map { Double($0) / 1000 } ?? .infinity
        clock.advance(min(requestSeconds, limit))
        return next
    }
}

private func sender(_ transport: HTTPTransport, _ clock: FakeClock, callTimeoutMilliseconds: Int,
                    maxRetries: Int = 20) -> RequestSender {
    RequestSender(baseURL: "http://127.0.0.1:1/", workspaceKey: "k", workspaceSecret: "s", transport: transport,
                  retryPolicy: RetryPolicy(maxRetries: maxRetries), logger: .off, sleep: clock.sleep,
                  unitRandom: { 0.99 }, now: { 1_795_773_600 }, monotonic: clock.monotonic,
                  callTimeoutMilliseconds: callTimeoutMilliseconds)
}

private let keyedEvent = Array(#"{"event":"e","$idempotency_key":"k1"}"#.utf8)

@Suite("Call deadline: one send")
struct CallDeadlineTests {
    @Test func retriesAndWaitsStayWithinTheCall() {
        let clock = FakeClock()
        let transport = TimedTransport([], clock: clock, requestSeconds: 4)
        let started = clock.now
        let delivery = sender(transport, clock, callTimeoutMilliseconds: 20_000).send(.event, body: keyedEvent)
        #expect(delivery.answer == nil)
        #expect(delivery.failure?.message.contains("call_timeout_ms") == true)
        #expect(clock.now - started <= 20.0 + 1e-9, "the call took \(clock.now - started) s")
        #expect(transport.count >= 2)
        #expect(transport.count < 21, "twenty retries cannot fit 20 s")
        for (start, timeout) in zip(transport.starts, transport.timeouts) {
            #expect(start < started + 20, "an attempt started past the deadline")
            let left = Int(((started + 20 - start) * 1000).rounded(.up))
            #expect(timeout.map { $0 <= left } == true, "an attempt may take more than what is left")
        }
    }

    @Test func theLastWaitIsShortened() {
        // 1 s attempts, waits of up to 30 s (full jitter at 0.99): the exponential waits
        // outgrow a 10 s call, so a wait must be cut to leave the next attempt its time.
        let clock = FakeClock()
        let transport = TimedTransport([], clock: clock, requestSeconds: 1)
        let started = clock.now
        _ = sender(transport, clock, callTimeoutMilliseconds: 10_000).send(.event, body: keyedEvent)
        let policy = RetryPolicy(maxRetries: 20)
        let full = (1...clock.waits.count).map { policy.delay(beforeRetry: $0, retryAfter: nil, unitRandom: { 0.99 }) }
        #expect(clock.waits != full, "no wait was shortened: \(clock.waits)")
        #expect(clock.now - started <= 10.0 + 1e-9)
        #expect(transport.starts.last.map { $0 < started + 10 } == true)
    }

    @Test func retryAfterLongerThanWhatIsLeftEndsTheCallAtOnce() {
        let clock = FakeClock()
        let transport = TimedTransport([.success(HTTPAnswer(status: 503, body: [], retryAfter: "30")),
                                        .success(HTTPAnswer(status: 202, body: []))], clock: clock, requestSeconds: 0.1)
        let delivery = sender(transport, clock, callTimeoutMilliseconds: 10_000).send(.event, body: keyedEvent)
        #expect(delivery.answer?.status == 503)
        #expect(transport.count == 1)
        #expect(clock.waits.isEmpty)
    }

    @Test func retryAfterThatFitsIsWaited() {
        let clock = FakeClock()
        let transport = TimedTransport([.success(HTTPAnswer(status: 429, body: [], retryAfter: "5")),
                                        .success(HTTPAnswer(status: 202, body: []))], clock: clock, requestSeconds: 0.1)
        let delivery = sender(transport, clock, callTimeoutMilliseconds: 10_000).send(.event, body: keyedEvent)
        #expect(delivery.answer?.status == 202)
        #expect(clock.waits.count == 1)
        #expect((clock.waits.first ?? 0) >= 5)
    }

    @Test func aDeadlineAlreadyPastSendsNothing() {
        let clock = FakeClock()
        let transport = TimedTransport([.success(HTTPAnswer(status: 202, body: []))], clock: clock, requestSeconds: 0.1)
        let delivery = sender(transport, clock, callTimeoutMilliseconds: 10_000)
            .send(.event, body: keyedEvent, deadline: clock.now - 1)
        #expect(transport.count == 0)
        #expect(delivery.answer == nil)
        #expect(delivery.attempts == 0)
        #expect(delivery.noAnswerMessage.contains("call_timeout_ms"))
    }

    @Test func callTimeoutOption() throws {
        var configuration = try Configuration(workspaceKey: "k", workspaceSecret: "s")
        #expect(configuration.callTimeoutMilliseconds == 120_000)
        try configuration.setCallTimeout(milliseconds: 5000)
        #expect(configuration.callTimeoutMilliseconds == 5000)
        for bad in [0, -1, 3_600_001] {
            #expect(throws: SuprSendError.self) { try configuration.setCallTimeout(milliseconds: bad) }
        }
        #expect(configuration.callTimeoutMilliseconds == 5000)
    }
}

@Suite("Call deadline: bulks")
struct BulkDeadlineTests {
    private func client(_ transport: HTTPTransport, callTimeoutMilliseconds: Int = 120_000, maxRetries: Int = 2) throws -> Client {
        var configuration = try Configuration(workspaceKey: "k", workspaceSecret: "s")
        try configuration.setBaseURL("http://127.0.0.1:1/")
        try configuration.setMaxRetries(maxRetries)
        try configuration.setCallTimeout(milliseconds: callTimeoutMilliseconds)
        return Client(configuration: configuration, transport: transport, sleep: { _ in })
    }

    @Test func chunksAfterOneWithNoAnswerFailAtOnce() throws {
        let transport = ScriptedTransport(Array(repeating: .failure(TransportFailure(.transient, "Couldn't connect")), count: 10))
        let bulk = BulkBatch(client: try client(transport))
        for index in 0..<250 { try bulk.append(Event(distinctId: "u\(index)", name: "order_placed")) }
        let result = try bulk.trigger()
        #expect(transport.requests.count == 3, "one chunk's tries, and no request for the other two chunks")
        #expect(result.failure == 250)
        #expect(result.failedRecords.allSatisfy { $0.status == .network && $0.code == 500 })
        #expect(result.failedRecords[150].error.contains("earlier request"))
        #expect(result.worstFailureStatus == .network)
    }

    @Test func theWorstStatusIsReturnedNotTheFirst() throws {
        let transport = ScriptedTransport([
            ScriptedTransport.answer(422, #"{"status":"error","error":{"message":"no","type":"x"}}"#),
            .failure(TransportFailure(.permanent, "certificate not trusted")),
        ])
        let bulk = BulkBatch(client: try client(transport))
        try bulk.append(Event(distinctId: "", name: "order_placed"))  // validation, first
        for index in 0..<150 { try bulk.append(Event(distinctId: "u\(index)", name: "order_placed")) }
        let result = try bulk.trigger()
        #expect((result.failedRecords.first?.status ?? .ok) == .validation)
        #expect(result.worstFailureStatus == .network)
        #expect(result.failedRecords[0].code == 500)  // refused before sending: the official SDKs' code
        #expect(result.failedRecords[1].code == 422)
        #expect(result.failedRecords[1].status == .http)
        #expect(result.failedRecords.last?.code == 500)

        let refusedTransport = ScriptedTransport([ScriptedTransport.answer(400, "bad")])
        let refused = BulkBatch(client: try client(refusedTransport))
        try refused.append(Event(distinctId: "", name: "order_placed"))
        try refused.append(Event(distinctId: "u1", name: "order_placed"))
        #expect(try refused.trigger().worstFailureStatus == .http)
    }

    @Test func theBulkDeadlineCoversEveryChunk() throws {
        let clock = FakeClock()
        let transport = TimedTransport(Array(repeating: .success(HTTPAnswer(status: 200, body: [])), count: 10),
                                       clock: clock, requestSeconds: 3)
        var configuration = try Configuration(workspaceKey: "k", workspaceSecret: "s")
        try configuration.setBaseURL("http://127.0.0.1:1/")
        try configuration.setCallTimeout(milliseconds: 5000)
        let client = Client(configuration: configuration, transport: transport, sleep: clock.sleep)
        let bulk = BulkBatch(client: client)
        for index in 0..<350 { try bulk.append(Event(distinctId: "u\(index)", name: "order_placed")) }
        _ = try bulk.trigger()
        // The client's sender uses the real clock; what matters is each request's timeout:
        // no request may be allowed past the bulk's 5 s.
        #expect(transport.timeouts.allSatisfy { ($0 ?? .max) <= 5000 })
    }
}
