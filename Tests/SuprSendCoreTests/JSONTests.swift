import Testing

@testable import SuprSendCore

// MARK: Helpers

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

private func scan(_ input: [UInt8], maxDepth: Int = 64) -> Result<JSONObjectScan, JSONSyntaxError> {
    JSONScanner.scanObject(input, maxDepth: maxDepth)
}

private func scan(_ text: String, maxDepth: Int = 64) -> Result<JSONObjectScan, JSONSyntaxError> {
    scan(bytes(text), maxDepth: maxDepth)
}

private func accepted(_ result: Result<JSONObjectScan, JSONSyntaxError>) -> JSONObjectScan? {
    if case .success(let scanResult) = result { return scanResult }
    return nil
}

private func rejection(_ result: Result<JSONObjectScan, JSONSyntaxError>) -> JSONSyntaxError? {
    if case .failure(let error) = result { return error }
    return nil
}

/// `{"a":"<raw bytes>"}`: the raw bytes start at offset 6.
private func objectWithRawString(_ raw: [UInt8]) -> [UInt8] {
    bytes("{\"a\":\"") + raw + bytes("\"}")
}

/// Deterministic PRNG so a failing randomized case can be replayed.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: Scanner: accepted input

@Suite("JSONScanner accepts")
struct JSONScannerAcceptTests {
    @Test func emptyObject() throws {
        let result = try #require(accepted(scan("{}")))
        #expect(result.isEmpty)
        #expect(result.objectRange == 0..<2)
        #expect(result.topLevelKeys.isEmpty)
    }

    @Test func emptyObjectWithWhitespaceEverywhere() throws {
        let result = try #require(accepted(scan(" \t\r\n{ \n }\r\n\t ")))
        #expect(result.isEmpty)
        #expect(result.objectRange == 4..<9)
    }

    @Test func objectRangeExcludesSurroundingWhitespace() throws {
        let text = "  {\"a\":1}  \n"
        let result = try #require(accepted(scan(text)))
        #expect(result.objectRange == 2..<9)
        #expect(Array(bytes(text)[result.objectRange]) == bytes("{\"a\":1}"))
        #expect(!result.isEmpty)
    }

    @Test(arguments: [
        "{\"a\":0}", "{\"a\":-0}", "{\"a\":1.5e-3}", "{\"a\":1E+2}", "{\"a\":-0.5e+10}", "{\"a\":10}",
        "{\"a\":0.0}", "{\"a\":1e5}", "{\"a\":123456789012345678901234567890.123456789e999999999}",
        "{\"a\":-9223372036854775809}", "{\"a\":[0,-1,2.25,3e0,4E-0]}",
    ])
    func numbers(_ text: String) {
        #expect(accepted(scan(text)) != nil, "\(text)")
    }

    @Test func literalsAndMixedValues() throws {
        let text = #"{"t":true,"f":false,"n":null,"s":"x","a":[true,false,null,{},[],"",0],"o":{"k":[{"z":null}]}}"#
        let result = try #require(accepted(scan(text)))
        #expect(result.topLevelKeys == ["t", "f", "n", "s", "a", "o"])
    }

    @Test func everyEscape() {
        let text = #"{"a":"\" \\ \/ \b \f \n \r \t \u0041 \u00e9 \uFFFF \u0000 \uD7FF \uE000"}"#
        #expect(accepted(scan(text)) != nil)
    }

