import Glibc

/// An attachment for email, as it goes into properties.$attachments.
public enum Attachment: Sendable, Equatable {
    /// Downloaded by the hub; `ignoreIfError` lets the hub go on when the download fails.
    case url(String, fileName: String?, ignoreIfError: Bool)
    /// A local file, read when added and sent inline as base64.
    case inline(fileName: String, contentType: String, base64: [UInt8], ignoreIfError: Bool)

    /// The largest file that can fit in any event: base64 grows it by 4/3 and no event may
    /// exceed the highest size limit, so a bigger file is refused before it is read whole.
    static let maxFileBytes = EventRules.maxEventBytesLimit / 4 * 3

    static func make(_ pathOrURL: String, fileName: String?, ignoreIfError: Bool) throws(SuprSendError) -> Attachment {
        let trimmed = pathOrURL.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw .argument("attachment: path or URL must not be empty") }
        let name = trimmedName(fileName)
        if hasWebScheme(trimmed) {
            guard isDownloadableURL(trimmed) else {
                throw .argument("attachment: URL '\(excerpt(trimmed))' has no host")
            }
            return .url(trimmed, fileName: name, ignoreIfError: ignoreIfError)
        }
        let path = expandTilde(trimmed)
        let contents = try readFile(path)
        let contentType = ContentType.detect(contents: contents, fileName: name ?? path)
        let encoded = contents.withUnsafeBytes { base64Bytes($0) }
        return .inline(fileName: name ?? baseName(path), contentType: contentType, base64: encoded, ignoreIfError: ignoreIfError)
    }

    /// An inline attachment from bytes the caller holds (already read, or made in memory).
    /// The file name is required (trimmed); a nil or blank content type is found from the
    /// name's extension, then from the bytes.
    static func fromMemory(_ data: UnsafeRawBufferPointer, fileName: String, contentType: String?,
                       ignoreIfError: Bool) throws(SuprSendError) -> Attachment {
        guard let name = trimmedName(fileName) else {
            throw .argument("attachment: file name must not be empty")
        }
        // The hub refuses an attachment without data.
        guard data.count > 0 else { throw .argument("attachment '\(excerpt(name))': no data") }
        guard data.count <= maxFileBytes else {
            throw SuprSendError(.tooLarge, "attachment '\(excerpt(name))': \(data.count) bytes is more than any event can carry "
                + "(at most \(maxFileBytes) bytes before base64); send a URL instead")
        }
        let contents = Array(data)
        let type = trimmedName(contentType) ?? ContentType.detect(contents: contents, fileName: name)
        guard !type.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw .argument("attachment '\(excerpt(name))': content type must not contain control characters")
        }
        let encoded = contents.withUnsafeBytes { base64Bytes($0) }
        return .inline(fileName: name, contentType: type, base64: encoded, ignoreIfError: ignoreIfError)
    }

    /// A caller's file name without surrounding white space; nil when none is left.
    static func trimmedName(_ fileName: String?) -> String? {
        guard let trimmed = fileName?.trimmingWhitespace(), !trimmed.isEmpty else { return nil }
        return trimmed
    }

    /// The most bytes the attachment adds to its event, at least: what the encoder writes
    /// around it but escapes. For a check when it is added, before the event is serialized.
    var leastEncodedSize: Int {
        switch self {
        case let .url(url, fileName, _):
            return 48 + url.utf8.count + (fileName?.utf8.count ?? 0)
        case let .inline(fileName, contentType, base64, _):
            return 64 + base64.count + fileName.utf8.count + contentType.utf8.count
        }
    }

    static func hasWebScheme(_ text: String) -> Bool {
        let head = text.utf8.prefix(8).map { $0 | 0x20 }
        return head.starts(with: "http://".utf8) || head.starts(with: "https://".utf8)
    }

    /// http:// or https:// and a host: what the hub can download (it refuses "http://" alone).
    static func isDownloadableURL(_ text: String) -> Bool {
        guard hasWebScheme(text) else { return false }
        let afterScheme = text.utf8.drop(while: { $0 != UInt8(ascii: ":") }).dropFirst(3)
        guard let first = afterScheme.first else { return false }
        return first != UInt8(ascii: "/") && first > 0x20 && text.utf8.count > "https://".utf8.count
    }

    /// "~" and "~/..." become the home directory ($HOME, else the password database).
    static func expandTilde(_ path: String) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        var home: String?
        if let value = getenv("HOME"), value.pointee != 0 {
            home = String(cString: value)
        } else {
            home = homeDirectoryFromPasswordDatabase()
        }
        guard let home else { return path }
        return home + path.dropFirst()
    }

    /// getpwuid_r: the plain getpwuid() returns a static buffer other threads may overwrite.
    private static func homeDirectoryFromPasswordDatabase() -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(getuid(), &entry, &buffer, buffer.count, &result) == 0, result != nil,
              let directory = entry.pw_dir else { return nil }
        return String(cString: directory)
    }

    static func baseName(_ path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        return parts.last.map(String.init) ?? path
    }

    private static func readFile(_ path: String) throws(SuprSendError) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO with no writer would otherwise block the caller forever,
        // before the regular-file check below could refuse it. Regular files ignore the flag.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw SuprSendError(.attachment, "attachment '\(excerpt(path))': cannot open: \(systemErrorMessage(errno))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw SuprSendError(.attachment, "attachment '\(excerpt(path))': cannot stat: \(systemErrorMessage(errno))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw SuprSendError(.attachment, "attachment '\(excerpt(path))': not a regular file")
        }
        // The hub refuses an attachment without data; an empty file is a mistake, said now.
        guard info.st_size > 0 else {
            throw SuprSendError(.attachment, "attachment '\(excerpt(path))': the file is empty")
        }
        guard Int(info.st_size) <= maxFileBytes else {
            throw SuprSendError(.tooLarge, "attachment '\(excerpt(path))': \(info.st_size) bytes is more than any event can carry "
                + "(at most \(maxFileBytes) bytes before base64); send a URL instead")
        }
        var contents = [UInt8]()
        contents.reserveCapacity(Int(info.st_size))
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                throw SuprSendError(.attachment, "attachment '\(excerpt(path))': cannot read: \(systemErrorMessage(errno))")
            }
            contents.append(contentsOf: chunk[0..<count])
            guard contents.count <= maxFileBytes else {
                throw SuprSendError(.tooLarge, "attachment '\(excerpt(path))': more than any event can carry "
                    + "(at most \(maxFileBytes) bytes before base64); send a URL instead")
            }
        }
        guard !contents.isEmpty else {
            throw SuprSendError(.attachment, "attachment '\(excerpt(path))': the file is empty")
        }
        return contents
    }
}

