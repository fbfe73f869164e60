import Glibc

/// Reads the record list of a bulk answer without building a tree.
///
/// A chunk of 100 events is answered with 100 records, nearly always all
/// `{"status": "success", "message_id": …, "status_code": 202}`; building a JSONValue for
/// each cost more than signing the request. This reader walks the answer with the lexer,
/// looks only at each record's "status", and leaves any other record (a failure, whose
/// message is wanted) to the general parser. It gives up (nil) on anything unexpected, and
/// the caller then uses the general parser for the whole answer.
struct BulkAnswerReader {
    private var lexer: JSONLexer
    private static let maxDepth = 64

    /// One record: accepted, or the bytes of a record that needs a closer look.
    enum Record {
        /// status "success", with its status_code and message_id when they were given.
        case accepted(statusCode: Int?, messageID: String?)
        case other(Range<Int>)
    }

    static func records(in body: UnsafeBufferPointer<UInt8>) -> [Record]? {
        var reader = BulkAnswerReader(lexer: JSONLexer(body))
        return try? reader.readDocument()
    }

    private mutating func readDocument() throws(JSONSyntaxError) -> [Record]? {
        var records: [Record]?
        var sawRecords = false
        // The general parser reads the first member of a name, escaped or not. Where that could
        // differ from what this reader saw (a key written with escapes, "records" twice), give up.
        var ambiguous = false
        try readObject { (reader, key) throws(JSONSyntaxError) in
            if key.bytes == nil {
                ambiguous = true
                try reader.skipValue()
            } else if key == "records" {
                if sawRecords { ambiguous = true }
                sawRecords = true
                if reader.lexer.current == JSONByte.openBracket, !ambiguous {
                    records = try reader.readRecords()
                } else {
                    try reader.skipValue()
                }
            } else {
                try reader.skipValue()
            }
        }
        lexer.skipWhitespace()
        guard lexer.isAtEnd else { throw lexer.unexpected(expecting: "end of input") }
        return ambiguous ? nil : records
    }

    private mutating func readRecords() throws(JSONSyntaxError) -> [Record] {
        var records: [Record] = []
        lexer.position += 1  // "["
        lexer.skipWhitespace()
        if lexer.current == JSONByte.closeBracket {
            lexer.position += 1
            return records
        }
        while true {
            lexer.skipWhitespace()
            let start = lexer.position
            var accepted = false
            var statusCode: Int?
            var messageID: String?
            // As above: a record whose keys the general parser could read otherwise is left to it.
            var plain = true
            var seen: (status: Bool, messageID: Bool, statusCode: Bool) = (false, false, false)
            if lexer.current == JSONByte.openBrace {
                try readObject { (reader, key) throws(JSONSyntaxError) in
                    if key.bytes == nil {
                        plain = false
                    } else if key == "status" {
                        if seen.status { plain = false }
                        seen.status = true
                    } else if key == "message_id" {
                        if seen.messageID { plain = false }
                        seen.messageID = true
                    } else if key == "status_code" {
                        if seen.statusCode { plain = false }
                        seen.statusCode = true
                    }
                    if key == "status", reader.lexer.current == JSONByte.quote {
                        let token = try reader.lexer.scanString()
                        accepted = StaticKey(bytes: token.hasEscapes ? nil : reader.lexer.bytes[token.contentStart..<token.contentEnd])
                            == "success"
                    } else if key == "message_id", reader.lexer.current == JSONByte.quote {
                        messageID = reader.lexer.decodeString(try reader.lexer.scanString())
                    } else if key == "status_code", JSONLexer.isDigit(reader.lexer.current) {
                        statusCode = JSONValue.smallInteger(reader.lexer.bytes[try reader.lexer.scanNumber()])
                    } else {
                        try reader.skipValue()
                    }
                }
            } else {
                try skipValue()
            }
            records.append(accepted && plain ? .accepted(statusCode: statusCode, messageID: messageID) : .other(start..<lexer.position))
            lexer.skipWhitespace()
            if lexer.current == JSONByte.comma {
                lexer.position += 1
            } else if lexer.current == JSONByte.closeBracket {
                lexer.position += 1
                return records
            } else {
                throw lexer.unexpected(expecting: "',' or ']' after a record")
            }
        }
    }