    @Test(arguments: [#"{"a":"\ud83d\ude00"}"#, #"{"a":"\uD83D\uDE00"}"#, #"{"a":"\udbff\udfff x"}"#])
    func validSurrogatePairs(_ text: String) {
        #expect(accepted(scan(text)) != nil)
    }

    @Test(arguments: ["{\"a\":\"Zoë\"}", "{\"a\":\"中文\"}", "{\"a\":\"😀\"}", "{\"Zoë中文😀\":\"\u{10FFFF}\u{FFFD}\u{80}\"}"])
    func rawMultiByteUTF8(_ text: String) {
        #expect(accepted(scan(text)) != nil)
    }

    @Test func nestingExactlyAtTheLimit() {
        // Top-level object is level 1; 63 arrays inside it reach level 64.
        let text = "{\"a\":" + String(repeating: "[", count: 63) + String(repeating: "]", count: 63) + "}"
        #expect(accepted(scan(text)) != nil)
        // Same with objects.
        let objects = "{\"a\":" + String(repeating: "{\"b\":", count: 63) + "1" + String(repeating: "}", count: 64)
        #expect(accepted(scan(objects)) != nil)
    }

    @Test func deepMixedNestingBeyond64LevelsWhenAllowed() {
        // Exercises the spill words of the nesting stack: arrays and objects alternate, so a
        // wrong bit at any level turns a valid closer into an error.
        var text = "{\"k\":"
        for level in 0..<300 { text += level % 3 == 0 ? "{\"k\":" : "[" }
        text += "null"
        for level in (0..<300).reversed() { text += level % 3 == 0 ? "}" : "]" }
        text += "}"
        #expect(accepted(scan(text, maxDepth: 301)) != nil)
        // The 300th inner container is level 301; its offset is the top-level prefix plus the
        // openers before it.
        let offsetOfLast = 5 + (0..<299).reduce(0) { $0 + ($1 % 3 == 0 ? 5 : 1) }
        #expect(rejection(scan(text, maxDepth: 300))?.message == "nesting deeper than 300 levels at byte \(offsetOfLast)")
    }

    @Test func duplicateKeysBelowTopLevelAreAllowed() throws {
        let result = try #require(accepted(scan(#"{"a":{"b":1,"b":2},"c":[{"d":1,"d":1}]}"#)))
        #expect(result.topLevelKeys == ["a", "c"])
    }

    @Test func topLevelKeysDecodedInOrder() throws {
        let text = #"{"\u0024x":1, "ss_a":2, "b\"c":3, "\ud83d\ude00":4, "Zoë":5, "t\t\/\\":6, "":7}"#
        let result = try #require(accepted(scan(text)))
        #expect(result.topLevelKeys == ["$x", "ss_a", "b\"c", "😀", "Zoë", "t\t/\\", ""])
    }

    @Test func canonicallyEquivalentButDistinctKeysAreNotDuplicates() throws {
        // The hub compares keys as code points; Swift's String == would call these equal.
        let result = try #require(accepted(scan("{\"\u{E9}\":1,\"e\u{301}\":2}")))
        #expect(result.topLevelKeys.count == 2)
    }

    @Test func manyTopLevelKeys() throws {
        let keys = (0..<200).map { "key\($0)" }
        let text = "{" + keys.map { "\"\($0)\":\($0.count)" }.joined(separator: ",") + "}"
        let result = try #require(accepted(scan(text)))
        #expect(result.topLevelKeys == keys)
    }

    @Test func unsafeBufferOverloadAndSlices() throws {
        // A buffer that is a slice of a bigger one: offsets are relative to the buffer.
        let storage = bytes("xx {\"a\":1} yy")
        let result = storage.withUnsafeBufferPointer { buffer in
            JSONScanner.scanObject(UnsafeBufferPointer(rebasing: buffer[2..<11]))
        }
        #expect(try #require(accepted(result)).objectRange == 1..<8)
    }
}

// MARK: Scanner: rejected input

@Suite("JSONScanner rejects")
struct JSONScannerRejectTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let input: [UInt8]
        let offset: Int
        let messageContains: String
        /// Printable ASCII as is, everything else as \xNN, so test output stays readable.
        var testDescription: String {
            let hex = Array("0123456789ABCDEF".utf8)
            var shown: [UInt8] = []
            for byte in input {
                if byte >= 0x20, byte < 0x7F {
                    shown.append(byte)
                } else {
                    shown += Array("\\x".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]]
                }
            }
            return String(decoding: shown, as: UTF8.self)
        }

