import Testing

@testable import SuprSendCore

// Retries that cannot turn one send into two: without an idempotency key, only what the hub
// certainly did not process is sent again.

private func unkeyedClient(_ transport: ScriptedTransport, autoIdempotency: Bool = false,
                           sleeper: SleepRecorder = SleepRecorder()) throws -> Client {
    var configuration = try Configuration(workspaceKey: "ws_key", workspaceSecret: "ws_secret")
    try configuration.setBaseURL("http://127.0.0.1:1/")
    try configuration.setMaxRetries(3)
    configuration.autoIdempotency = autoIdempotency
    return Client(configuration: configuration, transport: transport, sleep: sleeper.closure)
}

private func processedFailure() -> Result<HTTPAnswer, TransportFailure> {
    .failure(TransportFailure(.transient, "Server returned nothing (no headers, no data)", mayHaveBeenProcessed: true))
}

private func keyedEvent(_ key: String? = "order-1") -> Event {
    var event = Event(distinctId: "u1", name: "order_placed")
    event.idempotencyKey = key
    return event
}

@Suite("Retries without an idempotency key")
struct RetrySafetyTests {
    @Test func noAnswerAfterSendingIsNotSentAgainWithoutAKey() throws {
        let transport = ScriptedTransport([processedFailure(), ScriptedTransport.answer(202)])
        let result = try unkeyedClient(transport).track(keyedEvent(nil))
        #expect(result.status == .network)
        #expect(transport.requests.count == 1)
        #expect(result.message.contains("not sent again"))
    }

    @Test(arguments: [500, 502, 504])
    func answersAfterProcessingAreNotSentAgainWithoutAKey(_ status: Int) throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(status, "oops"), ScriptedTransport.answer(202)])
        let result = try unkeyedClient(transport).track(keyedEvent(nil))
        #expect(result.status == .http)
        #expect(result.statusCode == status)
        #expect(transport.requests.count == 1)
    }

    @Test(arguments: [408, 429, 503])
    func refusalsBeforeProcessingAreRetriedWithoutAKey(_ status: Int) throws {
        let transport = ScriptedTransport([ScriptedTransport.answer(status, "later"), ScriptedTransport.answer(202)])
        let result = try unkeyedClient(transport).track(keyedEvent(nil))
        #expect(result.accepted)
        #expect(transport.requests.count == 2)
    }

    @Test func couldNotConnectIsRetriedWithoutAKey() throws {
        let transport = ScriptedTransport([.failure(TransportFailure(.transient, "Couldn't connect to server")),
                                           ScriptedTransport.answer(202)])
        let result = try unkeyedClient(transport).track(keyedEvent(nil))
        #expect(result.accepted)
        #expect(transport.requests.count == 2)
    }

    @Test func theCallersKeyMakesEveryRetrySafe() throws {
        let transport = ScriptedTransport([processedFailure(), ScriptedTransport.answer(500),
                                           ScriptedTransport.answer(202)])
        let result = try unkeyedClient(transport).track(keyedEvent("order-\"1\",\"tenant_id\":\"x"))
        #expect(result.accepted)
        #expect(transport.requests.count == 3)
    }

    @Test func theAutomaticKeyMakesEveryRetrySafe() throws {
        let transport = ScriptedTransport([processedFailure(), ScriptedTransport.answer(504),
                                           ScriptedTransport.answer(202)])
        let result = try unkeyedClient(transport, autoIdempotency: true).track(keyedEvent(nil))
        #expect(result.accepted)
        #expect(transport.requests.count == 3)
    }

    @Test func bulkChunkIsRetriedOnlyWhenEveryEventHasAKey() throws {
        let transport = ScriptedTransport([processedFailure(), ScriptedTransport.answer(200)])
        let bulk = BulkBatch(client: try unkeyedClient(transport))
        try bulk.append(keyedEvent("k1"))
        try bulk.append(keyedEvent(nil))
        let result = try bulk.trigger()
        #expect(transport.requests.count == 1)
        #expect(result.failure == 2)
        #expect(result.failedRecords.allSatisfy { $0.status == .network })

        let keyedTransport = ScriptedTransport([processedFailure(), ScriptedTransport.answer(200)])
        let keyedBulk = BulkBatch(client: try unkeyedClient(keyedTransport))
        try keyedBulk.append(keyedEvent("k1"))
        try keyedBulk.append(keyedEvent("k2"))
        #expect(try keyedBulk.trigger().success == 2)
        #expect(keyedTransport.requests.count == 2)
    }
}

@Suite("Reading an idempotency key from an event's bytes")
struct CarriesIdempotencyKeyTests {
    private func encoded(key: String?, tenant: String? = nil, brand: String? = nil, properties: String = "") throws -> [UInt8] {
        let preparer = EventPreparer(workspaceKey: "k", sdkVersion: "v", rules: EventRules(), autoIdempotency: false)
        var event = Event(distinctId: "u1", name: "order_placed")
        event.idempotencyKey = key
        event.tenantId = tenant
        event.brandId = brand
        try event.setProperties(json: Array(properties.utf8))
        return try preparer.prepare(event).get().json
    }

    @Test func findsTheKeyWhereTheEncoderPutsIt() throws {
        #expect(EventEncoder.carriesIdempotencyKey(try encoded(key: "k1")))
        #expect(EventEncoder.carriesIdempotencyKey(try encoded(key: "k1", tenant: "t_1-x")))
        // brand_id is written after tenant_id: the key is found behind either or both.
        #expect(EventEncoder.carriesIdempotencyKey(try encoded(key: "k1", brand: "b_1")))
        #expect(EventEncoder.carriesIdempotencyKey(try encoded(key: "k1", tenant: "t1", brand: "b-2")))
        #expect(EventFields.idempotencyKey(in: try encoded(key: "k-9", tenant: "t1", brand: "b1")) == "k-9")
        #expect(EventEncoder.carriesIdempotencyKey(try encoded(key: #"a"b\c"}"#)))
        #expect(EventEncoder.carriesIdempotencyKey(try encoded(key: #"x","tenant_id":"y"#)))
        #expect(EventEncoder.carriesIdempotencyKey(try encoded(key: String(repeating: "\u{01}", count: 255))))
        #expect(EventEncoder.carriesIdempotencyKey(try encoded(key: "k", properties: #"{"a":{"b":1,"$idempotency_key":"v"}}"#)))
    }

    @Test func findsNoKeyWhenThereIsNone() throws {
        #expect(!EventEncoder.carriesIdempotencyKey(try encoded(key: nil)))
        #expect(!EventEncoder.carriesIdempotencyKey(try encoded(key: nil, tenant: "t1")))
        #expect(!EventEncoder.carriesIdempotencyKey(try encoded(key: nil, tenant: "t1", brand: "b1")))
        #expect(!EventEncoder.carriesIdempotencyKey(try encoded(key: nil, brand: "b1")))
        #expect(!EventEncoder.carriesIdempotencyKey(try encoded(key: nil, properties: #"{"a":{"b":1,"$idempotency_key":"v"}}"#)))
        #expect(!EventEncoder.carriesIdempotencyKey(try encoded(key: nil, properties: #"{"a":",\"$idempotency_key\":\"v\"}"}"#)))
        #expect(!EventEncoder.carriesIdempotencyKey(Array("}".utf8)))
        #expect(!EventEncoder.carriesIdempotencyKey([]))
        #expect(!EventEncoder.carriesIdempotencyKey(Array(#"","$idempotency_key":""#.utf8)))
    }
}
