// A small JSON tree for reading the hub's responses.
//
// Responses may be any shape, or not JSON at all (an HTML page from a proxy, `OK`, nothing), so
// `parse` returns nil instead of failing loudly, and the accessors return nil for anything that
// does not fit. Strictness matches `JSONScanner`, since both share `JSONLexer`.

enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// Members in document order; duplicates are kept and lookups return the first.
    case object([(key: String, value: JSONValue)])

    /// The deepest tree `parse` builds whatever `maxDepth` says: parsing is iterative, but
    /// releasing a tree recurses once per level, and a very deep tree would overflow the stack
    /// of whichever thread drops it.
    static let deepestTree = 512

    /// Parses exactly one JSON value (any kind) surrounded by optional whitespace; nil if the
    /// text is not valid JSON or nests deeper than `maxDepth` containers (at most `deepestTree`).
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = 64) -> JSONValue? {
        var parser = JSONTreeParser(lexer: JSONLexer(bytes), maxDepth: min(maxDepth, deepestTree))
        do {
            return try parser.parseDocument()
        } catch {
            return nil
        }
    }

    static func parse(_ bytes: [UInt8], maxDepth: Int = 64) -> JSONValue? {
        bytes.withUnsafeBufferPointer { parse($0, maxDepth: maxDepth) }
    }

    // MARK: Accessors

    /// The first member named `key`, or nil if this is not an object or has no such member.
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    var stringValue: String? {
        guard case .string(let string) = self else { return nil }
        return string
    }

    /// The number as an `Int` when it is integral and representable; nil otherwise (also for
    /// NaN, infinities and magnitudes like 1e300, which must not trap).
    var intValue: Int? {
        guard case .number(let number) = self else { return nil }
        return Int(exactly: number)
    }

    var doubleValue: Double? {
        guard case .number(let number) = self else { return nil }
        return number
    }

    var boolValue: Bool? {
        guard case .bool(let bool) = self else { return nil }
        return bool
    }

    var arrayValue: [JSONValue]? {
        guard case .array(let elements) = self else { return nil }
        return elements
    }

    var objectValue: [(key: String, value: JSONValue)]? {
        guard case .object(let members) = self else { return nil }
        return members
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension JSONValue: Equatable {
    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }
}

/// Builds a `JSONValue` with an explicit stack of open containers, so deep input cannot exhaust
/// the call stack whatever `maxDepth` the caller chooses.
private struct JSONTreeParser {
    var lexer: JSONLexer
    let maxDepth: Int

    /// A container whose closing bracket has not been seen yet.
    private struct OpenContainer {
        var isArray: Bool
        var elements: [JSONValue] = []
        var members: [(key: String, value: JSONValue)] = []
        var pendingKey = ""
    }

    private enum State {
        case objectStart, arrayStart, key, value, afterValue
    }

