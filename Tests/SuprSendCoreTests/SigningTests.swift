import Glibc
import Testing

@testable import SuprSendCore

// MARK: Vectors

private struct SignatureVector {
    var method: String
    var requestURI: String
    var contentType: String
    var date: String
    var secret: String
    var body: [UInt8]
    var bodyMD5: String
    var signature: String
}

/// `../shared/vectors/signatures.json` beside the package root (the shared folder sits next to
/// the repository), found from this file's own path.
private func vectorsPath() -> String? {
    // #filePath = <root>/Tests/SuprSendCoreTests/SigningTests.swift
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    guard parts.count > 3 else { return nil }
    parts.removeLast(3)
    let path = parts.joined(separator: "/") + "/../shared/vectors/signatures.json"
    return access(path, R_OK) == 0 ? path : nil
}

private func loadVectors() throws -> [SignatureVector] {
    let path = try #require(vectorsPath(), "signatures.json not found")
    let bytes = try #require(readWholeFile(path))
    let json = try #require(JSONValue.parse(bytes), "signatures.json is not valid JSON")
    let list = try #require(json["vectors"]?.arrayValue)
    return try list.map { item in
        SignatureVector(
            method: try #require(item["method"]?.stringValue),
            requestURI: try #require(item["request_uri"]?.stringValue),
            contentType: try #require(item["content_type"]?.stringValue),
            date: try #require(item["date"]?.stringValue),
            secret: try #require(item["secret"]?.stringValue),
            body: utf8Bytes(try #require(item["body"]?.stringValue)),
            bodyMD5: try #require(item["body_md5"]?.stringValue),
            signature: try #require(item["signature"]?.stringValue))
    }
}

@Suite("Request signing")
struct SigningTests {
    @Test func vectorsFileIsFoundAndNotEmpty() throws {
        let vectors = try loadVectors()
        #expect(vectors.count >= 5)
    }

    @Test func everyVectorMD5() throws {
        for vector in try loadVectors() {
            let md5 = vector.body.withUnsafeBytes { vector.body.isEmpty ? "" : RequestSigner.md5Hex($0) }
            #expect(md5 == vector.bodyMD5, "md5 of \(utf8String(vector.body))")
        }
    }

    @Test func everyVectorSignature() throws {
        for vector in try loadVectors() {
            let signature = vector.body.withUnsafeBytes {
                RequestSigner.signature(method: vector.method, body: $0, contentType: vector.contentType,
                                        date: vector.date, requestURI: vector.requestURI, secret: vector.secret)
            }
            #expect(signature == vector.signature, "vector dated \(vector.date) for \(vector.requestURI)")
        }
    }

    @Test func md5OfKnownInputs() {
        let abc = utf8Bytes("abc")
        #expect(abc.withUnsafeBytes { RequestSigner.md5Hex($0) } == "900150983cd24fb0d6963f7d28e17f72")
        let empty: [UInt8] = []
        // md5Hex itself hashes; the signature's string uses "" for an empty body (next test).
        #expect(empty.withUnsafeBytes { RequestSigner.md5Hex($0) } == "d41d8cd98f00b204e9800998ecf8427e")
    }

    @Test func emptyBodySignsAnEmptyMD5() {
        // Computed with Python: base64(hmac_sha256(b"secret",
        //   "POST\n\napplication/json; charset=utf-8\nFri, 27 Nov 2026 10:00:00 GMT\n/v2/event/"))
        let empty: [UInt8] = []
        let signature = empty.withUnsafeBytes {
            RequestSigner.signature(method: "POST", body: $0, contentType: "application/json; charset=utf-8",
                                    date: "Fri, 27 Nov 2026 10:00:00 GMT", requestURI: "/v2/event/", secret: "secret")
        }
        #expect(signature == "he2XYi7sOvgpM5LpyrPyRiyn6lYFDkvLLha3Ot/+CRM=")
    }

    @Test func signatureDependsOnEveryPart() throws {
        let vector = try #require(try loadVectors().first)
        func sign(method: String? = nil, body: [UInt8]? = nil, contentType: String? = nil, date: String? = nil,
                  uri: String? = nil, secret: String? = nil) -> String {
            (body ?? vector.body).withUnsafeBytes {
                RequestSigner.signature(method: method ?? vector.method, body: $0,
                                        contentType: contentType ?? vector.contentType, date: date ?? vector.date,
                                        requestURI: uri ?? vector.requestURI, secret: secret ?? vector.secret)
            }
        }
        let base = sign()
        #expect(base == vector.signature)
        #expect(sign(method: "PUT") != base)
        #expect(sign(body: vector.body + [0x20]) != base)
        #expect(sign(contentType: "application/json") != base)
        #expect(sign(date: "Mon, 02 Jan 2006 15:04:06 GMT") != base)
        #expect(sign(uri: "/v2/bulk/event/") != base)
        #expect(sign(secret: vector.secret + "x") != base)
    }

    @Test func base64Padding() {
        #expect(base64([]) == "")
        #expect(base64(utf8Bytes("f")) == "Zg==")
        #expect(base64(utf8Bytes("fo")) == "Zm8=")
        #expect(base64(utf8Bytes("foo")) == "Zm9v")
        #expect(base64(utf8Bytes("foobar")) == "Zm9vYmFy")
        #expect(base64([0xFB, 0xFF]) == "+/8=")
    }
}

// MARK: HTTP dates

@Suite("HTTPDate", .serialized)
struct HTTPDateTests {
    // 1795773600 = 2026-11-27T10:00:00Z (checked with `date -u -d @1795773600` and calendar.timegm).
    @Test func formatsTheSpecExample() {
        #expect(HTTPDate.format(unixSeconds: 1_795_773_600) == "Fri, 27 Nov 2026 10:00:00 GMT")
    }

    @Test func formatIgnoresTheCLocale() {
        let saved = setlocale(LC_ALL, nil).map { String(cString: $0) } ?? "C"
        defer { setlocale(LC_ALL, saved) }
        var tried = 0
        for name in ["de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "C.UTF-8", "C.utf8"] where setlocale(LC_ALL, name) != nil {
            tried += 1
            #expect(HTTPDate.format(unixSeconds: 1_795_773_600) == "Fri, 27 Nov 2026 10:00:00 GMT", "locale \(name)")
            #expect(HTTPDate.format(unixSeconds: 1_767_270_896) == "Thu, 01 Jan 2026 12:34:56 GMT", "locale \(name)")
        }
        #expect(tried > 0, "no locale could be set")
    }

    @Test func everyDayName() {
        // Sun 22 Nov 2026 ... Sat 28 Nov 2026, midnight (values from Python's calendar.timegm).
        let expected = [
            (1_795_305_600, "Sun, 22 Nov 2026 00:00:00 GMT"), (1_795_392_000, "Mon, 23 Nov 2026 00:00:00 GMT"),
            (1_795_478_400, "Tue, 24 Nov 2026 00:00:00 GMT"), (1_795_564_800, "Wed, 25 Nov 2026 00:00:00 GMT"),
            (1_795_651_200, "Thu, 26 Nov 2026 00:00:00 GMT"), (1_795_737_600, "Fri, 27 Nov 2026 00:00:00 GMT"),
            (1_795_824_000, "Sat, 28 Nov 2026 00:00:00 GMT"),
        ]
        for (seconds, text) in expected {
            #expect(HTTPDate.format(unixSeconds: seconds) == text)
            #expect(HTTPDate.parse(text) == seconds)
        }
    }

    @Test func everyMonthName() {
        let expected = [
            (1_767_270_896, "Thu, 01 Jan 2026 12:34:56 GMT"), (1_769_949_296, "Sun, 01 Feb 2026 12:34:56 GMT"),
            (1_772_368_496, "Sun, 01 Mar 2026 12:34:56 GMT"), (1_775_046_896, "Wed, 01 Apr 2026 12:34:56 GMT"),
            (1_777_638_896, "Fri, 01 May 2026 12:34:56 GMT"), (1_780_317_296, "Mon, 01 Jun 2026 12:34:56 GMT"),
            (1_782_909_296, "Wed, 01 Jul 2026 12:34:56 GMT"), (1_785_587_696, "Sat, 01 Aug 2026 12:34:56 GMT"),
            (1_788_266_096, "Tue, 01 Sep 2026 12:34:56 GMT"), (1_790_858_096, "Thu, 01 Oct 2026 12:34:56 GMT"),
            (1_793_536_496, "Sun, 01 Nov 2026 12:34:56 GMT"), (1_796_128_496, "Tue, 01 Dec 2026 12:34:56 GMT"),
        ]
        for (seconds, text) in expected {
            #expect(HTTPDate.format(unixSeconds: seconds) == text)
            #expect(HTTPDate.parse(text) == seconds)
        }
    }

    @Test func epochAndPadding() {
        #expect(HTTPDate.format(unixSeconds: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(unixSeconds: 1_136_214_245) == "Mon, 02 Jan 2006 15:04:05 GMT")
    }

    // RFC 9110's own example instant, 784111777 = Sun, 06 Nov 1994 08:49:37 GMT.
    @Test(arguments: [
        "Sun, 06 Nov 1994 08:49:37 GMT",  // IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  // RFC 850
        "Sun Nov  6 08:49:37 1994",  // asctime
    ])
    func parsesTheThreeForms(_ text: String) {
        #expect(HTTPDate.parse(text) == 784_111_777)
    }

    @Test(arguments: [
        "", "garbage", "Sun, 06 Nov 1994", "08:49:37", "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:00:00 GMT", "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT", "12345", "Sun, 06 Nov 1994 aa:bb:cc GMT",
    ])
    func rejectsGarbage(_ text: String) {
        #expect(HTTPDate.parse(text) == nil, "\(text)")
    }

    @Test func roundTrips() {
        for seconds in [0, 1, 59, 86_399, 951_782_400 /* 2000-02-29 */, 1_795_773_600, 4_102_444_799] {
            #expect(HTTPDate.parse(HTTPDate.format(unixSeconds: seconds)) == seconds)
        }
    }
}

// MARK: UUIDs

@Suite("UUIDv4")
struct UUIDv4Tests {
    private static let hex = Set("0123456789abcdef")

    @Test func format() {
        for _ in 0..<200 {
            let id = UUIDv4.make()
            let chars = Array(id)
            #expect(chars.count == 36, "\(id)")
            guard chars.count == 36 else { continue }
            for (index, char) in chars.enumerated() {
                if [8, 13, 18, 23].contains(index) {
                    #expect(char == "-", "\(id)")
                } else {
                    #expect(Self.hex.contains(char), "\(id): '\(char)' is not lower-case hex")
                }
            }
            #expect(chars[14] == "4", "version nibble of \(id)")
            #expect("89ab".contains(chars[19]), "variant nibble of \(id)")
        }
    }

    @Test func thousandAreUnique() {
        var seen = Set<String>()
        for _ in 0..<1000 { seen.insert(UUIDv4.make()) }
        #expect(seen.count == 1000)
    }

    @Test func eachPreparationGetsItsOwnInsertId() throws {
        let preparer = EventPreparer(workspaceKey: "k", sdkVersion: "v", rules: EventRules(), autoIdempotency: true)
        let event = Event(distinctId: "u", name: "ev")
        guard case .success(let a) = preparer.prepare(event), case .success(let b) = preparer.prepare(event) else {
            Issue.record("rejected")
            return
        }
        #expect(a.insertId != b.insertId)
        #expect(a.insertId.utf8.count == 36)
    }
}
