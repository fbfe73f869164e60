/// The durable queue: a SQLite file in WAL mode. `add` returns only once the event is
/// committed, so what enqueue accepted survives kill -9, an outage and a restart, and is sent
/// by whichever client has the file open.
///
/// Several clients, in one process or several, may share a file. The worker claims a batch
/// with a lease (an owner id, new for each client and each forked child, and an expiry): no
/// other client sends leased events until the lease ends; the events of a client that died
/// are sent again after theirs does. Each event keeps its bytes, hence its $insert_id and
/// idempotency key, so the hub drops every repeat.
///
/// A lease is one small row for a range of ids (a batch is mostly one run of consecutive
/// ids), not columns of each event: claiming a batch then writes a few bytes instead of
/// rewriting every event row with its JSON, which cost more than half of the worker's time.
///
/// One connection per client, used under a lock that fork() waits for (SQLite's own global
/// state must not be inherited mid-call), and never by a forked child, which opens its own.
public final class Outbox: EventQueue, @unchecked Sendable {
    public static let schemaVersion: Int64 = 2
    public static let defaultMaxBytes: Int64 = 1 << 30

    public let path: String
    private let lock = Lock()
    private let db: SQLiteConnection
    private let owner = UUIDv4.make()
    private let leaseMilliseconds: Int64
    private let clock: WorkerClock
    private let logger: Logger
    /// Events this client added since its worker last took some: enough to know when to wake it.
    private var addedSinceTake = 0

