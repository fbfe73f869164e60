/// What the hub answered, in any of the shapes wire-protocol.md ("Responses") lists, turned
/// into a success flag and a readable message. Nothing here trusts the body's shape.
public enum HubResponses {
    /// Longest message taken from an answer: a server must not be able to make every failed
    /// record of a bulk carry megabytes.
    static let maxPlainMessageLength = 300

    struct Single: Equatable {
        var accepted: Bool
        var message: String
    }

    static func single(status: Int, body: [UInt8]) -> Single {
        let json = JSONValue.parse(body)
        if (200..<300).contains(status) {
            if let id = json?["message_id"]?.stringValue { return Single(accepted: true, message: id) }
            if let text = json?["message"]?.stringValue { return Single(accepted: true, message: text) }
            let plain = plainText(body)
            return Single(accepted: true, message: plain.isEmpty || json != nil ? "OK" : plain)
        }
        return Single(accepted: false, message: errorMessage(status: status, body: body, json: json))
    }

    struct Record: Equatable {
        var accepted: Bool
        var statusCode: Int
        var message: String
        /// Whether the event's outcome is unknown (an answer that could not be read, or has no
        /// record for it) or "not now" (a record with a retryable status): trying again is
        /// right, with the same idempotency key.
        var mayRetry = false
    }

    /// One record per event of a bulk request, positionally. A 2xx answer that is not JSON
    /// ("OK"), or JSON without a record list, is how older hubs accept a whole request; a list
    /// of the wrong length fails the events it does not cover, and an answer that cannot be
    /// read (cut short, or broken JSON) fails them all rather than guessing they were accepted.
    static func bulk(status: Int, body: [UInt8], bodyTruncated: Bool = false, eventCount: Int) -> [Record] {
        func all(_ record: Record) -> [Record] { Array(repeating: record, count: eventCount) }
        guard (200..<300).contains(status) else {
            return all(Record(accepted: false, statusCode: status, message: errorMessage(status: status, body: body)))
        }
        guard !bodyTruncated else {
            return all(Record(accepted: false, statusCode: 500,
                              message: "the hub's answer (HTTP \(status)) was too large to read; the events' outcome is unknown",
                              mayRetry: true))
        }
        let records: [Record]
        if let fast = body.withUnsafeBufferPointer({ BulkAnswerReader.records(in: $0) }) {
            // The usual answer, read without building a tree.
            records = fast.map { entry in
                switch entry {
                case let .accepted(statusCode, messageID):
                    return Record(accepted: true, statusCode: statusCode ?? status, message: messageID ?? "OK")
                case .other(let range):
                    let value = body.withUnsafeBufferPointer { JSONValue.parse(UnsafeBufferPointer(rebasing: $0[range])) }
                    return record(value ?? .null, requestStatus: status)
                }
            }
        } else if let json = JSONValue.parse(body) {
            guard let list = json["records"]?.arrayValue else {
                return all(Record(accepted: true, statusCode: status, message: "OK"))
            }
            records = list.map { record($0, requestStatus: status) }
        } else if looksLikeJSON(body) {
            return all(Record(accepted: false, statusCode: 500,
                              message: "the hub answered HTTP \(status) with JSON that cannot be read: \(plainText(body))",
                              mayRetry: true))
        } else {
            return all(Record(accepted: true, statusCode: status, message: "OK"))
        }
        return (0..<eventCount).map { index in
            guard index < records.count else {
                return Record(accepted: false, statusCode: 500,
                              message: "the hub answered \(records.count) records for \(eventCount) events; none for this one",
                              mayRetry: true)
            }
            return records[index]
        }
    }

    /// Whether a body starts like a JSON object or array.
    private static func looksLikeJSON(_ body: [UInt8]) -> Bool {
        let first = body.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        return first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
    }

