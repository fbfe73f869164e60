// Strict RFC 8259 validation of the caller's event properties, on bytes, without building a tree.
//
// The properties are copied verbatim into the request body and the body is signed as bytes, so
// the only thing the core needs from them is: "is this exactly one valid JSON object", where the
// object starts and ends, and its top-level keys (to enforce the reserved `$` / `ss_` prefixes).
// Everything else stays text; numbers are never converted.

/// A JSON syntax or encoding error, with the byte offset where it was detected.
struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Byte offset into the scanned text.
    var offset: Int
    /// A complete, human-readable message (it already names the offset where that helps).
    var message: String

    init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    var description: String { message }

    static func syntax(_ reason: String, at offset: Int) -> JSONSyntaxError {
        JSONSyntaxError(offset: offset, message: "invalid JSON at byte \(offset): \(reason)")
    }

    static func invalidUTF8(at offset: Int) -> JSONSyntaxError {
        JSONSyntaxError(offset: offset, message: "invalid UTF-8 at byte \(offset)")
    }

    static func tooDeep(maxDepth: Int, at offset: Int) -> JSONSyntaxError {
        JSONSyntaxError(offset: offset, message: "nesting deeper than \(maxDepth) levels at byte \(offset)")
    }
}

/// What the scanner learned about a valid top-level object.
struct JSONObjectScan: Equatable, Sendable {
    /// Byte offsets of the object from its `{` up to and including its `}`; surrounding
    /// whitespace is excluded.
    var objectRange: Range<Int>
    /// True for `{}` (with or without inner whitespace).
    var isEmpty: Bool
    /// The object's own keys, escapes resolved, in document order (no duplicates).
    var topLevelKeys: [String]
}

enum JSONScanner {
    /// Validates that `bytes` hold exactly one JSON object (optionally surrounded by JSON
    /// whitespace), nested at most `maxDepth` levels (the object itself is level 1), with no
    /// duplicate top-level keys.
    static func scanObject(
        _ bytes: UnsafeBufferPointer<UInt8>,
        maxDepth: Int = 64
    ) -> Result<JSONObjectScan, JSONSyntaxError> {
        do {
            return .success(try scanObjectThrowing(bytes, maxDepth: maxDepth))
        } catch {
            return .failure(error)
        }
    }

    static func scanObject(_ bytes: [UInt8], maxDepth: Int = 64) -> Result<JSONObjectScan, JSONSyntaxError> {
        bytes.withUnsafeBufferPointer { scanObject($0, maxDepth: maxDepth) }
    }

    /// Where the scanner is in the grammar; an explicit state machine keeps the stack flat no
    /// matter how deep the input nests.
    private enum State {
        case objectStart  // just after `{`: a key or `}`
        case arrayStart  // just after `[`: a value or `]`
        case key  // after `,` in an object
        case value  // after `:` or after `,` in an array
        case afterValue  // `,` or the closing bracket of the innermost container
    }

    static func scanObjectThrowing(
        _ bytes: UnsafeBufferPointer<UInt8>,
        maxDepth: Int = 64
    ) throws(JSONSyntaxError) -> JSONObjectScan {
        try scanObjectThrowing(bytes, maxDepth: maxDepth, alone: true)
    }

    /// Like `scanObjectThrowing`, but the object may be followed by anything (the rest of an
    /// enclosing document): `objectRange.upperBound` is where it ended. Offsets in errors and
    /// in the range count from the start of `bytes`, so a caller that passes the buffer from
    /// the object's first byte gets the same messages as for the object's text alone.
    static func scanObjectPrefix(
        _ bytes: UnsafeBufferPointer<UInt8>,
        maxDepth: Int = 64
    ) throws(JSONSyntaxError) -> JSONObjectScan {
        try scanObjectThrowing(bytes, maxDepth: maxDepth, alone: false)
    }

