import Glibc
import Testing

@testable import SuprSendCore

// Inputs the hub would refuse, or that cost without bound.

private func eventWithProperties(_ json: String) throws -> Event {
    var event = Event(distinctId: "u1", name: "order_placed")
    try event.setProperties(json: Array(json.utf8))
    return event
}

@Suite("Input bounds: attachments", .serialized)
struct AttachmentBoundsTests {
    @Test func emptyFileIsRefusedWhenAdded() throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        let path = directory.write("empty.pdf", [])
        var event = Event(distinctId: "u1", name: "order_placed")
        #expect(throws: SuprSendError.self) { try event.addAttachment(path, fileName: nil, ignoreIfError: false) }
        do {
            try event.addAttachment(path, fileName: nil, ignoreIfError: false)
        } catch {
            #expect(error.status == .attachment)
            #expect(error.message.contains("empty"))
        }
        #expect(event.attachments.isEmpty)

        try event.addAttachment(path, fileName: nil, ignoreIfError: true)
        #expect(event.attachments.isEmpty)
        #expect(event.skippedAttachments.count == 1)
    }

    @Test func urlWithoutHostIsRefused() {
        for url in ["http://", "https://", "http:///path", "HTTPS://"] {
            var event = Event(distinctId: "u1", name: "order_placed")
            do {
                try event.addAttachment(url, fileName: nil, ignoreIfError: true)
                Issue.record("\(url) was accepted")
            } catch {
                #expect(error.status == .argument)
            }
        }
        var event = Event(distinctId: "u1", name: "order_placed")
        #expect(throws: Never.self) { try event.addAttachment("https://example.com/a.pdf", fileName: nil, ignoreIfError: false) }
    }

    @Test func attachmentsThatCannotFitAnyEventAreRefusedWhenAdded() throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        // Each fits alone (500,000 bytes is 666,668 in base64); two cannot fit 819,200.
        let first = directory.write("a.bin", [UInt8](repeating: 0x41, count: 500_000))
        let second = directory.write("b.bin", [UInt8](repeating: 0x42, count: 500_000))
        var event = Event(distinctId: "u1", name: "order_placed")
        try event.addAttachment(first, fileName: nil, ignoreIfError: false)
        do {
            try event.addAttachment(second, fileName: nil, ignoreIfError: true)
            Issue.record("the second attachment was kept")
        } catch {
            #expect(error.status == .tooLarge)
            #expect(error.message.contains("819200"))
        }
        #expect(event.attachments.count == 1)

        // Many small ones add up the same way: the event stops growing.
        let small = directory.write("c.bin", [UInt8](repeating: 0x43, count: 60_000))
        var many = Event(distinctId: "u1", name: "order_placed")
        var refused = false
        for _ in 0..<20 {
            do {
                try many.addAttachment(small, fileName: nil, ignoreIfError: false)
            } catch {
                #expect(error.status == .tooLarge)
                refused = true
                break
            }
        }
        #expect(refused)
        #expect(many.attachments.count == 10)
    }

    @Test(arguments: [
        #"{"$attachments":"https://example.com/a.pdf"}"#,
        #"{"$attachments":{"url":"https://example.com/a.pdf"}}"#,
        #"{"$attachments":["https://example.com/a.pdf"]}"#,
        #"{"$attachments":[{"url":"file:///etc/passwd"}]}"#,
        #"{"$attachments":[{"url":"http://"}]}"#,
        #"{"$attachments":[{"url":"https:///x"}]}"#,
        #"{"$attachments":[{"url":5}]}"#,
        #"{"$attachments":[{}]}"#,
        #"{"$attachments":[{"filename":"a.pdf"}]}"#,
        #"{"$attachments":[{"url":null,"data":null}]}"#,
        #"{"$attachments":[{"url":"https://example.com/a.pdf","data":"QUJD"}]}"#,
        #"{"$attachments":[{"data":""}]}"#,
        #"{"$attachments":[{"data":"not base64!"}]}"#,
        #"{"$attachments":[{"data":"QUJ"}]}"#,
        #"{"$attachments":[{"data":"QUJD","filename":5}]}"#,
        #"{"$attachments":[{"data":"QUJD","contentType":["text/plain"]}]}"#,
        #"{"$attachments":[{"url":"https://example.com/a.pdf","ignore_if_error":"yes"}]}"#,
        #"{"$attachments":[{"url":"https://example.com/a.pdf"},7]}"#,
    ])
    func givenAttachmentsOfTheWrongShapeAreRefused(_ json: String) throws {
        let event = try eventWithProperties(json)
        do {
            _ = try EventRules().check(event)
            Issue.record("accepted: \(json)")
        } catch {
            #expect(error.status == .validation)
            #expect(error.message.hasPrefix("properties.$attachments"))
        }
    }

    @Test(arguments: [
        #"{"$attachments":[]}"#,
        #"{"$attachments":[{"url":"https://example.com/a.pdf","filename":null,"ignore_if_error":true}]}"#,
        #"{"$attachments":[{"url":"HTTP://example.com/a.pdf"}]}"#,
        #"{"$attachments":[{"data":"QUJD","filename":"a.txt","contentType":"text/plain","ignore_if_error":false}]}"#,
        #"{"$attachments":[{"data":"QQ==","filename":"a.txt"},{"url":"https://example.com/b"}],"other":1}"#,
    ])
    func givenAttachmentsOfTheRightShapeAreKept(_ json: String) throws {
        let event = try eventWithProperties(json)
        #expect(throws: Never.self) { _ = try EventRules().check(event) }
    }
}

