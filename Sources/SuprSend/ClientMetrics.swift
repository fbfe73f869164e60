internal import CoreMetrics
internal import SuprSendCore
import Synchronization

/// A client's metrics (swift-metrics), each with the dimension `client`:
///   suprsend_events_enqueued_total    events `enqueue` accepted
///   suprsend_events_delivered_total   enqueued events the hub accepted
///   suprsend_events_refused_total     enqueued events the hub refused (never retried)
///   suprsend_events_dropped_total     enqueued events given up: too old, or left at shutdown
///   suprsend_events_retried_total     retries of enqueued events (one per event per extra request)
///   suprsend_events_queued            gauge: enqueued events without a fate yet (waiting or in a request)
///
/// The gauge is counted here (an enqueue adds one, a fate takes one away) and set from the
/// worker's own counts at most once a second and at each flush and shutdown, which also brings
/// in the retries. Reading those counts costs a `count(*)` on an outbox: once per enqueue would
/// make a long outbox quadratic.
final class ClientMetrics: Sendable {
    let enqueued: Counter
    let delivered: Counter
    let refused: Counter
    let dropped: Counter
    let retried: Counter
    let queued: Gauge
    private struct State {
        var queued = 0
        /// The worker's retry count when last read: the counter grows by the difference.
        var retries = 0
        /// When the worker's counts were last read (`SuprSendCore.Clock.coarseMonotonicMilliseconds`).
        var lastRefresh: Int64?

        /// Whether the worker's counts are due to be read again (at most once a second); if so,
        /// counts this as the read. Taken under the same lock as the queued count: one lock per
        /// event, not two.
        mutating func refreshDue(_ now: Int64) -> Bool {
            if let last = lastRefresh, now - last < ClientMetrics.refreshIntervalMilliseconds { return false }
            lastRefresh = now
            return true
        }
    }
    private let state = Mutex(State())
    static let refreshIntervalMilliseconds: Int64 = 1000

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

    /// One event accepted by `enqueue`.
    func enqueued(stats: () -> DeliveryStats?) {
        enqueued.increment()
        let now = SuprSendCore.Clock.coarseMonotonicMilliseconds()
        let (queuedNow, due) = state.withLock { state -> (Int, Bool) in
            state.queued += 1
            return (state.queued, state.refreshDue(now))
        }
        queued.record(queuedNow)
        if due, let current = stats() { refresh(from: current) }
    }

    /// One event's fate, from the delivery thread.
    func record(_ report: DeliveryReport, stats: () -> DeliveryStats?) {
        switch report.status {
        case .ok: delivered.increment()
        case .http, .validation, .tooLarge: refused.increment()
        default: dropped.increment()
        }
        let now = SuprSendCore.Clock.coarseMonotonicMilliseconds()
        let (queuedNow, due) = state.withLock { state -> (Int, Bool) in
            state.queued = max(0, state.queued - 1)
            return (state.queued, state.refreshDue(now))
        }
        queued.record(queuedNow)
        if due, let current = stats() { refresh(from: current) }
    }

    /// The gauge and the retry counter from the worker's own counts.
    func refresh(from stats: DeliveryStats) {
        let (queuedNow, grown) = state.withLock { state -> (Int, Int) in
            state.queued = stats.queued + stats.inFlight
            let grown = max(0, stats.retries - state.retries)
            state.retries = max(state.retries, stats.retries)
            return (state.queued, grown)
        }
        queued.record(queuedNow)
        if grown > 0 { retried.increment(by: grown) }
    }
}