    init(lexer: JSONLexer, maxDepth: Int) {
        self.lexer = lexer
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws(JSONSyntaxError) -> JSONValue {
        var open: [OpenContainer] = []
        var state = State.value
        var result: JSONValue

        parsing: while true {
            // Each pass either changes state or completes a value into `completed`.
            var completed: JSONValue?
            switch state {
            case .objectStart:
                lexer.skipWhitespace()
                if !lexer.isAtEnd, lexer.current == JSONByte.closeBrace {
                    lexer.position += 1
                    completed = .object(open.popLast()?.members ?? [])
                } else {
                    state = .key
                }

            case .arrayStart:
                lexer.skipWhitespace()
                if !lexer.isAtEnd, lexer.current == JSONByte.closeBracket {
                    lexer.position += 1
                    completed = .array(open.popLast()?.elements ?? [])
                } else {
                    state = .value
                }

            case .key:
                lexer.skipWhitespace()
                guard !lexer.isAtEnd, lexer.current == JSONByte.quote else {
                    throw lexer.unexpected(expecting: "a string key")
                }
                let key = lexer.decodeString(try lexer.scanString())
                if !open.isEmpty { open[open.count - 1].pendingKey = key }
                lexer.skipWhitespace()
                guard !lexer.isAtEnd, lexer.current == JSONByte.colon else {
                    throw lexer.unexpected(expecting: "':' after object key")
                }
                lexer.position += 1
                state = .value

            case .value:
                lexer.skipWhitespace()
                guard !lexer.isAtEnd else { throw lexer.unexpected(expecting: "a value") }
                switch lexer.current {
                case JSONByte.openBrace, JSONByte.openBracket:
                    guard open.count < maxDepth else { throw .tooDeep(maxDepth: maxDepth, at: lexer.position) }
                    let isArray = lexer.current == JSONByte.openBracket
                    open.append(OpenContainer(isArray: isArray))
                    lexer.position += 1
                    state = isArray ? .arrayStart : .objectStart
                case JSONByte.quote:
                    completed = .string(lexer.decodeString(try lexer.scanString()))
                case JSONByte.minus, JSONByte.zero...JSONByte.nine:
                    let range = try lexer.scanNumber()
                    if let integer = JSONValue.smallInteger(lexer.bytes[range]) {
                        // Status codes and counts: no String and no strtod for them.
                        completed = .number(Double(integer))
                        break
                    }
                    let text = String(decoding: UnsafeBufferPointer(rebasing: lexer.bytes[range]), as: UTF8.self)
                    // The grammar was checked, so this only fails on a stdlib surprise; treat it as invalid.
                    guard let number = Double(text) else { throw .syntax("unrepresentable number", at: range.lowerBound) }
                    completed = .number(number)
                case JSONByte.lowerT, JSONByte.lowerF, JSONByte.lowerN:
                    switch try lexer.scanLiteral() {
                    case .true: completed = .bool(true)
                    case .false: completed = .bool(false)
                    case .null: completed = .null
                    }
                default:
                    throw lexer.unexpected(expecting: "a value")
                }

            case .afterValue:
                lexer.skipWhitespace()
                guard let innermost = open.last else { throw lexer.unexpected(expecting: "end of input") }
                let byte = lexer.current
                if !lexer.isAtEnd, byte == JSONByte.comma {
                    lexer.position += 1
                    state = innermost.isArray ? .value : .key
                } else if !lexer.isAtEnd, innermost.isArray, byte == JSONByte.closeBracket {
                    lexer.position += 1
                    completed = .array(open.popLast()?.elements ?? [])
                } else if !lexer.isAtEnd, !innermost.isArray, byte == JSONByte.closeBrace {
                    lexer.position += 1
                    completed = .object(open.popLast()?.members ?? [])
                } else {
                    throw lexer.unexpected(
                        expecting: innermost.isArray ? "',' or ']' after array element" : "',' or '}' after object member"
                    )
                }
            }

            guard let value = completed else { continue }
            guard !open.isEmpty else {
                result = value
                break parsing
            }
            let innermost = open.count - 1
            if open[innermost].isArray {
                open[innermost].elements.append(value)
            } else {
                open[innermost].members.append((key: open[innermost].pendingKey, value: value))
            }
            state = .afterValue
        }

        lexer.skipWhitespace()
        guard lexer.isAtEnd else { throw lexer.unexpected(expecting: "end of input") }
        return result
    }
}

extension JSONValue {
    /// The value of an integer of at most 15 digits (exact in a Double), else nil.
    static func smallInteger(_ digits: Slice<UnsafeBufferPointer<UInt8>>) -> Int? {
        var text = digits[...]
        let negative = text.first == JSONByte.minus
        if negative { text = text.dropFirst() }
        guard !text.isEmpty, text.count <= 15 else { return nil }
        var value = 0
        for byte in text {
            guard JSONLexer.isDigit(byte) else { return nil }
            value = value * 10 + Int(byte &- JSONByte.zero)
        }
        return negative ? -value : value
    }
}
