import Glibc

/// A mutex with a condition variable on the monotonic clock, for waits that may be long
/// (flush, close, the worker's bookkeeping).
///
/// Unlike `Lock`, fork() does not wait for it: a thread may sit in `wait` for seconds, and
/// fork() must not stall that long. Only state that a forked child throws away without
/// touching may use it (the background delivery of one process; see `BackgroundDelivery`):
/// a child can inherit it locked, and never looks at it.
final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits, with the lock held by the caller (inside `withLock`), until `broadcast` or the
    /// monotonic `deadline` (seconds, as `Clock.monotonicSeconds`); nil waits without one.
    /// May return early: callers re-check what they wait for.
    func wait(until deadline: Double?) {
        guard let deadline else {
            pthread_cond_wait(condition, mutex)
            return
        }
        let seconds = deadline.rounded(.down)
        var spec = timespec(tv_sec: Int(max(seconds, 0)), tv_nsec: Int(max(deadline - seconds, 0) * 1e9))
        if spec.tv_nsec >= 1_000_000_000 { spec.tv_nsec = 999_999_999 }
        _ = pthread_cond_timedwait(condition, mutex, &spec)
    }

    /// Wakes every waiter. Call with the lock held, after changing what they wait for.
    func broadcast() {
        pthread_cond_broadcast(condition)
    }
}
