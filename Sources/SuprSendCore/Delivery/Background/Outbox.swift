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
/// One connection per client, used under a lock that fork() waits for (SQLite's own global
/// state must not be inherited mid-call), and never by a forked child, which opens its own.
public final class Outbox: EventQueue, @unchecked Sendable {
    public static let schemaVersion: Int64 = 1
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
            let version = try db.integer("PRAGMA user_version") ?? 0
            if version > Self.schemaVersion {
                throw SQLiteConnection.Failure(code: 0, message: "written by a newer version of libsuprsend "
                    + "(schema \(version); this one knows \(Self.schemaVersion))")
            }
            if version < Self.schemaVersion {
                try db.transaction { () throws(SQLiteConnection.Failure) in
                    try db.execute("""
                        CREATE TABLE IF NOT EXISTS events(
                            id INTEGER PRIMARY KEY,
                            enqueued_at INTEGER NOT NULL,
                            attempts INTEGER NOT NULL DEFAULT 0,
                            lease_owner TEXT,
                            lease_until INTEGER NOT NULL DEFAULT 0,
                            insert_id TEXT NOT NULL,
                            idempotency_key TEXT NOT NULL,
                            name TEXT NOT NULL,
                            distinct_id TEXT NOT NULL,
                            json BLOB NOT NULL);
                        PRAGMA user_version = \(Self.schemaVersion);
                        """)
                }
            }
            let pageSize = try db.integer("PRAGMA page_size") ?? 4096
            _ = try db.integer("PRAGMA max_page_count = \(max(maxBytes / max(pageSize, 512), 16))")
        } catch {
            throw Self.storageError(path: path, error)
        }
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
                            INSERT INTO events(enqueued_at, insert_id, idempotency_key, name, distinct_id, json)
                            VALUES (?1, ?2, ?3, ?4, ?5, ?6)
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
            try db.integer("SELECT count(*) FROM events WHERE lease_until < ?1", [.integer(now)]) ?? 0
        })
    }

    public func hasFullBatch(maxEvents: Int, maxJSONBytes: Int) -> Bool {
        attempt("reading the queue", default: false) { () throws(SQLiteConnection.Failure) in
            var full = false
            try db.query("""
                SELECT count(*), total(size) FROM
                    (SELECT length(json) AS size FROM events WHERE lease_until < ?1 ORDER BY id LIMIT ?2)
                """, [.integer(now), .integer(Int64(maxEvents))]) { row in
                full = row.integer(0) >= maxEvents || row.integer(1) >= maxJSONBytes
            }
            return full
        }
    }

    public var oldestWaiting: (sequence: UInt64, enqueuedAtMilliseconds: Int64)? {
        attempt("reading the queue", default: nil) { () throws(SQLiteConnection.Failure) in
            var oldest: (UInt64, Int64)?
            try db.query("SELECT id, enqueued_at FROM events WHERE lease_until < ?1 ORDER BY id LIMIT 1",
                         [.integer(now)]) { row in
                oldest = (UInt64(row.integer(0)), row.integer(1))
            }
            return oldest
        }
    }

    public var lastSequence: UInt64 {
        UInt64(attempt("reading the queue", default: 0) { () throws(SQLiteConnection.Failure) in
            try db.integer("SELECT max(id) FROM events") ?? 0
        })
    }

    public var lowestUnsettled: UInt64? {
        attempt("reading the queue", default: nil) { () throws(SQLiteConnection.Failure) in
            try db.integer("SELECT min(id) FROM events").map(UInt64.init)
        }
    }

    public func take(maxEvents: Int, maxJSONBytes: Int) -> [QueuedEvent] {
        attempt("claiming events", default: []) { () throws(SQLiteConnection.Failure) in
            addedSinceTake = 0
            let time = now
            return try db.transaction { () throws(SQLiteConnection.Failure) in
                var count = 0
                var bytes = 0
                var fits = true
                try db.query("SELECT length(json) FROM events WHERE lease_until < ?1 ORDER BY id LIMIT ?2",
                             [.integer(time), .integer(Int64(maxEvents))]) { row in
                    let size = Int(row.integer(0))
                    guard fits, count == 0 || bytes + size <= maxJSONBytes else {
                        fits = false
                        return
                    }
                    count += 1
                    bytes += size
                }
                guard count > 0 else { return [] }
                // The first `count` free events, leased to this client; fewer if a later one
                // was too big (the query above stops counting at the first that does not fit).
                return try claim("""
                    UPDATE events SET lease_owner = ?1, lease_until = ?2
                    WHERE id IN (SELECT id FROM events WHERE lease_until < ?3 ORDER BY id LIMIT ?4)
                    RETURNING id, enqueued_at, attempts, insert_id, idempotency_key, name, distinct_id, json
                    """, [.text(owner), .integer(time + leaseMilliseconds), .integer(time), .integer(Int64(count))])
            }
        }
    }

    public func takeExpired(enqueuedBefore cutoffMilliseconds: Int64, maxEvents: Int) -> [QueuedEvent] {
        attempt("removing expired events", default: []) { () throws(SQLiteConnection.Failure) in
            try db.transaction { () throws(SQLiteConnection.Failure) in
                // Only the oldest waiting events are looked at (ids grow with time): a scan of
                // the whole file at every turn of the worker would cost more than the sending.
                try claim("""
                    DELETE FROM events WHERE id IN
                        (SELECT id FROM events WHERE lease_until < ?1 ORDER BY id LIMIT ?3) AND enqueued_at < ?2
                    RETURNING id, enqueued_at, attempts, insert_id, idempotency_key, name, distinct_id, json
                    """, [.integer(now), .integer(cutoffMilliseconds), .integer(Int64(min(maxEvents, 1000)))])
            }
        }
    }

    /// Runs a statement that returns events, oldest first.
    private func claim(_ sql: String, _ values: [SQLiteValue]) throws(SQLiteConnection.Failure) -> [QueuedEvent] {
        var events: [QueuedEvent] = []
        try db.query(sql, values) { row in
            var event = QueuedEvent(sequence: UInt64(row.integer(0)), enqueuedAtMilliseconds: row.integer(1),
                                    json: row.blob(7))
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
                    try db.query("UPDATE events SET lease_owner = NULL, lease_until = 0, attempts = ?1 WHERE id = ?2",
                                 [.integer(Int64(event.attempts)), .integer(Int64(event.sequence))])
                }
            }
        }
    }

    public func settle(_ events: [QueuedEvent]) {
        guard !events.isEmpty else { return }
        attempt("removing delivered events", default: ()) { () throws(SQLiteConnection.Failure) in
            try db.transaction { () throws(SQLiteConnection.Failure) in
                for event in events {
                    try db.query("DELETE FROM events WHERE id = ?1", [.integer(Int64(event.sequence))])
                }
            }
        }
    }

    public func release(_ events: [QueuedEvent]) {
        guard !events.isEmpty else { return }
        attempt("releasing events", default: ()) { () throws(SQLiteConnection.Failure) in
            try db.transaction { () throws(SQLiteConnection.Failure) in
                for event in events {
                    try db.query("UPDATE events SET lease_owner = NULL, lease_until = 0 WHERE id = ?1 AND lease_owner = ?2",
                                 [.integer(Int64(event.sequence)), .text(owner)])
                }
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
