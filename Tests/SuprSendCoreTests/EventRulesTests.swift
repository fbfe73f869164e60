import Testing

@testable import SuprSendCore

private func makePreparer(maxEventBytes: Int = EventRules.defaultMaxEventBytes, auto: Bool = true) -> EventPreparer {
    EventPreparer(workspaceKey: "ws_key", sdkVersion: "test-sdk", rules: EventRules(maxEventBytes: maxEventBytes),
                  autoIdempotency: auto)
}

private func event(_ distinctId: String = "user_1", _ name: String = "order_placed",
                   properties: String? = nil) throws -> Event {
    var event = Event(distinctId: distinctId, name: name)
    if let properties { try event.setProperties(json: utf8Bytes(properties)) }
    return event
}

/// The rule error for `event`, or nil when it passes `check`.
private func ruleError(_ event: Event, rules: EventRules = EventRules()) -> SuprSendError? {
    do {
        _ = try rules.check(event)
        return nil
    } catch {
        return error
    }
}

private func prepared(_ event: Event, _ preparer: EventPreparer = makePreparer()) -> PreparedEvent? {
    if case .success(let value) = preparer.prepare(event) { return value }
    return nil
}

private func rejection(_ event: Event, _ preparer: EventPreparer = makePreparer()) -> SuprSendError? {
    if case .failure(let rejected) = preparer.prepare(event) { return rejected.error }
    return nil
}

private func wire(_ event: Event, _ preparer: EventPreparer = makePreparer()) throws -> JSONValue {
    let ready = try #require(prepared(event, preparer))
    return try #require(JSONValue.parse(ready.json))
}

@Suite("Event rules: distinct_id and name")
struct EventRulesIdentityTests {
    @Test(arguments: ["", " ", "\t\n ", "\u{00A0}", "\u{3000}"])
    func emptyDistinctIdIsRejected(_ value: String) throws {
        let error = try #require(ruleError(try event(value)))
        #expect(error.status == .validation)
        #expect(error.message.contains("distinct_id"))
        let viaPreparer = try #require(rejection(try event(value)))
        #expect(viaPreparer.status == .validation)
        #expect(viaPreparer.message.contains("distinct_id"))
    }

    @Test func trimmedValuesGoOnTheWire() throws {
        let json = try wire(try event("  user_7 \t", "\n order_placed  "))
        #expect(json["distinct_id"]?.stringValue == "user_7")
        #expect(json["event"]?.stringValue == "order_placed")
        let checked = try EventRules().check(try event(" a b ", " x y "))
        #expect(checked.distinctId == "a b")
        #expect(checked.name == "x y")
    }

    @Test(arguments: ["", " ", "a", " a ", "é", "$x", "ss_x", "SS_x", "Ss_x", "sS_x", "$", "ss_", "$identify_me",
                      "$custom", "$notification_sent", "中", "😀", "\u{301}", "$IDENTIFY", "$Identify"])
    func rejectedNames(_ name: String) throws {
        let error = try #require(ruleError(try event("u", name)), "'\(name)' should be rejected")
        #expect(error.status == .validation)
        #expect(error.message.contains("event name"), "\(error.message)")
        #expect(rejection(try event("u", name)) != nil)
    }

    @Test(arguments: ["$identify", "$notification_delivered", "$notification_dismiss", "$notification_clicked",
                      "$app_launched", "$user_login", "$user_logout"])
    func allowedReservedNames(_ name: String) throws {
        #expect(ruleError(try event("u", name)) == nil)
        #expect(prepared(try event("u", name)) != nil)
        #expect(try wire(try event("u", name))["event"]?.stringValue == name)
    }

    @Test(arguments: ["s_x", "sss", "ab", "é!", "ssx", "s$", "a$b", "xss_", "中文", "order placed"])
    func acceptedNames(_ name: String) throws {
        #expect(ruleError(try event("u", name)) == nil, "'\(name)' should be accepted")
    }
}

