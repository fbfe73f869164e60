import Testing

@testable import SuprSendCore

// Event(json:) and Event.list(json:): the whole event in one JSON object must give the event
// the field-by-field calls give, and refuse what they refuse with the same messages.

private func parse(_ text: String) throws(SuprSendError) -> Event {
    let bytes = utf8Bytes(text)
    return try bytes.withUnsafeBufferPointer { (buffer) throws(SuprSendError) in try Event(json: buffer) }
}

private func parseList(_ text: String) throws(SuprSendError) -> [Event] {
    let bytes = utf8Bytes(text)
    return try bytes.withUnsafeBufferPointer { (buffer) throws(SuprSendError) in try Event.list(json: buffer) }
}

/// The error of parsing `text` as one event, or nil when it parses.
private func parseError(_ text: String) -> SuprSendError? {
    do {
        _ = try parse(text)
        return nil
    } catch {
        return error
    }
}

private func listError(_ text: String) -> SuprSendError? {
    do {
        _ = try parseList(text)
        return nil
    } catch {
        return error
    }
}

/// The error suprsend_event_set_properties_json gives for `text`.
private func setPropertiesError(_ text: String) -> SuprSendError? {
    var event = Event(distinctId: "u", name: "e")
    do {
        try event.setProperties(json: utf8Bytes(text))
        return nil
    } catch {
        return error
    }
}

private func sameEvent(_ a: Event, _ b: Event) -> Bool {
    a.distinctId == b.distinctId && a.name == b.name && a.idempotencyKey == b.idempotencyKey
        && a.tenantId == b.tenantId && a.brandId == b.brandId && a.properties.objectBytes == b.properties.objectBytes
        && a.properties.isEmpty == b.properties.isEmpty && a.properties.reservedKeys == b.properties.reservedKeys
}

