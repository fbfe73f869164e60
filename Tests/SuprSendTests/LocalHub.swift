import Foundation
import Glibc

/// The local hub (tools/hub/suprsend-hub) on loopback, started by the test that uses it, on a
/// free port, and stopped by `stop()`. One hub per test, so tests can run side by side.
final class LocalHub: Sendable {
    static let key = "ws_key_0123456789abcdef"
    static let secret = "ws_secret_0123456789"

    let port: Int
    private let pid: pid_t
    private let directory: String

    var baseURL: String { "http://127.0.0.1:\(port)/" }

    private init(pid: pid_t, port: Int, directory: String) {
        self.pid = pid
        self.port = port
        self.directory = directory
    }

    /// Starts a hub and waits (without holding a thread) until it listens.
    static func start() async throws -> LocalHub {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let directory = NSTemporaryDirectory() + "suprsend-swift-hub-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let portFile = directory + "/port"
        let arguments = ["python3", root + "/tools/hub/suprsend-hub", "--host", "127.0.0.1", "--port", "0",
                         "--port-file", portFile, "--workspace", "\(Self.key):\(Self.secret)", "--quiet"]
        var child = pid_t()
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let spawned = posix_spawnp(&child, "python3", nil, nil, argv, environ)
        guard spawned == 0 else { throw HubError("posix_spawnp python3: \(spawned)") }
        // The hub writes the port file (by a rename) once it listens.
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8),
               let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                return LocalHub(pid: child, port: port, directory: directory)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        kill(child, SIGKILL)
        var status: Int32 = 0
        waitpid(child, &status, 0)
        throw HubError("the hub wrote no port file within 10 s")
    }

    /// SIGKILL: the hub holds nothing a test needs after it (and SIGTERM waits for the
    /// clients' keep-alive connections).
    func stop() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A request to the control API (`_hub/...`); the answer's JSON. A plain HTTP/1.1 request
    /// over a loopback socket (URLSession's shared session keeps libcurl handles until exit,
    /// which LeakSanitizer reports under `make sanitize`).
    @discardableResult
    func call(_ method: String, _ path: String, _ body: Any? = nil) async throws -> Any {
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        var request = Data("\(method) /\(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n".utf8)
        request.append(Data("Content-Type: application/json\r\nContent-Length: \(payload.count)\r\n\r\n".utf8))
        request.append(payload)
        let answer = try exchange(request)
        guard let split = answer.range(of: Data("\r\n\r\n".utf8)) else { throw HubError("no HTTP answer to \(path)") }
        return try JSONSerialization.jsonObject(with: answer[split.upperBound...], options: [.fragmentsAllowed])
    }

    /// Sends the request and reads the answer until the hub closes the connection.
    private func exchange(_ request: Data) throws -> Data {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HubError("socket: \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw HubError("connect: \(errno)") }
        try request.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let written = send(descriptor, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                guard written > 0 else { throw HubError("send: \(errno)") }
                sent += written
            }
        }
        var answer = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let received = recv(descriptor, &buffer, buffer.count, 0)
            guard received >= 0 else { throw HubError("recv: \(errno)") }
            if received == 0 { break }
            answer.append(contentsOf: buffer[0..<received])
        }
        return answer
    }

    func events() async throws -> [[String: Any]] {
        try await call("GET", "_hub/events") as? [[String: Any]] ?? []
    }

    func stats() async throws -> [String: Any] {
        try await call("GET", "_hub/stats") as? [String: Any] ?? [:]
    }

    func faults(_ configuration: [String: Any]) async throws {
        try await call("POST", "_hub/faults", configuration)
    }
}

struct HubError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Starts a hub, runs the body with it, stops it whatever happens.
func withLocalHub<Result>(_ body: (LocalHub) async throws -> Result) async throws -> Result {
    let hub = try await LocalHub.start()
    do {
        let result = try await body(hub)
        hub.stop()
        return result
    } catch {
        hub.stop()
        throw error
    }
}