    /// Reads `{ "key": value, … }`, handing each key to `member` with the lexer on its value,
    /// which `member` must consume. Keys are compared as bytes only when they are plain ASCII.
    private mutating func readObject(_ member: (inout BulkAnswerReader, StaticKey) throws(JSONSyntaxError) -> Void) throws(JSONSyntaxError) {
        lexer.skipWhitespace()
        guard lexer.current == JSONByte.openBrace else { throw lexer.unexpected(expecting: "'{'") }
        lexer.position += 1
        lexer.skipWhitespace()
        if lexer.current == JSONByte.closeBrace {
            lexer.position += 1
            return
        }
        while true {
            lexer.skipWhitespace()
            guard lexer.current == JSONByte.quote else { throw lexer.unexpected(expecting: "a string key") }
            let token = try lexer.scanString()
            let key = StaticKey(bytes: token.hasEscapes ? nil : lexer.bytes[token.contentStart..<token.contentEnd])
            lexer.skipWhitespace()
            guard lexer.current == JSONByte.colon else { throw lexer.unexpected(expecting: "':' after object key") }
            lexer.position += 1
            lexer.skipWhitespace()
            try member(&self, key)
            lexer.skipWhitespace()
            if lexer.current == JSONByte.comma {
                lexer.position += 1
            } else if lexer.current == JSONByte.closeBrace {
                lexer.position += 1
                return
            } else {
                throw lexer.unexpected(expecting: "',' or '}' after object member")
            }
        }
    }

    /// Moves past one value of any kind, validating it.
    private mutating func skipValue() throws(JSONSyntaxError) {
        var nesting = JSONNestingStack()
        while true {
            lexer.skipWhitespace()
            switch lexer.current {
            case JSONByte.quote:
                _ = try lexer.scanString()
            case JSONByte.minus, JSONByte.zero...JSONByte.nine:
                _ = try lexer.scanNumber()
            case JSONByte.lowerT, JSONByte.lowerF, JSONByte.lowerN:
                _ = try lexer.scanLiteral()
            case JSONByte.openBrace, JSONByte.openBracket:
                guard nesting.depth < Self.maxDepth else { throw .tooDeep(maxDepth: Self.maxDepth, at: lexer.position) }
                let isArray = lexer.current == JSONByte.openBracket
                lexer.position += 1
                lexer.skipWhitespace()
                if lexer.current == (isArray ? JSONByte.closeBracket : JSONByte.closeBrace) {
                    lexer.position += 1  // empty: a whole value
                } else {
                    nesting.push(isArray: isArray)
                    if !isArray { try skipKeyAndColon() }
                    continue  // the first element or member value
                }
            default:
                throw lexer.unexpected(expecting: "a value")
            }
            // A value is complete: go on to the next member or element, or close containers.
            while true {
                guard nesting.depth > 0 else { return }
                lexer.skipWhitespace()
                if lexer.current == JSONByte.comma {
                    lexer.position += 1
                    if !nesting.topIsArray { try skipKeyAndColon() }
                    break
                }
                guard lexer.current == (nesting.topIsArray ? JSONByte.closeBracket : JSONByte.closeBrace) else {
                    throw lexer.unexpected(expecting: "',' or a closing bracket")
                }
                lexer.position += 1
                nesting.pop()
            }
        }
    }

    private mutating func skipKeyAndColon() throws(JSONSyntaxError) {
        lexer.skipWhitespace()
        guard lexer.current == JSONByte.quote else { throw lexer.unexpected(expecting: "a string key") }
        _ = try lexer.scanString()
        lexer.skipWhitespace()
        guard lexer.current == JSONByte.colon else { throw lexer.unexpected(expecting: "':' after object key") }
        lexer.position += 1
    }
}

/// An object key as raw bytes, comparable with a string literal without making a String.
/// A key with escapes matches nothing (the hub's keys have none).
struct StaticKey {
    let bytes: Slice<UnsafeBufferPointer<UInt8>>?

    static func == (key: StaticKey, literal: StaticString) -> Bool {
        guard let bytes = key.bytes, bytes.count == literal.utf8CodeUnitCount else { return false }
        guard let base = bytes.base.baseAddress else { return bytes.isEmpty }
        return memcmp(base + bytes.startIndex, literal.utf8Start, bytes.count) == 0
    }
}
