import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
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

    /// A request to the control API (`_hub/...`); the answer's JSON.
    @discardableResult
    func call(_ method: String, _ path: String, _ body: Any? = nil) async throws -> Any {
        var request = URLRequest(url: URL(string: baseURL + path)!)
        request.httpMethod = method
        if let body {
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, _) = try await URLSession.shared.data(for: request)
        return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
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