@Suite("Input bounds: messages quote a prefix of the input")
struct MessageExcerptTests {
    private static let huge = String(repeating: "x", count: 1 << 20)

    private func expectShort(_ error: SuprSendError, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(error.message.utf8.count < 400, "\(error.message.utf8.count) bytes", sourceLocation: sourceLocation)
        #expect(error.message.contains("…"), sourceLocation: sourceLocation)
    }

    @Test func eventName() {
        for name in ["$" + Self.huge, "ss_" + Self.huge] {
            do {
                _ = try EventRules().check(Event(distinctId: "u1", name: name))
                Issue.record("accepted")
            } catch {
                expectShort(error)
            }
        }
    }

    @Test func propertyKeyAndTenant() throws {
        let reserved = try eventWithProperties(#"{"$"# + Self.huge + #"":1}"#)
        do {
            _ = try EventRules().check(reserved)
            Issue.record("accepted")
        } catch {
            expectShort(error)
        }
        var event = Event(distinctId: "u1", name: "order_placed")
        event.tenantId = Self.huge
        do {
            _ = try EventRules().check(event)
            Issue.record("accepted")
        } catch {
            expectShort(error)
        }
    }

    @Test func attachmentPathAndBaseURL() {
        var event = Event(distinctId: "u1", name: "order_placed")
        do {
            try event.addAttachment("/nonexistent/" + Self.huge, fileName: nil, ignoreIfError: false)
            Issue.record("accepted")
        } catch {
            expectShort(error)
        }
        for url in ["ftp://" + Self.huge, "https://host/" + Self.huge + "?q", "https://host/" + Self.huge + " x"] {
            do {
                _ = try BaseURL.normalize(url)
                Issue.record("accepted")
            } catch {
                expectShort(error)
            }
        }
    }

    @Test func shortInputIsQuotedWhole() {
        #expect(excerpt("order_placed") == "order_placed")
        #expect(excerpt(String(repeating: "é", count: 64)) == String(repeating: "é", count: 64))
        #expect(excerpt(String(repeating: "é", count: 65)) == String(repeating: "é", count: 64) + "…")
        #expect(excerpt("a\nb") == "a?b")
    }
}
