import Testing

@testable import SuprSendCore

private let key = "ws_key"
private let secret = "ws_secret"

private func makeConfiguration(baseURL: String = "http://127.0.0.1:1/base/path", maxRetries: Int = 3) throws -> Configuration {
    var configuration = try Configuration(workspaceKey: key, workspaceSecret: secret)
    try configuration.setBaseURL(baseURL)
    try configuration.setMaxRetries(maxRetries)
    return configuration
}

private func makeClient(_ transport: ScriptedTransport, _ sleeper: SleepRecorder = SleepRecorder(),
                        maxRetries: Int = 3, baseURL: String = "http://127.0.0.1:1/base/path") throws -> Client {
    Client(configuration: try makeConfiguration(baseURL: baseURL, maxRetries: maxRetries), transport: transport,
           sleep: sleeper.closure)
}

private func makeSender(_ transport: ScriptedTransport, _ sleeper: SleepRecorder, maxRetries: Int = 3,
                        random: Double = 0.5, now: Int = 1_795_773_600) -> RequestSender {
    RequestSender(baseURL: "http://127.0.0.1:1/base/path/", workspaceKey: key, workspaceSecret: secret,
                  transport: transport, retryPolicy: RetryPolicy(maxRetries: maxRetries), logger: .off,
                  sleep: sleeper.closure, unitRandom: { random }, now: { now })
}

/// Checks that `request` carries a Date and an Authorization whose signature verifies.
private func verifySigned(_ request: HTTPRequest, requestURI: String,
                          sourceLocation: SourceLocation = #_sourceLocation) {
    guard let date = headerValue(request, "Date") else {
        Issue.record("no Date header", sourceLocation: sourceLocation)
        return
    }
    #expect(HTTPDate.parse(date) != nil, "Date '\(date)' must be an HTTP date", sourceLocation: sourceLocation)
    #expect(date.hasSuffix(" GMT"), sourceLocation: sourceLocation)
    #expect(headerValue(request, "Content-Type") == RequestSender.contentType, sourceLocation: sourceLocation)
    let expected = request.body.withUnsafeBytes {
        RequestSigner.signature(method: "POST", body: $0, contentType: "application/json; charset=utf-8",
                                date: date, requestURI: requestURI, secret: secret)
    }
    #expect(headerValue(request, "Authorization") == "\(key):\(expected)", sourceLocation: sourceLocation)
}

private func event(_ id: String = "user_1", _ name: String = "order_placed") -> Event {
    Event(distinctId: id, name: name)
}

@Suite("Delivery: single events")
struct TrackTests {
    @Test func retries503Then202() throws {
        let transport = ScriptedTransport([
            ScriptedTransport.answer(503, "Service Unavailable"),
            ScriptedTransport.answer(202, #"{"status":"success","message_id":"m-1"}"#),
        ])
        let sleeper = SleepRecorder()
        let result = try makeClient(transport, sleeper).track(event())
        #expect(result.accepted)
        #expect(result.status == .ok)
        #expect(result.statusCode == 202)
        #expect(result.message == "m-1")
        let requests = transport.requests
        #expect(requests.count == 2)
        #expect(sleeper.recorded.count == 1)
        for request in requests {
            #expect(request.url == "http://127.0.0.1:1/base/path/v2/event/")
            verifySigned(request, requestURI: "/base/path/v2/event/")
        }
        try #require(requests.count == 2)
        #expect(requests[0].body == requests[1].body)
        let json = try #require(JSONValue.parse(requests[0].body))
        #expect(json["distinct_id"]?.stringValue == "user_1")
    }

    @Test func eachAttemptIsSignedForItsOwnDate() throws {
        final class Clock: @unchecked Sendable {
            let lock = Lock()
            var value = 1_795_773_600
            func next() -> Int { lock.withLock { value += 7; return value } }
        }
        let clock = Clock()
        let transport = ScriptedTransport([ScriptedTransport.answer(500), ScriptedTransport.answer(502), ScriptedTransport.answer(200)])
        let sender = RequestSender(baseURL: "http://127.0.0.1:1/base/path/", workspaceKey: key, workspaceSecret: secret,
                                   transport: transport, retryPolicy: RetryPolicy(maxRetries: 3), logger: .off,
                                   sleep: SleepRecorder().closure, unitRandom: { 0 }, now: { clock.next() })
        let body = utf8Bytes(#"{"a":1}"#)
        let delivery = sender.send(.event, body: body, keyed: { true })  // a 500 is retried only with a key
        #expect(delivery.attempts == 3)
        #expect(delivery.answer?.status == 200)
        let requests = transport.requests
        let dates = requests.compactMap { headerValue($0, "Date") }
        #expect(dates.count == 3)
        #expect(Set(dates).count == 3, "every attempt gets a fresh Date")
        for request in requests {
            #expect(request.body == body)
            verifySigned(request, requestURI: "/base/path/v2/event/")
        }
    }

    @Test func badRequestIsNotRetried() throws {
        let transport = ScriptedTransport([
            ScriptedTransport.answer(400, #"{"status":"error","error":{"message":"bad","type":"validation"}}"#),
            ScriptedTransport.answer(202),
        ])
        let sleeper = SleepRecorder()
        let result = try makeClient(transport, sleeper).track(event())
        #expect(!result.accepted)
        #expect(result.status == .http)
        #expect(result.statusCode == 400)
        #expect(result.message.contains("bad"))
        #expect(transport.requests.count == 1)
        #expect(sleeper.recorded.isEmpty)
    }

    @Test(arguments: [401, 403, 404, 413, 422])
    func otherClientErrorsAreNotRetried(_ status: Int) throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(status, "no"), ScriptedTransport.answer(202)])
        let result = try makeClient(transport).track(event())
        #expect(result.statusCode == status)
        #expect(transport.requests.count == 1)
    }