    private static func scanObjectThrowing(
        _ bytes: UnsafeBufferPointer<UInt8>,
        maxDepth: Int,
        alone: Bool
    ) throws(JSONSyntaxError) -> JSONObjectScan {
        var lexer = JSONLexer(bytes)
        lexer.skipWhitespace()
        guard !lexer.isAtEnd, lexer.current == JSONByte.openBrace else {
            throw lexer.notAnObjectError()
        }
        let objectStart = lexer.position
        guard maxDepth >= 1 else { throw .tooDeep(maxDepth: maxDepth, at: objectStart) }

        var nesting = JSONNestingStack()
        var keys = TopLevelKeys()
        nesting.push(isArray: false)
        lexer.position += 1
        var state = State.objectStart

        scanning: while true {
            switch state {
            case .objectStart:
                lexer.skipWhitespace()
                if !lexer.isAtEnd, lexer.current == JSONByte.closeBrace {
                    lexer.position += 1
                    nesting.pop()
                    if nesting.depth == 0 { break scanning }
                    state = .afterValue
                } else {
                    state = .key
                }

            case .arrayStart:
                lexer.skipWhitespace()
                if !lexer.isAtEnd, lexer.current == JSONByte.closeBracket {
                    lexer.position += 1
                    nesting.pop()
                    state = .afterValue
                } else {
                    state = .value
                }

            case .key:
                lexer.skipWhitespace()
                guard !lexer.isAtEnd, lexer.current == JSONByte.quote else {
                    if !lexer.isAtEnd, lexer.current == JSONByte.closeBrace {
                        throw .syntax("trailing comma before '}'", at: lexer.position)
                    }
                    throw lexer.unexpected(expecting: "a string key")
                }
                let keyOffset = lexer.position
                let key = try lexer.scanString()
                if nesting.depth == 1 {
                    try keys.insert(lexer.decodeString(key), at: keyOffset)
                }
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
                    guard nesting.depth < maxDepth else {
                        throw .tooDeep(maxDepth: maxDepth, at: lexer.position)
                    }
                    let isArray = lexer.current == JSONByte.openBracket
                    nesting.push(isArray: isArray)
                    lexer.position += 1
                    state = isArray ? .arrayStart : .objectStart
                case JSONByte.quote:
                    _ = try lexer.scanString()
                    state = .afterValue
                case JSONByte.minus, JSONByte.zero...JSONByte.nine:
                    _ = try lexer.scanNumber()
                    state = .afterValue
                case JSONByte.lowerT, JSONByte.lowerF, JSONByte.lowerN:
                    _ = try lexer.scanLiteral()
                    state = .afterValue
                case JSONByte.closeBracket where nesting.topIsArray:
                    throw .syntax("trailing comma before ']'", at: lexer.position)
                default:
                    throw lexer.unexpected(expecting: "a value")
                }

            case .afterValue:
                lexer.skipWhitespace()
                let byte = lexer.current
                if nesting.topIsArray {
                    if !lexer.isAtEnd, byte == JSONByte.comma {
                        lexer.position += 1
                        state = .value
                    } else if !lexer.isAtEnd, byte == JSONByte.closeBracket {
                        lexer.position += 1
                        nesting.pop()
                    } else {
                        throw lexer.unexpected(expecting: "',' or ']' after array element")
                    }
                } else {
                    if !lexer.isAtEnd, byte == JSONByte.comma {
                        lexer.position += 1
                        state = .key
                    } else if !lexer.isAtEnd, byte == JSONByte.closeBrace {
                        lexer.position += 1
                        nesting.pop()
                        if nesting.depth == 0 { break scanning }
                    } else {
                        throw lexer.unexpected(expecting: "',' or '}' after object member")
                    }
                }
            }
        }

        let objectEnd = lexer.position
        if alone {
            lexer.skipWhitespace()
            guard lexer.isAtEnd else {
                throw lexer.unexpected(expecting: "end of input after the JSON object")
            }
        }
        return JSONObjectScan(
            objectRange: objectStart..<objectEnd,
            isEmpty: keys.ordered.isEmpty,
            topLevelKeys: keys.ordered
        )
    }
}

/// The top-level keys in order, with duplicate detection. Keys are compared as bytes, not as
/// Swift `String`s (which would equate canonically equivalent spellings the hub sees as distinct).
private struct TopLevelKeys {
    var ordered: [String] = []
    /// Built only once an object has enough keys for linear search to cost more than hashing.
    var index: Set<ByteKey>? = nil

    private static let linearSearchLimit = 16

