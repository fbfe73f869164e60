import CCurl
import Glibc
import Testing

@testable import SuprSendCore

/// A TCP server on 127.0.0.1 that answers each connection it accepts with the next of a list
/// of raw byte strings (whatever HTTP they hold, whole or not), then closes it. It reads the
/// whole request first (headers and Content-Length body), and counts the requests it read.
final class RawLoopbackServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let answers: [[UInt8]]
    private var thread: WorkerThread?
    private let lock = Lock()
    private var served = 0

    init(answers: [String]) throws {
        self.answers = answers.map { Array($0.utf8) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(fd, 8) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let started = WorkerThread.start(name: "raw server") { [self] in serve() }
        thread = try started.get()
    }

    var requestsRead: Int { lock.withLock { served } }

    /// Stops accepting and waits for the thread.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        thread?.join()
        close(listener)
    }

    private func serve() {
        for answer in answers {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            if readRequest(connection) { lock.withLock { served += 1 } }
            answer.withUnsafeBytes { raw in
                var sent = 0
                while sent < raw.count {
                    let n = send(connection, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                    if n <= 0 { break }
                    sent += n
                }
            }
            close(connection)
        }
    }

    /// Reads headers up to the empty line, then Content-Length bytes of body.
    private func readRequest(_ connection: Int32) -> Bool {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var needed: Int?
        while needed.map({ received.count < $0 }) ?? true {
            let n = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return false }
            received.append(contentsOf: chunk[0..<n])
            if needed == nil, let end = Self.find(Array("\r\n\r\n".utf8), in: received) {
                let head = String(decoding: received[0..<end], as: UTF8.self).lowercased()
                var length = 0
                for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                    length = Int(String(line.dropFirst("content-length:".count)).trimmingWhitespace()) ?? 0
                }
                needed = end + 4 + length
            }
        }
        return true
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}

private func post(to server: RawLoopbackServer) throws -> Result<HTTPAnswer, TransportFailure> {
    var settings = CurlTransport.Settings()
    settings.timeoutMilliseconds = 5000
    let transport = try CurlTransport(settings: settings)
    return transport.post(HTTPRequest(url: "http://127.0.0.1:\(server.port)/v2/event/",
                                      headers: ["Content-Type: application/json"], body: Array(#"{"a":1}"#.utf8)))
}

@Suite("libcurl transport: answers that did not arrive whole")
struct CurlTransportAnswerTests {
    @Test func headersCutOffAreNoAnswer() throws {
        let server = try RawLoopbackServer(answers: ["HTTP/1.1 202 Accepted\r\nContent-Len"])
        defer { server.stop() }
        let result = try post(to: server)
        guard case .failure(let failure) = result else {
            Issue.record("a cut-off answer was taken as an answer: \(result)")
            return
        }
        #expect(failure.message.contains("cut off"))
        #expect(failure.kind == .transient)
        #expect(failure.mayHaveBeenProcessed)
        #expect(server.requestsRead == 1)
    }

    @Test func headersWithoutTheirEmptyLineAreNoAnswer() throws {
        let server = try RawLoopbackServer(answers: ["HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\n"])
        defer { server.stop() }
        let result = try post(to: server)
        guard case .failure(let failure) = result else {
            Issue.record("a cut-off answer was taken as an answer: \(result)")
            return
        }
        #expect(failure.message.contains("cut off"))
        #expect(failure.mayHaveBeenProcessed)
    }

    @Test func bodyShorterThanItsLengthIsNoAnswer() throws {
        let server = try RawLoopbackServer(answers: ["HTTP/1.1 202 Accepted\r\nContent-Length: 50\r\n\r\n{\"status\":"])
        defer { server.stop() }
        let result = try post(to: server)
        guard case .failure(let failure) = result else {
            Issue.record("a cut-off answer was taken as an answer: \(result)")
            return
        }
        #expect(failure.kind == .transient)
        #expect(failure.mayHaveBeenProcessed)
    }

    @Test func wholeAnswersAreAnswers() throws {
        let body = #"{"status":"success","message_id":"m-1"}"#
        let server = try RawLoopbackServer(answers: [
            "HTTP/1.1 202 Accepted\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)",
            // No length: the body ends with the connection (HTTP/1.0 style), which is whole.
            "HTTP/1.0 202 Accepted\r\nContent-Type: application/json\r\n\r\n\(body)",
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
        ])
        defer { server.stop() }
        for _ in 0..<3 {
            let result = try post(to: server)
            guard case .success(let answer) = result else {
                Issue.record("a whole answer was refused: \(result)")
                continue
            }
            #expect(answer.status == 202)
        }
    }

    @Test func headerTooLargeToReadIsSaidSo() throws {
        let big = String(repeating: "x", count: 1 << 20)
        let server = try RawLoopbackServer(answers: ["HTTP/1.1 202 Accepted\r\nX-Big: \(big)\r\nContent-Length: 0\r\n\r\n"])
        defer { server.stop() }
        let result = try post(to: server)
        guard case .failure(let failure) = result else {
            Issue.record("expected no answer: \(result)")
            return
        }
        #expect(failure.message.contains("header too large"), "\(failure.message)")
        #expect(failure.mayHaveBeenProcessed)
    }

    @Test func connectionRefusedWasNotProcessed() throws {
        // A port just released: nothing listens on it.
        let server = try RawLoopbackServer(answers: [])
        let port = server.port
        server.stop()
        var settings = CurlTransport.Settings()
        settings.timeoutMilliseconds = 5000
        let transport = try CurlTransport(settings: settings)
        let result = transport.post(HTTPRequest(url: "http://127.0.0.1:\(port)/v2/event/", headers: [], body: []))
        guard case .failure(let failure) = result else {
            Issue.record("expected no answer: \(result)")
            return
        }
        #expect(failure.kind == .transient)
        #expect(!failure.mayHaveBeenProcessed)
    }
}

@Suite("libcurl version")
struct LibcurlVersionTests {
    @Test func olderThanTheMinimumIsRefusedWithTheVersions() throws {
        let error = try #require(LibcurlVersion.problem(versionNumber: 0x07_50_00, versionText: "7.80.0"))
        #expect(error.status == .network)
        #expect(error.message == "libcurl 7.80.0 found; libsuprsend needs 7.85.0 or newer")
        #expect(LibcurlVersion.problem(versionNumber: 0x07_44_00, versionText: "7.68.0") != nil)
        #expect(LibcurlVersion.problem(versionNumber: 0x07_54_01, versionText: "7.84.1") != nil)
    }

    @Test func theMinimumAndNewerAreTaken() {
        #expect(LibcurlVersion.problem(versionNumber: 0x07_55_00, versionText: "7.85.0") == nil)
        #expect(LibcurlVersion.problem(versionNumber: 0x08_0B_00, versionText: "8.11.0") == nil)
        #expect(LibcurlVersion.problem() == nil, "the libcurl this test loaded is too old")
    }
}
