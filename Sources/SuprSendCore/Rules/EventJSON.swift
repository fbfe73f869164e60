// Events from JSON text: the whole event in one object, so that a binding builds it with one
// call instead of one per field (suprsend_event_new_json, suprsend_bulk_append_json).
//
// The fields are those of suprsend_event_new and its setters, under the names the event has
// on the wire and in a failed record: "distinct_id", "event", "properties",
// "$idempotency_key", "tenant_id", "brand_id". Each is checked as its setter checks it, with the same
// message; the content rules (empty or reserved names, sizes) stay for send or append.

extension Event {
    /// The keys an event object may have, in the order of `Member`.
    static let jsonKeys = ["distinct_id", "event", "properties", "$idempotency_key", "tenant_id", "brand_id"]
    private static let jsonKeyBytes = jsonKeys.map { Array($0.utf8) }

    private enum Member: Int {
        case distinctId, name, properties, idempotencyKey, tenantId, brandId
    }

    /// The member a key names, compared as bytes when it has no escapes (the usual case).
    private static func member(_ lexer: JSONLexer, _ token: JSONStringToken) -> Member? {
        if token.hasEscapes {
            let key = lexer.decodeString(token)
            return jsonKeys.firstIndex(of: key).flatMap { Member(rawValue: $0) }
        }
        let count = token.contentEnd - token.contentStart
        for (index, expected) in jsonKeyBytes.enumerated() where expected.count == count {
            var same = true
            for offset in 0..<count where lexer.byte(at: token.contentStart + offset) != expected[offset] {
                same = false
                break
            }
            if same { return Member(rawValue: index) }
        }
        return nil
    }

    /// The event in `json`: one object, surrounded by JSON whitespace at most.
    public init(json: UnsafeBufferPointer<UInt8>) throws(SuprSendError) {
        var lexer = JSONLexer(json)
        lexer.skipWhitespace()
        self = try Self.parseObject(&lexer, element: nil)
        lexer.skipWhitespace()
        guard lexer.isAtEnd else {
            throw .argument("event JSON: \(lexer.unexpected(expecting: "end of input after the event object").message)")
        }
    }

    /// The events in `json`: an array of event objects, or one event object. Nothing is
    /// returned unless every element is an event: the first that is not is the error, named
    /// by its index.
    public static func list(json: UnsafeBufferPointer<UInt8>) throws(SuprSendError) -> [Event] {
        var lexer = JSONLexer(json)
        lexer.skipWhitespace()
        guard lexer.current == JSONByte.openBracket else { return [try Event(json: json)] }
        lexer.position += 1
        var events: [Event] = []
        lexer.skipWhitespace()
        if lexer.current == JSONByte.closeBracket {
            lexer.position += 1
        } else {
            while true {
                events.append(try parseObject(&lexer, element: events.count))
                lexer.skipWhitespace()
                if lexer.current == JSONByte.comma {
                    lexer.position += 1
                    continue
                }
                guard lexer.current == JSONByte.closeBracket, !lexer.isAtEnd else {
                    throw .argument("events JSON: \(lexer.unexpected(expecting: "',' or ']' after an event").message)")
                }
                lexer.position += 1
                break
            }
        }
        lexer.skipWhitespace()
        guard lexer.isAtEnd else {
            throw .argument("events JSON: \(lexer.unexpected(expecting: "end of input after the array").message)")
        }
        return events
    }

    /// One event object at the lexer's position (after whitespace); leaves the lexer after its '}'.
    /// What errors call the text: its element's index in an array (made only for an error).
    private static func label(_ element: Int?) -> String {
        element.map { "events JSON [\($0)]" } ?? "event JSON"
    }