    private static func record(_ value: JSONValue, requestStatus: Int) -> Record {
        let code = value["status_code"]?.intValue
        let statusText = value["status"]?.stringValue?.lowercased()
        let accepted = statusText == "success" || (statusText == nil && code.map { (200..<300).contains($0) } == true)
        if accepted {
            return Record(accepted: true, statusCode: code ?? requestStatus, message: value["message_id"]?.stringValue ?? "OK")
        }
        let message = messageFromJSON(value) ?? "the hub refused this event (\(statusText ?? "no status"))"
        return Record(accepted: false, statusCode: code ?? 500, message: message,
                      mayRetry: code.map(RetryPolicy.isRetryable(status:)) ?? false)
    }

    /// A readable message for an error answer, whatever its body: the hub's own words. The
    /// status travels beside it as a value (records, responses, delivery reports); whoever
    /// shows both to a person joins them (`describe`).
    static func errorMessage(status: Int, body: [UInt8], json: JSONValue? = nil) -> String {
        if let json = json ?? JSONValue.parse(body), let message = messageFromJSON(json) {
            return message
        }
        let text = plainText(body)
        return text.isEmpty ? "no body" : text
    }

    /// "HTTP 503: Service Unavailable" for a status and a message; the message alone when no
    /// answer came (status 0).
    public static func describe(status: Int, message: String) -> String {
        status == 0 ? message : "HTTP \(status): \(message)"
    }

    /// `{"error": {"message", "type"}}`, `{"error": "..."}`, `{"message", "detail"}`, or a JSON
    /// string. Nil when none of them holds any text, so that the caller falls back to the body.
    private static func messageFromJSON(_ json: JSONValue) -> String? {
        func text(_ value: JSONValue?) -> String? {
            guard let string = value?.stringValue else { return nil }
            let readable = shorten(collapseWhitespace(string))
            return readable.isEmpty ? nil : readable
        }
        if let error = json["error"] {
            // The hub's message as it said it: its type ("validation_error") stays in the body.
            if let message = text(error["message"]) { return message }
            if let message = text(error) { return message }
        }
        switch (text(json["message"]), text(json["detail"])) {
        case let (message?, detail?) where detail != message: return "\(message): \(detail)"
        case let (message?, _): return message
        case let (nil, detail?): return detail
        default: return text(json)
        }
    }

    /// The body as short readable text: an HTML page gives its title, or its text without
    /// tags; anything else is cut to a sensible length. Invalid UTF-8 is repaired, not trusted.
    static func plainText(_ body: [UInt8]) -> String {
        // ASCII lower-casing keeps every byte where it was, so positions found in `lowered`
        // are positions in `body`.
        let lowered = body.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        if firstIndex(of: "<html", in: lowered) != nil || firstIndex(of: "<!doctype", in: lowered) != nil {
            if let open = firstIndex(of: "<title>", in: lowered), let close = firstIndex(of: "</title>", in: lowered),
               open + 7 <= close {
                let title = collapseWhitespace(String(decoding: body[(open + 7)..<close], as: UTF8.self))
                if !title.isEmpty { return "HTML page: \(title)" }
            }
            return "HTML page: " + shorten(collapseWhitespace(stripTags(String(decoding: body, as: UTF8.self))))
        }
        return shorten(collapseWhitespace(String(decoding: body, as: UTF8.self)))
    }

    private static func firstIndex(of needle: StaticString, in haystack: [UInt8]) -> Int? {
        let pattern = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        guard haystack.count >= pattern.count else { return nil }
        for start in 0...(haystack.count - pattern.count)
        where haystack[start] == pattern[0] && haystack[start..<(start + pattern.count)].elementsEqual(pattern) {
            return start
        }
        return nil
    }

    private static func stripTags(_ text: String) -> String {
        var result = ""
        var inTag = false
        for character in text {
            if character == "<" { inTag = true; result.append(" ") }
            else if character == ">" { inTag = false }
            else if !inTag { result.append(character) }
        }
        return result
    }

    /// One line: runs of white space and control characters become one space.
    private static func collapseWhitespace(_ text: String) -> String {
        text.split(whereSeparator: { $0.isWhitespace || $0.unicodeScalars.contains { $0.properties.generalCategory == .control } })
            .joined(separator: " ")
    }

    private static func shorten(_ text: String) -> String {
        guard text.count > maxPlainMessageLength else { return text }
        return String(text.prefix(maxPlainMessageLength)) + "…"
    }
}