@Suite("Event rules: properties")
struct EventRulesPropertyTests {
    @Test(arguments: [#"{"$x":1}"#, #"{"ss_y":1}"#, #"{"SS_Y":1}"#, #"{"ok":1,"Ss_z":2}"#, #"{"\u0024x":1}"#,
                      #"{"$ss_sdk_version":"mine"}"#, #"{"$insert_id":"x"}"#])
    func reservedKeysAreRejected(_ json: String) throws {
        let error = try #require(ruleError(try event(properties: json)), "\(json) should be rejected")
        #expect(error.status == .validation)
        #expect(error.message.contains("properties"), "\(error.message)")
    }

    @Test(arguments: [#"{"s_y":1}"#, #"{"sss":1}"#, #"{"nested":{"$x":1,"ss_y":2}}"#, #"{"a$":1}"#, "{}", "  "])
    func ordinaryKeysAreAccepted(_ json: String) throws {
        #expect(ruleError(try event(properties: json)) == nil)
    }

    @Test func attachmentsKeyAloneIsAccepted() throws {
        let e = try event(properties: #"{"$attachments":[{"url":"https://x.test/a.pdf"}]}"#)
        #expect(ruleError(e) == nil)
        let json = try wire(e)
        #expect(json["properties"]?["$attachments"]?.arrayValue?.count == 1)
    }

    @Test func attachmentsKeyWithAddAttachmentIsRejected() throws {
        var e = try event(properties: #"{"$attachments":[]}"#)
        try e.addAttachment("https://example.com/a.pdf", fileName: nil, ignoreIfError: false)
        let error = try #require(ruleError(e))
        #expect(error.status == .validation)
        #expect(error.message.contains("$attachments"))
        #expect(rejection(e)?.status == .validation)
    }

    @Test func malformedPropertiesAreRejectedAndTheEarlierOnesKept() throws {
        var e = try event(properties: #"{"kept":1}"#)
        for bad in [#"{"a":"#, "[1]", "nope", #"{"a":1}{"b":2}"#, #"{"a":1,}"#, #"{"a":1,"a":2}"#] {
            #expect(throws: SuprSendError.self) { try e.setProperties(json: utf8Bytes(bad)) }
            do {
                try e.setProperties(json: utf8Bytes(bad))
            } catch {
                #expect(error.status == .argument, "\(bad)")
                #expect(error.message.contains("properties"), "\(error.message)")
            }
        }
        let json = try wire(e)
        #expect(json["properties"]?["kept"]?.intValue == 1)
        #expect(jsonKeys(json["properties"]) == ["kept", "$ss_sdk_version"])
    }

    @Test func invalidUTF8PropertiesAreRejected() throws {
        var e = try event()
        #expect(throws: SuprSendError.self) { try e.setProperties(json: [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]) }
    }
}

@Suite("Event rules: idempotency key and tenant")
struct EventRulesKeyTests {
    @Test func keyOf255IsAcceptedAnd256Rejected() throws {
        var e = try event()
        e.idempotencyKey = String(repeating: "k", count: 255)
        #expect(ruleError(e) == nil)
        #expect(prepared(e)?.idempotencyKey == String(repeating: "k", count: 255))
        e.idempotencyKey = String(repeating: "k", count: 256)
        let error = try #require(ruleError(e))
        #expect(error.status == .validation)
        #expect(error.message.contains("idempotency_key"))
        // Characters, not bytes: 255 two-byte characters are fine.
        e.idempotencyKey = String(repeating: "é", count: 255)
        #expect(ruleError(e) == nil)
        e.idempotencyKey = String(repeating: "é", count: 256)
        #expect(ruleError(e)?.status == .validation)
    }

    @Test func keyIsTrimmedAndPaddedLengthDoesNotCount() throws {
        var e = try event()
        e.idempotencyKey = "   " + String(repeating: "k", count: 255) + "  "
        #expect(ruleError(e) == nil)
        e.idempotencyKey = "  order-42 \t"
        let ready = try #require(prepared(e))
        #expect(ready.idempotencyKey == "order-42")
        #expect(JSONValue.parse(ready.json)?["$idempotency_key"]?.stringValue == "order-42")
    }

    @Test(arguments: ["", "   ", "\t\n"])
    func blankKeyMeansNotSet(_ key: String) throws {
        var e = try event()
        e.idempotencyKey = key
        #expect(try EventRules().check(e).idempotencyKey == nil)
        let ready = try #require(prepared(e))
        #expect(ready.idempotencyKey == ready.insertId)
        #expect(JSONValue.parse(ready.json)?["$idempotency_key"]?.stringValue == ready.insertId)
        let noAuto = try #require(prepared(e, makePreparer(auto: false)))
        #expect(noAuto.idempotencyKey == nil)
        #expect(JSONValue.parse(noAuto.json)?["$idempotency_key"] == nil)
    }

    @Test func tenantLengthAndCharacters() throws {
        var e = try event()
        e.tenantId = String(repeating: "t", count: 64)
        #expect(ruleError(e) == nil)
        #expect(try wire(e)["tenant_id"]?.stringValue == String(repeating: "t", count: 64))
        e.tenantId = "Az09_-"
        #expect(ruleError(e) == nil)
        e.tenantId = String(repeating: "t", count: 65)
        let error = try #require(ruleError(e))
        #expect(error.status == .validation)
        #expect(error.message.contains("tenant_id"))
        for bad in ["a b", "a.b", "a/b", "é", "a$", "t\n", "ten:ant"] {
            e.tenantId = bad
            #expect(ruleError(e)?.status == .validation, "'\(bad)'")
            #expect(ruleError(e)?.message.contains("tenant_id") == true)
        }
    }

    @Test func brandIdFollowsTheTenantRules() throws {
        var e = try event()
        e.brandId = String(repeating: "b", count: 64)
        #expect(ruleError(e) == nil)
        #expect(try wire(e)["brand_id"]?.stringValue == String(repeating: "b", count: 64))
        e.brandId = String(repeating: "b", count: 65)
        #expect(ruleError(e)?.status == .validation)
        for bad in ["a b", "a.b", "é", "b\n"] {
            e.brandId = bad
            #expect(ruleError(e)?.status == .validation, "'\(bad)'")
            #expect(ruleError(e)?.message.contains("brand_id") == true)
        }
        e.brandId = ""
        #expect(try EventRules().check(e).brandId == nil)
        #expect(try wire(e)["brand_id"] == nil)
    }

    @Test func emptyTenantMeansNotSet() throws {
        var e = try event()
        e.tenantId = ""
        #expect(try EventRules().check(e).tenantId == nil)
        #expect(try wire(e)["tenant_id"] == nil)
    }
}

@Suite("Event rules: size")
struct EventRulesSizeTests {
    /// An event whose serialized form is exactly `size` bytes (one padded string property).
    private func eventOfSize(_ size: Int, preparer: EventPreparer) throws -> Event {
        var e = try event()
        try e.setProperties(json: utf8Bytes(#"{"p":""}"#))
        let unlimited = EventPreparer(workspaceKey: "ws_key", sdkVersion: "test-sdk",
                                      rules: EventRules(maxEventBytes: Int.max), autoIdempotency: preparer.autoIdempotency)
        let base = try #require(prepared(e, unlimited)).json.count
        let padding = size - base
        try #require(padding >= 0)
        try e.setProperties(json: utf8Bytes("{\"p\":\"" + String(repeating: "x", count: padding) + "\"}"))
        try #require(prepared(e, unlimited)?.json.count == size)
        return e
    }

    @Test func exactlyTheDefaultLimitIsAcceptedOneMoreIsTooLarge() throws {
        let preparer = makePreparer()
        #expect(EventRules.defaultMaxEventBytes == 102_400)
        let atLimit = try eventOfSize(102_400, preparer: preparer)
        #expect(prepared(atLimit, preparer)?.json.count == 102_400)
        let over = try eventOfSize(102_401, preparer: preparer)
        let error = try #require(rejection(over, preparer))
        #expect(error.status == .tooLarge)
        #expect(error.message.contains("event size"), "\(error.message)")
        #expect(error.message.contains("102401"))
    }

    @Test func raisedLimitAcceptsA200KBEvent() throws {
        let raised = makePreparer(maxEventBytes: 819_200)
        let big = try eventOfSize(200 * 1024, preparer: raised)
        #expect(prepared(big, raised)?.json.count == 200 * 1024)
        #expect(rejection(big, makePreparer())?.status == .tooLarge)
        let atMax = try eventOfSize(819_200, preparer: raised)
        #expect(prepared(atMax, raised) != nil)
        #expect(rejection(try eventOfSize(819_201, preparer: raised), raised)?.status == .tooLarge)
    }

    @Test func sizeCountsTheAttachments() throws {
        let preparer = makePreparer(maxEventBytes: 1024)
        var e = try event()
        try e.addAttachment("https://example.com/" + String(repeating: "a", count: 1000), fileName: nil, ignoreIfError: false)
        #expect(rejection(e, preparer)?.status == .tooLarge)
    }

    @Test func rejectedEventCarriesItsRecord() throws {
        let e = try event("  ", "order_placed", properties: #"{"k":"v"}"#)
        guard case .failure(let rejected) = makePreparer().prepare(e) else {
            Issue.record("expected a rejection")
            return
        }
        let record = try #require(JSONValue.parse(rejected.recordJSON))
        #expect(record["event"]?.stringValue == "order_placed")
        #expect(record["properties"]?["k"]?.stringValue == "v")
    }
}
