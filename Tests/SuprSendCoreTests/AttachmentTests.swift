import Glibc
import Testing

@testable import SuprSendCore

private let docxType = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
private let xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

/// A zip local-file header naming `entry`, then some filler.
private func zipBytes(entry: String) -> [UInt8] {
    var bytes: [UInt8] = [0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00]
    bytes += [UInt8](repeating: 0, count: 16)
    bytes += [UInt8(entry.utf8.count), 0, 0, 0]
    bytes += utf8Bytes(entry)
    bytes += [0x01, 0x02, 0x03, 0xFF, 0x00]
    return bytes
}

private struct Inline {
    var fileName: String
    var contentType: String
    var data: [UInt8]
    var ignoreIfError: Bool
}

private func inline(_ attachment: CoreAttachment?) -> Inline? {
    if case let .inline(fileName, contentType, base64, ignoreIfError)? = attachment {
        return Inline(fileName: fileName, contentType: contentType, data: testDecodeBase64(base64) ?? [0xDE, 0xAD],
                      ignoreIfError: ignoreIfError)
    }
    return nil
}

@Suite("Attachments", .serialized)
struct AttachmentTests {
    @Test(arguments: [
        ("doc.bin", Array("%PDF-1.7\n%âãÏÓ\n1 0 obj".utf8), "application/pdf"),
        ("image.bin", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D], "image/png"),
        ("photo.bin", [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46], "image/jpeg"),
        ("anim.bin", Array("GIF89a".utf8) + [0x01, 0x00, 0x01, 0x00], "image/gif"),
        ("old.bin", Array("GIF87a".utf8) + [0x01, 0x00], "image/gif"),
        ("archive.bin", zipBytes(entry: "readme.txt"), "application/zip"),
        ("letter.bin", zipBytes(entry: "word/document.xml"), docxType),
        ("sheet.bin", zipBytes(entry: "xl/workbook.xml"), xlsxType),
        ("notes.txt", Array("hello\nworld\n".utf8), "text/plain"),
        ("table.csv", Array("a,b\n1,2\n".utf8), "text/csv"),
        ("page.html", Array("<p>hi</p>".utf8), "text/html"),
        ("data.json", Array(#"{"a":1}"#.utf8), "application/json"),
        ("blob.bin", [0x00, 0x01, 0x02, 0xFE, 0xFF, 0x7F, 0x10, 0x00], "application/octet-stream"),
        ("noextension", [0x00, 0xFF, 0x00, 0xFF], "application/octet-stream"),
    ] as [(String, [UInt8], String)])
    func contentTypeAndData(_ name: String, _ contents: [UInt8], _ expectedType: String) throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let path = dir.write(name, contents)
        var e = Event(distinctId: "u", name: "ev")
        try e.addAttachment(path, fileName: nil, ignoreIfError: false)
        #expect(e.skippedAttachments.isEmpty)
        let attachment = try #require(inline(e.attachments.first))
        #expect(attachment.contentType == expectedType, "\(name)")
        #expect(attachment.fileName == name)
        #expect(attachment.data == contents, "base64 must decode back to the file")
        #expect(attachment.ignoreIfError == false)
    }