@Suite struct EventJSONTests {
    @Test func wholeEventEqualsTheFieldByFieldEvent() throws {
        let properties = #"{"first_name":"User","amount":1299.5,"items":[{"sku":"a","qty":2}],"ok":false,"n":null}"#
        let parsed = try parse(#" {"distinct_id":"user_1","event":"product_purchased","properties":"#
            + properties + #","$idempotency_key":"order-1","tenant_id":"acme","brand_id":"acme_b"} "#)
        var expected = Event(distinctId: "user_1", name: "product_purchased")
        try expected.setProperties(json: utf8Bytes(properties))
        expected.idempotencyKey = "order-1"
        expected.tenantId = "acme"
        expected.brandId = "acme_b"
        #expect(sameEvent(parsed, expected))
        #expect(parsed.properties.reservedKeys.isEmpty)
        // Only the keys a rule looks at are kept, in order.
        let reserved = try parse(#"{"distinct_id":"u","event":"e","properties":{"a":1,"$b":2,"ss_c":3,"d":{"$e":4},"SS_f":5}}"#)
        #expect(reserved.properties.reservedKeys == ["$b", "ss_c", "SS_f"])
    }

    @Test func keysInAnyOrderAndOptionalOnesNullOrAbsent() throws {
        let parsed = try parse(#"{"tenant_id":null,"event":"e","$idempotency_key":null,"brand_id":null,"properties":null,"distinct_id":"u"}"#)
        #expect(sameEvent(parsed, Event(distinctId: "u", name: "e")))
        #expect(parsed.properties.isEmpty)
        let bare = try parse(#"{"distinct_id":"u","event":"e"}"#)
        #expect(sameEvent(bare, Event(distinctId: "u", name: "e")))
        let empty = try parse(#"{"distinct_id":"u","event":"e","properties":{ }}"#)
        #expect(empty.properties.isEmpty)
    }

    @Test func escapesAreDecodedInStringsAndKeptInProperties() throws {
        let parsed = try parse(#"{"distinct_id":"caf\u00e9 \"q\"","event":"\u0065","properties":{"k":"a\nb\u0000"}}"#)
        #expect(parsed.distinctId == "café \"q\"")
        #expect(parsed.name == "e")
        // Sent as given: the properties' bytes are not re-escaped.
        #expect(utf8String(parsed.properties.objectBytes) == #"{"k":"a\nb\u0000"}"#)
        let escapedKey = try parse(#"{"distinct_\u0069d":"u","event":"e"}"#)
        #expect(escapedKey.distinctId == "u")
    }

    @Test func propertiesErrorsAreThoseOfSetPropertiesJSON() {
        let deep = String(repeating: #"{"a":"#, count: 65) + "1" + String(repeating: "}", count: 65)
        for properties in [#"{"a":1,"a":2}"#, "[1,2]", #""text""#, "12", "true", deep, #"{"a":01}"#, #"{"a":1,}"#] {
            let expected = setPropertiesError(properties)
            #expect(expected != nil, "\(properties)")
            let got = parseError(#"{"distinct_id":"u","event":"e","properties":"# + properties + "}")
            #expect(got == expected, "\(properties): \(String(describing: got)) vs \(String(describing: expected))")
        }
        #expect(parseError(#"{"distinct_id":"u","event":"e","properties":{"a":1,"a":2}}"#)?.message
                == "properties: duplicate top-level key 'a' at byte 7")
    }

    @Test func missingOrMistypedFieldsAreArgumentErrors() {
        #expect(parseError(#"{"event":"e"}"#) == SuprSendError(.argument, "distinct_id: must not be NULL"))
        #expect(parseError(#"{"distinct_id":"u"}"#) == SuprSendError(.argument, "event name: must not be NULL"))
        #expect(parseError(#"{"distinct_id":5,"event":"e"}"#) == SuprSendError(.argument, "distinct_id: must be a JSON string"))
        #expect(parseError(#"{"distinct_id":null,"event":"e"}"#) == SuprSendError(.argument, "distinct_id: must be a JSON string"))
        #expect(parseError(#"{"distinct_id":"u","event":["e"]}"#) == SuprSendError(.argument, "event name: must be a JSON string"))
        #expect(parseError(#"{"distinct_id":"u","event":"e","tenant_id":7}"#)
                == SuprSendError(.argument, "tenant_id: must be a JSON string or null"))
        #expect(parseError(#"{"distinct_id":"u","event":"e","brand_id":false}"#)
                == SuprSendError(.argument, "brand_id: must be a JSON string or null"))
        #expect(parseError(#"{"distinct_id":"u","event":"e","$idempotency_key":{}}"#)
                == SuprSendError(.argument, "idempotency_key: must be a JSON string or null"))
        #expect(parseError(#"{"distinct_id":"u\u0000v","event":"e"}"#)
                == SuprSendError(.argument, "distinct_id: must not contain a NUL character"))
    }

    @Test func unknownDuplicateAndMalformedAreRefused() {
        #expect(parseError(#"{"distinct_id":"u","event":"e","brand":"x"}"#)?.message
                == "event JSON: unknown key 'brand' (an event has distinct_id, event, properties, $idempotency_key, tenant_id, brand_id)")
        #expect(parseError(#"{"distinct_id":"u","distinct_id":"v","event":"e"}"#)?.message
                == "event JSON: duplicate key 'distinct_id'")
        #expect(parseError(#"{"distinct_id":"u","event":"e"} x"#)?.message
                == "event JSON: invalid JSON at byte 32: expected end of input after the event object, found 'x'")
        #expect(parseError("[]")?.message == "event JSON: expected a JSON object, found an array")
        #expect(parseError("")?.message == "event JSON: expected a JSON object, found no value")
        #expect(parseError(#"{"distinct_id":"u","event":"e""#)?.status == .argument)
        #expect(parseError(#"{"distinct_id":"u" "event":"e"}"#)?.status == .argument)
        #expect(parseError(#"{"distinct_id":"u","event":"e","properties":{"a":1}"#)?.status == .argument)
        #expect(parseError("{\"distinct_id\":\"\u{FF}\",\"event\":\"e\"}") == nil)  // U+00FF is valid text
        let invalidUTF8: [UInt8] = utf8Bytes(#"{"distinct_id":""#) + [0xFF] + utf8Bytes(#"","event":"e"}"#)
        let error: SuprSendError? = invalidUTF8.withUnsafeBufferPointer { buffer -> SuprSendError? in
            do throws(SuprSendError) {
                _ = try Event(json: buffer)
                return nil
            } catch {
                return error
            }
        }
        #expect(error?.message == "event JSON: invalid UTF-8 at byte 16")
    }

    @Test func listTakesAnArrayOrOneObject() throws {
        let events = try parseList(#" [ {"distinct_id":"a","event":"e1"}, {"distinct_id":"b","event":"e2","properties":{"x":[1]}} ] "#)
        #expect(events.count == 2)
        #expect(events.map(\.distinctId) == ["a", "b"])
        #expect(utf8String(events[1].properties.objectBytes) == #"{"x":[1]}"#)
        #expect(try parseList("[]").isEmpty)
        #expect(try parseList(#"{"distinct_id":"a","event":"e"}"#).map(\.name) == ["e"])
    }

    @Test func listNamesTheFirstBadElementAndKeepsNothing() {
        #expect(listError(#"[{"distinct_id":"a","event":"e"},{"distinct_id":"b","event":"e","x":1}]"#)?.message
                == "events JSON [1]: unknown key 'x' (an event has distinct_id, event, properties, $idempotency_key, tenant_id, brand_id)")
        #expect(listError(#"[{"distinct_id":"a","event":"e"},7]"#)?.message
                == "events JSON [1]: expected a JSON object, found a number")
        #expect(listError(#"[{"distinct_id":"a","event":"e"},]"#)?.message
                == "events JSON [1]: invalid JSON at byte 33: expected a JSON object, found ']'")
        #expect(listError(#"[{"distinct_id":"a","event":"e"}"#)?.message
                == "events JSON: invalid JSON at byte 32: unexpected end of input, expected ',' or ']' after an event")
        #expect(listError(#"[{"distinct_id":"a","event":"e"}] ]"#)?.message
                == "events JSON: invalid JSON at byte 34: expected end of input after the array, found ']'")
        // The field messages are those of one event.
        #expect(listError(#"[{"event":"e"}]"#)?.message == "distinct_id: must not be NULL")
    }
}