    private static func parseObject(_ lexer: inout JSONLexer, element: Int?) throws(SuprSendError) -> Event {
        func syntax(_ error: JSONSyntaxError) -> SuprSendError { .argument("\(label(element)): \(error.message)") }

        lexer.skipWhitespace()
        guard !lexer.isAtEnd, lexer.current == JSONByte.openBrace else {
            throw syntax(lexer.notAnObjectError())
        }
        lexer.position += 1
        var distinctId: String?
        var name: String?
        var properties: EventProperties?
        var idempotencyKey: String?
        var tenantId: String?
        var brandId: String?
        var seen = 0  // a bit per Member

        lexer.skipWhitespace()
        if lexer.current == JSONByte.closeBrace {
            lexer.position += 1
        } else {
            while true {
                lexer.skipWhitespace()
                guard lexer.current == JSONByte.quote, !lexer.isAtEnd else {
                    throw syntax(lexer.unexpected(expecting: "a string key"))
                }
                let token: JSONStringToken
                do throws(JSONSyntaxError) {
                    token = try lexer.scanString()
                } catch {
                    throw syntax(error)
                }
                guard let member = member(lexer, token) else {
                    throw .argument("\(label(element)): unknown key '\(excerpt(lexer.decodeString(token)))' (an event has "
                        + jsonKeys.joined(separator: ", ") + ")")
                }
                let bit = 1 << member.rawValue
                guard seen & bit == 0 else { throw .argument("\(label(element)): duplicate key '\(jsonKeys[member.rawValue])'") }
                seen |= bit
                lexer.skipWhitespace()
                guard lexer.current == JSONByte.colon, !lexer.isAtEnd else {
                    throw syntax(lexer.unexpected(expecting: "':' after object key"))
                }
                lexer.position += 1
                lexer.skipWhitespace()
                switch member {
                case .distinctId: distinctId = try string(&lexer, field: "distinct_id", element: element)
                case .name: name = try string(&lexer, field: "event name", element: element)
                case .idempotencyKey: idempotencyKey = try string(&lexer, field: "idempotency_key", element: element, optional: true)
                case .tenantId: tenantId = try string(&lexer, field: "tenant_id", element: element, optional: true)
                case .brandId: brandId = try string(&lexer, field: "brand_id", element: element, optional: true)
                case .properties: properties = try propertiesObject(&lexer, element: element)
                }
                lexer.skipWhitespace()
                if lexer.current == JSONByte.comma, !lexer.isAtEnd {
                    lexer.position += 1
                    continue
                }
                guard lexer.current == JSONByte.closeBrace, !lexer.isAtEnd else {
                    throw syntax(lexer.unexpected(expecting: "',' or '}' after object member"))
                }
                lexer.position += 1
                break
            }
        }
        // The messages of suprsend_event_new for a missing (NULL) argument.
        guard let distinctId else { throw .argument("distinct_id: must not be NULL") }
        guard let name else { throw .argument("event name: must not be NULL") }
        var event = Event(distinctId: distinctId, name: name)
        if let properties { event.properties = properties }
        event.idempotencyKey = idempotencyKey
        event.tenantId = tenantId
        event.brandId = brandId
        return event
    }

    /// A string member's value (null only when optional: not given). NUL, which a C string
    /// cannot hold, is refused as the setters cannot be given it.
    private static func string(_ lexer: inout JSONLexer, field: String, element: Int?,
                               optional: Bool = false) throws(SuprSendError) -> String? {
        if optional, lexer.current == JSONByte.lowerN {
            do throws(JSONSyntaxError) {
                _ = try lexer.scanLiteral()
            } catch {
                throw .argument("\(label(element)): \(error.message)")
            }
            return nil
        }
        guard lexer.current == JSONByte.quote, !lexer.isAtEnd else {
            throw .argument("\(field): must be a JSON string\(optional ? " or null" : "")")
        }
        let token: JSONStringToken
        do throws(JSONSyntaxError) {
            token = try lexer.scanString()
        } catch {
            throw .argument("\(label(element)): \(error.message)")
        }
        let value = lexer.decodeString(token)
        // A raw NUL is no valid JSON text; only an escape (\u0000) can give one.
        guard !token.hasEscapes || !value.utf8.contains(0) else {
            throw .argument("\(field): must not contain a NUL character")
        }
        return value
    }

    /// The "properties" member: an object, checked as suprsend_event_set_properties_json checks
    /// its text (same messages, offsets counted from the object's '{'), or null for none.
    private static func propertiesObject(_ lexer: inout JSONLexer, element: Int?) throws(SuprSendError) -> EventProperties? {
        if lexer.current == JSONByte.lowerN {
            do throws(JSONSyntaxError) {
                _ = try lexer.scanLiteral()
            } catch {
                throw .argument("\(label(element)): \(error.message)")
            }
            return nil
        }
        let start = lexer.position
        let rest = UnsafeBufferPointer(rebasing: lexer.bytes[min(start, lexer.bytes.count)...])
        let scan: JSONObjectScan
        do throws(JSONSyntaxError) {
            scan = try JSONScanner.scanObjectPrefix(rest, maxDepth: EventProperties.maxDepth)
        } catch {
            throw .argument("properties: \(error.message)")
        }
        lexer.position = start + scan.objectRange.upperBound
        return EventProperties(objectBytes: Array(rest[scan.objectRange]), scan: scan)
    }
}
