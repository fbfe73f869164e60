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
///
/// The guard is a read-write lock that sections take shared and fork() takes exclusive. It
/// keeps glibc's default, readers first: with writers first, a section nested in another
/// (Lock inside Lock, as in CurlTransport.checkOut or Outbox.add), or one that waits on a
/// thread entering its own section, would deadlock against a waiting fork(). Instead, so that
/// a stream of sections cannot starve fork(), a section that starts while a fork() is pending
/// first holds back a little (at most `backOffLimit`), letting those inside drain; nested
/// sections, which hold the guard already, never do.
enum ForkGeneration {
    private static let counter = Atomic<Int>(0)
    /// fork() calls between their prepare handler and their end (threads may fork at once).
    private static let forksPending = Atomic<Int>(0)

    /// The guard in use. A child gets a new one: the parent's is write-locked by a thread that
    /// the child does not have, and re-initialising a held rwlock is undefined behaviour. The
    /// old one is never freed (its state belongs to the parent) but kept in `retiredGuardLocks`,
    /// so that memory checkers do not report it lost.
    nonisolated(unsafe) private static let guardLock = Atomic<UnsafeMutablePointer<pthread_rwlock_t>>(newGuardLock())
    nonisolated(unsafe) private static var retiredGuardLocks: [UnsafeMutablePointer<pthread_rwlock_t>] = []

    /// How deep the current thread is in sections: only the outermost takes the guard.
    private static let depthKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The longest a section waits for a pending fork() before it goes in anyway: a fork that
    /// cannot proceed (its caller is itself inside a section) must not stall everyone.
    static let backOffLimit = 0.01

    private static func newGuardLock() -> UnsafeMutablePointer<pthread_rwlock_t> {
        let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
        return lock
    }

    /// Registered before any state that needs it exists: reading `current` or entering a
    /// critical section registers it.
    private static let registered: Bool = {
        _ = guardLock.load(ordering: .relaxed)
        _ = depthKey
        return pthread_atfork(
            {
                ForkGeneration.forksPending.add(1, ordering: .sequentiallyConsistent)
                pthread_rwlock_wrlock(ForkGeneration.guardLock.load(ordering: .acquiring))
            },
            {
                pthread_rwlock_unlock(ForkGeneration.guardLock.load(ordering: .acquiring))
                ForkGeneration.forksPending.subtract(1, ordering: .sequentiallyConsistent)
            },
            {
                ForkGeneration.counter.add(1, ordering: .releasing)
                // Only this thread exists in the child, and it is in no section.
                ForkGeneration.retiredGuardLocks.append(ForkGeneration.guardLock.load(ordering: .acquiring))
                ForkGeneration.guardLock.store(ForkGeneration.newGuardLock(), ordering: .releasing)
                ForkGeneration.forksPending.store(0, ordering: .sequentiallyConsistent)
            }
        ) == 0
    }()

    static var current: Int {
        _ = registered
        return counter.load(ordering: .acquiring)
    }

    /// The guard's address, for tests: a child must not use its parent's.
    static var guardLockAddress: UnsafeMutableRawPointer {
        _ = registered
        return UnsafeMutableRawPointer(guardLock.load(ordering: .acquiring))
    }

    /// Runs `body` where fork() cannot cut it in two.
    static func withoutFork<T>(_ body: () throws -> T) rethrows -> T {
        _ = registered
        let depth = Int(bitPattern: pthread_getspecific(depthKey))
        if depth > 0 {
            // Nested: the outer section holds the guard already.
            pthread_setspecific(depthKey, UnsafeRawPointer(bitPattern: depth + 1))
            defer { pthread_setspecific(depthKey, UnsafeRawPointer(bitPattern: depth)) }
            return try body()
        }
        if forksPending.load(ordering: .relaxed) > 0 { holdBackForFork() }
        let lock = guardLock.load(ordering: .acquiring)
        pthread_rwlock_rdlock(lock)
        pthread_setspecific(depthKey, UnsafeRawPointer(bitPattern: 1))
        defer {
            pthread_setspecific(depthKey, nil)
            pthread_rwlock_unlock(lock)
            runHeldActions()
        }
        return try body()
    }

    /// Whether this thread is inside a section, where fork() is waiting for it to leave.
    static var isInsideSection: Bool { pthread_getspecific(depthKey) != nil }

    /// Runs `action` now outside sections, or on this thread right after it leaves its
    /// outermost one. For what may run the host's code (a log line: its callback may wait for
    /// a lock the forking thread holds, such as Python's GIL, which os.fork holds): inside a
    /// section that would deadlock against a fork().
    static func afterSection(_ action: @escaping () -> Void) {
        guard isInsideSection else { return action() }
        let held: HeldActions
        if let pointer = pthread_getspecific(heldKey) {
            held = Unmanaged<HeldActions>.fromOpaque(pointer).takeUnretainedValue()
        } else {
            held = HeldActions()
            pthread_setspecific(heldKey, Unmanaged.passRetained(held).toOpaque())
        }
        held.actions.append(action)
    }

    /// What `afterSection` kept for this thread; freed with the thread.
    private final class HeldActions {
        var actions: [() -> Void] = []
    }

    private static let heldKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<HeldActions>.fromOpaque(pointer).release() }
        }
        return key
    }()

    private static func runHeldActions() {
        guard let pointer = pthread_getspecific(heldKey) else { return }
        let held = Unmanaged<HeldActions>.fromOpaque(pointer).takeUnretainedValue()
        while !held.actions.isEmpty {
            let actions = held.actions
            held.actions.removeAll()
            for action in actions { action() }
        }
    }

    /// Waits, briefly, while a fork() is pending, so that the sections inside can drain.
    private static func holdBackForFork() {
        let step = 50_000  // ns
        var waited = 0
        var pause = timespec(tv_sec: 0, tv_nsec: step)
        while forksPending.load(ordering: .relaxed) > 0 && Double(waited) / 1e9 < backOffLimit {
            nanosleep(&pause, nil)
            waited += step
        }
    }
}