    /// The extension decides when it is a known one (as Python's mimetypes); the bytes only
    /// when it is not; the given name's extension before the path's.
    @Test(arguments: [
        ("page.json", nil, Array("<html><body>x</body></html>".utf8), "application/json"),
        ("scan.txt", nil, Array("%PDF-1.4 x".utf8), "text/plain"),
        ("noextension", nil, Array("%PDF-1.4 x".utf8), "application/pdf"),
        ("noextension", "report.csv", Array("%PDF-1.4 x".utf8), "text/csv"),
        ("file.unknownext", nil, Array("%PDF-1.4 x".utf8), "application/pdf"),
        ("sound.wav", nil, [0x52, 0x49, 0x46, 0x46, 0x00], "audio/x-wav"),
    ] as [(String, String?, [UInt8], String)])
    func extensionBeforeContent(_ file: String, _ given: String?, _ contents: [UInt8], _ expectedType: String) throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let path = dir.write(file, contents)
        let attachment = try #require(inline(try CoreAttachment.make(path, fileName: given, ignoreIfError: false)))
        #expect(attachment.contentType == expectedType, "\(file) \(given ?? "-")")
    }

    @Test func givenFileNameIsTrimmed() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let path = dir.write("a.bin", [1, 2, 3])
        let local = try #require(inline(try CoreAttachment.make(path, fileName: "  invoice.pdf \t", ignoreIfError: false)))
        #expect(local.fileName == "invoice.pdf")
        #expect(local.contentType == "application/pdf")
        let url = try CoreAttachment.make("https://example.com/x", fileName: " n.txt ", ignoreIfError: false)
        #expect(url == .url("https://example.com/x", fileName: "n.txt", ignoreIfError: false))
        let blank = try #require(inline(try CoreAttachment.make(path, fileName: "   ", ignoreIfError: false)))
        #expect(blank.fileName == "a.bin")
    }

    @Test func fromMemoryCopiesTheBytesAndFindsTheType() throws {
        var bytes: [UInt8] = Array("%PDF-1.4 body".utf8)
        let made = try bytes.withUnsafeBytes {
            try CoreAttachment.fromMemory($0, fileName: " report ", contentType: nil, ignoreIfError: true)
        }
        bytes[0] = 0  // the attachment holds its own copy
        let attachment = try #require(inline(made))
        #expect(attachment.fileName == "report")
        #expect(attachment.contentType == "application/pdf")
        #expect(attachment.data == Array("%PDF-1.4 body".utf8))
        #expect(attachment.ignoreIfError)
        let typed = try #require(inline(try [UInt8](repeating: 65, count: 10).withUnsafeBytes {
            try CoreAttachment.fromMemory($0, fileName: "a.pdf", contentType: "text/x-custom", ignoreIfError: false)
        }))
        #expect(typed.contentType == "text/x-custom")
        #expect(throws: SuprSendError.self) {
            try [UInt8]([1]).withUnsafeBytes { try CoreAttachment.fromMemory($0, fileName: "  ", contentType: nil, ignoreIfError: false) }
        }
        #expect(throws: SuprSendError.self) {
            try [UInt8]().withUnsafeBytes { try CoreAttachment.fromMemory($0, fileName: "a.txt", contentType: nil, ignoreIfError: false) }
        }
        let big = [UInt8](repeating: 1, count: CoreAttachment.maxFileBytes + 1)
        do {
            _ = try big.withUnsafeBytes { try CoreAttachment.fromMemory($0, fileName: "big.bin", contentType: nil, ignoreIfError: false) }
            Issue.record("a file larger than any event was accepted")
        } catch let error as SuprSendError {
            #expect(error.status == .tooLarge)
        }
    }

    @Test func base64IsValidForEveryLengthRemainder() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        for length in [1, 2, 3, 4, 5, 100, 65_536 + 7] {
            let contents = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let path = dir.write("f\(length).bin", contents)
            let attachment = try #require(inline(try CoreAttachment.make(path, fileName: nil, ignoreIfError: true)))
            #expect(attachment.data == contents, "length \(length)")
            #expect(attachment.ignoreIfError)
        }
    }

    @Test func inlineAttachmentOnTheWire() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let path = dir.write("r.pdf", Array("%PDF-1.4 tiny".utf8))
        var e = Event(distinctId: "u", name: "ev")
        try e.addAttachment(path, fileName: nil, ignoreIfError: true)
        let preparer = EventPreparer(workspaceKey: "k", sdkVersion: "v", rules: EventRules(), autoIdempotency: false)
        guard case .success(let ready) = preparer.prepare(e) else {
            Issue.record("rejected")
            return
        }
        let json = try #require(JSONValue.parse(ready.json))
        let item = try #require(json["properties"]?["$attachments"]?.arrayValue?.first)
        #expect(jsonKeys(item) == ["filename", "contentType", "data", "ignore_if_error"])
        #expect(item["filename"]?.stringValue == "r.pdf")
        #expect(item["contentType"]?.stringValue == "application/pdf")
        #expect(testDecodeBase64(utf8Bytes(item["data"]?.stringValue ?? "")) == Array("%PDF-1.4 tiny".utf8))
        #expect(item["ignore_if_error"]?.boolValue == true)
    }

    @Test func fileNameOverride() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let path = dir.write("tmp-123.bin", Array("%PDF-1.4".utf8))
        let attachment = try #require(inline(try CoreAttachment.make(path, fileName: "Invoice.pdf", ignoreIfError: false)))
        #expect(attachment.fileName == "Invoice.pdf")
        #expect(attachment.contentType == "application/pdf")
        // A blank override means none.
        let blank = try #require(inline(try CoreAttachment.make(path, fileName: "  ", ignoreIfError: false)))
        #expect(blank.fileName == "tmp-123.bin")
    }

    @Test func tildeExpandsToHome() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        dir.write("home-file.txt", Array("at home".utf8))
        let saved = getenv("HOME").map { String(cString: $0) }
        setenv("HOME", dir.path, 1)
        defer {
            if let saved { setenv("HOME", saved, 1) } else { unsetenv("HOME") }
        }
        #expect(CoreAttachment.expandTilde("~/home-file.txt") == dir.path + "/home-file.txt")
        #expect(CoreAttachment.expandTilde("~") == dir.path)
        #expect(CoreAttachment.expandTilde("/abs/~/x") == "/abs/~/x")
        #expect(CoreAttachment.expandTilde("~other/x") == "~other/x")
        var e = Event(distinctId: "u", name: "ev")
        try e.addAttachment("~/home-file.txt", fileName: nil, ignoreIfError: false)
        let attachment = try #require(inline(e.attachments.first))
        #expect(attachment.fileName == "home-file.txt")
        #expect(attachment.data == Array("at home".utf8))
        #expect(attachment.contentType == "text/plain")
    }

    @Test func missingFileIsAnAttachmentError() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let path = dir.path + "/does-not-exist.pdf"
        var e = Event(distinctId: "u", name: "ev")
        do {
            try e.addAttachment(path, fileName: nil, ignoreIfError: false)
            Issue.record("a missing file must throw")
        } catch {
            #expect(error.status == .attachment)
            #expect(error.message.contains("does-not-exist.pdf"))
        }
        #expect(e.attachments.isEmpty)
        #expect(e.skippedAttachments.isEmpty)
    }

    @Test func missingFileWithIgnoreIfErrorIsSkipped() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        var e = Event(distinctId: "u", name: "ev")
        try e.addAttachment(dir.path + "/gone.pdf", fileName: nil, ignoreIfError: true)
        #expect(e.attachments.isEmpty)
        #expect(e.skippedAttachments.count == 1)
        #expect(e.skippedAttachments.first?.contains("gone.pdf") == true)
        // The event is still valid and carries no $attachments.
        let preparer = EventPreparer(workspaceKey: "k", sdkVersion: "v", rules: EventRules(), autoIdempotency: false)
        guard case .success(let ready) = preparer.prepare(e) else {
            Issue.record("rejected")
            return
        }
        #expect(!bytesContain(ready.json, utf8Bytes("$attachments")))
    }

    @Test func directoryIsNotAFile() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        #expect(throws: SuprSendError(.attachment, "attachment '\(dir.path)': not a regular file")) {
            try CoreAttachment.make(dir.path, fileName: nil, ignoreIfError: false)
        }
    }

    @Test func emptyPathIsAnArgumentError() {
        for path in ["", "   "] {
            do {
                _ = try CoreAttachment.make(path, fileName: nil, ignoreIfError: true)
                Issue.record("'\(path)' must throw")
            } catch {
                #expect(error.status == .argument)
            }
        }
    }

    @Test(arguments: ["http://example.com/a.pdf", "https://example.com/a.pdf", "HTTPS://Example.com/A.pdf",
                      "Http://example.com/x?y=1"])
    func urlAttachmentsKeepTheURL(_ url: String) throws {
        let plain = try CoreAttachment.make(url, fileName: nil, ignoreIfError: false)
        #expect(plain == .url(url, fileName: nil, ignoreIfError: false))
        let named = try CoreAttachment.make("  " + url + " ", fileName: "report.pdf", ignoreIfError: true)
        #expect(named == .url(url, fileName: "report.pdf", ignoreIfError: true))
    }

    @Test func fileLargerThanTheLimitIsTooLarge() throws {
        #expect(CoreAttachment.maxFileBytes == 819_200 / 4 * 3)
        let dir = TempDirectory()
        defer { dir.remove() }
        let atLimit = dir.sparse("at-limit.bin", size: CoreAttachment.maxFileBytes)
        let fits = try #require(inline(try CoreAttachment.make(atLimit, fileName: nil, ignoreIfError: false)))
        #expect(fits.data.count == CoreAttachment.maxFileBytes)
        let over = dir.sparse("over.bin", size: CoreAttachment.maxFileBytes + 1)
        for ignore in [false, true] {
            do {
                _ = try CoreAttachment.make(over, fileName: nil, ignoreIfError: ignore)
                Issue.record("an oversized file must throw")
            } catch {
                #expect(error.status == .tooLarge)
            }
        }
    }
}