    @Test(arguments: [408, 429, 500, 502, 503, 504])
    func retryableStatuses(_ status: Int) throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(status, "later"), ScriptedTransport.answer(202)])
        let result = try makeClient(transport).track(event())
        #expect(result.accepted)
        #expect(transport.requests.count == 2)
    }

    @Test func transientFailureIsRetried() throws {
        let transport = ScriptedTransport([
            .failure(TransportFailure(.transient, "connection reset")),
            ScriptedTransport.answer(202, #"{"message_id":"m"}"#),
        ])
        let result = try makeClient(transport).track(event())
        #expect(result.accepted)
        #expect(transport.requests.count == 2)
    }

    @Test func permanentFailureIsNotRetried() throws {
        let transport = ScriptedTransport([
            .failure(TransportFailure(.permanent, "certificate not trusted")),
            ScriptedTransport.answer(202),
        ])
        let result = try makeClient(transport).track(event())
        #expect(!result.accepted)
        #expect(result.status == .network)
        #expect(result.message.contains("certificate not trusted"))
        #expect(transport.requests.count == 1)
    }

    @Test func transientFailuresUntilRetriesRunOut() throws {
        let transport = ScriptedTransport(Array(repeating: .failure(TransportFailure(.transient, "timed out")), count: 5))
        let sleeper = SleepRecorder()
        let result = try makeClient(transport, sleeper, maxRetries: 2).track(event())
        #expect(result.status == .network)
        #expect(result.message.contains("3 attempts"))
        #expect(transport.requests.count == 3)
        #expect(sleeper.recorded.count == 2)
    }

    @Test func zeroRetriesMeansOneAttempt() throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(503), ScriptedTransport.answer(202)])
        let sleeper = SleepRecorder()
        let result = try makeClient(transport, sleeper, maxRetries: 0).track(event())
        #expect(result.status == .http)
        #expect(result.statusCode == 503)
        #expect(transport.requests.count == 1)
        #expect(sleeper.recorded.isEmpty)
    }

    @Test func lastAnswerIsReportedWhenRetriesRunOut() throws {
        let transport = ScriptedTransport(Array(repeating: ScriptedTransport.answer(503, "busy"), count: 4))
        let result = try makeClient(transport, maxRetries: 3).track(event())
        #expect(result.statusCode == 503)
        #expect(result.message.contains("busy"))
        #expect(transport.requests.count == 4)
    }

    @Test func retryAfterIsTheLeastWait() throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(429, "", retryAfter: "2"), ScriptedTransport.answer(202)])
        let sleeper = SleepRecorder()
        let result = try makeClient(transport, sleeper).track(event())
        #expect(result.accepted)
        #expect(sleeper.recorded.count == 1)
        #expect((sleeper.recorded.first ?? 0) >= 2)
        #expect((sleeper.recorded.first ?? 99) <= 2.5)
    }

    @Test func retryAfterIsCapped() throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(503, "", retryAfter: "1000"), ScriptedTransport.answer(202)])
        let sleeper = SleepRecorder()
        _ = try makeClient(transport, sleeper).track(event())
        #expect(sleeper.recorded == [60])
    }

    @Test func retryAfterAsADate() {
        let now = 1_795_773_600
        let transport = ScriptedTransport([
            ScriptedTransport.answer(503, "", retryAfter: HTTPDate.format(unixSeconds: now + 30)),
            ScriptedTransport.answer(202),
        ])
        let sleeper = SleepRecorder()
        let delivery = makeSender(transport, sleeper, random: 0, now: now).send(.event, body: utf8Bytes("{}"))
        #expect(delivery.attempts == 2)
        #expect(sleeper.recorded == [30])
    }

    @Test func waitsGrowWithoutRetryAfter() {
        let transport = ScriptedTransport(Array(repeating: ScriptedTransport.answer(500), count: 4))
        let sleeper = SleepRecorder()
        let delivery = makeSender(transport, sleeper, maxRetries: 3, random: 0.5).send(.event, body: utf8Bytes("{}"),
                                                                                      keyed: { true })
        #expect(delivery.attempts == 4)
        #expect(sleeper.recorded == [0.25, 0.5, 1.0])
    }

    @Test func bulkEndpointAndDefaultBase() throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(200)])
        let sender = RequestSender(baseURL: BaseURL.default, workspaceKey: key, workspaceSecret: secret, transport: transport,
                                   retryPolicy: RetryPolicy(), logger: .off, sleep: { _ in })
        _ = sender.send(.bulk, body: utf8Bytes("[]"))
        let request = try #require(transport.requests.first)
        #expect(request.url == "https://hub.suprsend.com/v2/bulk/event/")
        verifySigned(request, requestURI: "/v2/bulk/event/")
    }

    @Test func signedURIIncludesTheBasePath() throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(202)])
        _ = try makeClient(transport, baseURL: "http://127.0.0.1:1/base/path").track(event())
        let request = try #require(transport.requests.first)
        #expect(request.url == "http://127.0.0.1:1/base/path/v2/event/")
        verifySigned(request, requestURI: "/base/path/v2/event/")
        #expect(BaseURL.path(of: "http://127.0.0.1:8080/proxy/") == "/proxy/")
        #expect(BaseURL.path(of: "https://hub.suprsend.com/") == "/")
    }

    @Test func invalidEventIsNotSent() throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(202)])
        #expect(throws: SuprSendError.self) { try makeClient(transport).track(event("  ")) }
        #expect(transport.requests.isEmpty)
    }

    @Test func trackBodyIsThePreparedEvent() throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(202)])
        var e = event()
        try e.setProperties(json: utf8Bytes(#"{"z":1,"a":2}"#))
        _ = try makeClient(transport).track(e)
        let body = try #require(transport.requests.first?.body)
        let json = try #require(JSONValue.parse(body))
        let insertId = try #require(json["$insert_id"]?.stringValue)
        #expect(insertId.utf8.count == 36)
        #expect(json["$idempotency_key"]?.stringValue == insertId)
        #expect(json["env"]?.stringValue == key)
        #expect(json["properties"]?["$ss_sdk_version"]?.stringValue == Configuration.userAgent)
        #expect(bytesContain(body, utf8Bytes(#"{"z":1,"a":2,"#)))
    }
}

