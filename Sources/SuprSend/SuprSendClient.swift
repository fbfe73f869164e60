internal import SuprSendCore
import Synchronization

/// A SuprSend client for server-side Swift: `track` and `track(bulk:)` with async/await,
/// `enqueue` for background delivery (from memory or a durable outbox), `flush` and
/// `shutdown`. Made once and shared; safe to use from any task or thread.
///
/// It sits on SuprSendCore directly, as the C library does: the same rules, wire format,
/// retries and background worker. `track` and bulks run on the core's asynchronous calls
/// (libcurl's multi interface on a thread of the core's own), so no task blocks a thread of
/// the cooperative pool; `flush` and `shutdown` wait on a thread of their own.
///
/// Call `shutdown(timeout:)` (or run a `SuprSendService`) before the client goes away, so that
/// what was enqueued gets delivered.
public final class SuprSendClient: Sendable {
    public let configuration: Configuration
    let core: SuprSendCore.Client
    let metrics: ClientMetrics

    public init(workspaceKey: String, workspaceSecret: String,
                configuration: Configuration = Configuration()) throws(SuprSendError) {
        let metrics = ClientMetrics(label: configuration.metricsLabel ?? workspaceKey,
                                    factory: configuration.metricsFactory)
        // The worker reports fates before the client exists to read its counts from: a weak
        // reference, filled in below (a strong one would keep the client alive forever).
        let reference = WeakCoreClient()
        let userCallback = configuration.onDelivery
        let coreConfiguration = try configuration.core(
            workspaceKey: workspaceKey, workspaceSecret: workspaceSecret,
            onDelivery: { report in
                metrics.record(report) { reference.client?.deliveryStats }
                userCallback?(Delivery(report))
            })
        let core: SuprSendCore.Client
        do throws(SuprSendCore.SuprSendError) {
            core = try SuprSendCore.Client(configuration: coreConfiguration)
        } catch {
            throw SuprSendError(core: error)
        }
        reference.client = core
        self.configuration = configuration
        self.core = core
        self.metrics = metrics
    }

    /// Sends one event and returns the hub's answer. Throws `.validation`, `.argument`,
    /// `.tooLarge` or `.attachment` for an event that breaks a rule (nothing is sent), `.http`
    /// when the hub refused it (with `httpStatus`), `.network` when no answer came after the
    /// retries (within `callTimeout`), `.closed` after `shutdown`.
    ///
    /// Cancelling the task does not cut the request short: it ends within `callTimeout`.
    public func track(_ event: Event) async throws(SuprSendError) -> TrackResponse {
        let coreEvent = try event.coreEvent()
        let core = self.core
        // Resumed exactly once: trackAsync either throws (and never calls its closure) or calls
        // it once. An unsafe continuation: a checked one costs an allocation and atomics per call.
        let result: Result<TrackResponse, SuprSendError> = await withUnsafeContinuation { continuation in
            do throws(SuprSendCore.SuprSendError) {
                try core.trackAsync(coreEvent) { outcome in
                    switch outcome {
                    case .success(let result) where result.accepted:
                        continuation.resume(returning: .success(
                            TrackResponse(statusCode: result.statusCode, messageID: result.message)))
                    case .success(let result):
                        continuation.resume(returning: .failure(SuprSendError(
                            result.status, httpStatus: result.statusCode == 0 ? nil : result.statusCode,
                            message: result.message)))
                    case .failure(let error):
                        continuation.resume(returning: .failure(SuprSendError(core: error)))
                    }
                }
            } catch {
                continuation.resume(returning: .failure(SuprSendError(core: error)))
            }
        }
        return try result.get()
    }

