import Glibc
import Testing

@testable import SuprSendCore

// Shared helpers for the core's tests. Names are prefixed or specific so that they do not
// clash with file-private helpers of other test files.

func utf8Bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

func utf8String(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// True when `haystack` contains `needle` as a contiguous byte run.
func bytesContain(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty else { return true }
    guard haystack.count >= needle.count else { return false }
    for start in 0...(haystack.count - needle.count)
    where haystack[start] == needle[0] && haystack[start..<(start + needle.count)].elementsEqual(needle) {
        return true
    }
    return false
}

/// A minimal, strict standard base64 decoder (with '=' padding), independent of the core.
func testDecodeBase64(_ input: [UInt8]) -> [UInt8]? {
    func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return c - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return c - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }
    guard input.count % 4 == 0 else { return nil }
    var out: [UInt8] = []
    var index = 0
    while index < input.count {
        let quad = Array(input[index..<(index + 4)])
        let isLast = index + 4 == input.count
        let padding = quad.reversed().prefix(while: { $0 == UInt8(ascii: "=") }).count
        guard padding <= 2, padding == 0 || isLast else { return nil }
        var values: [UInt8] = []
        for c in quad.prefix(4 - padding) {
            guard let v = value(c) else { return nil }
            values.append(v)
        }
        while values.count < 4 { values.append(0) }
        let n = (UInt32(values[0]) << 18) | (UInt32(values[1]) << 12) | (UInt32(values[2]) << 6) | UInt32(values[3])
        out.append(UInt8((n >> 16) & 0xFF))
        if padding < 2 { out.append(UInt8((n >> 8) & 0xFF)) }
        if padding < 1 { out.append(UInt8(n & 0xFF)) }
        index += 4
    }
    return out
}

/// A fresh directory under /tmp, removed (with its files) by `remove()`.
final class TempDirectory {
    let path: String
    private var files: [String] = []

    init() {
        var template = Array("/tmp/suprsend-tests-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Writes `contents` to `name` inside the directory and returns the full path.
    @discardableResult
    func write(_ name: String, _ contents: [UInt8]) -> String {
        let full = path + "/" + name
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create \(full)")
        var written = 0
        contents.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                precondition(n > 0, "write failed")
                written += n
            }
        }
        close(fd)
        files.append(full)
        return full
    }

    /// A sparse file of exactly `size` bytes.
    @discardableResult
    func sparse(_ name: String, size: Int) -> String {
        let full = path + "/" + name
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create \(full)")
        precondition(ftruncate(fd, off_t(size)) == 0)
        close(fd)
        files.append(full)
        return full
    }

    func remove() {
        for file in files { unlink(file) }
        rmdir(path)
    }
}

/// A transport that answers from a script and records every request.
final class ScriptedTransport: HTTPTransport, @unchecked Sendable {
    private let lock = Lock()
    private var script: [Result<HTTPAnswer, TransportFailure>]
    private var recorded: [HTTPRequest] = []

    init(_ script: [Result<HTTPAnswer, TransportFailure>]) {
        self.script = script
    }

    var requests: [HTTPRequest] { lock.withLock { recorded } }

    func post(_ request: HTTPRequest) -> Result<HTTPAnswer, TransportFailure> {
        lock.withLock {
            recorded.append(request)
            if script.isEmpty { return .failure(TransportFailure(.permanent, "script exhausted")) }
            return script.removeFirst()
        }
    }

    static func answer(_ status: Int, _ body: String = "", retryAfter: String? = nil) -> Result<HTTPAnswer, TransportFailure> {
        .success(HTTPAnswer(status: status, body: utf8Bytes(body), retryAfter: retryAfter))
    }
}

/// Records the waits the delivery machinery asks for instead of sleeping.
final class SleepRecorder: @unchecked Sendable {
    private let lock = Lock()
    private var waits: [Double] = []
    var recorded: [Double] { lock.withLock { waits } }
    var closure: @Sendable (Double) -> Void {
        { [self] seconds in lock.withLock { waits.append(seconds) } }
    }
}

/// The value of header `name` ("Name: value" lines), if present.
func headerValue(_ request: HTTPRequest, _ name: String) -> String? {
    let prefix = name.lowercased() + ":"
    for line in request.headers where line.lowercased().hasPrefix(prefix) {
        return String(line.dropFirst(prefix.count)).trimmingWhitespace()
    }
    return nil
}

/// Reads a whole file with Glibc; nil when it cannot be opened.
func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return out
}

/// The keys of a JSON object, in document order.
func jsonKeys(_ value: JSONValue?) -> [String] {
    value?.objectValue?.map { $0.key } ?? []
}

/// `Attachment` alone is ambiguous with Testing.Attachment.
typealias CoreAttachment = SuprSendCore.Attachment
