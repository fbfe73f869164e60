internal import CoreMetrics
internal import SuprSendCore
import Synchronization

/// A client's metrics (swift-metrics), each with the dimension `client`:
///   suprsend_events_enqueued_total    events `enqueue` accepted
///   suprsend_events_delivered_total   enqueued events the hub accepted
///   suprsend_events_refused_total     enqueued events the hub refused (never retried)
///   suprsend_events_dropped_total     enqueued events given up: too old, or left at shutdown
///   suprsend_events_retried_total     retries of enqueued events (one per event per extra request)
///   suprsend_events_queued            gauge: events waiting in the queue or outbox
final class ClientMetrics: Sendable {
    let enqueued: Counter
    let delivered: Counter
    let refused: Counter
    let dropped: Counter
    let retried: Counter
    let queued: Gauge
    /// The worker's retry count when last read: the counter grows by the difference.
    private let lastRetries = Mutex(0)

    init(label: String, factory: (any MetricsFactory)?) {
        let dimensions = [("client", label)]
        let factory = factory ?? MetricsSystem.factory
        enqueued = Counter(label: "suprsend_events_enqueued_total", dimensions: dimensions, factory: factory)
        delivered = Counter(label: "suprsend_events_delivered_total", dimensions: dimensions, factory: factory)
        refused = Counter(label: "suprsend_events_refused_total", dimensions: dimensions, factory: factory)
        dropped = Counter(label: "suprsend_events_dropped_total", dimensions: dimensions, factory: factory)
        retried = Counter(label: "suprsend_events_retried_total", dimensions: dimensions, factory: factory)
        queued = Gauge(label: "suprsend_events_queued", dimensions: dimensions, factory: factory)
    }

    /// One event's fate, from the delivery thread.
    func record(_ report: DeliveryReport) {
        switch report.status {
        case .ok: delivered.increment()
        case .http, .validation, .tooLarge: refused.increment()
        default: dropped.increment()
        }
    }

    /// The queue gauge and the retry counter from the worker's own counts.
    func update(from stats: DeliveryStats) {
        queued.record(stats.queued)
        let grown = lastRetries.withLock { last -> Int in
            let grown = max(0, stats.retries - last)
            last = max(last, stats.retries)
            return grown
        }
        if grown > 0 { retried.increment(by: grown) }
    }
}