@Suite("Delivery: logging")
struct DeliveryLoggingTests {
    final class Lines: @unchecked Sendable {
        let lock = Lock()
        var all: [(LogLevel, String)] = []
        func add(_ level: LogLevel, _ line: String) { lock.withLock { all.append((level, line)) } }
        var snapshot: [(LogLevel, String)] { lock.withLock { all } }
    }

    @Test func signatureIsNeverLoggedAndRetriesAreWarned() throws {
        let lines = Lines()
        var configuration = try makeConfiguration()
        configuration.logger = Logger(minimumLevel: LogLevel.debug.rawValue, sink: { lines.add($0, $1) })
        let transport = ScriptedTransport([ScriptedTransport.answer(503, "busy"), ScriptedTransport.answer(202)])
        let client = Client(configuration: configuration, transport: transport, sleep: { _ in })
        _ = try client.track(event())
        let logged = lines.snapshot
        #expect(!logged.isEmpty)
        for request in transport.requests {
            let authorization = try #require(headerValue(request, "Authorization"))
            let signature = String(authorization.dropFirst(key.count + 1))
            #expect(!signature.isEmpty)
            for (_, line) in logged { #expect(!line.contains(signature)) }
        }
        #expect(logged.contains { $0.0 == .warning && $0.1.contains("503") })
    }

    @Test func offLoggerIsSilent() {
        #expect(!Logger.off.isEnabled(.error))
        let lines = Lines()
        let logger = Logger(minimumLevel: LogLevel.warning.rawValue, sink: { lines.add($0, $1) })
        logger.log(.info, "hidden")
        logger.log(.error, "shown")
        #expect(lines.snapshot.map(\.1) == ["shown"])
    }
}

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test func fullJitterBounds() {
        let policy = RetryPolicy(maxRetries: 5, baseDelay: 0.5, maxDelay: 30)
        for retry in 1...6 {
            let bound = min(30, 0.5 * Double(1 << (retry - 1)))
            #expect(policy.delay(beforeRetry: retry, retryAfter: nil, unitRandom: { 0 }) == 0)
            let high = policy.delay(beforeRetry: retry, retryAfter: nil, unitRandom: { 0.999 })
            #expect(high < bound, "retry \(retry)")
            #expect(high >= bound * 0.998, "retry \(retry)")
        }
        // Capped at maxDelay.
        let capped = policy.delay(beforeRetry: 20, retryAfter: nil, unitRandom: { 0.999 })
        #expect(capped < 30)
        #expect(capped > 29.9)
        #expect(policy.delay(beforeRetry: 1000, retryAfter: nil, unitRandom: { 0.5 }) == 15)
        // Out-of-range randoms are clamped.
        #expect(policy.delay(beforeRetry: 1, retryAfter: nil, unitRandom: { -3 }) == 0)
        #expect(policy.delay(beforeRetry: 1, retryAfter: nil, unitRandom: { 7 }) <= 0.5)
    }

