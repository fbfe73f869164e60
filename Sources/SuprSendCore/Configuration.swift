import Glibc

/// Everything a client is made from. The C options object holds one; each setter checks
/// its value, so that a bad option is reported where it is set, not when a client is made.
public struct Configuration: Sendable {
    public static let sdkName = "suprsend-c"
    public static let version = "0.1.0"
    public static let versionNumber: Int32 = 1000
    /// Sent as User-Agent and as properties.$ss_sdk_version.
    public static let userAgent = "\(sdkName)/\(version) (linux; swift)"
    public static let timeoutRange = 1...3_600_000

    public let workspaceKey: String
    public let workspaceSecret: String
    public private(set) var baseURL = BaseURL.default
    public private(set) var timeoutMilliseconds = Defaults.timeoutMilliseconds
    public private(set) var connectTimeoutMilliseconds = Defaults.connectTimeoutMilliseconds
    /// One whole track or bulk trigger: attempts, retries and waits.
    public private(set) var callTimeoutMilliseconds = RequestSender.defaultCallTimeoutMilliseconds
    public private(set) var proxy: String?
    public private(set) var caFile: String?
    public private(set) var maxRetries = RetryPolicy.defaultMaxRetries
    public private(set) var maxEventBytes = EventRules.defaultMaxEventBytes
    public var autoIdempotency = true
    public var logger = Logger.off

    // Background delivery.
    public private(set) var outboxPath: String?
    public private(set) var queueCapacity = MemoryQueue.defaultCapacity
    public private(set) var outboxMaxBytes = Defaults.outboxMaxBytes
    /// SQLite's synchronous=FULL: every commit reaches the disk before enqueue returns (power
    /// loss loses nothing), at the cost of an fsync per commit.
    public var outboxPowerSafe = false
    /// The most connections to the hub that asynchronous calls (and the background worker)
    /// open at once; more calls wait for one to free up.
    public private(set) var maxConnections = Defaults.maxConnections
    /// How long an enqueue waits for another process's lock on the outbox.
    public private(set) var outboxBusyTimeoutMilliseconds = Outbox.defaultBusyTimeoutMilliseconds
    public private(set) var flushIntervalMilliseconds = Defaults.flushIntervalMilliseconds
    public private(set) var maxEventAgeSeconds = Defaults.maxEventAgeSeconds
    public private(set) var shutdownTimeoutMilliseconds = Defaults.shutdownTimeoutMilliseconds
    /// Receives each enqueued event's fate, on the worker's thread.
    public var onDelivery: DeliveryWorker.Report?

    /// The options' defaults, written once: the C API's options, the background worker and
    /// the Swift library's configuration start from these (and from the defaults that live
    /// with their rule: `RetryPolicy.defaultMaxRetries`, `EventRules.defaultMaxEventBytes`,
    /// `MemoryQueue.defaultCapacity`, `Outbox.defaultBusyTimeoutMilliseconds`).
    public enum Defaults {
        public static let timeoutMilliseconds = 30_000
        public static let connectTimeoutMilliseconds = 10_000
        public static let outboxMaxBytes: Int64 = 1 << 30
        public static let maxConnections = 32
        public static let flushIntervalMilliseconds = 1000
        public static let maxEventAgeSeconds = 82_800
        public static let shutdownTimeoutMilliseconds = 2000
    }

