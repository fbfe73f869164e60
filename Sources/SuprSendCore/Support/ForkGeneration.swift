import Glibc
import Synchronization

/// What the library does about fork().
///
/// - A generation: 0 in the process that first used the library, one more in each child.
///   State tied to a process (the random pool, open connections) remembers the generation it
///   was made in and is dropped when it no longer matches. Cheaper than getpid(), a system
///   call, on every use.
/// - A guard around every critical section (`Lock.withLock`): fork() waits until no thread is
///   inside one, so a child never inherits a lock that a thread which does not exist in the
///   child was holding (it would wait for it forever).
enum ForkGeneration {
    private static let counter = Atomic<Int>(0)

    /// Read (shared) by critical sections, written (exclusive) across fork().
    nonisolated(unsafe) private static let guardLock: UnsafeMutablePointer<pthread_rwlock_t> = {
        let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
        return lock
    }()

    /// Registered before any state that needs it exists: reading `current` or entering a
    /// critical section registers it.
    private static let registered: Bool = {
        _ = guardLock
        return pthread_atfork(
            { pthread_rwlock_wrlock(ForkGeneration.guardLock) },
            { pthread_rwlock_unlock(ForkGeneration.guardLock) },
            {
                ForkGeneration.counter.add(1, ordering: .releasing)
                // glibc's rwlock does not let the child, whose thread has a new id, unlock what
                // the parent's thread locked; the child starts from a fresh lock instead (only
                // this thread exists in it).
                pthread_rwlock_init(ForkGeneration.guardLock, nil)
            }
        ) == 0
    }()

    static var current: Int {
        _ = registered
        return counter.load(ordering: .acquiring)
    }

    /// Runs `body` where fork() cannot cut it in two.
    static func withoutFork<T>(_ body: () throws -> T) rethrows -> T {
        _ = registered
        pthread_rwlock_rdlock(guardLock)
        defer { pthread_rwlock_unlock(guardLock) }
        return try body()
    }
}
