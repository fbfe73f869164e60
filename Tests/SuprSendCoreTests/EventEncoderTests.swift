import Testing

@testable import SuprSendCore

private let sdk = "suprsend-c/test (linux; swift)"

private func makePreparer(auto: Bool = true) -> EventPreparer {
    EventPreparer(workspaceKey: "ws_key_0123", sdkVersion: sdk, rules: EventRules(), autoIdempotency: auto)
}

private func prepare(_ event: Event, auto: Bool = true) throws -> [UInt8] {
    guard case .success(let ready) = makePreparer(auto: auto).prepare(event) else {
        Issue.record("event was rejected")
        throw SuprSendError(.internal, "rejected")
    }
    return ready.json
}

@Suite("Event encoder")
struct EventEncoderTests {
    @Test func topLevelMembersInOrder() throws {
        let e = Event(distinctId: "user_1", name: "order_placed")
        let before = Clock.nowMilliseconds()
        guard case .success(let ready) = makePreparer().prepare(e) else { Issue.record("rejected"); return }
        let after = Clock.nowMilliseconds()
        let bytes = ready.json
        let json = try #require(JSONValue.parse(bytes))
        #expect(jsonKeys(json) == ["$insert_id", "$time", "event", "env", "distinct_id", "properties", "$idempotency_key"])
        #expect(json["$insert_id"]?.stringValue == ready.insertId)
        let time = try #require(json["$time"]?.intValue)
        #expect((before...after).contains(Int64(time)))
        #expect(json["event"]?.stringValue == "order_placed")
        #expect(json["env"]?.stringValue == "ws_key_0123")
        #expect(json["distinct_id"]?.stringValue == "user_1")
        #expect(jsonKeys(json["properties"]) == ["$ss_sdk_version"])
        #expect(json["properties"]?["$ss_sdk_version"]?.stringValue == sdk)
        // $time is an integer number of milliseconds, written without a fraction or exponent.
        #expect(bytesContain(bytes, utf8Bytes("\"$time\":\(time),")))
        #expect(time > 1_700_000_000_000)
    }

    @Test func callerPropertiesAreCopiedByteForByte() throws {
        var e = Event(distinctId: "u", name: "ev")
        let given = #"{"b":1,"a":"\u00e9","n":1.50E+2,"s":"\/x","z":[1, 2 ,{"q":null}]}"#
        try e.setProperties(json: utf8Bytes(given))
        let bytes = try prepare(e)
        let expectedPrefix = String(given.dropLast()) + ",\"$ss_sdk_version\":"
        #expect(bytesContain(bytes, utf8Bytes("\"properties\":" + expectedPrefix)), "\(utf8String(bytes))")
        let json = try #require(JSONValue.parse(bytes))
        #expect(jsonKeys(json["properties"]) == ["b", "a", "n", "s", "z", "$ss_sdk_version"])
        #expect(json["properties"]?["a"]?.stringValue == "é")
    }

    @Test func whitespaceAroundAndInsidePropertiesStillGivesValidJSON() throws {
        var e = Event(distinctId: "u", name: "ev")
        try e.setProperties(json: utf8Bytes(" \n { \"b\" : 1 ,\n \"a\" : [ ] } \t"))
        let bytes = try prepare(e)
        let json = try #require(JSONValue.parse(bytes), "\(utf8String(bytes))")
        #expect(jsonKeys(json["properties"]) == ["b", "a", "$ss_sdk_version"])
        #expect(bytesContain(bytes, utf8Bytes("{ \"b\" : 1 ,\n \"a\" : [ ] ")))
    }

    @Test func emptyPropertiesObjectWithInnerWhitespace() throws {
        var e = Event(distinctId: "u", name: "ev")
        try e.setProperties(json: utf8Bytes("{ \n }"))
        let json = try #require(JSONValue.parse(try prepare(e)))
        #expect(jsonKeys(json["properties"]) == ["$ss_sdk_version"])
    }

    @Test func stringsAreEscaped() throws {
        let e = Event(distinctId: "a\"b\\c\n\u{01}é/", name: "ev\t")
        let bytes = try prepare(e)
        let json = try #require(JSONValue.parse(bytes))
        #expect(json["distinct_id"]?.stringValue == "a\"b\\c\n\u{01}é/")
        #expect(bytesContain(bytes, utf8Bytes(#""distinct_id":"a\"b\\c\n\u0001é/""#)))
    }