    /// Opens (or creates) the outbox. Throws `.storage` with the path and the cause.
    public init(path: String, maxBytes: Int64 = defaultMaxBytes, leaseSeconds: Double, powerSafe: Bool = false,
                clock: WorkerClock = SystemClock(), logger: Logger = .off) throws(SuprSendError) {
        self.path = path
        self.leaseMilliseconds = Int64(max(leaseSeconds, 1) * 1000)
        self.clock = clock
        self.logger = logger
        do throws(SQLiteConnection.Failure) {
            db = try SQLiteConnection(path: path)
            // A caller never sees "database is locked": writers of other processes are waited for.
            db.setBusyTimeout(milliseconds: 10_000)
            // Switching a new file to WAL answers "busy" at once, without the busy timeout,
            // while another process opens the same file: try again for a while.
            try Self.retryingWhileBusy { () throws(SQLiteConnection.Failure) in try db.execute("PRAGMA journal_mode=WAL") }
            // WAL with NORMAL: a commit is in the log before add returns; kill -9 loses nothing
            // (power loss may lose the last commits). FULL adds an fsync to every commit.
            try db.execute(powerSafe ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")
            try Self.createOrUpgradeSchema(db)
            let pageSize = try db.integer("PRAGMA page_size") ?? 4096
            _ = try db.integer("PRAGMA max_page_count = \(max(maxBytes / max(pageSize, 512), 16))")
        } catch {
            throw Self.storageError(path: path, error)
        }
    }

    /// Schema 2.
    /// - Event ids are never given out twice, even after the table empties: a flush or a close
    ///   in any process waits for "every id up to the highest when it began", which a reused,
    ///   lower id would join after the fact. A plain rowid (schema 1) starts again above the
    ///   highest row left; so `add` gives the next id above both that row and
    ///   `outbox_state.high_water`, the highest id ever removed. AUTOINCREMENT would do the
    ///   same by writing its counter at every insert, a second page in each commit, which
    ///   halved the enqueue rate; the mark is written only when a removal takes the top row.
    /// - Leases live in `leases`, a row per range of ids (schema 1 had lease columns in each
    ///   event row; an upgraded file keeps them, unused).
    private static let createEvents = """
        CREATE TABLE events(
            id INTEGER PRIMARY KEY,
            enqueued_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            insert_id TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            name TEXT NOT NULL,
            distinct_id TEXT NOT NULL,
            json BLOB NOT NULL)
        """
    private static let createSchema2Tables = [
        "CREATE TABLE outbox_state(high_water INTEGER NOT NULL)",
        """
        CREATE TABLE leases(
            id INTEGER PRIMARY KEY,
            first_id INTEGER NOT NULL,
            last_id INTEGER NOT NULL,
            owner TEXT NOT NULL,
            until INTEGER NOT NULL)
        """,
    ]

    /// Creates the tables in a new file, or upgrades a schema 1 file (which keeps its events).
    /// The version is read again under the write lock: processes that open one file at the
    /// same moment do this one at a time, and only the first does anything.
    private static func createOrUpgradeSchema(_ db: SQLiteConnection) throws(SQLiteConnection.Failure) {
        func newerFile(_ version: Int64) -> SQLiteConnection.Failure {
            SQLiteConnection.Failure(code: 0, message: "written by a newer version of libsuprsend "
                + "(schema \(version); this one knows \(schemaVersion))")
        }
        let seen = try db.integer("PRAGMA user_version") ?? 0
        if seen == schemaVersion { return }
        if seen > schemaVersion { throw newerFile(seen) }
        try db.transaction { () throws(SQLiteConnection.Failure) in
            let version = try db.integer("PRAGMA user_version") ?? 0
            switch version {
            case schemaVersion:
                return
            case 0:
                try db.execute(createEvents)
                for statement in createSchema2Tables { try db.execute(statement) }
            case 1:
                // Leases held in the old columns are dropped: upgrade every process that
                // shares the file together (a repeat is dropped by the hub, never lost).
                for statement in createSchema2Tables { try db.execute(statement) }
            default:
                throw newerFile(version)
            }
            try db.execute("INSERT INTO outbox_state(high_water) SELECT ifnull(max(id), 0) FROM events")
            try db.execute("PRAGMA user_version = \(schemaVersion)")
        }
    }

    /// After rows were removed: if they included the top one, the mark keeps its id from being
    /// given out again. Inside the removing transaction.
    private func raiseHighWater(removedUpTo top: UInt64) throws(SQLiteConnection.Failure) {
        try db.query("""
            UPDATE outbox_state SET high_water = ?1
            WHERE high_water < ?1 AND ?1 > ifnull((SELECT max(id) FROM events), 0)
            """, [.integer(Int64(clamping: top))])
    }

    /// Runs `body` again while SQLite answers SQLITE_BUSY (5) or SQLITE_LOCKED (6), for up to
    /// 10 seconds.
    private static func retryingWhileBusy(_ body: () throws(SQLiteConnection.Failure) -> Void) throws(SQLiteConnection.Failure) {
        let deadline = Clock.monotonicSeconds() + 10
        while true {
            do throws(SQLiteConnection.Failure) {
                return try body()
            } catch where (error.code & 0xFF == 5 || error.code & 0xFF == 6) && Clock.monotonicSeconds() < deadline {
                Clock.sleep(seconds: 0.005)
            }
        }
    }

    private static func storageError(path: String, _ failure: SQLiteConnection.Failure) -> SuprSendError {
        SuprSendError(.storage, "outbox '\(path)': \(failure.message)")
    }

    /// Runs `body` on the connection; a failure in the worker's calls is logged, not thrown
    /// (the events stay in the file and are tried again).
    private func attempt<T>(_ what: String, default value: T, _ body: () throws(SQLiteConnection.Failure) -> T) -> T {
        lock.withLock {
            do throws(SQLiteConnection.Failure) {
                return try body()
            } catch {
                logger.log(.error, "outbox '\(path)': \(what) failed: \(error.message)")
                return value
            }
        }
    }

    private var now: Int64 { clock.wallMilliseconds() }

    /// SQL: event `e` is under no live lease (?1: now), so it waits to be sent.
    private static let waiting = "NOT EXISTS (SELECT 1 FROM leases l WHERE l.until >= ?1 AND e.id BETWEEN l.first_id AND l.last_id)"

    // MARK: - EventQueue

    /// Events handed to `add` and not yet committed, by ticket; and the outcomes of committed
    /// ones that their threads have not picked up yet. Guarded by `pendingLock`.
    private let pendingLock = Lock()
    private var pending: [(ticket: Int, event: PreparedEvent)] = []
    private var outcomes: [Int: Result<(UInt64, Int), SuprSendError>] = [:]
    private var nextTicket = 0

    /// Commits the event before returning. Threads that add at the same moment share a commit
    /// (group commit): whichever takes the connection first writes every pending event in one
    /// transaction, and each thread returns its own event's outcome.
    public func add(_ event: PreparedEvent) throws(SuprSendError) -> (sequence: UInt64, waiting: Int) {
        let ticket: Int = pendingLock.withLock {
            nextTicket += 1
            pending.append((nextTicket, event))
            return nextTicket
        }
        let outcome: Result<(UInt64, Int), SuprSendError> = lock.withLock {
            if let done = pendingLock.withLock({ outcomes.removeValue(forKey: ticket) }) { return done }
            let batch = pendingLock.withLock {
                defer { pending.removeAll(keepingCapacity: true) }
                return pending
            }
            var results: [Int: Result<(UInt64, Int), SuprSendError>] = [:]
            do throws(SQLiteConnection.Failure) {
                try db.transaction { () throws(SQLiteConnection.Failure) in
                    for (ticket, event) in batch {
                        try db.query("""
                            INSERT INTO events(id, enqueued_at, insert_id, idempotency_key, name, distinct_id, json)
                            VALUES ((SELECT max(high_water, ifnull((SELECT max(id) FROM events), 0)) + 1 FROM outbox_state),
                                    ?1, ?2, ?3, ?4, ?5, ?6)
                            """, [.integer(event.time), .text(event.insertId), .text(event.idempotencyKey ?? ""),
                                  .text(event.name), .text(event.distinctId), .blob(event.json)])
                        addedSinceTake += 1
                        results[ticket] = .success((UInt64(db.lastInsertRowID), addedSinceTake))
                    }
                }
            } catch {
                // Rolled back: none of them is queued.
                let failure = addFailure(error, adding: batch.reduce(0) { $0 + $1.event.json.count })
                addedSinceTake = max(addedSinceTake - results.count, 0)
                for (ticket, _) in batch { results[ticket] = .failure(failure) }
            }
            let mine = results.removeValue(forKey: ticket) ?? .failure(SuprSendError(.internal, "outbox: lost track of an event"))
            if !results.isEmpty { pendingLock.withLock { outcomes.merge(results) { $1 } } }
            return mine
        }
        return try outcome.get()
    }

    /// A full outbox (its max_page_count, outbox_max_bytes) is a full queue; a full disk is a
    /// storage failure. SQLite says "full" for both.
    private func addFailure(_ failure: SQLiteConnection.Failure, adding bytes: Int) -> SuprSendError {
        if failure.code & 0xFF == 13 /* SQLITE_FULL */ {
            let pages = ((try? db.integer("PRAGMA page_count")) ?? nil) ?? 0
            let limit = ((try? db.integer("PRAGMA max_page_count")) ?? nil) ?? Int64.max
            let pageSize = ((try? db.integer("PRAGMA page_size")) ?? nil) ?? 4096
            if limit < Int64.max / pageSize, (pages * pageSize) + Int64(bytes) + 65_536 >= limit * pageSize {
                return SuprSendError(.queueFull, "outbox '\(path)' is full (outbox_max_bytes: \(limit * pageSize) bytes); "
                    + "nothing was queued")
            }
        }
        return SuprSendError(.storage, "outbox '\(path)': the event could not be written: \(failure.message); nothing was queued")
    }

    public var waitingCount: Int {
        Int(attempt("counting events", default: 0) { () throws(SQLiteConnection.Failure) in
            // Every event, less those under a live lease (live leases never overlap).
            try db.integer("""
                SELECT (SELECT count(*) FROM events)
                     - (SELECT count(*) FROM leases l, events e
                        WHERE l.until >= ?1 AND e.id BETWEEN l.first_id AND l.last_id)
                """, [.integer(now)]) ?? 0
        })
    }

    public func hasFullBatch(maxEvents: Int, maxJSONBytes: Int) -> Bool {
        attempt("reading the queue", default: false) { () throws(SQLiteConnection.Failure) in
            var full = false
            try db.query("""
                SELECT count(*), total(size) FROM
                    (SELECT length(json) AS size FROM events e WHERE \(Self.waiting) ORDER BY id LIMIT ?2)
                """, [.integer(now), .integer(Int64(maxEvents))]) { row in
                full = row.integer(0) >= maxEvents || row.integer(1) >= maxJSONBytes
            }
            return full
        }
    }

    public var oldestWaiting: (sequence: UInt64, enqueuedAtMilliseconds: Int64)? {
        attempt("reading the queue", default: nil) { () throws(SQLiteConnection.Failure) in
            var oldest: (UInt64, Int64)?
            try db.query("SELECT id, enqueued_at FROM events e WHERE \(Self.waiting) ORDER BY id LIMIT 1",
                         [.integer(now)]) { row in
                oldest = (UInt64(row.integer(0)), row.integer(1))
            }
            return oldest
        }
    }

    public func peek(maxEvents: Int, maxJSONBytes: Int) -> QueuePeek {
        attempt("reading the queue", default: QueuePeek(oldest: nil, full: false)) { () throws(SQLiteConnection.Failure) in
            var peek = QueuePeek(oldest: nil, full: false)
            var count = 0
            var bytes = 0
            try db.query("SELECT id, enqueued_at, length(json) FROM events e WHERE \(Self.waiting) ORDER BY id LIMIT ?2",
                         [.integer(now), .integer(Int64(maxEvents))]) { row in
                if peek.oldest == nil { peek.oldest = (UInt64(row.integer(0)), row.integer(1)) }
                count += 1
                bytes += Int(row.integer(2))
            }
            peek.full = count >= maxEvents || bytes >= maxJSONBytes
            return peek
        }
    }

    public var lastSequence: UInt64 {
        UInt64(attempt("reading the queue", default: 0) { () throws(SQLiteConnection.Failure) in
            try db.integer("SELECT max(high_water, ifnull((SELECT max(id) FROM events), 0)) FROM outbox_state") ?? 0
        })
    }

    public var lowestUnsettled: UInt64? {
        attempt("reading the queue", default: nil) { () throws(SQLiteConnection.Failure) in
            try db.integer("SELECT min(id) FROM events").map(UInt64.init)
        }
    }

    public func unsettledCount(upTo sequence: UInt64) -> Int {
        Int(attempt("counting events", default: 0) { () throws(SQLiteConnection.Failure) in
            try db.integer("SELECT count(*) FROM events WHERE id <= ?1", [.integer(Int64(clamping: sequence))]) ?? 0
        })
    }

    public func take(maxEvents: Int, maxJSONBytes: Int, upTo last: UInt64) -> [QueuedEvent] {
        attempt("claiming events", default: []) { () throws(SQLiteConnection.Failure) in
            addedSinceTake = 0
            let time = now
            var leases: [(id: Int64, events: [UInt64])] = []
            let taken = try db.transaction { () throws(SQLiteConnection.Failure) -> [QueuedEvent] in
                // Leases of clients that died (or gave up) are only in the way.
                try db.query("DELETE FROM leases WHERE until < ?1", [.integer(time)])
                var events: [QueuedEvent] = []
                var bytes = 0
                var full = false
                try db.query("""
                    SELECT id, enqueued_at, attempts, json FROM events e
                    WHERE \(Self.waiting) AND id <= ?3 ORDER BY id LIMIT ?2
                    """, [.integer(time), .integer(Int64(maxEvents)), .integer(Int64(clamping: last))]) { row in
                    let size = Int(row.bytes(3))
                    guard !full, events.isEmpty || bytes + size <= maxJSONBytes else {
                        full = true
                        return
                    }
                    var event = QueuedEvent(sequence: UInt64(row.integer(0)), enqueuedAtMilliseconds: row.integer(1),
                                            json: row.blob(3))
                    event.attempts = Int32(clamping: row.integer(2))
                    events.append(event)
                    bytes += size
                }
                guard !events.isEmpty else { return [] }
                // The batch is the first free events in id order, so what lies between two
                // of them is under another client's lease: a lease per run around those.
                var runStart = events[0].sequence
                for index in events.indices {
                    let id = events[index].sequence
                    let isLast = index == events.count - 1
                    let next = isLast ? nil : events[index + 1].sequence
                    if let next, next == id + 1 { continue }
                    if let next, try db.integer("SELECT 1 FROM events WHERE id > ?1 AND id < ?2 LIMIT 1",
                                                [.integer(Int64(id)), .integer(Int64(next))]) == nil {
                        continue  // only ids removed earlier lie between: one run
                    }
                    try db.query("INSERT INTO leases(first_id, last_id, owner, until) VALUES (?1, ?2, ?3, ?4)",
                                 [.integer(Int64(runStart)), .integer(Int64(id)), .text(owner),
                                  .integer(time + leaseMilliseconds)])
                    leases.append((db.lastInsertRowID, events.map(\.sequence).filter { $0 >= runStart && $0 <= id }))
                    if let next { runStart = next }
                }
                return events
            }
            // Committed: now they are this client's.
            for lease in leases {
                for event in lease.events { leaseOfEvent[event] = lease.id }
                eventsInLease[lease.id] = lease.events.count
            }
            return taken
        }
    }

    /// The leases this client holds: which covers each event it took, and how many of those
    /// have no fate yet (the lease row goes when none is left). Guarded by `lock`.
    private var leaseOfEvent: [UInt64: Int64] = [:]
    private var eventsInLease: [Int64: Int] = [:]

    /// These events are no longer this client's to send: drops the lease rows that no event
    /// is left in. Inside a transaction, with `lock` held.
    private func endLeases(of events: [QueuedEvent]) throws(SQLiteConnection.Failure) {
        for event in events {
            guard let lease = leaseOfEvent.removeValue(forKey: event.sequence) else { continue }
            let left = (eventsInLease[lease] ?? 1) - 1
            if left > 0 {
                eventsInLease[lease] = left
                continue
            }
            eventsInLease.removeValue(forKey: lease)
            // The owner too: once expired, the row may have gone and its id been reused.
            try db.query("DELETE FROM leases WHERE id = ?1 AND owner = ?2", [.integer(lease), .text(owner)])
        }
    }

    public func takeExpired(enqueuedBefore cutoffMilliseconds: Int64, maxEvents: Int) -> [QueuedEvent] {
        attempt("removing expired events", default: []) { () throws(SQLiteConnection.Failure) in
            try db.transaction { () throws(SQLiteConnection.Failure) in
                // Only the oldest waiting events are looked at (ids grow with time): a scan of
                // the whole file at every turn of the worker would cost more than the sending.
                let expired = try claim("""
                    DELETE FROM events WHERE id IN
                        (SELECT id FROM events e WHERE \(Self.waiting) ORDER BY id LIMIT ?3) AND enqueued_at < ?2
                    RETURNING id, enqueued_at, attempts, json
                    """, [.integer(now), .integer(cutoffMilliseconds), .integer(Int64(min(maxEvents, 1000)))])
                if let top = expired.last?.sequence { try raiseHighWater(removedUpTo: top) }
                return expired
            }
        }
    }

    /// Runs a statement that returns events, oldest first.
    private func claim(_ sql: String, _ values: [SQLiteValue]) throws(SQLiteConnection.Failure) -> [QueuedEvent] {
        var events: [QueuedEvent] = []
        try db.query(sql, values) { row in
            var event = QueuedEvent(sequence: UInt64(row.integer(0)), enqueuedAtMilliseconds: row.integer(1),
                                    json: row.blob(3))
            event.attempts = Int32(clamping: row.integer(2))
            events.append(event)
        }
        events.sort { $0.sequence < $1.sequence }
        return events
    }

    public func requeue(_ events: [QueuedEvent]) {
        guard !events.isEmpty else { return }
        attempt("returning events to the queue", default: ()) { () throws(SQLiteConnection.Failure) in
            try db.transaction { () throws(SQLiteConnection.Failure) in
                for event in events {
                    try db.query("UPDATE events SET attempts = ?1 WHERE id = ?2",
                                 [.integer(Int64(event.attempts)), .integer(Int64(event.sequence))])
                }
                try endLeases(of: events)
            }
        }
    }

    public func settle(_ events: [QueuedEvent]) {
        guard !events.isEmpty else { return }
        attempt("removing delivered events", default: ()) { () throws(SQLiteConnection.Failure) in
            // A batch is mostly one run of consecutive ids: a statement per run, not per event.
            let runs = Self.runs(of: events.map(\.sequence))
            try db.transaction { () throws(SQLiteConnection.Failure) in
                for run in runs {
                    try db.query("DELETE FROM events WHERE id BETWEEN ?1 AND ?2",
                                 [.integer(Int64(clamping: run.lowerBound)), .integer(Int64(clamping: run.upperBound))])
                }
                try endLeases(of: events)
                if let top = runs.last?.upperBound { try raiseHighWater(removedUpTo: top) }
            }
        }
    }

    /// Sorted ranges of consecutive ids that cover exactly `ids`.
    static func runs(of ids: [UInt64]) -> [ClosedRange<UInt64>] {
        var runs: [ClosedRange<UInt64>] = []
        for id in ids.sorted() {
            guard let last = runs.last else {
                runs.append(id...id)
                continue
            }
            if id <= last.upperBound { continue }  // a repeat
            if id - 1 == last.upperBound {
                runs[runs.count - 1] = last.lowerBound...id
            } else {
                runs.append(id...id)
            }
        }
        return runs
    }

    public func release(_ events: [QueuedEvent]) {
        guard !events.isEmpty else { return }
        attempt("releasing events", default: ()) { () throws(SQLiteConnection.Failure) in
            try db.transaction { () throws(SQLiteConnection.Failure) in
                try endLeases(of: events)
            }
        }
    }

    public var isDurable: Bool { true }
    public var pollInterval: Double? { 1.0 }

    public var storageBytes: Int64 {
        attempt("reading the file size", default: 0) { () throws(SQLiteConnection.Failure) in
            let pages = try db.integer("PRAGMA page_count") ?? 0
            let size = try db.integer("PRAGMA page_size") ?? 0
            return pages * size
        }
    }
}
