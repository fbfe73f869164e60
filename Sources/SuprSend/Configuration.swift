public import Logging
public import CoreMetrics
internal import SuprSendCore

extension SuprSendClient {
    /// Everything a client is made from: each of the C API's options (`suprsend_options_set_*`)
    /// with the same default, plus a swift-log logger, a delivery callback and the metrics
    /// label. Values are checked when the client is made (`SuprSendClient.init` throws
    /// `.argument`, naming the option).
    public struct Configuration: Sendable {
        /// The hub, e.g. `https://hub.suprsend.com/` (the default), or a proxy's path in front of it.
        public var baseURL: String
        /// One HTTP request, from connecting to the last byte of the answer (timeout_ms).
        public var timeout: Duration = .seconds(30)
        public var connectTimeout: Duration = .seconds(10)
        /// One whole `track` or bulk: every try, retry and wait (call_timeout_ms).
        public var callTimeout: Duration = .seconds(120)
        /// http, https, socks4, socks4a, socks5 or socks5h; nil: none (libcurl's environment
        /// variables still apply).
        public var proxy: String?
        /// PEM certificates to trust instead of the system's.
        public var caFile: String?
        /// Retries of a request that got no answer or a retryable one (0...20).
        public var maxRetries = 3
        /// The largest serialized event (1024 up to the hub's limit).
        public var maxEventBytes = 100 * 1024
        /// Gives each event without a key one derived from its `$insert_id`, so a retry can never
        /// become two notifications.
        public var autoIdempotency = true

        // Background delivery (`enqueue`).

        /// A durable SQLite outbox: enqueued events survive crashes and restarts and are
        /// delivered by the next client with the same path. nil: an in-memory queue.
        public var outboxPath: String?
        /// The most events the in-memory queue holds; `enqueue` throws `.queueFull` beyond it.
        public var queueCapacity = 100_000
        public var outboxMaxBytes: Int64 = 1 << 30
        /// Every outbox commit reaches the disk before `enqueue` returns (an fsync each).
        public var outboxPowerSafe = false
        /// How long an `enqueue` waits for another process's lock on the outbox.
        public var outboxBusyTimeout: Duration = .milliseconds(200)
        /// The most connections to the hub, for `track`, bulks and the background worker.
        public var maxConnections = 32
        /// How long an enqueued event may wait to fill a batch.
        public var flushInterval: Duration = .seconds(1)
        /// An enqueued event older than this is dropped (reported with `.timeout`).
        public var maxEventAge: Duration = .seconds(82_800)
        /// The deadline `SuprSendService` gives the final flush and shutdown.
        public var shutdownTimeout: Duration = .seconds(2)

        /// Receives the library's log lines (requests at debug level, retries as warnings,
        /// failures as errors); nil: none.
        public var logger: Logging.Logger?
        /// Called with each enqueued event's fate, on the delivery thread.
        public var onDelivery: (@Sendable (Delivery) -> Void)?
        /// The `client` dimension of this client's metrics; nil: the workspace key.
        public var metricsLabel: String?
        /// Where metrics go; nil: `MetricsSystem.factory` (what `MetricsSystem.bootstrap` set).
        public var metricsFactory: (any MetricsFactory)?

        public init(baseURL: String = "https://hub.suprsend.com/") {
            self.baseURL = baseURL
        }

        /// The core's configuration: each option through its checking setter.
        func core(workspaceKey: String, workspaceSecret: String,
                  onDelivery: DeliveryWorker.Report?) throws(SuprSendError) -> SuprSendCore.Configuration {
            do throws(SuprSendCore.SuprSendError) {
                var core = try SuprSendCore.Configuration(workspaceKey: workspaceKey, workspaceSecret: workspaceSecret)
                try core.setBaseURL(baseURL)
                try core.setTimeout(milliseconds: try Self.milliseconds(timeout, "timeout"))
                try core.setConnectTimeout(milliseconds: try Self.milliseconds(connectTimeout, "connectTimeout"))
                try core.setCallTimeout(milliseconds: try Self.milliseconds(callTimeout, "callTimeout"))
                try core.setProxy(proxy)
                try core.setCAFile(caFile)
                try core.setMaxRetries(maxRetries)
                try core.setMaxEventBytes(maxEventBytes)
                core.autoIdempotency = autoIdempotency
                try core.setOutboxPath(outboxPath)
                try core.setQueueCapacity(queueCapacity)
                try core.setOutboxMaxBytes(outboxMaxBytes)
                core.outboxPowerSafe = outboxPowerSafe
                try core.setOutboxBusyTimeout(milliseconds: try Self.milliseconds(outboxBusyTimeout, "outboxBusyTimeout"))
                try core.setMaxConnections(maxConnections)
                try core.setFlushInterval(milliseconds: try Self.milliseconds(flushInterval, "flushInterval"))
                try core.setMaxEventAge(seconds: try Self.milliseconds(maxEventAge, "maxEventAge") / 1000)
                try core.setShutdownTimeout(milliseconds: try Self.milliseconds(shutdownTimeout, "shutdownTimeout"))
                if let logger { core.logger = Self.bridge(logger) }
                core.onDelivery = onDelivery
                return core
            } catch {
                throw SuprSendError(core: error)
            }
        }

        static func milliseconds(_ duration: Duration, _ option: String) throws(SuprSendCore.SuprSendError) -> Int {
            let (seconds, attoseconds) = duration.components
            guard seconds >= 0, attoseconds >= 0, seconds < Int64(Int32.max) else {
                throw SuprSendCore.SuprSendError(.argument, "\(option): \(duration) is out of range")
            }
            return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
        }

        /// The core's log lines into a swift-log logger, at the levels it has enabled.
        static func bridge(_ logger: Logging.Logger) -> SuprSendCore.Logger {
            let minimum: LogLevel
            switch logger.logLevel {
            case .trace, .debug: minimum = .debug
            case .info, .notice: minimum = .info
            case .warning: minimum = .warning
            case .error, .critical: minimum = .error
            }
            return SuprSendCore.Logger(minimumLevel: minimum.rawValue) { level, message in
                switch level {
                case .debug: logger.debug("\(message)")
                case .info: logger.info("\(message)")
                case .warning: logger.warning("\(message)")
                case .error: logger.error("\(message)")
                }
            }
        }
    }
}