    @Test func attachmentsOnlyWhenThereAreSome() throws {
        var e = Event(distinctId: "u", name: "ev")
        try e.setProperties(json: utf8Bytes(#"{"k":1}"#))
        let withoutAttachments = try prepare(e)
        #expect(JSONValue.parse(withoutAttachments)?["properties"]?["$attachments"] == nil)

        try e.addAttachment("https://example.com/file.pdf", fileName: nil, ignoreIfError: true)
        try e.addAttachment("http://example.com/b", fileName: "b.txt", ignoreIfError: false)
        let json = try #require(JSONValue.parse(try prepare(e)))
        #expect(jsonKeys(json["properties"]) == ["k", "$ss_sdk_version", "$attachments"])
        let list = try #require(json["properties"]?["$attachments"]?.arrayValue)
        try #require(list.count == 2)
        #expect(jsonKeys(list[0]) == ["filename", "url", "ignore_if_error"])
        #expect(list[0]["filename"]?.isNull == true)
        #expect(list[0]["url"]?.stringValue == "https://example.com/file.pdf")
        #expect(list[0]["ignore_if_error"]?.boolValue == true)
        #expect(list[1]["filename"]?.stringValue == "b.txt")
        #expect(list[1]["ignore_if_error"]?.boolValue == false)
    }

    @Test func idempotencyKeyWhenSetAutoOrAbsent() throws {
        var e = Event(distinctId: "u", name: "ev")
        // Auto: the key is the insert id.
        var json = try #require(JSONValue.parse(try prepare(e)))
        #expect(json["$idempotency_key"]?.stringValue == json["$insert_id"]?.stringValue)
        // Auto off: absent.
        json = try #require(JSONValue.parse(try prepare(e, auto: false)))
        #expect(json["$idempotency_key"] == nil)
        #expect(!bytesContain(try prepare(e, auto: false), utf8Bytes("$idempotency_key")))
        // Set: the caller's, with or without auto.
        e.idempotencyKey = "order-1"
        for auto in [true, false] {
            json = try #require(JSONValue.parse(try prepare(e, auto: auto)))
            #expect(json["$idempotency_key"]?.stringValue == "order-1")
        }
    }

    @Test func tenantOnlyWhenSet() throws {
        var e = Event(distinctId: "u", name: "ev")
        #expect(!bytesContain(try prepare(e), utf8Bytes("tenant_id")))
        e.tenantId = "tenant-1"
        e.idempotencyKey = "k"
        let json = try #require(JSONValue.parse(try prepare(e)))
        #expect(json["tenant_id"]?.stringValue == "tenant-1")
        #expect(jsonKeys(json).suffix(2) == ["$idempotency_key", "tenant_id"])
    }

    @Test func brandIdIsItsOwnTopLevelMemberAfterTenant() throws {
        var e = Event(distinctId: "u1", name: "ev")
        #expect(!bytesContain(try prepare(e), utf8Bytes("brand_id")))
        e.tenantId = "t1"
        e.brandId = "b1"
        e.idempotencyKey = "k"
        var json = try #require(JSONValue.parse(try prepare(e)))
        #expect(json["tenant_id"]?.stringValue == "t1")
        #expect(json["brand_id"]?.stringValue == "b1")
        #expect(json["properties"]?["brand_id"] == nil)
        #expect(jsonKeys(json).suffix(3) == ["$idempotency_key", "tenant_id", "brand_id"])
        e.tenantId = nil
        json = try #require(JSONValue.parse(try prepare(e)))
        #expect(json["tenant_id"] == nil)
        #expect(json["brand_id"]?.stringValue == "b1")
    }

    @Test func eachPreparationIsANewOccurrence() throws {
        var e = Event(distinctId: "u", name: "ev")
        try e.setProperties(json: utf8Bytes(#"{"x":[1,2,3],"y":"z"}"#))
        try e.addAttachment("https://example.com/a", fileName: nil, ignoreIfError: false)
        let first = try #require(JSONValue.parse(try prepare(e)))
        let second = try #require(JSONValue.parse(try prepare(e)))
        // Its own $insert_id (and so its own automatic key) each time...
        #expect(first["$insert_id"]?.stringValue != second["$insert_id"]?.stringValue)
        #expect(first["$idempotency_key"]?.stringValue != second["$idempotency_key"]?.stringValue)
        // ...and the same content.
        for field in ["event", "env", "distinct_id", "properties"] {
            #expect(first[field] == second[field], "\(field)")
        }
        // A key from the caller stays the same, so the hub can drop a repeat.
        e.idempotencyKey = "order-1"
        let keyed = try #require(JSONValue.parse(try prepare(e)))
        #expect(keyed["$idempotency_key"]?.stringValue == "order-1")
    }
}
