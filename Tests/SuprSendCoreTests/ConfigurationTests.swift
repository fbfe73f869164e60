import Glibc
import Testing

@testable import SuprSendCore

private func configuration() throws -> Configuration {
    try Configuration(workspaceKey: "ws_key", workspaceSecret: "ws_secret")
}

/// The error `body` throws; nil when it does not throw. A non-SuprSendError is recorded as an issue.
private func argumentError(_ body: () throws -> Void) -> SuprSendError? {
    do {
        try body()
        return nil
    } catch let error as SuprSendError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

@Suite("Configuration")
struct ConfigurationTests {
    @Test func defaults() throws {
        let c = try configuration()
        #expect(c.baseURL == "https://hub.suprsend.com/")
        #expect(c.maxRetries == 3)
        #expect(c.maxEventBytes == 102_400)
        #expect(c.autoIdempotency)
        #expect(c.timeoutMilliseconds >= 1 && c.timeoutMilliseconds <= 3_600_000)
    }

    @Test func timeouts() throws {
        var c = try configuration()
        for bad in [0, -1, 3_600_001, Int.max, Int.min] {
            #expect(argumentError { try c.setTimeout(milliseconds: bad) }?.status == .argument, "\(bad)")
            #expect(argumentError { try c.setConnectTimeout(milliseconds: bad) }?.status == .argument, "\(bad)")
        }
        #expect(argumentError { try c.setTimeout(milliseconds: 0) }?.message.contains("timeout_ms") == true)
        #expect(argumentError { try c.setConnectTimeout(milliseconds: 0) }?.message.contains("connect_timeout_ms") == true)
        for good in [1, 3_600_000, 5000] {
            try c.setTimeout(milliseconds: good)
            #expect(c.timeoutMilliseconds == good)
            try c.setConnectTimeout(milliseconds: good)
            #expect(c.connectTimeoutMilliseconds == good)
        }
        // A rejected value leaves the previous one.
        _ = argumentError { try c.setTimeout(milliseconds: 0) }
        #expect(c.timeoutMilliseconds == 5000)
    }

    @Test func maxRetries() throws {
        var c = try configuration()
        for bad in [-1, 21, 1000] {
            let error = argumentError { try c.setMaxRetries(bad) }
            #expect(error?.status == .argument, "\(bad)")
            #expect(error?.message.contains("max_retries") == true)
        }
        for good in [0, 20, 5] {
            try c.setMaxRetries(good)
            #expect(c.maxRetries == good)
        }
    }

    @Test func maxEventBytes() throws {
        var c = try configuration()
        for bad in [1023, 819_201, 0, -1] {
            let error = argumentError { try c.setMaxEventBytes(bad) }
            #expect(error?.status == .argument, "\(bad)")
            #expect(error?.message.contains("max_event_bytes") == true)
        }
        for good in [1024, 819_200, 200_000] {
            try c.setMaxEventBytes(good)
            #expect(c.maxEventBytes == good)
        }
    }

    @Test func maxEventBytesReachesTheRules() throws {
        var c = try configuration()
        try c.setMaxEventBytes(1024)
        let client = Client(configuration: c, transport: ScriptedTransport([]), sleep: { _ in })
        #expect(client.preparer.rules.maxEventBytes == 1024)
        var e = Event(distinctId: "u", name: "ev")
        try e.setProperties(json: utf8Bytes("{\"p\":\"" + String(repeating: "x", count: 1100) + "\"}"))
        #expect(throws: SuprSendError.self) { try client.track(e) }
    }

    @Test(arguments: [
        ("http://127.0.0.1:8080/proxy", "http://127.0.0.1:8080/proxy/"),
        ("http://127.0.0.1:8080/proxy/", "http://127.0.0.1:8080/proxy/"),
        ("https://hub.suprsend.com", "https://hub.suprsend.com/"),
        ("  https://hub.suprsend.com/  ", "https://hub.suprsend.com/"),
        ("HTTPS://Hub.Example.com", "HTTPS://Hub.Example.com/"),
        ("http://localhost:1", "http://localhost:1/"),
    ])
    func baseURLNormalization(_ given: String, _ expected: String) throws {
        #expect(try BaseURL.normalize(given) == expected)
        var c = try configuration()
        try c.setBaseURL(given)
        #expect(c.baseURL == expected)
    }

    @Test(arguments: [
        "", "   ", "ftp://example.com/", "hub.suprsend.com", "http://", "https:///path", "http:/x.com",
        "https://example.com/?a=1", "https://example.com/path?x", "https://example.com/#frag",
        "https://exa mple.com/", "https://example.com/a b", "file:///etc/passwd", "mailto:x@y",
    ])
    func badBaseURLs(_ given: String) throws {
        var c = try configuration()
        let error = argumentError { try c.setBaseURL(given) }
        #expect(error?.status == .argument, "'\(given)'")
        #expect(error?.message.contains("base_url") == true)
        #expect(c.baseURL == BaseURL.default)
    }

    /// Bug: the host check in BaseURL.normalize (RequestSender.swift, `let host = afterScheme.prefix(...)`,
    /// `guard !host.isEmpty`) takes everything up to the first '/' as the host, so a URL with only a
    /// port or only user info and no host name is accepted. Expected: `.argument` ("base_url: has no
    /// host"); actual: accepted and normalized to e.g. "http://:8080/".
    @Test(arguments: ["http://:8080/", "https://user@/", "http://user:pw@:1/x"])
    func baseURLWithoutAHostName(_ given: String) throws {
        var c = try configuration()
        #expect(argumentError { try c.setBaseURL(given) }?.status == .argument, "'\(given)'")
    }

    @Test func keyAndSecret() throws {
        for (key, secret) in [("", "s"), ("   ", "s"), ("k", ""), ("k", " \t ")] {
            do {
                _ = try Configuration(workspaceKey: key, workspaceSecret: secret)
                Issue.record("'\(key)'/'\(secret)' must be rejected")
            } catch {
                #expect(error.status == .argument)
                #expect(error.message.contains(key.trimmingWhitespace().isEmpty ? "workspace_key" : "workspace_secret"))
            }
        }
        for key in ["ws:key", ":", "k\u{01}ey", "key\n2"] {
            do {
                _ = try Configuration(workspaceKey: key, workspaceSecret: "s")
                Issue.record("key '\(key)' must be rejected")
            } catch {
                #expect(error.status == .argument)
                #expect(error.message.contains("workspace_key"))
            }
        }
        let c = try Configuration(workspaceKey: "  ws_key ", workspaceSecret: " sec ")
        #expect(c.workspaceKey == "ws_key")
        #expect(c.workspaceSecret == "sec")
    }

    @Test func proxyAndCAFile() throws {
        var c = try configuration()
        try c.setProxy("  http://proxy:3128 ")
        #expect(c.proxy == "http://proxy:3128")
        try c.setProxy("")
        #expect(c.proxy == nil)
        #expect(argumentError { try c.setProxy("http://p\n:1") }?.status == .argument)
        let directory = TempDirectory()
        defer { directory.remove() }
        let pem = directory.write("ca.pem", Array("-----BEGIN CERTIFICATE-----\n".utf8))
        try c.setCAFile(pem)
        #expect(c.caFile == pem)
        try c.setCAFile(nil)
        #expect(c.caFile == nil)
    }

    @Test(arguments: ["socks5h://p:1080", "SOCKS4A://p:1080", "socks4://p", "socks5://p", "https://p:443", "p:3128"])
    func proxySchemesLibcurlSpeaks(_ url: String) throws {
        var c = try configuration()
        try c.setProxy(url)
        #expect(c.proxy == url)
    }

    @Test(arguments: ["file:///etc/passwd", "ftp://p:21", "gopher://p", "ldap://p", "://p", "dict://p"])
    func otherProxySchemesAreRefused(_ url: String) throws {
        var c = try configuration()
        let error = argumentError { try c.setProxy(url) }
        #expect(error?.status == .argument)
        #expect(error?.message.contains("proxy") == true)
        #expect(c.proxy == nil)
    }

    @Test func caFileMustBeAReadableFile() throws {
        var c = try configuration()
        let directory = TempDirectory()
        defer { directory.remove() }
        for path in ["/nonexistent/ca.pem", directory.path, "/dev/null"] {
            let error = argumentError { try c.setCAFile(path) }
            #expect(error?.status == .argument, "\(path)")
            #expect(error?.message.contains("ca_file") == true)
            #expect(c.caFile == nil)
        }
        if getuid() != 0 {  // root reads any file
            let unreadable = directory.write("secret.pem", Array("x".utf8))
            chmod(unreadable, 0)
            #expect(argumentError { try c.setCAFile(unreadable) }?.status == .argument)
        }
    }

    @Test(arguments: [
        "http://h:0/", "http://h:65536/", "http://h:99999/", "http://h:-1/", "http://h:80a/", "http://h:/",
        "http://h:1234567/", "http://[::1]:0/", "http://[::1]x/", "http://[::1]:/", "http://h:+80/",
    ])
    func baseURLPortOutOfRange(_ given: String) throws {
        var c = try configuration()
        let error = argumentError { try c.setBaseURL(given) }
        #expect(error?.status == .argument, "'\(given)'")
        #expect(error?.message.contains("port") == true, "'\(given)'")
    }

    @Test func baseURLPortsAndPathsThatFit() throws {
        #expect(try BaseURL.normalize("http://h:1") == "http://h:1/")
        #expect(try BaseURL.normalize("http://h:65535/x") == "http://h:65535/x/")
        #expect(try BaseURL.normalize("http://[::1]:8080") == "http://[::1]:8080/")
        let longest = "/" + String(repeating: "p", count: BaseURL.maxPathBytes - 2) + "/"
        #expect(try BaseURL.normalize("http://h" + longest) == "http://h" + longest)
        var c = try configuration()
        let error = argumentError { try c.setBaseURL("http://h" + longest + "x") }
        #expect(error?.status == .argument)
        #expect(error?.message.contains("path") == true)
    }
}

@Suite("Base URL: what is signed is what is sent")
struct BaseURLSigningTests {
    @Test(arguments: [
        "http://127.0.0.1:8080/a/../proxy/", "http://127.0.0.1:8080/./x/", "http://h/a/..",
        "http://h/ü/", "http://h/a b/", "http://user:pw@h/", "https://token@hub.example.com/",
    ])
    func refused(_ url: String) {
        #expect(throws: SuprSendError.self, "\(url)") { _ = try BaseURL.normalize(url) }
    }

    @Test(arguments: [
        ("http://127.0.0.1:8080/proxy", "http://127.0.0.1:8080/proxy/"),
        ("http://h/%C3%BC/", "http://h/%C3%BC/"),
        ("http://[::1]:9000/a..b/", "http://[::1]:9000/a..b/"),
    ])
    func accepted(_ given: String, _ expected: String) throws {
        #expect(try BaseURL.normalize(given) == expected)
    }
}