    public init(workspaceKey: String, workspaceSecret: String) throws(SuprSendError) {
        let key = workspaceKey.trimmingWhitespace()
        let secret = workspaceSecret.trimmingWhitespace()
        guard !key.isEmpty else { throw .argument("workspace_key: must not be empty") }
        guard !secret.isEmpty else { throw .argument("workspace_secret: must not be empty") }
        guard !key.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: ":") }) else {
            throw .argument("workspace_key: must not contain ':' or control characters")
        }
        self.workspaceKey = key
        self.workspaceSecret = secret
    }

    public mutating func setBaseURL(_ url: String) throws(SuprSendError) {
        baseURL = try BaseURL.normalize(url)
    }

    public mutating func setTimeout(milliseconds: Int) throws(SuprSendError) {
        guard Self.timeoutRange.contains(milliseconds) else {
            throw .argument("timeout_ms: must be from 1 to 3600000 (got \(milliseconds))")
        }
        timeoutMilliseconds = milliseconds
    }

    public mutating func setConnectTimeout(milliseconds: Int) throws(SuprSendError) {
        guard Self.timeoutRange.contains(milliseconds) else {
            throw .argument("connect_timeout_ms: must be from 1 to 3600000 (got \(milliseconds))")
        }
        connectTimeoutMilliseconds = milliseconds
    }

    public mutating func setCallTimeout(milliseconds: Int) throws(SuprSendError) {
        guard Self.timeoutRange.contains(milliseconds) else {
            throw .argument("call_timeout_ms: must be from 1 to 3600000 (got \(milliseconds))")
        }
        callTimeoutMilliseconds = milliseconds
    }

    public mutating func setProxy(_ url: String?) throws(SuprSendError) {
        let trimmed = url?.trimmingWhitespace() ?? ""
        guard !trimmed.utf8.contains(where: { $0 < 0x20 }) else {
            throw .argument("proxy: must not contain control characters")
        }
        // libcurl takes other schemes too (file:// is refused only when it connects); a proxy
        // without a scheme is an HTTP proxy to libcurl.
        if let schemeEnd = trimmed.firstRange(of: "://") {
            let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
            guard Self.proxySchemes.contains(scheme) else {
                throw .argument("proxy: the scheme must be one of \(Self.proxySchemes.joined(separator: ", ")) "
                    + "('\(excerpt(trimmed))')")
            }
        }
        proxy = trimmed.isEmpty ? nil : trimmed
    }

    static let proxySchemes = ["http", "https", "socks4", "socks4a", "socks5", "socks5h"]

    /// The file must be readable now: libcurl would say so only at the first send, as a TLS
    /// failure. Whether it holds certificates is still found out then.
    public mutating func setCAFile(_ path: String?) throws(SuprSendError) {
        let value = path ?? ""
        guard !value.isEmpty else {
            caFile = nil
            return
        }
        let descriptor = open(value, O_RDONLY | O_CLOEXEC | O_NONBLOCK)  // a FIFO must not block
        guard descriptor >= 0 else {
            throw .argument("ca_file: cannot open '\(excerpt(value))': \(systemErrorMessage(errno))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw .argument("ca_file: '\(excerpt(value))' is not a regular file")
        }
        caFile = value
    }

    public mutating func setMaxRetries(_ count: Int) throws(SuprSendError) {
        guard (0...RetryPolicy.maxRetriesLimit).contains(count) else {
            throw .argument("max_retries: must be from 0 to \(RetryPolicy.maxRetriesLimit) (got \(count))")
        }
        maxRetries = count
    }

    public mutating func setMaxEventBytes(_ bytes: Int) throws(SuprSendError) {
        guard (1024...EventRules.maxEventBytesLimit).contains(bytes) else {
            throw .argument("max_event_bytes: must be from 1024 to \(EventRules.maxEventBytesLimit) (got \(bytes))")
        }
        maxEventBytes = bytes
    }

    public mutating func setOutboxPath(_ path: String?) throws(SuprSendError) {
        let value = path ?? ""
        guard !value.utf8.contains(where: { $0 < 0x20 }) else {
            throw .argument("outbox_path: must not contain control characters")
        }
        outboxPath = value.isEmpty ? nil : value
    }

    public mutating func setQueueCapacity(_ events: Int) throws(SuprSendError) {
        guard (1...MemoryQueue.capacityLimit).contains(events) else {
            throw .argument("queue_capacity: must be from 1 to \(MemoryQueue.capacityLimit) events (got \(events))")
        }
        queueCapacity = events
    }

    public mutating func setOutboxMaxBytes(_ bytes: Int64) throws(SuprSendError) {
        guard bytes >= 1 << 20 else {
            throw .argument("outbox_max_bytes: must be at least 1048576 (1 MiB) (got \(bytes))")
        }
        outboxMaxBytes = bytes
    }

    public mutating func setMaxConnections(_ connections: Int) throws(SuprSendError) {
        guard (1...1000).contains(connections) else {
            throw .argument("max_connections: must be from 1 to 1000 (got \(connections))")
        }
        maxConnections = connections
    }

    public mutating func setOutboxBusyTimeout(milliseconds: Int) throws(SuprSendError) {
        guard (0...60_000).contains(milliseconds) else {
            throw .argument("outbox_busy_timeout_ms: must be from 0 to 60000 (got \(milliseconds))")
        }
        outboxBusyTimeoutMilliseconds = milliseconds
    }

    public mutating func setFlushInterval(milliseconds: Int) throws(SuprSendError) {
        guard (0...3_600_000).contains(milliseconds) else {
            throw .argument("flush_interval_ms: must be from 0 to 3600000 (got \(milliseconds))")
        }
        flushIntervalMilliseconds = milliseconds
    }

    public mutating func setMaxEventAge(seconds: Int) throws(SuprSendError) {
        guard (1...82_800).contains(seconds) else {
            throw .argument("max_event_age_s: must be from 1 to 82800 (23 h, under the hub's 24 h idempotency window) "
                + "(got \(seconds))")
        }
        maxEventAgeSeconds = seconds
    }

    public mutating func setShutdownTimeout(milliseconds: Int) throws(SuprSendError) {
        guard (0...3_600_000).contains(milliseconds) else {
            throw .argument("shutdown_timeout_ms: must be from 0 to 3600000 (got \(milliseconds))")
        }
        shutdownTimeoutMilliseconds = milliseconds
    }

    /// The worker's rules from these options.
    var workerSettings: WorkerSettings {
        var settings = WorkerSettings()
        settings.flushIntervalMilliseconds = flushIntervalMilliseconds
        settings.maxEventAgeSeconds = maxEventAgeSeconds
        return settings
    }
}