    struct ByteKey: Hashable {
        let string: String
        static func == (lhs: ByteKey, rhs: ByteKey) -> Bool {
            TopLevelKeys.sameBytes(lhs.string, rhs.string)
        }
        func hash(into hasher: inout Hasher) {
            for byte in string.utf8 { hasher.combine(byte) }
        }
    }

    static func sameBytes(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.count == rhs.utf8.count && lhs.utf8.elementsEqual(rhs.utf8)
    }

    mutating func insert(_ key: String, at offset: Int) throws(JSONSyntaxError) {
        if ordered.isEmpty { ordered.reserveCapacity(8) }
        let isDuplicate: Bool
        if index == nil {
            // `==` is a fast byte comparison for the usual unequal keys; bytes decide only when
            // it says equal (it also equates canonically equivalent spellings).
            isDuplicate = ordered.contains { $0 == key && Self.sameBytes($0, key) }
            if !isDuplicate, ordered.count + 1 > Self.linearSearchLimit {
                index = Set((ordered + [key]).map(ByteKey.init))
            }
        } else {
            isDuplicate = !(index?.insert(ByteKey(string: key)).inserted ?? true)
        }
        guard !isDuplicate else {
            throw JSONSyntaxError(
                offset: offset,
                message: "duplicate top-level key '\(Self.printable(key))' at byte \(offset)"
            )
        }
        ordered.append(key)
    }

    /// Keeps error messages one line and bounded, whatever the key holds.
    private static func printable(_ key: String) -> String {
        var result = ""
        for scalar in key.unicodeScalars.prefix(64) {
            result.unicodeScalars.append(scalar.value < 0x20 || scalar.value == 0x7F ? "?" : scalar)
        }
        return key.unicodeScalars.count > 64 ? result + "..." : result
    }
}

/// Object/array kind of each open container, one bit per level; the first 64 levels need no
/// allocation.
struct JSONNestingStack {
    private var firstLevels: UInt64 = 0
    private var deeperLevels: [UInt64] = []
    private(set) var depth = 0

    @inline(__always)
    mutating func push(isArray: Bool) {
        let level = depth
        depth += 1
        let word = level >> 6
        let bit = UInt64(1) << UInt64(level & 63)
        if word == 0 {
            firstLevels = isArray ? firstLevels | bit : firstLevels & ~bit
        } else {
            while deeperLevels.count < word { deeperLevels.append(0) }
            deeperLevels[word - 1] = isArray ? deeperLevels[word - 1] | bit : deeperLevels[word - 1] & ~bit
        }
    }

    @inline(__always)
    mutating func pop() {
        if depth > 0 { depth -= 1 }
    }

    var topIsArray: Bool {
        guard depth > 0 else { return false }
        let level = depth - 1
        let word = level >> 6
        let bit = UInt64(1) << UInt64(level & 63)
        if word == 0 { return firstLevels & bit != 0 }
        guard word - 1 < deeperLevels.count else { return false }
        return deeperLevels[word - 1] & bit != 0
    }
}

/// ASCII bytes the grammar cares about. Computed, not stored: in unoptimized builds a stored
/// static is initialized lazily (swift_once), and under TSan a process's threads were seen
/// waiting on that initialization forever (test_outbox); a child forked while another thread
/// runs such an initializer would wait forever too. Constants need none.
enum JSONByte {
    static var quote: UInt8 { UInt8(ascii: "\"") }
    static var backslash: UInt8 { UInt8(ascii: "\\") }
    static var slash: UInt8 { UInt8(ascii: "/") }
    static var openBrace: UInt8 { UInt8(ascii: "{") }
    static var closeBrace: UInt8 { UInt8(ascii: "}") }
    static var openBracket: UInt8 { UInt8(ascii: "[") }
    static var closeBracket: UInt8 { UInt8(ascii: "]") }
    static var comma: UInt8 { UInt8(ascii: ",") }
    static var colon: UInt8 { UInt8(ascii: ":") }
    static var minus: UInt8 { UInt8(ascii: "-") }
    static var plus: UInt8 { UInt8(ascii: "+") }
    static var dot: UInt8 { UInt8(ascii: ".") }
    static var zero: UInt8 { UInt8(ascii: "0") }
    static var nine: UInt8 { UInt8(ascii: "9") }
    static var lowerE: UInt8 { UInt8(ascii: "e") }
    static var upperE: UInt8 { UInt8(ascii: "E") }
    static var lowerT: UInt8 { UInt8(ascii: "t") }
    static var lowerF: UInt8 { UInt8(ascii: "f") }
    static var lowerN: UInt8 { UInt8(ascii: "n") }
    static var lowerU: UInt8 { UInt8(ascii: "u") }
    static var space: UInt8 { UInt8(ascii: " ") }
    static var tab: UInt8 { UInt8(ascii: "\t") }
    static var newline: UInt8 { UInt8(ascii: "\n") }
    static var carriageReturn: UInt8 { UInt8(ascii: "\r") }
}