    /// Sends the events as bulks of at most 100 events and 800 KiB, one request after another,
    /// and returns every event's outcome: an event that breaks a rule, is refused or is not
    /// sent is a failed record (the response's `status` is then `.partial` or `.fail`), not an
    /// error. Throws only when nothing could be sent: `.closed` after `shutdown`, `.argument`
    /// for an event this module could not write (a non-finite number, a bad attachment URL).
    public func track(bulk events: [Event]) async throws(SuprSendError) -> BulkResponse {
        let batch = BulkBatch(client: core)
        for event in events {
            do throws(SuprSendCore.SuprSendError) {
                try batch.append(try Self.unwrapped { () throws(SuprSendError) in try event.coreEvent() })
            } catch {
                throw SuprSendError(core: error)
            }
        }
        let result: Result<BulkResponse, SuprSendError> = await withCheckedContinuation { continuation in
            do throws(SuprSendCore.SuprSendError) {
                try batch.triggerAsync { _, result in
                    continuation.resume(returning: .success(BulkResponse(result)))
                }
            } catch {
                continuation.resume(returning: .failure(SuprSendError(core: error)))
            }
        }
        return try result.get()
    }

    /// Checks and serializes the event now and queues it for the background worker; never
    /// waits on the network. Its fate goes to `Configuration.onDelivery`. Throws for a bad
    /// event, `.queueFull`, `.storage` (the outbox failed), `.closed` after `shutdown`.
    public func enqueue(_ event: Event) throws(SuprSendError) {
        let coreEvent = try event.coreEvent()
        do throws(SuprSendCore.SuprSendError) {
            try core.enqueue(coreEvent)
        } catch {
            throw SuprSendError(core: error)
        }
        metrics.enqueued { core.deliveryStats }
    }

    /// Waits until every event enqueued before the call has its fate (its `onDelivery` call
    /// returned). Throws `.timeout` when the deadline passes first (they go on being
    /// delivered), `.storage` for a failing outbox, `.closed` after `shutdown`.
    public func flush(timeout: Duration) async throws(SuprSendError) {
        let milliseconds = try Self.deadline(timeout, "flush")
        let core = self.core
        try await onDedicatedThread { () throws(SuprSendError) in
            do throws(SuprSendCore.SuprSendError) {
                try core.flush(timeoutMilliseconds: milliseconds)
            } catch {
                throw SuprSendError(core: error)
            }
        }
        metrics.refresh(from: core.deliveryStats)
    }

    /// Stops accepting events and calls, delivers what was enqueued before the deadline and
    /// stops the worker. Every later call throws `.closed` (a second `shutdown` too). Throws
    /// `.timeout` when events were left without a fate (reported as dropped, or kept in the
    /// outbox for the next client).
    public func shutdown(timeout: Duration) async throws(SuprSendError) {
        let milliseconds = try Self.deadline(timeout, "shutdown")
        let core = self.core
        defer { metrics.refresh(from: core.deliveryStats) }
        try await onDedicatedThread { () throws(SuprSendError) in
            do throws(SuprSendCore.SuprSendError) {
                try core.close(timeoutMilliseconds: milliseconds)
            } catch {
                throw SuprSendError(core: error)
            }
        }
    }

    /// Whether `shutdown` has begun.
    public var isShutDown: Bool { core.isClosed }

    private static func deadline(_ timeout: Duration, _ call: String) throws(SuprSendError) -> Int {
        do throws(SuprSendCore.SuprSendError) {
            return try Configuration.milliseconds(timeout, "\(call) timeout")
        } catch {
            throw SuprSendError(core: error)
        }
    }

    /// Turns this module's error into the core's, for a call that throws the core's.
    private static func unwrapped<Value>(
        _ body: () throws(SuprSendError) -> Value
    ) throws(SuprSendCore.SuprSendError) -> Value {
        do {
            return try body()
        } catch {
            throw SuprSendCore.SuprSendError(error.code.coreStatus, error.message)
        }
    }
}

/// The core client the delivery callback reads counts from, once it exists.
private final class WeakCoreClient: Sendable {
    private struct Box: ~Copyable {
        weak var client: SuprSendCore.Client?
    }
    private let box = Mutex(Box())

    var client: SuprSendCore.Client? {
        get { box.withLock { $0.client } }
        set { box.withLock { $0.client = newValue } }
    }
}

extension SuprSendError.Code {
    var coreStatus: SuprSendCore.Status {
        switch self {
        case .argument: .argument
        case .validation: .validation
        case .tooLarge: .tooLarge
        case .attachment: .attachment
        case .network: .network
        case .http: .http
        case .timeout: .timeout
        case .queueFull: .queueFull
        case .storage: .storage
        case .closed: .closed
        default: .internal
        }
    }
}
