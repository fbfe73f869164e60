import Glibc

/// A plain pthread mutex. The library runs inside C hosts that never drain a Swift
/// concurrency executor, so it synchronises with the primitive every host understands.
/// Critical sections must be short: fork() waits for them. One may hold another Lock (only
/// the outermost takes fork()'s guard), never its own.
final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` holding the lock. fork() waits for it to finish (see `ForkGeneration`).
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try ForkGeneration.withoutFork {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            return try body()
        }
    }
}