        init(_ text: String, _ offset: Int, _ messageContains: String) {
            self.init(bytes: Array(text.utf8), offset, messageContains)
        }
        init(bytes: [UInt8], _ offset: Int, _ messageContains: String) {
            self.input = bytes
            self.offset = offset
            self.messageContains = messageContains
        }
    }

    static let cases: [Case] = [
        Case("", 0, "expected a JSON object, found no value"),
        Case(" \n\t ", 4, "expected a JSON object, found no value"),
        Case("[]", 0, "expected a JSON object, found an array"),
        Case(" [{}]", 1, "expected a JSON object, found an array"),
        Case("\"x\"", 0, "expected a JSON object, found a string"),
        Case("1", 0, "expected a JSON object, found a number"),
        Case("true", 0, "expected a JSON object, found a boolean"),
        Case("null", 0, "expected a JSON object, found null"),
        Case("x", 0, "invalid JSON at byte 0: expected a JSON object, found 'x'"),
        Case(#"{"a":1,}"#, 7, "invalid JSON at byte 7: trailing comma before '}'"),
        Case(#"{"a":[1,]}"#, 8, "trailing comma before ']'"),
        Case(#"{"a" 1}"#, 5, "invalid JSON at byte 5: expected ':' after object key, found '1'"),
        Case(#"{"a":1 "b":2}"#, 7, "invalid JSON at byte 7: expected ',' or '}' after object member, found '\"'"),
        Case(#"{"a":[1 2]}"#, 8, "expected ',' or ']' after array element"),
        Case(#"{a:1}"#, 1, "expected a string key, found 'a'"),
        Case(#"{'a':1}"#, 1, "expected a string key, found '''"),
        Case(#"{"a":01}"#, 5, "leading zeros are not allowed"),
        Case(#"{"a":-01}"#, 5, "leading zeros are not allowed"),
        Case(#"{"a":1.}"#, 7, "expected a digit after the decimal point"),
        Case(#"{"a":.5}"#, 5, "expected a value, found '.'"),
        Case(#"{"a":+1}"#, 5, "expected a value, found '+'"),
        Case(#"{"a":-}"#, 6, "expected a digit after '-'"),
        Case(#"{"a":1e}"#, 7, "expected a digit in the exponent"),
        Case(#"{"a":1e+}"#, 8, "expected a digit in the exponent"),
        Case(#"{"a":NaN}"#, 5, "expected a value, found 'N'"),
        Case(#"{"a":Infinity}"#, 5, "expected a value, found 'I'"),
        Case(#"{"a":-Infinity}"#, 6, "expected a digit after '-'"),
        Case(#"{"a":tru}"#, 5, "invalid literal (expected 'true')"),
        Case(#"{"a":True}"#, 5, "expected a value, found 'T'"),
        Case(#"{"a":nul"#, 5, "invalid literal (expected 'null')"),
        Case(#"{"a":falsey}"#, 10, "expected ',' or '}' after object member, found 'y'"),
        Case(#"{"a":"\x"}"#, 6, "invalid escape sequence"),
        Case(#"{"a":"\u12"}"#, 6, "\\u must be followed by 4 hex digits"),
        Case(#"{"a":"\u12G4"}"#, 6, "\\u must be followed by 4 hex digits"),
        Case(#"{"a":"\ud800"}"#, 6, "unpaired high surrogate escape"),
        Case(#"{"a":"\ud800\u0041"}"#, 6, "unpaired high surrogate escape"),
        Case(#"{"a":"\ud800\ud800"}"#, 6, "unpaired high surrogate escape"),
        Case(#"{"a":"\udc00\ud800"}"#, 6, "unpaired low surrogate escape"),
        Case(#"{"a":"x\udfff"}"#, 7, "unpaired low surrogate escape"),
        Case(#"{"a":"abc"#, 9, "unterminated string starting at byte 5"),
        Case(#"{"a":"abc\"#, 9, "unterminated escape sequence"),
        Case(#"{"a":1"#, 6, "unexpected end of input, expected ',' or '}' after object member"),
        Case(#"{"a":"#, 5, "unexpected end of input, expected a value"),
        Case(#"{"#, 1, "unexpected end of input, expected a string key"),
        Case("{} x", 3, "invalid JSON at byte 3: expected end of input after the JSON object, found 'x'"),
        Case("{}{}", 2, "expected end of input after the JSON object, found '{'"),
        Case("{},", 2, "expected end of input after the JSON object, found ','"),
        Case(#"{"a":1} // c"#, 8, "found '/'"),
        Case("{/* c */}", 1, "expected a string key, found '/'"),
        Case("{\"a\":\"x\u{01}y\"}", 7, "unescaped control character byte 0x01 in string"),
        Case("{\"a\":\"\n\"}", 6, "unescaped control character byte 0x0A in string"),
        Case("{\"a\":\"\u{1F}\"}", 6, "unescaped control character byte 0x1F in string"),
        Case("{\"a\":1,\"a\":2}", 7, "duplicate top-level key 'a' at byte 7"),
        Case(#"{"$x":1,"\u0024x":2}"#, 8, "duplicate top-level key '$x'"),
        Case("\u{FEFF}{}", 0, "expected a JSON object, found byte 0xEF"),
        Case("{\u{A0}}", 1, "expected a string key, found byte 0xC2"),
        Case("\u{0B}{}", 0, "found byte 0x0B"),
        Case("{}\u{0C}", 2, "found byte 0x0C"),
        // NUL bytes: inside a string, between tokens, and after the object.
        Case(bytes: Array("{\"a\":\"".utf8) + [0] + Array("\"}".utf8), 6, "unescaped control character byte 0x00"),
        Case(bytes: [UInt8(ascii: "{"), 0, UInt8(ascii: "}")], 1, "expected a string key, found byte 0x00"),
        Case(bytes: Array("{}".utf8) + [0], 2, "found byte 0x00"),
        // Invalid UTF-8 inside strings: the offset is the start of the bad sequence.
        Case(bytes: objectWithRawString([0xC0, 0x80]), 6, "invalid UTF-8 at byte 6"),
        Case(bytes: objectWithRawString([0xC1, 0xBF]), 6, "invalid UTF-8 at byte 6"),
        Case(bytes: objectWithRawString([0xE0, 0x80, 0x80]), 6, "invalid UTF-8 at byte 6"),
        Case(bytes: objectWithRawString([0xED, 0xA0, 0x80]), 6, "invalid UTF-8 at byte 6"),
        Case(bytes: objectWithRawString([0xED, 0xBF, 0xBF]), 6, "invalid UTF-8 at byte 6"),
        Case(bytes: objectWithRawString([0xF0, 0x80, 0x80, 0x80]), 6, "invalid UTF-8 at byte 6"),
        Case(bytes: objectWithRawString([0xF4, 0x90, 0x80, 0x80]), 6, "invalid UTF-8 at byte 6"),
        Case(bytes: objectWithRawString([0xF5, 0x80, 0x80, 0x80]), 6, "invalid UTF-8 at byte 6"),
        Case(bytes: objectWithRawString([0xFF]), 6, "invalid UTF-8 at byte 6"),
        Case(bytes: objectWithRawString([0x80]), 6, "invalid UTF-8 at byte 6"),
        Case(bytes: objectWithRawString([0x41, 0xBF]), 7, "invalid UTF-8 at byte 7"),
        Case(bytes: objectWithRawString([0xE2, 0x82]), 6, "invalid UTF-8 at byte 6"),
        Case(bytes: objectWithRawString([0xC3, 0xA9, 0xE2, 0x82, 0x41]), 8, "invalid UTF-8 at byte 8"),
        Case(bytes: Array("{\"a\":\"".utf8) + [0xE2, 0x82], 6, "invalid UTF-8 at byte 6"),
        Case(bytes: Array("{\"a\":\"".utf8) + [0xF0, 0x9F, 0x98], 6, "invalid UTF-8 at byte 6"),
        // Invalid UTF-8 in a key and outside strings.
        Case(bytes: [0x7B, 0x22, 0xFE, 0x22, 0x3A, 0x31, 0x7D], 2, "invalid UTF-8 at byte 2"),
        Case(bytes: Array("{}".utf8) + [0xFF], 2, "invalid UTF-8 at byte 2"),
        Case(bytes: [0x7B, 0x80, 0x7D], 1, "invalid UTF-8 at byte 1"),
        Case(bytes: [0xC0, 0x80], 0, "invalid UTF-8 at byte 0"),
    ]

    @Test(arguments: cases)
    func rejected(_ testCase: Case) throws {
        let error = try #require(rejection(scan(testCase.input)))
        #expect(error.offset == testCase.offset, "\(error.message)")
        #expect(error.message.contains(testCase.messageContains), "\(error.message)")
        #expect(error.description == error.message)
    }

    @Test func messagesReadWell() throws {
        let error = try #require(rejection(scan(#"{"key":"value" "next":1}"#)))
        #expect(error.message == "invalid JSON at byte 15: expected ',' or '}' after object member, found '\"'")
        let duplicate = try #require(rejection(scan(#"{"a":1,"a":2}"#)))
        #expect(duplicate.message == "duplicate top-level key 'a' at byte 7")
        let utf8 = try #require(rejection(scan(objectWithRawString([0xC0, 0x80]))))
        #expect(utf8.message == "invalid UTF-8 at byte 6")
        let array = try #require(rejection(scan("[]")))
        #expect(array.message == "expected a JSON object, found an array")
    }

    @Test func depth65IsRejectedAtTheBracketThatExceedsIt() throws {
        let text = "{\"a\":" + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "}"
        let error = try #require(rejection(scan(text)))
        #expect(error.offset == 5 + 63)
        #expect(error.message == "nesting deeper than 64 levels at byte 68")
        // The limit follows maxDepth.
        #expect(accepted(scan(text, maxDepth: 65)) != nil)
        #expect(rejection(scan("{}", maxDepth: 0)) != nil)
        #expect(accepted(scan("{}", maxDepth: 1)) != nil)
        #expect(rejection(scan("{\"a\":{}}", maxDepth: 1))?.message == "nesting deeper than 1 levels at byte 5")
    }

    @Test func hundredThousandOpenBracketsDoNotCrash() throws {
        let brackets = String(repeating: "[", count: 100_000)
        #expect(rejection(scan(brackets))?.message == "expected a JSON object, found an array")
        let inObject = "{\"a\":" + brackets
        #expect(rejection(scan(inObject))?.offset == 68)
        // Even with the limit lifted, the explicit stack copes and the error is the missing end.
        let unlimited = try #require(rejection(scan(inObject, maxDepth: Int.max)))
        #expect(unlimited.offset == 100_005)
        #expect(unlimited.message.contains("unexpected end of input"))
        #expect(JSONValue.parse(bytes(brackets)) == nil)
        #expect(JSONValue.parse(bytes(brackets), maxDepth: Int.max) == nil)
        // The tree parser caps depth: dropping a 100,000-level tree would recurse 100,000 times.
        let balanced = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(JSONValue.parse(bytes(balanced), maxDepth: Int.max) == nil)
        let deepest = JSONValue.deepestTree
        let atCap = String(repeating: "[", count: deepest) + String(repeating: "]", count: deepest)
        #expect(JSONValue.parse(bytes(atCap), maxDepth: Int.max) != nil)
        #expect(JSONValue.parse(bytes("[" + atCap + "]"), maxDepth: Int.max) == nil)
    }

    @Test func topLevelDuplicatesFoundAfterManyKeys() throws {
        // Beyond the linear-search limit the scanner switches to hashing; both must catch it.
        let keys = (0..<40).map { "k\($0)" } + ["k3"]
        let text = "{" + keys.map { "\"\($0)\":0" }.joined(separator: ",") + "}"
        let error = try #require(rejection(scan(text)))
        #expect(error.message.hasPrefix("duplicate top-level key 'k3' at byte "))
    }

    @Test func duplicateKeyMessageIsBoundedAndSingleLine() throws {
        let longKey = String(repeating: "x", count: 500) + "\\n"
        let error = try #require(rejection(scan("{\"\(longKey)\":1,\"\(longKey)\":2}")))
        #expect(error.message.count < 120)
        #expect(!error.message.contains("\n"))
    }

    @Test func utf8ValidatorMatchesTheStandardLibrary() {
        // Every lead byte with every second byte and representative continuation bytes.
        let tails: [UInt8] = [0x80, 0xBF, 0x41]
        var sequence: [UInt8] = [0, 0, 0, 0]
        var mismatches = 0
        for lead in 0x80...0xFF {
            for second in 0...0xFF {
                for third in tails {
                    for fourth in tails {
                        sequence[0] = UInt8(lead)
                        sequence[1] = UInt8(second)
                        sequence[2] = third
                        sequence[3] = fourth
                        var iterator = sequence.makeIterator()
                        var decoder = UTF8()
                        let expected: Int?
                        switch decoder.decode(&iterator) {
                        case .scalarValue(let scalar): expected = UTF8.width(scalar)
                        default: expected = nil
                        }
                        let actual = sequence.withUnsafeBufferPointer {
                            JSONLexer.validUTF8SequenceLength(in: $0, at: 0)
                        }
                        if actual != expected { mismatches += 1 }
                    }
                }
            }
        }
        #expect(mismatches == 0)
    }
}

// MARK: JSONValue

@Suite("JSONValue")
struct JSONValueTests {
    @Test func singleEventSuccess() throws {
        let value = try #require(JSONValue.parse(bytes(#"{"status":"success","message_id":"abc"}"#)))
        #expect(value["status"]?.stringValue == "success")
        #expect(value["message_id"]?.stringValue == "abc")
        #expect(value["missing"] == nil)
        #expect(value["status"]?["x"] == nil)
    }

    @Test func errorShape() throws {
        let value = try #require(JSONValue.parse(bytes(#" {"status":"error","error":{"message":"m","type":"t"}} "#)))
        #expect(value["status"]?.stringValue == "error")
        #expect(value["error"]?["message"]?.stringValue == "m")
        #expect(value["error"]?["type"]?.stringValue == "t")
    }

    @Test func otherErrorShape() throws {
        let value = try #require(JSONValue.parse(bytes(#"{"code":400,"message":"bad \"thing\"","detail":null}"#)))
        #expect(value["code"]?.intValue == 400)
        #expect(value["message"]?.stringValue == "bad \"thing\"")
        #expect(value["detail"]?.isNull == true)
        #expect(value["detail"]?.stringValue == nil)
    }

    @Test func bulkShape() throws {
        let text = """
            {"status":"success","records":[
              {"status":"success","message_id":"m1","status_code":202},
              {"status":"error","error":{"message":"bad","type":"validation"},"status_code":400}
            ]}
            """
        let value = try #require(JSONValue.parse(bytes(text)))
        let records = try #require(value["records"]?.arrayValue)
        #expect(records.count == 2)
        #expect(records[0]["message_id"]?.stringValue == "m1")
        #expect(records[0]["status_code"]?.intValue == 202)
        #expect(records[1]["status_code"]?.intValue == 400)
        #expect(records[1]["error"]?["message"]?.stringValue == "bad")
        #expect(value["status"]?.arrayValue == nil)
    }

    @Test(arguments: [
        "<html><body>502 Bad Gateway</body></html>", "OK", "", "   ", "{\"status\":\"succ", "{\"a\":1", "[1,2",
        "{\"a\":1,}", "{\"a\":1}}", "nul", "'x'", "{\"a\":01}", "\"\\ud800\"", "{\"a\":1} trailing",
    ])
    func nonJSONGivesNil(_ text: String) {
        #expect(JSONValue.parse(bytes(text)) == nil)
    }

    @Test func invalidUTF8GivesNil() {
        #expect(JSONValue.parse(objectWithRawString([0xED, 0xA0, 0x80])) == nil)
        #expect(JSONValue.parse([0xFF]) == nil)
    }

    @Test func scalarsAndContainers() throws {
        #expect(JSONValue.parse(bytes("\"OK\"")) == .string("OK"))
        #expect(JSONValue.parse(bytes(" true ")) == .bool(true))
        #expect(JSONValue.parse(bytes("false"))?.boolValue == false)
        #expect(JSONValue.parse(bytes("null")) == .null)
        #expect(JSONValue.parse(bytes("-1.5e2")) == .number(-150))
        #expect(JSONValue.parse(bytes("[]")) == .array([]))
        #expect(JSONValue.parse(bytes("{}")) == .object([]))
        #expect(JSONValue.parse(bytes("[1,[2,{\"a\":[3]}]]")) == .array([.number(1), .array([.number(2), .object([(key: "a", value: .array([.number(3)]))])])]))
        let escaped = try #require(JSONValue.parse(bytes(#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#)))
        #expect(escaped.stringValue == "a\"\\/\u{08}\u{0C}\n\r\té😀")
    }

    @Test func objectKeepsOrderAndFirstDuplicateWins() throws {
        let value = try #require(JSONValue.parse(bytes(#"{"b":1,"a":2,"b":3}"#)))
        let members = try #require(value.objectValue)
        #expect(members.map(\.key) == ["b", "a", "b"])
        #expect(value["b"]?.intValue == 1)
    }

    @Test func intValue() throws {
        func int(_ text: String) -> Int? { JSONValue.parse(bytes(text))?.intValue }
        #expect(int("202") == 202)
        #expect(int("-7") == -7)
        #expect(int("-0") == 0)
        #expect(int("2.0") == 2)
        #expect(int("2.5") == nil)
        #expect(int("1e300") == nil)
        #expect(int("-1e300") == nil)
        #expect(int("1e400") == nil)  // parses to +infinity
        #expect(int("9223372036854775807") == nil)  // rounds to 2^63 as a Double
        #expect(int("\"202\"") == nil)
        #expect(JSONValue.number(.nan).intValue == nil)
        #expect(JSONValue.number(-.infinity).intValue == nil)
    }

    @Test func depthLimit() {
        let deep64 = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(JSONValue.parse(bytes(deep64)) != nil)
        let deep65 = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(JSONValue.parse(bytes(deep65)) == nil)
        #expect(JSONValue.parse(bytes(deep65), maxDepth: 65) != nil)
    }
}

// MARK: JSONWriter

@Suite("JSONWriter")
struct JSONWriterTests {
    @Test func everyControlCharacterIsEscaped() {
        let named: [UInt8: String] = [0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"]
        let hex = Array("0123456789abcdef".utf8)
        for code in UInt8(0)..<0x20 {
            let expected = named[code] ?? "\\u00" + String(decoding: [hex[Int(code >> 4)], hex[Int(code & 15)]], as: UTF8.self)
            let written = JSONWriter.quoted(String(decoding: [code], as: UTF8.self))
            #expect(written == bytes("\"" + expected + "\""), "control 0x\(code)")
        }
    }

    @Test func quoteBackslashAndPassthrough() {
        #expect(JSONWriter.quoted("\"") == bytes(#""\"""#))
        #expect(JSONWriter.quoted("\\") == bytes(#""\\""#))
        #expect(JSONWriter.quoted("a/b") == bytes(#""a/b""#))
        #expect(JSONWriter.quoted("Zoë 中文 😀 \u{7F}") == bytes("\"Zoë 中文 😀 \u{7F}\""))
        #expect(JSONWriter.quoted("") == bytes("\"\""))
        #expect(JSONWriter.quoted("say \"hi\"\n\tto C:\\") == bytes(#""say \"hi\"\n\tto C:\\""#))
    }

    @Test func rawAndLiterals() {
        var writer = JSONWriter(reservingCapacity: 0)
        writer.appendRaw("{")
        writer.appendString("k")
        writer.appendRawByte(UInt8(ascii: ":"))
        writer.appendRaw([UInt8(ascii: "[")])
        writer.appendBool(true)
        writer.appendRaw(",".utf8)
        writer.appendBool(false)
        writer.appendRaw(",")
        writer.appendNull()
        writer.appendRaw(",")
        bytes("{}").withUnsafeBufferPointer { writer.appendRaw($0) }
        writer.appendRaw("]}")
        #expect(writer.bytes == bytes(#"{"k":[true,false,null,{}]}"#))
        #expect(accepted(scan(writer.bytes)) != nil)
    }

    @Test(arguments: [
        (Int64(0), "0"), (-1, "-1"), (7, "7"), (10, "10"), (-10, "-10"), (1_764_237_600_000, "1764237600000"),
        (Int64.min, "-9223372036854775808"), (Int64.max, "9223372036854775807"),
        (Int64.min + 1, "-9223372036854775807"), (999_999_999_999_999_999, "999999999999999999"),
    ])
    func appendInt(_ value: Int64, _ expected: String) {
        var writer = JSONWriter(reservingCapacity: 4)
        writer.appendRaw("x")
        writer.appendInt(value)
        #expect(writer.bytes == bytes("x" + expected))
        var viaInt = JSONWriter()
        viaInt.appendInt(Int(value))
        #expect(viaInt.bytes == bytes(expected))
    }

    @Test func randomStringsRoundTripThroughScannerAndParser() throws {
        var rng = SplitMix64(state: 0x5EED)
        let pool: [Unicode.Scalar] = ["\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1F}", "\u{7F}", "\u{80}", "é", "中", "😀", "\u{10FFFF}", "\u{FFFD}", "$", "a", " "]
        for _ in 0..<200 {
            var keys: [String] = []
            var values: [String] = []
            var writer = JSONWriter()
            writer.appendRaw("{")
            let memberCount = Int.random(in: 0...8, using: &rng)
            for member in 0..<memberCount {
                var key = "\(member)_"
                var value = ""
                for _ in 0..<Int.random(in: 0...12, using: &rng) {
                    key.unicodeScalars.append(pool.randomElement(using: &rng) ?? "a")
                }
                for _ in 0..<Int.random(in: 0...40, using: &rng) {
                    let scalar = Bool.random(using: &rng)
                        ? pool.randomElement(using: &rng) ?? "a"
                        : Unicode.Scalar(UInt32.random(in: 0...0xD7FF, using: &rng)) ?? "a"
                    value.unicodeScalars.append(scalar)
                }
                if member > 0 { writer.appendRaw(",") }
                writer.appendString(key)
                writer.appendRaw(":")
                writer.appendString(value)
                keys.append(key)
                values.append(value)
            }
            writer.appendRaw("}")

            let result = try #require(accepted(scan(writer.bytes)))
            #expect(result.topLevelKeys.map { Array($0.utf8) } == keys.map { Array($0.utf8) })
            #expect(result.isEmpty == keys.isEmpty)
            let parsed = try #require(JSONValue.parse(writer.bytes))
            let members = try #require(parsed.objectValue)
            #expect(members.map { Array($0.value.stringValue?.utf8 ?? "".utf8) } == values.map { Array($0.utf8) })
        }
    }
}

// MARK: Randomized robustness

@Suite("JSON fuzz")
struct JSONFuzzTests {
    static let seedDocument = bytes(#"""
        { "event": "order_placed", "$x": 1, "amount": -12.5e+2, "ok": true, "none": null,
          "tags": ["a", "b\n", "\u00e9\ud83d\ude00", "Zoë 中文"], "nested": {"k": [0, 1, {"z": false}], "k2": "x"},
          "empty": {}, "list": [], "esc": "\"\\\/\b\f\r\t" }
        """#)

    static let interestingBytes: [UInt8] = Array("{}[]\",:\\ 0123456789eE+-.tfnu".utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xE2, 0xED, 0xF0, 0xF4, 0xF5, 0xFF]

    /// True when a parsed object's keys are pairwise distinct as bytes (the scanner's extra rule).
    static func hasUniqueKeys(_ members: [(key: String, value: JSONValue)]) -> Bool {
        var seen: [[UInt8]] = []
        for member in members {
            let key = Array(member.key.utf8)
            if seen.contains(key) { return false }
            seen.append(key)
        }
        return true
    }

    @Test func seedDocumentIsValid() {
        #expect(accepted(scan(Self.seedDocument)) != nil)
    }

    @Test func randomMutationsNeverCrashAndScannerAgreesWithParser() {
        var rng = SplitMix64(state: 0xC0FFEE)
        var validCount = 0
        var disagreements: [String] = []
        for iteration in 0..<2_000 {
            var document = Self.seedDocument
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                guard !document.isEmpty else { break }
                let position = Int.random(in: 0..<document.count, using: &rng)
                let replacement = Bool.random(using: &rng)
                    ? Self.interestingBytes.randomElement(using: &rng) ?? 0
                    : UInt8.random(in: 0...255, using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: document[position] = replacement
                case 1: document.insert(replacement, at: position)
                case 2: document.remove(at: position)
                case 3:
                    let end = min(document.count, position + Int.random(in: 1...8, using: &rng))
                    document.insert(contentsOf: document[position..<end], at: position)
                default: document.removeSubrange(position...)
                }
            }

            let scanResult = scan(document)
            let parsed = JSONValue.parse(document)
            let parsedValidObject: Bool
            if case .object(let members)? = parsed {
                parsedValidObject = Self.hasUniqueKeys(members)
                if case .success(let result) = scanResult {
                    if result.topLevelKeys != members.map(\.key) { disagreements.append("keys #\(iteration)") }
                    if document[result.objectRange.lowerBound] != JSONByte.openBrace
                        || document[result.objectRange.upperBound - 1] != JSONByte.closeBrace
                    {
                        disagreements.append("range #\(iteration)")
                    }
                }
            } else {
                parsedValidObject = false
            }
            let scannedValid = accepted(scanResult) != nil
            if scannedValid { validCount += 1 }
            if scannedValid != parsedValidObject {
                disagreements.append("#\(iteration): \(String(decoding: document, as: UTF8.self))")
            }
            if case .failure(let error) = scanResult {
                if error.offset < 0 || error.offset > document.count || error.message.isEmpty {
                    disagreements.append("bad error #\(iteration): \(error)")
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
        // The mutations must exercise both outcomes to mean anything.
        #expect(validCount > 50)
        #expect(validCount < 1_900)
    }

    @Test func randomBytesNeverCrash() {
        var rng = SplitMix64(state: 42)
        for _ in 0..<2_000 {
            let length = Int.random(in: 0...64, using: &rng)
            var document: [UInt8] = [UInt8(ascii: "{")]
            for _ in 0..<length {
                document.append(Self.interestingBytes.randomElement(using: &rng) ?? 0)
            }
            let scanResult = scan(document)
            let parsed = JSONValue.parse(document)
            if case .success = scanResult {
                guard case .object = parsed else {
                    Issue.record("scanner accepted what the parser rejected: \(document)")
                    continue
                }
            }
        }
    }
}
