import Glibc
import Testing

@testable import SuprSendCore

// The outbox's guards, against real SQLite files: what is not an outbox is left as it was, a
// file holds one workspace, new files are private, damage is kept and said, an event whose
// removal failed is never taken again, and another process's lock is waited for a short while.

@Suite("Background delivery: the outbox's guards")
struct OutboxIntegrityTests {
    private let preparer = EventPreparer(workspaceKey: "k", sdkVersion: "t", rules: EventRules(), autoIdempotency: true)

    private func prepared(_ index: Int, padding: Int = 0) -> PreparedEvent {
        var event = Event(distinctId: "user_\(index)", name: "order_placed")
        if padding > 0 { try? event.setProperties(json: Array("{\"p\":\"\(String(repeating: "x", count: padding))\"}".utf8)) }
        guard case .success(let ready) = preparer.prepare(event) else { fatalError("refused") }
        return ready
    }

    private func withDirectory(_ body: (TempDirectory, String) throws -> Void) rethrows {
        let directory = TempDirectory()
        defer {
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(directory.path + "/outbox.db" + suffix) }
            directory.remove()
        }
        try body(directory, directory.path + "/outbox.db")
    }

    private func open(_ path: String, key: String = "k", maxBytes: Int64 = Outbox.defaultMaxBytes, busyMilliseconds: Int = 200,
                      clock: WorkerClock = SystemClock()) -> Result<Outbox, SuprSendError> {
        do throws(SuprSendError) {
            return .success(try Outbox(path: path, workspaceKey: key, maxBytes: maxBytes, leaseSeconds: 30,
                                       busyTimeoutMilliseconds: busyMilliseconds, clock: clock))
        } catch {
            return .failure(error)
        }
    }

    private func refusal(_ path: String, key: String = "k") -> SuprSendError? {
        if case .failure(let error) = open(path, key: key) { return error }
        return nil
    }

    private func contents(_ path: String) -> [UInt8]? {
        let fd = Glibc.open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk.prefix(count)
        }
        return bytes
    }

    private func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// A file that must be refused and left as it was: byte for byte, and no file beside it.
    private func expectRefusedAndUntouched(_ path: String, saying words: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let before = contents(path)
        let error = refusal(path)
        #expect(error?.status == .storage, sourceLocation: sourceLocation)
        #expect(error?.message.contains(words) == true, "\(error?.message ?? "accepted")", sourceLocation: sourceLocation)
        #expect(contents(path) == before, "the file was changed", sourceLocation: sourceLocation)
        for suffix in ["-wal", "-shm", "-journal"] {
            #expect(!exists(path + suffix), "\(suffix) appeared beside it", sourceLocation: sourceLocation)
        }
    }

    @Test func anotherApplicationsDatabaseIsLeftAsItWas() throws {
        try withDirectory { _, path in
            do {
                let db = try SQLiteConnection(path: path, create: true)
                try db.execute("CREATE TABLE customers(id INTEGER PRIMARY KEY, email TEXT); INSERT INTO customers(email) VALUES ('a@b.c')")
            }
            expectRefusedAndUntouched(path, saying: "not an outbox")
            // With a table of our name, and in WAL mode: the same.
            do {
                let db = try SQLiteConnection(path: path)
                try db.execute("CREATE TABLE events(id INTEGER PRIMARY KEY, json BLOB); PRAGMA journal_mode=WAL")
            }
            expectRefusedAndUntouched(path, saying: "not an outbox")
        }
    }

    @Test func otherFilesAreLeftAsTheyWere() throws {
        try withDirectory { directory, path in
            _ = directory.write("outbox.db", Array("name,email\nann,ann@example.com\n".utf8))
            expectRefusedAndUntouched(path, saying: "not a SQLite database")
            #expect(refusal(directory.path)?.message.contains("not a regular file") == true)
        }
    }

    @Test func anOutboxOfANewerSchemaIsLeftAsItWas() throws {
        try withDirectory { _, path in
            do {
                let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
                _ = try outbox.add(prepared(1))
            }
            do {
                let db = try SQLiteConnection(path: path)
                try db.execute("PRAGMA journal_mode=DELETE; PRAGMA user_version = 99")
            }
            expectRefusedAndUntouched(path, saying: "newer version")
        }
    }

    @Test func aDamagedOutboxIsRefusedAndLeftAsItWas() throws {
        try withDirectory { _, path in
            do {
                let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
                for index in 0..<300 { _ = try outbox.add(prepared(index, padding: 200)) }
            }
            #expect(!exists(path + "-wal"), "the last connection checkpoints and removes its WAL")
            // Three pages of the events table overwritten.
            let fd = Glibc.open(path, O_WRONLY)
            let garbage = [UInt8](repeating: 0xA5, count: 4096)
            for page in [3, 5, 7] { _ = garbage.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(page * 4096)) } }
            close(fd)
            expectRefusedAndUntouched(path, saying: "damaged")
        }
    }

    @Test func aFileHoldsOneWorkspace() throws {
        try withDirectory { _, path in
            let mine = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
            _ = try mine.add(prepared(1))
            let error = refusal(path, key: "other_workspace")
            #expect(error?.status == .storage)
            #expect(error?.message.contains("'k'") == true && error?.message.contains("'other_workspace'") == true,
                    "\(error?.message ?? "accepted")")
            #expect(refusal(path, key: "k") == nil, "the same workspace shares the file")
        }
    }

    @Test func newFilesAreReadableByTheirOwnerOnly() throws {
        try withDirectory { _, path in
            let old = umask(0o022)
            defer { umask(old) }
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
            _ = try outbox.add(prepared(1))
            for suffix in ["", "-wal", "-shm"] {
                var info = stat()
                #expect(stat(path + suffix, &info) == 0, "\(suffix) missing")
                #expect(info.st_mode & 0o777 == 0o600, "\(path + suffix): \(String(info.st_mode & 0o777, radix: 8))")
            }
        }
    }

    @Test func aFileDeletedUnderTheClientIsDamageThatIsSaid() throws {
        try withDirectory { _, path in
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
            _ = try outbox.add(prepared(1))
            unlink(path)
            // Commits within a millisecond of a look share it; one after a pause looks again.
            Clock.sleep(seconds: 0.002)
            do throws(SuprSendError) {
                _ = try outbox.add(prepared(2))
                Issue.record("an enqueue into a deleted outbox must fail")
            } catch {
                #expect(error.status == .storage)
                #expect(error.message.contains("deleted or replaced"), "\(error.message)")
            }
            #expect(outbox.damage != nil)
            #expect(outbox.take(maxEvents: 10, maxJSONBytes: .max).isEmpty, "nothing is taken from a damaged file")
        }
    }

    @Test func enqueuesInABurstShareOneLookAtTheFile() throws {
        try withDirectory { _, path in
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
            _ = try outbox.add(prepared(1))
            unlink(path)
            // Within the millisecond of the last look: accepted (into the deleted file), then
            // refused once a look finds it gone; damage, once found, refuses every enqueue.
            var refusedAfter: Int?
            for index in 2..<200 {
                do throws(SuprSendError) {
                    _ = try outbox.add(prepared(index))
                } catch {
                    refusedAfter = index
                    break
                }
                Clock.sleep(seconds: 0.0001)
            }
            #expect(refusedAfter != nil, "a deleted file was never noticed")
            #expect(throws: SuprSendError.self) { try outbox.add(prepared(999)) }
        }
    }

    @Test func aFileReplacedUnderTheWorkerIsFoundAtItsNextLook() throws {
        try withDirectory { directory, path in
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
            _ = try outbox.add(prepared(1))
            let other = directory.write("other.db", [])
            #expect(rename(other, path) == 0)
            #expect(outbox.peek(maxEvents: 10, maxJSONBytes: .max).oldest == nil)
            #expect(outbox.damage?.message.contains("deleted or replaced") == true)
        }
    }

    @Test func anEventWhoseRemovalFailedIsNeverTakenAgain() throws {
        try withDirectory { _, path in
            let clock = ManualClock()
            guard case .success(let outbox) = open(path, clock: clock) else { Issue.record("not opened"); return }
            for index in 0..<3 { _ = try outbox.add(prepared(index)) }
            let taken = outbox.take(maxEvents: 10, maxJSONBytes: .max)
            #expect(taken.count == 3)
            // Another process holds the write lock past the worker's wait: the removal fails.
            let other = try SQLiteConnection(path: path)
            try other.execute("BEGIN IMMEDIATE")
            outbox.settle(taken)
            #expect(outbox.failure != nil, "the failed removal is said")
            try other.execute("COMMIT")
            #expect(outbox.lowestUnsettled == nil, "they have their fate: a flush does not wait for them")
            clock.advance(31)  // their lease has ended
            #expect(outbox.take(maxEvents: 10, maxJSONBytes: .max).isEmpty, "taken again after their fate")
            #expect(try other.integer("SELECT count(*) FROM events") == 0, "removed by the next transaction")
            #expect(outbox.failure == nil)
        }
    }

    @Test func anEnqueueWaitsForAnotherProcessAtMostItsBound() throws {
        try withDirectory { _, path in
            guard case .success(let outbox) = open(path, busyMilliseconds: 100) else { Issue.record("not opened"); return }
            _ = try outbox.add(prepared(1))
            let other = try SQLiteConnection(path: path)
            try other.execute("BEGIN IMMEDIATE")
            let started = Clock.monotonicSeconds()
            do throws(SuprSendError) {
                _ = try outbox.add(prepared(2))
                Issue.record("an enqueue must not wait for a lock held this long")
            } catch {
                #expect(error.status == .storage)
                #expect(error.message.contains("busy"), "\(error.message)")
            }
            let waited = Clock.monotonicSeconds() - started
            #expect(waited >= 0.09 && waited < 1, "waited \(waited) s")
            try other.execute("COMMIT")
            _ = try outbox.add(prepared(3))
            #expect(outbox.waitingCount == 2)
        }
    }

    @Test func theBoundCoversTheWAL() throws {
        try withDirectory { _, path in
            guard case .success(let outbox) = open(path, maxBytes: 1 << 20) else { Issue.record("not opened"); return }
            var refusal: SuprSendError?
            for index in 0..<2000 {
                do throws(SuprSendError) {
                    _ = try outbox.add(prepared(index, padding: 2000))
                } catch {
                    refusal = error
                    break
                }
            }
            #expect(refusal?.status == .queueFull, "\(refusal?.message ?? "never full")")
            func expectWithinBound(_ when: String) {
                let onDisk = OutboxFile.fileSize(path) + OutboxFile.fileSize(path + "-wal")
                #expect(onDisk <= 1 << 20, "\(when): \(OutboxFile.fileSize(path)) + \(OutboxFile.fileSize(path + "-wal")) bytes")
                #expect(outbox.storageBytes <= 1 << 20, "\(when)")
            }
            expectWithinBound("full")
            // The worker's retries of a full outbox (a hub that does not answer): each claims a
            // batch and counts an attempt for each event; that must not grow the WAL past its share.
            for round in 0..<5 {
                let batch = outbox.take(maxEvents: 100, maxJSONBytes: 800 * 1024)
                #expect(!batch.isEmpty)
                outbox.requeue(batch.map { var event = $0; event.attempts += 1; return event })
                expectWithinBound("retry \(round)")
            }
        }
    }
}
