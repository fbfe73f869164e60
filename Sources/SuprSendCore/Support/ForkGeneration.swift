import Glibc
import Synchronization

/// How many times this process is removed from the one that first used the library by
/// fork(): 0 in the original process, one more in each child. State tied to a process (the
/// random pool, open connections) remembers the generation it was made in and is dropped
/// when it no longer matches. Cheaper than asking for getpid(), a system call, every time.
enum ForkGeneration {
    private static let counter = Atomic<Int>(0)

    /// Registered before any state that needs it exists: reading `current` registers it.
    private static let registered: Bool = {
        pthread_atfork(nil, nil, { ForkGeneration.childDidFork() }) == 0
    }()

    static var current: Int {
        _ = registered
        return counter.load(ordering: .acquiring)
    }

    private static func childDidFork() {
        counter.add(1, ordering: .releasing)
    }
}