    @Test func retryAfterIsAFloorAndCapped() {
        let policy = RetryPolicy()
        #expect(policy.delay(beforeRetry: 1, retryAfter: 2, unitRandom: { 0 }) == 2)
        #expect(policy.delay(beforeRetry: 1, retryAfter: 1e12, unitRandom: { 0.999 }) == 60)
        #expect(policy.delay(beforeRetry: 1, retryAfter: -5, unitRandom: { 0 }) == 0)
        #expect(policy.delay(beforeRetry: 10, retryAfter: 1, unitRandom: { 0.5 }) == 15)
    }

    @Test func parseRetryAfter() {
        let now = 1_795_773_600
        #expect(RetryPolicy.parseRetryAfter("5", nowUnixSeconds: now) == 5)
        #expect(RetryPolicy.parseRetryAfter(" 7 ", nowUnixSeconds: now) == 7)
        #expect(RetryPolicy.parseRetryAfter("0", nowUnixSeconds: now) == 0)
        #expect(RetryPolicy.parseRetryAfter(HTTPDate.format(unixSeconds: now + 30), nowUnixSeconds: now) == 30)
        #expect(RetryPolicy.parseRetryAfter("Fri, 27 Nov 2026 10:00:30 GMT", nowUnixSeconds: now) == 30)
        #expect(RetryPolicy.parseRetryAfter(HTTPDate.format(unixSeconds: now - 3600), nowUnixSeconds: now) == 0)
        for garbage in ["", "soon", "-5", "1.5", "5s", "0x10"] {
            #expect(RetryPolicy.parseRetryAfter(garbage, nowUnixSeconds: now) == nil, "'\(garbage)'")
        }
        let huge = RetryPolicy.parseRetryAfter("99999999999999999999999999", nowUnixSeconds: now)
        #expect(huge != nil)
        #expect(RetryPolicy().delay(beforeRetry: 1, retryAfter: huge, unitRandom: { 0 }) == 60)
    }

