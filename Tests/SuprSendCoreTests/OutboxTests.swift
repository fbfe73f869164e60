import Glibc
import Testing

@testable import SuprSendCore

// The durable queue against real SQLite files in a temporary directory.

@Suite("Background delivery: the outbox")
struct OutboxTests {
    private let preparer = EventPreparer(workspaceKey: "k", sdkVersion: "t", rules: EventRules(), autoIdempotency: true)

    private func prepared(_ index: Int, key: String? = nil, at time: Int64? = nil) -> PreparedEvent {
        var event = Event(distinctId: "user_\(index)", name: "order_placed")
        event.idempotencyKey = key
        guard case .success(let ready) = preparer.prepare(event) else { fatalError("refused") }
        guard let time else { return ready }
        return PreparedEvent(json: ready.json, insertId: ready.insertId, idempotencyKey: ready.idempotencyKey,
                             name: ready.name, distinctId: ready.distinctId, time: time)
    }

    private func withDirectory(_ body: (String) throws -> Void) rethrows {
        let directory = TempDirectory()
        defer {
            for suffix in ["", "-wal", "-shm"] { unlink(directory.path + "/outbox.db" + suffix) }
            directory.remove()
        }
        try body(directory.path + "/outbox.db")
    }

    @Test func eventsSurviveReopeningWithTheirBytes() throws {
        try withDirectory { path in
            var added: [PreparedEvent] = []
            do {
                let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 60)
                for index in 0..<3 {
                    let event = prepared(index, key: index == 1 ? "order-1" : nil)
                    let (sequence, _) = try outbox.add(event)
                    #expect(sequence == UInt64(index + 1))
                    added.append(event)
                }
            }
            let reopened = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 60)
            #expect(reopened.waitingCount == 3)
            #expect(reopened.lastSequence == 3)
            let taken = reopened.take(maxEvents: 10, maxJSONBytes: .max)
            #expect(taken.map(\.sequence) == [1, 2, 3])
            #expect(taken.map(\.json) == added.map(\.json))
            #expect(taken.map(\.insertId) == added.map(\.insertId))
            #expect(taken[1].idempotencyKey == "order-1")
            #expect(taken[0].idempotencyKey == added[0].insertId, "the automatic key is kept too")
            #expect(taken.map(\.distinctId) == ["user_0", "user_1", "user_2"])
            reopened.settle(taken)
            #expect(reopened.lowestUnsettled == nil)
        }
    }

    @Test func sequencesAreNeverGivenOutTwiceEvenAfterTheOutboxEmpties() throws {
        try withDirectory { path in
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 60)
            for index in 0..<3 { _ = try outbox.add(prepared(index)) }
            outbox.settle(outbox.take(maxEvents: 10, maxJSONBytes: .max))
            #expect(outbox.lowestUnsettled == nil && outbox.lastSequence == 3)
            // A flush that began at sequence 3 waits for nothing enqueued after it: a new event
            // must not come back as 1.
            let (sequence, _) = try outbox.add(prepared(3))
            #expect(sequence == 4)
            let reopened = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 60)
            #expect(try reopened.add(prepared(4)).sequence == 5)
        }
    }

    @Test func takenEventsCarryTheirIdentityFromTheColumns() throws {
        try withDirectory { path in
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 60)
            let event = prepared(1, key: "order-1")
            _ = try outbox.add(event)
            let taken = outbox.take(maxEvents: 10, maxJSONBytes: .max)
            #expect(taken.count == 1)
            #expect(taken.first?.identity == EventIdentity(insertId: event.insertId, idempotencyKey: "order-1",
                                                          name: event.name, distinctId: event.distinctId))
            #expect(taken.first?.idempotencyKey == "order-1" && taken.first?.name == "order_placed")
        }
    }

    @Test func aSchema1FileIsUpgradedWithItsEvents() throws {
        try withDirectory { path in
            let events = (0..<3).map { prepared($0, key: $0 == 2 ? "order-2" : nil) }
            do {
                // The table as libsuprsend 0.1.0 made it (a plain rowid), two events in it.
                let db = try SQLiteConnection(path: path, create: true)
                try db.execute("""
                    CREATE TABLE events(id INTEGER PRIMARY KEY, enqueued_at INTEGER NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0,
                        insert_id TEXT NOT NULL, idempotency_key TEXT NOT NULL, name TEXT NOT NULL,
                        distinct_id TEXT NOT NULL, json BLOB NOT NULL)
                    """)
                for (index, event) in events.prefix(2).enumerated() {
                    try db.query("""
                        INSERT INTO events(id, enqueued_at, attempts, insert_id, idempotency_key, name, distinct_id, json)
                        VALUES (?1, ?2, 2, ?3, ?4, ?5, ?6, ?7)
                        """, [.integer(Int64(index) * 10 + 7), .integer(event.time), .text(event.insertId),
                              .text(event.idempotencyKey ?? ""), .text(event.name), .text(event.distinctId), .blob(event.json)])
                }
                try db.execute("PRAGMA user_version = 1")
            }
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 60)
            #expect(outbox.waitingCount == 2)
            #expect(try outbox.add(events[2]).sequence == 18, "ids go on above the file's highest")
            let taken = outbox.take(maxEvents: 10, maxJSONBytes: .max)
            #expect(taken.map(\.sequence) == [7, 17, 18])
            #expect(taken.map(\.json) == events.map(\.json))
            #expect(taken.map(\.attempts) == [2, 2, 0])
            outbox.settle(taken)
            #expect(try outbox.add(prepared(3)).sequence == 19)
            let db = try SQLiteConnection(path: path)
            #expect(try db.integer("PRAGMA user_version") == Outbox.schemaVersion)
            #expect(try db.integer("SELECT count(*) FROM sqlite_master WHERE name = 'events_schema1'") == 0)
            _ = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 60)  // opening it again changes nothing
            #expect(try db.integer("SELECT count(*) FROM events") == 1)
        }
    }

    @Test func settleRemovesExactlyTheGivenEvents() throws {
        #expect(Outbox.runs(of: [5, 1, 2, 3, 7, 8, 3, 10]) == [1...3, 5...5, 7...8, 10...10])
        #expect(Outbox.runs(of: []).isEmpty)
        #expect(Outbox.runs(of: [.max - 1, .max, 0]) == [0...0, (.max - 1)...(.max)])
        try withDirectory { path in
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 60)
            for index in 0..<10 { _ = try outbox.add(prepared(index)) }
            let taken = outbox.take(maxEvents: 10, maxJSONBytes: .max)
            outbox.settle(taken.filter { [1, 2, 3, 5, 8, 9].contains($0.sequence) })
            outbox.release(taken)
            #expect(outbox.take(maxEvents: 10, maxJSONBytes: .max).map(\.sequence) == [4, 6, 7, 10])
        }
    }

    @Test func aLeaseKeepsOtherClientsAwayUntilItEnds() throws {
        try withDirectory { path in
            let clock = ManualClock()
            let first = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30, clock: clock)
            let second = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30, clock: clock)
            for index in 0..<5 { _ = try first.add(prepared(index)) }
            let claimed = first.take(maxEvents: 3, maxJSONBytes: .max)
            #expect(claimed.map(\.sequence) == [1, 2, 3])
            #expect(second.take(maxEvents: 10, maxJSONBytes: .max).map(\.sequence) == [4, 5])
            #expect(second.take(maxEvents: 10, maxJSONBytes: .max).isEmpty)
            #expect(second.lowestUnsettled == 1, "leased events still count for a flush")
            clock.advance(31)  // the first client died holding its lease
            let recovered = second.take(maxEvents: 10, maxJSONBytes: .max)
            #expect(recovered.map(\.sequence) == [1, 2, 3, 4, 5])
            #expect(recovered.map(\.insertId).prefix(3) == claimed.map(\.insertId)[...])
        }
    }

    @Test func aLeaseCoversOnlyItsOwnEventsAndEndsWithTheirFates() throws {
        try withDirectory { path in
            let clock = ManualClock()
            let a = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30, clock: clock)
            let b = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30, clock: clock)
            let c = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30, clock: clock)
            for index in 0..<10 { _ = try a.add(prepared(index)) }
            let first = a.take(maxEvents: 2, maxJSONBytes: .max)
            let middle = b.take(maxEvents: 3, maxJSONBytes: .max)
            #expect(middle.map(\.sequence) == [3, 4, 5])
            a.requeue(first)
            // 1, 2 and 6...10 are free, 3...5 are b's: c's leases must leave 3...5 out.
            let around = c.take(maxEvents: 10, maxJSONBytes: .max)
            #expect(around.map(\.sequence) == [1, 2, 6, 7, 8, 9, 10])
            b.requeue(middle)
            let retaken = a.take(maxEvents: 10, maxJSONBytes: .max)
            #expect(retaken.map(\.sequence) == [3, 4, 5], "what b gave back is free at once, though it lies inside c's batch")
            // Part of a batch has its fate: the rest stays leased until it has one too.
            c.settle(Array(around.prefix(3)))
            #expect(b.take(maxEvents: 10, maxJSONBytes: .max).isEmpty)
            #expect(a.waitingCount == 0)
            c.requeue(Array(around.dropFirst(3)))
            #expect(a.waitingCount == 4)
            let last = b.take(maxEvents: 10, maxJSONBytes: .max)
            #expect(last.map(\.sequence) == [7, 8, 9, 10])
            let db = try SQLiteConnection(path: path)
            #expect(try db.integer("SELECT count(*) FROM leases") == 2, "a's and b's; c's went with their events")
            a.release(retaken)
            b.settle(last)
            #expect(try db.integer("SELECT count(*) FROM leases") == 0)
            #expect(c.take(maxEvents: 10, maxJSONBytes: .max).map(\.sequence) == [3, 4, 5])
        }
    }

    @Test func requeueCountsAttemptsAndReleaseKeepsEvents() throws {
        try withDirectory { path in
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
            for index in 0..<2 { _ = try outbox.add(prepared(index)) }
            var taken = outbox.take(maxEvents: 10, maxJSONBytes: .max)
            taken[0].attempts = 2
            taken[1].attempts = 2
            outbox.requeue(taken)
            var again = outbox.take(maxEvents: 10, maxJSONBytes: .max)
            #expect(again.map(\.attempts) == [2, 2])
            outbox.settle([again[0]])
            outbox.release([again[1]])
            again = outbox.take(maxEvents: 10, maxJSONBytes: .max)
            #expect(again.map(\.sequence) == [2])
        }
    }

    @Test func takeKeepsARequestUnderItsByteBound() throws {
        try withDirectory { path in
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
            for index in 0..<5 { _ = try outbox.add(prepared(index)) }
            let size = outbox.take(maxEvents: 1, maxJSONBytes: 1)
            #expect(size.count == 1, "one event is taken even when it alone is over the bound")
            let two = outbox.take(maxEvents: 10, maxJSONBytes: size[0].jsonByteCount * 2 + 1)
            #expect(two.count == 2)
            #expect(outbox.hasFullBatch(maxEvents: 2, maxJSONBytes: .max))
            #expect(!outbox.hasFullBatch(maxEvents: 3, maxJSONBytes: .max))
        }
    }

    @Test func peekSeesTheOldestFreeEventAndAFullBatchInOneLook() throws {
        try withDirectory { path in
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
            #expect(outbox.peek(maxEvents: 2, maxJSONBytes: .max).oldest == nil)
            for index in 0..<3 { _ = try outbox.add(prepared(index, at: 1_000 + Int64(index))) }
            let all = outbox.peek(maxEvents: 3, maxJSONBytes: .max)
            #expect(all.oldest?.sequence == 1 && all.oldest?.enqueuedAtMilliseconds == 1_000 && all.full)
            #expect(!outbox.peek(maxEvents: 4, maxJSONBytes: .max).full)
            #expect(outbox.peek(maxEvents: 4, maxJSONBytes: 10).full, "full by bytes")
            _ = outbox.take(maxEvents: 1, maxJSONBytes: .max)
            let rest = outbox.peek(maxEvents: 3, maxJSONBytes: .max)
            #expect(rest.oldest?.sequence == 2 && !rest.full, "a leased event is not waiting")
        }
    }

    @Test func expiredEventsAreTakenOut() throws {
        try withDirectory { path in
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
            _ = try outbox.add(prepared(0, at: 1_000))
            _ = try outbox.add(prepared(1, at: 2_000))
            _ = try outbox.add(prepared(2, at: Clock.nowMilliseconds()))
            let expired = outbox.takeExpired(enqueuedBefore: 5_000, maxEvents: 100)
            #expect(expired.map(\.sequence) == [1, 2])
            #expect(outbox.waitingCount == 1)
        }
    }

    @Test func storageProblemsNameThePathAndTheCause() throws {
        let directory = TempDirectory()
        defer { directory.remove() }
        func failure(_ path: String) -> SuprSendError? {
            do {
                _ = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
                return nil
            } catch {
                return error
            }
        }
        let missing = failure(directory.path + "/no/such/dir/outbox.db")
        #expect(missing?.status == .storage)
        #expect(missing?.message.contains(directory.path + "/no/such/dir/outbox.db") == true)
        #expect(missing?.message.contains("No such file or directory") == true, "\(missing?.message ?? "")")

        let garbage = directory.write("garbage.db", Array(repeating: UInt8(ascii: "x"), count: 4096))
        let notADatabase = failure(garbage)
        #expect(notADatabase?.status == .storage)
        #expect(notADatabase?.message.contains("not a SQLite database") == true, "\(notADatabase?.message ?? "")")

        let newer = directory.path + "/newer.db"
        do {
            let db = try SQLiteConnection(path: newer, create: true)
            try db.execute("PRAGMA application_id = \(OutboxFile.applicationID)")
            try db.execute("PRAGMA user_version = 99")
        }
        defer { unlink(newer) }
        let fromTheFuture = failure(newer)
        #expect(fromTheFuture?.status == .storage)
        #expect(fromTheFuture?.message.contains("newer version") == true)
    }

    @Test func aCorruptFileIsAStorageError() throws {
        try withDirectory { path in
            do {
                let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
                for index in 0..<50 { _ = try outbox.add(prepared(index)) }
            }
            // Keep SQLite's 100-byte header, scramble the rest of the first page (the schema).
            let fd = open(path, O_WRONLY)
            #expect(fd >= 0)
            let garbage = [UInt8](repeating: 0xA5, count: 3996)
            _ = garbage.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 100) }
            close(fd)
            for suffix in ["-wal", "-shm"] { unlink(path + suffix) }
            do throws(SuprSendError) {
                let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
                _ = try outbox.add(prepared(99))
                Issue.record("a corrupt outbox must be refused")
            } catch {
                #expect(error.status == .storage)
                #expect(error.message.contains(path), "\(error.message)")
                #expect(error.message.contains("damaged"), "\(error.message)")
            }
        }
    }

    @Test func aFullOutboxIsAFullQueue() throws {
        try withDirectory { path in
            let outbox = try Outbox(path: path, workspaceKey: "k", maxBytes: 1 << 20, leaseSeconds: 30)
            var body = Event(distinctId: "u", name: "big_event")
            try body.setProperties(json: utf8Bytes("{\"x\":\"" + String(repeating: "y", count: 50_000) + "\"}"))
            guard case .success(let big) = preparer.prepare(body) else { Issue.record("refused"); return }
            var accepted = 0
            var refusal: SuprSendError?
            for _ in 0..<100 {
                do throws(SuprSendError) {
                    _ = try outbox.add(big)
                    accepted += 1
                } catch {
                    refusal = error
                    break
                }
            }
            #expect(refusal?.status == .queueFull, "\(refusal?.message ?? "no refusal")")
            #expect(accepted > 5 && accepted < 25)
            #expect(outbox.waitingCount == accepted, "a refused event leaves nothing behind")
        }
    }

    @Test func threadsShareCommitsAndEachGetsItsOwnSequence() throws {
        try withDirectory { path in
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30)
            let events = (0..<8).map { prepared($0) }
            let results = ResultsBox()
            var threads: [WorkerThread] = []
            for thread in 0..<8 {
                guard case .success(let started) = WorkerThread.start(name: "t", {
                    for _ in 0..<200 {
                        if let (sequence, _) = try? outbox.add(events[thread]) { results.append(sequence) }
                    }
                }) else { Issue.record("no thread"); return }
                threads.append(started)
            }
            threads.forEach { $0.join() }
            #expect(results.values.count == 1600)
            #expect(Set(results.values).count == 1600)
            #expect(outbox.waitingCount == 1600)
        }
    }

    /// A worker on `outbox` that sends at once, its answers scripted, its fates in `log`.
    private func makeWorker(on outbox: Outbox, clock: ManualClock, log: ReportLog,
                        answers: [ScriptedConcurrentTransport.Answer], holdAnswers: Bool = false) -> DeliveryWorker {
        let sender = RequestSender(baseURL: "http://127.0.0.1:1/", workspaceKey: "k", workspaceSecret: "s",
                                   transport: ScriptedTransport([]), retryPolicy: RetryPolicy(), logger: .off)
        var settings = WorkerSettings()
        settings.flushIntervalMilliseconds = 0
        let transport = ScriptedConcurrentTransport(clock: clock, answers)
        transport.holdAnswers = holdAnswers
        return DeliveryWorker(queue: outbox, transport: transport, sender: sender, settings: settings,
                              clock: clock, onReport: log.closure, unitRandom: { 0.5 })
    }

    @Test func aClosedWorkerLeavesEventsForTheNextClient() throws {
        try withDirectory { path in
            let clock = ManualClock()
            let log = ReportLog()
            do {
                let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30, clock: clock)
                let worker = makeWorker(on: outbox, clock: clock, log: log, answers: [], holdAnswers: true)
                for index in 0..<150 { _ = try outbox.add(prepared(index)) }
                worker.runOnce()
                #expect(worker.stats.inFlight == 150)
                worker.requestStop()
                worker.run()
                #expect(worker.leftAtStop == 150)
                #expect(log.reports.isEmpty, "nothing is reported closed: the events stay in the file")
            }
            let outbox = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30, clock: clock)
            let worker = makeWorker(on: outbox, clock: clock, log: log,
                                answers: Array(repeating: ScriptedConcurrentTransport.acceptAll, count: 2))
            worker.runOnce()
            worker.runOnce()
            #expect(log.reports.count == 150 && log.reports.allSatisfy { $0.status == .ok && $0.event.attempts == 1 })
            #expect(outbox.lowestUnsettled == nil)
        }
    }

    /// Two clients share a file: the closing one delivers its own events, and younger events
    /// that the other adds meanwhile do not make its close a failure.
    @Test func aCloseCountsOnlyTheEventsItWaitedFor() throws {
        try withDirectory { path in
            let clock = ManualClock()
            let log = ReportLog()
            let mine = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30, clock: clock)
            let theirs = try Outbox(path: path, workspaceKey: "k", leaseSeconds: 30, clock: clock)
            let worker = makeWorker(on: mine, clock: clock, log: log, answers: [ScriptedConcurrentTransport.acceptAll])
            for index in 0..<4 { _ = try mine.add(prepared(index)) }
            worker.beginClosing(upTo: mine.lastSequence)
            for index in 4..<7 { _ = try theirs.add(prepared(index)) }
            worker.runOnce()
            #expect(log.reports.map(\.event.sequence) == [1, 2, 3, 4], "only what the close waits for goes out")
            worker.requestStop()
            worker.run()
            #expect(worker.leftAtStop == 0)
            #expect(theirs.waitingCount == 3, "the other client's events stay for it")
        }
    }
}

final class ResultsBox: @unchecked Sendable {
    private let lock = Lock()
    private var collected: [UInt64] = []
    var values: [UInt64] { lock.withLock { collected } }
    func append(_ value: UInt64) { lock.withLock { collected.append(value) } }
}
