import Glibc
import Synchronization
import Testing

@testable import SuprSendCore

/// fork() on a thread of its own; the child leaves at once with `child()`'s exit code. Returns
/// the seconds fork() took and the child's exit status, or nil when fork() had not returned
/// after `limit` seconds (`release` is then called, and fork() is waited for).
private func timedFork(limit: Double, release: () -> Void, child: @escaping () -> Int32) throws -> (seconds: Double, status: Int32)? {
    let done = Atomic<Bool>(false)
    let result = Mutex<(Double, Int32)>((0, -1))
    let thread = try WorkerThread.start(name: "fork") {
        let started = Clock.monotonicSeconds()
        let pid = fork()
        if pid == 0 { _exit(child()) }
        let took = Clock.monotonicSeconds() - started
        var status: Int32 = 0
        if pid > 0 { waitpid(pid, &status, 0) }
        result.withLock { $0 = (took, pid > 0 && (status & 0x7F) == 0 ? (status >> 8) & 0xFF : -1) }
        done.store(true, ordering: .releasing)
    }.get()
    let deadline = Clock.monotonicSeconds() + limit
    while !done.load(ordering: .acquiring) && Clock.monotonicSeconds() < deadline {
        Clock.sleep(seconds: 0.005)
    }
    let inTime = done.load(ordering: .acquiring)
    if !inTime { release() }
    thread.join()
    return inTime ? result.withLock { $0 } : nil
}

@Suite("fork guard", .serialized)
struct ForkGuardTests {
    @Test func aChildUsesAGuardOfItsOwn() throws {
        let lock = Lock()
        lock.withLock {}
        let parentGuard = Int(bitPattern: ForkGeneration.guardLockAddress)
        let outcome = try timedFork(limit: 10, release: {}) {
            // The parent's guard is write-locked by a thread the child does not have.
            guard Int(bitPattern: ForkGeneration.guardLockAddress) != parentGuard else { return 3 }
            lock.withLock {}
            let inner = Lock()
            lock.withLock { inner.withLock {} }
            return 0
        }
        #expect(outcome?.status == 0, "the child kept its parent's guard (or could not lock)")
        #expect(Int(bitPattern: ForkGeneration.guardLockAddress) == parentGuard)
    }

    @Test func aStreamOfSectionsDoesNotStarveFork() throws {
        let stop = Atomic<Bool>(false)
        var threads: [WorkerThread] = []
        for _ in 0..<4 {
            let lock = Lock()
            threads.append(try WorkerThread.start(name: "reader") {
                var pause = timespec(tv_sec: 0, tv_nsec: 20_000)
                while !stop.load(ordering: .relaxed) {
                    lock.withLock { _ = nanosleep(&pause, nil) }
                }
            }.get())
        }
        defer {
            stop.store(true, ordering: .relaxed)
            threads.forEach { $0.join() }
        }
        Clock.sleep(seconds: 0.05)
        let outcome = try timedFork(limit: 3, release: { stop.store(true, ordering: .relaxed) }) { 0 }
        #expect(outcome != nil, "fork() waited more than 3 s for the library's critical sections")
        if let outcome { #expect(outcome.seconds < 1, "fork() took \(outcome.seconds) s") }
    }

    @Test func nestedSectionsDoNotDeadlockAPendingFork() throws {
        let outer = Lock()
        let inner = Lock()
        let entered = Atomic<Bool>(false)
        let thread = try WorkerThread.start(name: "nested") {
            outer.withLock {
                entered.store(true, ordering: .releasing)
                Clock.sleep(seconds: 0.1)  // fork() is pending by now
                inner.withLock {}
            }
        }.get()
        while !entered.load(ordering: .acquiring) { Clock.sleep(seconds: 0.001) }
        let outcome = try timedFork(limit: 5, release: {}) { 0 }
        thread.join()
        #expect(outcome != nil, "a section nested in another deadlocked against fork()")
        #expect(outcome?.status == 0)
    }
}