    @Test func retryableStatuses() {
        for status in [408, 429, 500, 502, 503, 504] { #expect(RetryPolicy.isRetryable(status: status)) }
        for status in [200, 202, 400, 401, 403, 404, 409, 413, 422, 501, 505] { #expect(!RetryPolicy.isRetryable(status: status)) }
    }
}

@Suite("Delivery: bulk")
struct BulkBatchTests {
    @Test func chunksInOrderWithInvalidEventsReported() throws {
        let transport = ScriptedTransport([
            ScriptedTransport.answer(200, #"{"status":"success"}"#),
            ScriptedTransport.answer(200, #"{"status":"success"}"#),
            ScriptedTransport.answer(200, #"{"status":"success"}"#),
        ])
        let client = try makeClient(transport)
        let bulk = BulkBatch(client: client)
        var expectedIds: [String] = []
        for index in 0..<250 {
            if index == 17 || index == 180 {
                let status = try bulk.append(event("   ", "bad_\(index)"))
                #expect(status == .validation)
                #expect(bulk.lastRejectionMessage?.contains("distinct_id") == true)
            } else {
                #expect(try bulk.append(event("u\(index)")) == .ok)
                expectedIds.append("u\(index)")
            }
        }
        #expect(bulk.count == 250)
        let result = try bulk.trigger()
        #expect(result.total == 250)
        #expect(result.success == 248)
        #expect(result.failure == 2)
        #expect(result.status == "partial")
        #expect((result.failedRecords.first?.status ?? .ok) == .validation)

        let requests = transport.requests
        try #require(requests.count == 3)
        var sentIds: [String] = []
        for (request, size) in zip(requests, [100, 100, 48]) {
            #expect(request.url == "http://127.0.0.1:1/base/path/v2/bulk/event/")
            verifySigned(request, requestURI: "/base/path/v2/bulk/event/")
            let array = try #require(JSONValue.parse(request.body)?.arrayValue)
            #expect(array.count == size)
            sentIds += array.compactMap { $0["distinct_id"]?.stringValue }
        }
        #expect(sentIds == expectedIds)

        for failed in result.failedRecords {
            #expect(failed.code == 500)
            #expect(failed.status == .validation)
            #expect(failed.error.contains("distinct_id"))
        }
        let names = result.failedRecords.compactMap { JSONValue.parse($0.record)?["event"]?.stringValue }
        #expect(names == ["bad_17", "bad_180"])

        let json = try #require(JSONValue.parse(result.failedRecordsJSON())?.arrayValue)
        #expect(json.count == 2)
        for item in json {
            #expect(jsonKeys(item) == ["record", "error", "code"])
            #expect(item["code"]?.intValue == 500)
            #expect(item["error"]?.stringValue?.contains("distinct_id") == true)
            #expect(item["record"]?["event"]?.stringValue?.hasPrefix("bad_") == true)
        }
    }

    @Test func triggeredTwiceThrows() throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(200), ScriptedTransport.answer(200)])
        let bulk = BulkBatch(client: try makeClient(transport))
        try bulk.append(event())
        _ = try bulk.trigger()
        #expect(bulk.isTriggered)
        do {
            _ = try bulk.trigger()
            Issue.record("second trigger must throw")
        } catch {
            #expect(error.status == .argument)
        }
        do {
            try bulk.append(event())
            Issue.record("append after trigger must throw")
        } catch {
            #expect(error.status == .argument)
        }
        #expect(transport.requests.count == 1)
    }

    @Test func emptyBulkSendsNothing() throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(200)])
        let bulk = BulkBatch(client: try makeClient(transport))
        let result = try bulk.trigger()
        #expect(result.total == 0)
        #expect(result.success == 0)
        #expect(result.failure == 0)
        #expect(result.status == "success")
        #expect((result.failedRecords.first?.status ?? .ok) == .ok)
        #expect(utf8String(result.failedRecordsJSON()) == "[]")
        #expect(transport.requests.isEmpty)
    }

    @Test func onlyInvalidEventsSendNothingAndFail() throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(200)])
        let bulk = BulkBatch(client: try makeClient(transport))
        try bulk.append(event("", "x1"))
        try bulk.append(event("u", "$bad"))
        let result = try bulk.trigger()
        #expect(result.status == "fail")
        #expect(result.failure == 2)
        #expect(transport.requests.isEmpty)
    }

    @Test func transportFailureFailsExactlyThatChunk() throws {
        let transport = ScriptedTransport([
            ScriptedTransport.answer(200, #"{"status":"success"}"#),
            .failure(TransportFailure(.permanent, "could not resolve host")),
        ])
        let bulk = BulkBatch(client: try makeClient(transport))
        for index in 0..<150 { try bulk.append(event("u\(index)")) }
        let result = try bulk.trigger()
        #expect(transport.requests.count == 2)
        #expect(result.total == 150)
        #expect(result.success == 100)
        #expect(result.failure == 50)
        #expect(result.status == "partial")
        let ids = result.failedRecords.compactMap { JSONValue.parse($0.record)?["distinct_id"]?.stringValue }
        #expect(ids == (100..<150).map { "u\($0)" })
        for failed in result.failedRecords {
            #expect(failed.code == 500)
            #expect(failed.status == .network)
            #expect(failed.error.contains("could not resolve host"))
        }
    }

    @Test func transientChunkFailureIsRetriedWithTheSameBody() throws {
        let transport = ScriptedTransport([
            .failure(TransportFailure(.transient, "reset")),
            ScriptedTransport.answer(503),
            ScriptedTransport.answer(200),
        ])
        let sleeper = SleepRecorder()
        let bulk = BulkBatch(client: try makeClient(transport, sleeper))
        for index in 0..<3 { try bulk.append(event("u\(index)")) }
        let result = try bulk.trigger()
        #expect(result.success == 3)
        let requests = transport.requests
        #expect(requests.count == 3)
        #expect(Set(requests.map(\.body)).count == 1)
        #expect(sleeper.recorded.count == 2)
    }

    @Test func fewerRecordsThanEvents() throws {
        let transport = ScriptedTransport([
            ScriptedTransport.answer(200, #"{"status":"success","records":[{"status":"success","message_id":"a","status_code":202}]}"#),
        ])
        let bulk = BulkBatch(client: try makeClient(transport))
        for index in 0..<3 { try bulk.append(event("u\(index)")) }
        let result = try bulk.trigger()
        #expect(result.success == 1)
        #expect(result.failure == 2)
        let ids = result.failedRecords.compactMap { JSONValue.parse($0.record)?["distinct_id"]?.stringValue }
        #expect(ids == ["u1", "u2"])
        for failed in result.failedRecords {
            #expect(failed.code == 500)
            #expect(failed.error.contains("record"))
        }
    }

    @Test func perRecordErrorsAndWholeRequestRefusal() throws {
        let transport = ScriptedTransport([
            ScriptedTransport.answer(200, #"{"records":[{"status":"success"},{"status":"error","error":{"message":"nope","type":"t"},"status_code":400}]}"#),
        ])
        let bulk = BulkBatch(client: try makeClient(transport))
        try bulk.append(event("u0"))
        try bulk.append(event("u1"))
        let result = try bulk.trigger()
        #expect(result.success == 1)
        #expect(result.failedRecords.first?.code == 400)
        #expect(result.failedRecords.first?.status == .http)
        #expect(result.failedRecords.first?.error.contains("nope") == true)

        let refused = ScriptedTransport([ScriptedTransport.answer(401, #"{"code":401,"message":"bad signature"}"#)])
        let bulk2 = BulkBatch(client: try makeClient(refused))
        for index in 0..<5 { try bulk2.append(event("u\(index)")) }
        let result2 = try bulk2.trigger()
        #expect(result2.status == "fail")
        #expect(result2.failure == 5)
        #expect(result2.failedRecords.allSatisfy { $0.code == 401 && $0.error.contains("bad signature") })
        #expect(refused.requests.count == 1)
    }

    @Test func tooBigForABulkBodyIsReportedNotSent() throws {
        var configuration = try makeConfiguration()
        try configuration.setMaxEventBytes(819_200)
        let transport = ScriptedTransport([ScriptedTransport.answer(200)])
        let client = Client(configuration: configuration, transport: transport, sleep: { _ in })
        let bulk = BulkBatch(client: client)
        var big = event("big")
        // Serialized event of exactly 819_200 bytes: allowed as an event, but "[" + it + "]" is over 800 KiB.
        try big.setProperties(json: utf8Bytes(#"{"p":""}"#))
        guard case .success(let base) = client.preparer.prepare(big) else {
            Issue.record("rejected")
            return
        }
        try big.setProperties(json: utf8Bytes("{\"p\":\"" + String(repeating: "x", count: 819_200 - base.json.count) + "\"}"))
        #expect(try bulk.append(big) == .tooLarge)  // said at once, kept as a failed record
        try bulk.append(event("small"))
        let result = try bulk.trigger()
        #expect(result.success == 1)
        #expect(result.failedRecords.first?.status == .tooLarge)
        #expect(transport.requests.count == 1)
        #expect(JSONValue.parse(transport.requests.first?.body ?? [])?.arrayValue?.count == 1)
    }
}