/// The MIME type of a file: from its name's extension when it is a known one (as Python's
/// mimetypes, which the official SDK uses), from its first bytes otherwise, then text/plain
/// for what reads as text and application/octet-stream as the last resort.
enum ContentType {
    static let fallback = "application/octet-stream"

    private static let byExtension: [String: String] = [
        "pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
        "gif": "image/gif", "webp": "image/webp", "svg": "image/svg+xml", "bmp": "image/bmp",
        "txt": "text/plain", "text": "text/plain", "log": "text/plain", "md": "text/markdown",
        "csv": "text/csv", "tsv": "text/tab-separated-values", "html": "text/html", "htm": "text/html",
        "xml": "application/xml", "json": "application/json", "ics": "text/calendar",
        "zip": "application/zip", "gz": "application/gzip",
        "doc": "application/msword", "xls": "application/vnd.ms-excel", "ppt": "application/vnd.ms-powerpoint",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt": "application/vnd.oasis.opendocument.text", "ods": "application/vnd.oasis.opendocument.spreadsheet",
        "mp3": "audio/mpeg", "mp4": "video/mp4", "wav": "audio/x-wav",
        "tar": "application/x-tar", "tif": "image/tiff", "tiff": "image/tiff", "rtf": "application/rtf",
        "js": "text/javascript", "css": "text/css", "eml": "message/rfc822",
    ]