/// The extent of a string token: the bytes between the quotes, still escaped.
struct JSONStringToken {
    var contentStart: Int
    var contentEnd: Int
    var hasEscapes: Bool
}

/// Byte-level lexing shared by `JSONScanner` and `JSONValue.parse`. Every read is bounds-checked
/// against `bytes.count`, so no input can make it trap.
struct JSONLexer {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    @inline(__always)
    var isAtEnd: Bool { position >= bytes.count }

    /// The byte at `position`, or 0 at the end. NUL is invalid everywhere in JSON text, so the
    /// sentinel can never be mistaken for valid input; callers check `isAtEnd` where it matters.
    @inline(__always)
    var current: UInt8 { position < bytes.count ? bytes[position] : 0 }

    @inline(__always)
    func byte(at offset: Int) -> UInt8 { offset >= 0 && offset < bytes.count ? bytes[offset] : 0 }

    @inline(__always)
    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case JSONByte.space, JSONByte.newline, JSONByte.carriageReturn, JSONByte.tab:
                position += 1
            default:
                return
            }
        }
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- JSONByte.zero < 10 }

    // MARK: Strings

    /// Validates the string starting at the `"` under `position` and moves past its closing
    /// quote: escapes, control characters, surrogate pairing and UTF-8.
    mutating func scanString() throws(JSONSyntaxError) -> JSONStringToken {
        let openingQuote = position
        position += 1
        let contentStart = position
        var hasEscapes = false
        while true {
            // Fast path: printable ASCII that needs no attention.
            while position < bytes.count {
                let byte = bytes[position]
                if byte < 0x20 || byte >= 0x80 || byte == JSONByte.quote || byte == JSONByte.backslash { break }
                position += 1
            }
            guard position < bytes.count else {
                throw .syntax("unterminated string starting at byte \(openingQuote)", at: position)
            }
            let byte = bytes[position]
            if byte == JSONByte.quote {
                position += 1
                return JSONStringToken(contentStart: contentStart, contentEnd: position - 1, hasEscapes: hasEscapes)
            } else if byte == JSONByte.backslash {
                hasEscapes = true
                try scanEscape()
            } else if byte < 0x20 {
                throw .syntax("unescaped control character \(Self.describe(byte)) in string", at: position)
            } else {
                try skipUTF8Sequence()
            }
        }
    }

    /// `position` is on a backslash.
    private mutating func scanEscape() throws(JSONSyntaxError) {
        let escapeStart = position
        switch byte(at: position + 1) {
        case JSONByte.quote, JSONByte.backslash, JSONByte.slash,
            UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            position += 2
        case JSONByte.lowerU:
            guard let unit = hex4(at: position + 2) else {
                throw .syntax("\\u must be followed by 4 hex digits", at: escapeStart)
            }
            switch unit {
            case 0xD800...0xDBFF:
                guard byte(at: position + 6) == JSONByte.backslash, byte(at: position + 7) == JSONByte.lowerU,
                    let low = hex4(at: position + 8), (0xDC00...0xDFFF).contains(low)
                else {
                    throw .syntax("unpaired high surrogate escape", at: escapeStart)
                }
                position += 12
            case 0xDC00...0xDFFF:
                throw .syntax("unpaired low surrogate escape", at: escapeStart)
            default:
                position += 6
            }
        default:
            if position + 1 >= bytes.count {
                throw .syntax("unterminated escape sequence", at: escapeStart)
            }
            throw .syntax("invalid escape sequence", at: escapeStart)
        }
    }

    /// The value of 4 hex digits at `offset`, or nil.
    @inline(__always)
    func hex4(at offset: Int) -> UInt32? {
        guard offset >= 0, bytes.count - offset >= 4 else { return nil }
        var value: UInt32 = 0
        for index in offset..<(offset + 4) {
            guard let digit = Self.hexValue(bytes[index]) else { return nil }
            value = value << 4 | digit
        }
        return value
    }

    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte &- UInt8(ascii: "a") &+ 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte &- UInt8(ascii: "A") &+ 10)
        default: return nil
        }
    }

    /// Validates one multi-byte UTF-8 sequence at `position` (Unicode Table 3-7: no overlongs,
    /// no surrogates, nothing above U+10FFFF) and moves past it.
    @inline(__always)
    mutating func skipUTF8Sequence() throws(JSONSyntaxError) {
        guard let length = Self.validUTF8SequenceLength(in: bytes, at: position) else {
            throw .invalidUTF8(at: position)
        }
        position += length
    }

    /// The length of the well-formed UTF-8 sequence at `offset`, or nil if it is ill-formed.
    static func validUTF8SequenceLength(in bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> Int? {
        guard offset >= 0, offset < bytes.count else { return nil }
        let lead = bytes[offset]
        let length: Int
        var secondLow: UInt8 = 0x80
        var secondHigh: UInt8 = 0xBF
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondLow = 0xA0  // below: overlong
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondHigh = 0x9F  // above: UTF-16 surrogates
        case 0xF0: length = 4; secondLow = 0x90  // below: overlong
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondHigh = 0x8F  // above: beyond U+10FFFF
        default: return nil  // continuation bytes, C0, C1, F5...FF
        }
        guard bytes.count - offset >= length else { return nil }
        let second = bytes[offset + 1]
        guard second >= secondLow, second <= secondHigh else { return nil }
        if length >= 3, bytes[offset + 2] & 0xC0 != 0x80 { return nil }
        if length == 4, bytes[offset + 3] & 0xC0 != 0x80 { return nil }
        return length
    }

    /// The decoded content of a string token that `scanString` accepted.
    func decodeString(_ token: JSONStringToken) -> String {
        guard token.contentStart >= 0, token.contentStart <= token.contentEnd, token.contentEnd <= bytes.count else {
            return ""
        }
        let content = UnsafeBufferPointer(rebasing: bytes[token.contentStart..<token.contentEnd])
        guard token.hasEscapes else { return String(decoding: content, as: UTF8.self) }

        var decoded: [UInt8] = []
        decoded.reserveCapacity(content.count)
        var index = 0
        while index < content.count {
            let contentByte = content[index]
            guard contentByte == JSONByte.backslash, index + 1 < content.count else {
                decoded.append(contentByte)
                index += 1
                continue
            }
            let escaped = content[index + 1]
            index += 2
            switch escaped {
            case UInt8(ascii: "b"): decoded.append(0x08)
            case UInt8(ascii: "f"): decoded.append(0x0C)
            case UInt8(ascii: "n"): decoded.append(0x0A)
            case UInt8(ascii: "r"): decoded.append(0x0D)
            case UInt8(ascii: "t"): decoded.append(0x09)
            case JSONByte.lowerU:
                let unitOffset = token.contentStart + index
                guard let unit = hex4(at: unitOffset) else { return String(decoding: decoded, as: UTF8.self) }
                index += 4
                var scalar = unit
                if (0xD800...0xDBFF).contains(unit), self.byte(at: unitOffset + 4) == JSONByte.backslash,
                    let low = hex4(at: unitOffset + 6), (0xDC00...0xDFFF).contains(low)
                {
                    scalar = 0x10000 &+ ((unit &- 0xD800) << 10 | (low &- 0xDC00))
                    index += 6
                }
                Self.appendUTF8(scalar, to: &decoded)
            default: decoded.append(escaped)  // \" \\ \/
            }
        }
        // Scanned input is well-formed, so this never repairs anything; it cannot trap either way.
        return String(decoding: decoded, as: UTF8.self)
    }

    static func appendUTF8(_ scalar: UInt32, to output: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            output.append(UInt8(truncatingIfNeeded: scalar))
        case 0x80..<0x800:
            output.append(UInt8(truncatingIfNeeded: 0xC0 | scalar >> 6))
            output.append(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            output.append(UInt8(truncatingIfNeeded: 0xE0 | scalar >> 12))
            output.append(UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F))
            output.append(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        default:
            output.append(UInt8(truncatingIfNeeded: 0xF0 | scalar >> 18))
            output.append(UInt8(truncatingIfNeeded: 0x80 | scalar >> 12 & 0x3F))
            output.append(UInt8(truncatingIfNeeded: 0x80 | scalar >> 6 & 0x3F))
            output.append(UInt8(truncatingIfNeeded: 0x80 | scalar & 0x3F))
        }
    }

    // MARK: Numbers and literals

    /// Validates a number per RFC 8259 §6 and returns its text range; it is never converted here.
    mutating func scanNumber() throws(JSONSyntaxError) -> Range<Int> {
        let start = position
        if current == JSONByte.minus { position += 1 }
        guard Self.isDigit(current) else {
            throw .syntax("expected a digit after '-'", at: position)
        }
        if current == JSONByte.zero {
            position += 1
            if Self.isDigit(current) { throw .syntax("leading zeros are not allowed", at: start) }
        } else {
            while Self.isDigit(current) { position += 1 }
        }
        if current == JSONByte.dot {
            position += 1
            guard Self.isDigit(current) else {
                throw .syntax("expected a digit after the decimal point", at: position)
            }
            while Self.isDigit(current) { position += 1 }
        }
        if current == JSONByte.lowerE || current == JSONByte.upperE {
            position += 1
            if current == JSONByte.plus || current == JSONByte.minus { position += 1 }
            guard Self.isDigit(current) else {
                throw .syntax("expected a digit in the exponent", at: position)
            }
            while Self.isDigit(current) { position += 1 }
        }
        return start..<position
    }

    enum Literal { case `true`, `false`, null }

    /// `position` is on `t`, `f` or `n`; only the exact lowercase literals are accepted.
    mutating func scanLiteral() throws(JSONSyntaxError) -> Literal {
        let start = position
        let (literal, text): (Literal, StaticString)
        switch current {
        case JSONByte.lowerT: (literal, text) = (.true, "true")
        case JSONByte.lowerF: (literal, text) = (.false, "false")
        default: (literal, text) = (.null, "null")
        }
        let matches = text.withUTF8Buffer { expected -> Bool in
            guard bytes.count - start >= expected.count else { return false }
            for index in 0..<expected.count where bytes[start + index] != expected[index] { return false }
            return true
        }
        guard matches else { throw .syntax("invalid literal (expected '\(text)')", at: start) }
        position += text.utf8CodeUnitCount
        return literal
    }

    // MARK: Errors

    /// The error for an unexpected byte (or the end) at `position`. A non-ASCII byte that does
    /// not start valid UTF-8 is reported as such, so encoding damage is named wherever it is.
    func unexpected(expecting expectation: String) -> JSONSyntaxError {
        guard !isAtEnd else { return .syntax("unexpected end of input, expected \(expectation)", at: position) }
        let byte = bytes[position]
        if byte >= 0x80, Self.validUTF8SequenceLength(in: bytes, at: position) == nil {
            return .invalidUTF8(at: position)
        }
        return .syntax("expected \(expectation), found \(Self.describe(byte))", at: position)
    }

    /// The error when the top-level value is not an object; `position` is on its first byte.
    func notAnObjectError() -> JSONSyntaxError {
        guard !isAtEnd else {
            return JSONSyntaxError(offset: position, message: "expected a JSON object, found no value")
        }
        let found: String
        switch current {
        case JSONByte.openBracket: found = "an array"
        case JSONByte.quote: found = "a string"
        case JSONByte.minus, JSONByte.zero...JSONByte.nine: found = "a number"
        case JSONByte.lowerT, JSONByte.lowerF: found = "a boolean"
        case JSONByte.lowerN: found = "null"
        default: return unexpected(expecting: "a JSON object")
        }
        return JSONSyntaxError(offset: position, message: "expected a JSON object, found \(found)")
    }

    static func describe(_ byte: UInt8) -> String {
        if byte >= 0x21, byte < 0x7F {
            return "'\(String(decoding: CollectionOfOne(byte), as: UTF8.self))'"
        }
        let digits: [UInt8] = Array("0123456789ABCDEF".utf8)
        let hex = String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]], as: UTF8.self)
        return "byte 0x\(hex)"
    }
}