    static func detect(contents: [UInt8], fileName: String) -> String {
        let fileExtension = pathExtension(fileName)
        if let known = byExtension[fileExtension] { return known }
        if let sniffed = sniff(contents, fileExtension: fileExtension) { return sniffed }
        return looksLikeText(contents) ? "text/plain" : fallback
    }

    static func pathExtension(_ name: String) -> String {
        let base = Attachment.baseName(name)
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return "" }
        return base[base.index(after: dot)...].lowercased()
    }

    private static func sniff(_ bytes: [UInt8], fileExtension: String) -> String? {
        func starts(_ magic: [UInt8]) -> Bool { bytes.count >= magic.count && bytes[0..<magic.count].elementsEqual(magic) }
        if starts(Array("%PDF-".utf8)) { return "application/pdf" }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if starts([0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return "image/gif" }
        if starts(Array("RIFF".utf8)) && bytes.count >= 12 && bytes[8..<12].elementsEqual(Array("WEBP".utf8)) { return "image/webp" }
        if starts([0x1F, 0x8B]) { return "application/gzip" }
        if starts([0x50, 0x4B, 0x03, 0x04]) { return zipFlavour(bytes, fileExtension: fileExtension) }
        if starts([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            // The old binary Office formats share one container: the extension tells which.
            return ["doc", "xls", "ppt"].contains(fileExtension) ? byExtension[fileExtension] : "application/x-ole-storage"
        }
        if looksLikeHTML(bytes) { return "text/html" }
        return nil
    }

    /// Office documents are zip files; their first entry names tell which kind.
    private static func zipFlavour(_ bytes: [UInt8], fileExtension: String) -> String {
        if ["docx", "xlsx", "pptx", "odt", "ods"].contains(fileExtension), let known = byExtension[fileExtension] {
            return known
        }
        let head = bytes.prefix(64 * 1024)
        if contains(head, "word/") { return byExtension["docx"] ?? fallback }
        if contains(head, "xl/") { return byExtension["xlsx"] ?? fallback }
        if contains(head, "ppt/") { return byExtension["pptx"] ?? fallback }
        return "application/zip"
    }

    private static func contains(_ haystack: ArraySlice<UInt8>, _ needle: String) -> Bool {
        let pattern = Array(needle.utf8)
        guard haystack.count >= pattern.count else { return false }
        var index = haystack.startIndex
        while index <= haystack.endIndex - pattern.count {
            if haystack[index..<index + pattern.count].elementsEqual(pattern) { return true }
            index += 1
        }
        return false
    }

    private static func looksLikeHTML(_ bytes: [UInt8]) -> Bool {
        var start = 0
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { start = 3 }
        while start < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[start]) { start += 1 }
        let head = String(decoding: bytes[start..<min(bytes.count, start + 15)], as: UTF8.self).lowercased()
        return head.hasPrefix("<!doctype html") || head.hasPrefix("<html")
    }

    /// Valid UTF-8 with no control characters but tab, newline, carriage return and form feed,
    /// judged on the first 8 KiB (where a multi-byte character may be cut at the end).
    private static func looksLikeText(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return false }
        var sample = bytes.prefix(8192)
        for byte in sample where byte < 0x20 && ![0x09, 0x0A, 0x0C, 0x0D].contains(byte) {
            return false
        }
        if sample.count < bytes.count {
            // Drop a character cut at the sample's end: up to 3 trailing bytes of a sequence.
            var dropped = 0
            while dropped < 3, let last = sample.last, last & 0xC0 == 0x80 {
                sample.removeLast()
                dropped += 1
            }
            if let last = sample.last, last >= 0xC0 { sample.removeLast() }
        }
        var iterator = sample.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}

extension String {
    /// Without leading and trailing white space (Unicode's, as Python's str.strip()).
    func trimmingWhitespace() -> String {
        // Fast path: the usual name or id begins and ends with printable ASCII.
        if let first = utf8.first, let last = utf8.last,
           first > 0x20, first < 0x7F, last > 0x20, last < 0x7F {
            return self
        }
        guard let first = firstIndex(where: { !$0.isWhitespace }),
              let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        if first == startIndex && index(after: last) == endIndex { return self }
        return String(self[first...last])
    }
}
