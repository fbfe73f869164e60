import CSQLite
import Synchronization

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
/// Two connections per client: one for `add` (the callers' threads) and one for the worker,
/// each used under its own lock, so that an enqueue never waits behind the worker's SQL. fork()
/// waits for those locks (SQLite's own global state must not be inherited mid-call), and a
/// forked child never uses them: it opens its own.
///
/// The file is guarded as well as read:
/// - it is opened only once it is known to be an outbox of this workspace, or a new file
///   (`OutboxFile`), and checked (`PRAGMA quick_check`) before anything is written to it;
/// - damage found later (SQLite reports corruption, or the file was deleted or replaced under
///   the client) is kept (`damage`): enqueue refuses from then on, and flush and close say so;
/// - an event whose removal after delivery failed (a full disk) is remembered until the
///   removal commits, and never taken again by this client;
/// - a caller waits for another process's lock at most `busyTimeoutMilliseconds`.
public final class Outbox: EventQueue, @unchecked Sendable {
    public static let schemaVersion: Int64 = 3
    public static let defaultMaxBytes: Int64 = 1 << 30
    public static let defaultBusyTimeoutMilliseconds = 200
    /// How long the worker's connection waits for another process's lock: it holds up no
    /// caller, and giving up means trying again a turn later.
    static let workerBusyTimeoutMilliseconds: Int32 = 1000

    public let path: String
    private let lock = Lock()
    private let db: SQLiteConnection
    private let writerLock = Lock()
    private let writer: SQLiteConnection
    private let owner = UUIDv4.make()
    private let leaseMilliseconds: Int64
    private let maxBytes: Int64
    private let walLimitBytes: Int64
    private let busyTimeoutMilliseconds: Int
    private let clock: WorkerClock
    private let logger: Logger
    /// When `add` last checked that the path still names its file (monotonic seconds). Guarded
    /// by `writerLock`.
    private var lastMovedCheck = -Double.infinity
    /// Events this client added since its worker last took some: enough to know when to wake it.
    private let addedSinceTake = Atomic<Int>(0)
    /// Damage (sticky) and the worker's last failure (until an operation succeeds).
    private let healthLock = Lock()
    private var damageError: SuprSendError?
    private var failureError: SuprSendError?

    /// Opens (or creates) the outbox of `workspaceKey`. Throws `.storage` with the path and the
    /// cause: a file that is not an outbox (left as it was), one of another workspace, a newer
    /// schema, a damaged file.
    public init(path: String, workspaceKey: String, maxBytes: Int64 = defaultMaxBytes, leaseSeconds: Double,
                busyTimeoutMilliseconds: Int = defaultBusyTimeoutMilliseconds, powerSafe: Bool = false,
                clock: WorkerClock = SystemClock(), logger: Logger = .off) throws(SuprSendError) {
        self.path = path
        self.leaseMilliseconds = Int64(max(leaseSeconds, 1) * 1000)
        self.maxBytes = maxBytes
        // The WAL is part of the bound: it is checkpointed and cut back to an eighth of it
        // (between 64 KiB and 8 MiB: at most SQLite's default of a checkpoint every ~4 MB),
        // and the database gets the rest.
        self.walLimitBytes = min(max(maxBytes / 8, 64 << 10), 8 << 20)
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        self.clock = clock
        self.logger = logger
        let look = try OutboxFile.prepare(path: path, knownSchema: Self.schemaVersion,
                                          unmarkedSignatures: Self.eventColumns)
        do throws(SQLiteConnection.Failure) {
            var inspected = false
            if look.kind != .new, !look.hasWAL {
                // The whole database is in the file: read it as it is, leaving nothing behind.
                // That read takes no lock: if another process wrote meanwhile (it is making the
                // file, say), what was read may be torn, and the look is made again below,
                // under SQLite's locks.
                let before = OutboxFile.identity(path)
                do throws(SQLiteConnection.Failure) {
                    try Self.inspect(SQLiteConnection(readingUnchanged: path), look: look, workspaceKey: workspaceKey)
                    inspected = OutboxFile.identity(path) == before
                } catch where OutboxFile.identity(path) != before {
                    inspected = false
                }
            }
            let db = try SQLiteConnection(path: path)
            // Until the file is known to be a sound outbox of this workspace, closing must not
            // checkpoint a WAL into it.
            db.setCheckpointOnClose(false)
            db.setBusyTimeout(milliseconds: Self.workerBusyTimeoutMilliseconds)
            if look.kind != .new, !inspected { try Self.inspect(db, look: look, workspaceKey: workspaceKey) }
            if look.kind == .new {
                // The mark first, in the file itself (before WAL mode), so that the file is
                // recognised from its first page on.
                try Self.retryingWhileBusy { () throws(SQLiteConnection.Failure) in
                    if try db.integer("PRAGMA application_id") == 0 {
                        try db.execute("PRAGMA application_id = \(OutboxFile.applicationID)")
                    }
                }
            }
            // Switching a new file to WAL answers "busy" at once, without the busy timeout,
            // while another process opens the same file: try again for a while.
            try Self.retryingWhileBusy { () throws(SQLiteConnection.Failure) in try db.execute("PRAGMA journal_mode=WAL") }
            // WAL with NORMAL: a commit is in the log before add returns; kill -9 loses nothing
            // (power loss may lose the last commits). FULL adds an fsync to every commit.
            let synchronous = powerSafe ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"
            try db.execute(synchronous)
            if try Self.createOrUpgradeSchema(db, workspaceKey: workspaceKey, path: path) {
                // The mark of an upgraded 0.1.0 file is in the WAL: into the file with it, so
                // that the next opener recognises the file by its first page.
                _ = try? db.texts("PRAGMA wal_checkpoint(PASSIVE)")
            }
            db.setCheckpointOnClose(true)
            let writer = try SQLiteConnection(path: path)
            writer.setBusyTimeout(milliseconds: Int32(clamping: busyTimeoutMilliseconds))
            try writer.execute(synchronous)
            self.db = db
            self.writer = writer
            for connection in [db, writer] { try limitSize(connection) }
        } catch {
            throw Self.storageError(path: path, error)
        }
    }

    /// Before anything is written: the file is sound (`PRAGMA quick_check`, about 1 ms per MB
    /// of outbox; README), a 0.1.0 file has our `events` table, and a file of this schema is
    /// this workspace's.
    private static func inspect(_ db: SQLiteConnection, look: OutboxFile.Look, workspaceKey: String) throws(SQLiteConnection.Failure) {
        let problems: [String]
        do throws(SQLiteConnection.Failure) {
            problems = try db.texts("PRAGMA quick_check(5)")
        } catch where error.isDamage {
            problems = [error.message]
        }
        guard problems == ["ok"] else {
            throw SQLiteConnection.Failure(code: SQLITE_CORRUPT, message: "damaged (\(problems.joined(separator: "; "))); "
                + "it was left as it was: move it (and its -wal file) away, and see the README (\"A damaged outbox\") "
                + "to recover its events")
        }
        if look.kind == .unmarked {
            var schema = ""
            try db.query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'") { row in schema = row.text(0) }
            guard eventColumns.allSatisfy({ schema.contains($0) }) else {
                throw SQLiteConnection.Failure(code: 0, message: "not an outbox (a SQLite database of another application?); "
                    + "nothing was changed")
            }
        }
        if try db.integer("PRAGMA user_version") == schemaVersion {
            try checkWorkspace(db, workspaceKey: workspaceKey)
        }
    }

    /// The database may grow to the bound less the WAL's share; the WAL is checkpointed
    /// before it passes its share, and cut back to it after.
    private func limitSize(_ connection: SQLiteConnection) throws(SQLiteConnection.Failure) {
        let pageSize = try connection.integer("PRAGMA page_size") ?? 4096
        _ = try connection.integer("PRAGMA max_page_count = \(max((maxBytes - walLimitBytes) / max(pageSize, 512), 16))")
        _ = try connection.integer("PRAGMA journal_size_limit = \(walLimitBytes)")
        _ = try connection.integer("PRAGMA wal_autocheckpoint = \(max(walLimitBytes / 2 / max(pageSize, 512), 8))")
    }

    /// Schema 3.
    /// - Event ids are never given out twice, even after the table empties: a flush or a close
    ///   in any process waits for "every id up to the highest when it began", which a reused,
    ///   lower id would join after the fact. A plain rowid (schema 1) starts again above the
    ///   highest row left; so `add` gives the next id above both that row and
    ///   `outbox_state.high_water`, the highest id ever removed. AUTOINCREMENT would do the
    ///   same by writing its counter at every insert, a second page in each commit, which
    ///   halved the enqueue rate; the mark is written only when a removal takes the top row.
    /// - Leases live in `leases`, a row per range of ids (schema 1 had lease columns in each
    ///   event row; an upgraded file keeps them, unused).
    /// - The file belongs to one workspace, `outbox_state.workspace_key` (schema 3): its events
    ///   are signed with that key, and a client of another workspace is refused the file.
    /// - How many requests carried an event lives in `retries`, a small row per event sent
    ///   and not yet delivered (schema 3): counting an attempt in the event's own row rewrote
    ///   its JSON, so requeuing a batch of 800 KiB wrote 800 KiB to the WAL.
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
    /// Column definitions every version's `events` table has, as written in its schema: how a
    /// 0.1.0 file, which has no mark, is recognised.
    static let eventColumns = ["enqueued_at INTEGER NOT NULL", "insert_id TEXT NOT NULL", "idempotency_key TEXT NOT NULL",
                               "distinct_id TEXT NOT NULL", "json BLOB NOT NULL"]
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

    /// Creates the tables in a new file, or upgrades a schema 1 or 2 file (which keeps its
    /// events), and checks that the file is this workspace's. The version is read again under
    /// the write lock: processes that open one file at the same moment do this one at a time,
    /// and only the first does anything.
    /// Returns true when it upgraded a 0.1.0 file.
    private static func createOrUpgradeSchema(_ db: SQLiteConnection, workspaceKey: String, path: String) throws(SQLiteConnection.Failure) -> Bool {
        func newerFile(_ version: Int64) -> SQLiteConnection.Failure {
            SQLiteConnection.Failure(code: 0, message: "written by a newer version of libsuprsend "
                + "(schema \(version); this one knows \(schemaVersion)); nothing was changed")
        }
        let seen = try db.integer("PRAGMA user_version") ?? 0
        if seen > schemaVersion { throw newerFile(seen) }
        if seen == schemaVersion {
            try checkWorkspace(db, workspaceKey: workspaceKey)
            return false
        }
        return try db.transaction { () throws(SQLiteConnection.Failure) -> Bool in
            let version = try db.integer("PRAGMA user_version") ?? 0
            switch version {
            case schemaVersion:
                try checkWorkspace(db, workspaceKey: workspaceKey)
                return false
            case 0:
                try db.execute(createEvents)
                for statement in createSchema2Tables { try db.execute(statement) }
            case 1, 2:
                if version == 1 {
                    // Leases held in the old columns are dropped: upgrade every process that
                    // shares the file together (a repeat is dropped by the hub, never lost).
                    for statement in createSchema2Tables { try db.execute(statement) }
                }
                // The file had no owner: it becomes this workspace's, unless it holds events
                // signed for another.
                let others = try db.integer("SELECT count(*) FROM events WHERE instr(json, ?1) = 0",
                                            [.blob(envMember(workspaceKey))]) ?? 0
                if others > 0 {
                    throw SQLiteConnection.Failure(code: 0, message: "holds \(others) event(s) of another workspace than "
                        + "'\(workspaceKey)'; nothing was changed: give each workspace its own outbox file")
                }
            default:
                throw newerFile(version)
            }
            try db.execute("CREATE TABLE retries(id INTEGER PRIMARY KEY, attempts INTEGER NOT NULL)")
            try db.execute("INSERT INTO retries(id, attempts) SELECT id, attempts FROM events WHERE attempts > 0")
            try db.execute("ALTER TABLE outbox_state ADD COLUMN workspace_key TEXT")
            if version == 2 {
                try db.query("UPDATE outbox_state SET workspace_key = ?1", [.text(workspaceKey)])
            } else {
                try db.query("""
                    INSERT INTO outbox_state(high_water, workspace_key) SELECT ifnull(max(id), 0), ?1 FROM events
                    """, [.text(workspaceKey)])
            }
            if try db.integer("PRAGMA application_id") == 0 {
                try db.execute("PRAGMA application_id = \(OutboxFile.applicationID)")
            }
            try db.execute("PRAGMA user_version = \(schemaVersion)")
            return version != 0
        }
    }

    /// `,"env":"KEY"` as the encoder writes it into every event of that workspace.
    private static func envMember(_ workspaceKey: String) -> [UInt8] {
        var writer = JSONWriter()
        writer.appendRaw(",\"env\":")
        writer.appendString(workspaceKey)
        return writer.bytes
    }

    /// The file is this workspace's, or refused naming both.
    private static func checkWorkspace(_ db: SQLiteConnection, workspaceKey: String) throws(SQLiteConnection.Failure) {
        var owner: String?
        try db.query("SELECT workspace_key FROM outbox_state LIMIT 1") { row in owner = row.isNull(0) ? nil : row.text(0) }
        guard let owner, owner != workspaceKey else { return }
        throw SQLiteConnection.Failure(code: 0, message: "belongs to workspace '\(owner)', and this client's workspace is "
            + "'\(workspaceKey)': one outbox file holds the events of one workspace (their signatures use its key); "
            + "give each workspace its own file")
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

    // MARK: - Damage and failures

    /// The damage found so far (sticky): the file is corrupt, or was deleted or replaced.
    public var damage: SuprSendError? {
        // Read at every enqueue: no lock until there is something to read.
        guard isDamaged.load(ordering: .acquiring) else { return nil }
        return healthLock.withLock { damageError }
    }

    /// Whether `damageError` is set (it never goes back).
    private let isDamaged = Atomic<Bool>(false)

    /// Why the worker's last use of the file failed, until one succeeds (a full disk, an I/O
    /// error, a lock held too long by another process).
    public var failure: SuprSendError? { healthLock.withLock { damageError ?? failureError } }

    /// Keeps the first damage found; its log line waits for `writeDamageLine`, after the
    /// connection's lock (the host's log callback never runs under a lock of ours).
    private func noteDamage(_ why: String) {
        healthLock.withLock {
            guard damageError == nil else { return }
            damageError = SuprSendError(.storage, "outbox '\(path)': \(why); events still in it are not sent, and new "
                + "ones are refused (see the README, \"A damaged outbox\")")
            damageLine = "outbox '\(path)': \(why); no more events are taken from it or added to it"
            isDamaged.store(true, ordering: .releasing)
        }
    }

    /// The damage's log line, once. Guarded by `healthLock`.
    private var damageLine: String?

    /// Writes the damage's log line if it was not written yet. With no lock held.
    private func writeDamageLine() {
        if let line = healthLock.withLock({ () -> String? in defer { damageLine = nil }; return damageLine }) {
            logger.log(.error, line)
        }
    }

    /// Says whether `failure` is damage (and keeps it).
    private func isDamage(_ failure: SQLiteConnection.Failure) -> Bool {
        guard failure.isDamage else { return false }
        noteDamage("damaged (\(failure.message))")
        return true
    }

    private static let movedMessage = "the file was deleted or replaced while the client had it open"

    /// Checks that the path still names the file this connection has open.
    private func checkNotMoved(_ connection: SQLiteConnection) throws(SuprSendError) {
        if let damage { throw damage }
        guard connection.fileHasMoved() else { return }
        noteDamage(Self.movedMessage)
        if let damage { throw damage }
    }

    /// Runs `body` on the worker's connection; a failure is logged and kept (`failure`), not
    /// thrown (the events stay in the file and are tried again). Nothing runs once the file is
    /// damaged.
    private func attempt<T>(_ what: String, writes: Bool = false, default value: T,
                            _ body: () throws(SQLiteConnection.Failure) -> T) -> T {
        var failed: SQLiteConnection.Failure?
        let result: T = lock.withLock {
            // A damaged file is not written to again: a replaced file's path may already
            // be another file's, whose WAL has the same name.
            if writes, damage != nil { return value }
            do throws(SQLiteConnection.Failure) {
                let result = try body()
                healthLock.withLock { failureError = nil }
                return result
            } catch {
                if !isDamage(error) {
                    healthLock.withLock {
                        failureError = SuprSendError(.storage, "outbox '\(path)': \(what) failed: \(error.message)")
                    }
                }
                failed = error
                return value
            }
        }
        // Logged after the lock: the host's log callback runs no code of ours under it.
        if let failed, !failed.isDamage { logger.log(.error, "outbox '\(path)': \(what) failed: \(failed.message)") }
        writeDamageLine()
        return result
    }

    private var now: Int64 { clock.wallMilliseconds() }

    /// SQL: the columns `event(_:)` reads, of event `e`.
    private static let eventColumnsRead = "id, enqueued_at, \(attemptsOfEvent), json, insert_id, idempotency_key, name, distinct_id"

    /// An event from a row of `eventColumnsRead`: its identity from the columns written at
    /// enqueue, not read back from its JSON.
    private static func event(_ row: SQLiteRow) -> QueuedEvent {
        var event = QueuedEvent(sequence: UInt64(row.integer(0)), enqueuedAtMilliseconds: row.integer(1), json: row.blob(3))
        event.attempts = Int32(clamping: row.integer(2))
        event.identity = EventIdentity(insertId: row.text(4), idempotencyKey: row.text(5), name: row.text(6),
                                       distinctId: row.text(7))
        return event
    }

    /// SQL: how many requests carried event `e`.
    private static let attemptsOfEvent = "ifnull((SELECT attempts FROM retries r WHERE r.id = e.id), 0)"

    /// SQL: event `e` is under no live lease (?1: now), so it waits to be sent.
    private static let waiting = "NOT EXISTS (SELECT 1 FROM leases l WHERE l.until >= ?1 AND e.id BETWEEN l.first_id AND l.last_id)"

    /// SQL: the waiting events, oldest first when ordered by id. The scan starts at the first
    /// waiting event rather than stepping over the events in flight one by one (their leases
    /// cover the front of the queue: 400 rows read and tested for each look, a third of the
    /// worker's CPU). That event is the very first, or the first after some lease's last id:
    /// the one before it is under a lease that it is not under.
    private static let waitingRows = """
        e.id >= ifnull((SELECT min(c) FROM
                            (SELECT (SELECT min(id) FROM events) AS c
                             UNION ALL
                             SELECT (SELECT min(id) FROM events WHERE id > l.last_id) FROM leases l WHERE l.until >= ?1)
                        WHERE c IS NOT NULL
                          AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.until >= ?1 AND c BETWEEN l.first_id AND l.last_id)),
                       9223372036854775807)
        AND \(waiting)
        """

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
        let outcome: Result<(UInt64, Int), SuprSendError> = writerLock.withLock {
            if let done = pendingLock.withLock({ outcomes.removeValue(forKey: ticket) }) { return done }
            let batch = pendingLock.withLock {
                defer { pending.removeAll(keepingCapacity: true) }
                return pending
            }
            var results: [Int: Result<(UInt64, Int), SuprSendError>] = [:]
            do throws(SuprSendError) {
                // A stat() of the path costs 2-3 us here, a tenth of a commit: commits that
                // follow one another within a millisecond share one look. Whatever comes after a
                // pause is looked at.
                let now = Clock.monotonicSeconds()
                if now - lastMovedCheck >= 0.001 {
                    lastMovedCheck = now
                    try checkNotMoved(writer)
                } else if let damage {
                    throw damage
                }
            } catch {
                for (ticket, _) in batch { results[ticket] = .failure(error) }
            }
            if results.isEmpty {
                // How many wait with each event, for the caller's wake-up rule: an estimate (the
                // worker may take some meanwhile), read once rather than counted after.
                let before = addedSinceTake.load(ordering: .relaxed)
                var added = 0
                do throws(SQLiteConnection.Failure) {
                    try writer.transaction { () throws(SQLiteConnection.Failure) in
                        for (ticket, event) in batch {
                            try writer.query("""
                                INSERT INTO events(id, enqueued_at, insert_id, idempotency_key, name, distinct_id, json)
                                VALUES ((SELECT max(high_water, ifnull((SELECT max(id) FROM events), 0)) + 1 FROM outbox_state),
                                        ?1, ?2, ?3, ?4, ?5, ?6)
                                """, [.integer(event.time), .text(event.insertId), .text(event.idempotencyKey ?? ""),
                                      .text(event.name), .text(event.distinctId), .blob(event.json)])
                            added += 1
                            results[ticket] = .success((UInt64(writer.lastInsertRowID), before + added))
                        }
                    }
                    addedSinceTake.add(added, ordering: .relaxed)
                } catch {
                    // Rolled back: none of them is queued.
                    let failure = addFailure(error, adding: batch.reduce(0) { $0 + $1.event.json.count })
                    for (ticket, _) in batch { results[ticket] = .failure(failure) }
                }
            }
            let mine = results.removeValue(forKey: ticket) ?? .failure(SuprSendError(.internal, "outbox: lost track of an event"))
            if !results.isEmpty { pendingLock.withLock { outcomes.merge(results) { $1 } } }
            return mine
        }
        writeDamageLine()
        return try outcome.get()
    }

    /// A full outbox (its max_page_count, outbox_max_bytes) is a full queue; a full disk is a
    /// storage failure. SQLite says "full" for both. With the writer's lock held.
    private func addFailure(_ failure: SQLiteConnection.Failure, adding bytes: Int) -> SuprSendError {
        if failure.primaryCode == SQLITE_FULL {
            let pages = ((try? writer.integer("PRAGMA page_count")) ?? nil) ?? 0
            let limit = ((try? writer.integer("PRAGMA max_page_count")) ?? nil) ?? Int64.max
            let pageSize = ((try? writer.integer("PRAGMA page_size")) ?? nil) ?? 4096
            if limit < Int64.max / pageSize, (pages * pageSize) + Int64(bytes) + 65_536 >= limit * pageSize {
                return SuprSendError(.queueFull, "outbox '\(path)' is full (outbox_max_bytes: \(maxBytes) bytes, "
                    + "its WAL included); nothing was queued")
            }
        }
        if failure.isBusy {
            return SuprSendError(.storage, "outbox '\(path)' is busy: another process held its lock for more than "
                + "\(busyTimeoutMilliseconds) ms (outbox_busy_timeout_ms); nothing was queued")
        }
        if isDamage(failure), let damage { return damage }
        return SuprSendError(.storage, "outbox '\(path)': the event could not be written: \(failure.message); nothing was queued")
    }

    public var waitingCount: Int {
        Int(attempt("counting events", default: 0) { () throws(SQLiteConnection.Failure) -> Int64 in
            // Every event, less those under a live lease (live leases never overlap).
            let time = now
            var count = try db.integer("""
                SELECT (SELECT count(*) FROM events)
                     - (SELECT count(*) FROM leases l, events e
                        WHERE l.until >= ?1 AND e.id BETWEEN l.first_id AND l.last_id)
                """, [.integer(time)]) ?? 0
            // Less those that have their fate and wait only to be removed.
            for run in Self.runs(of: Array(removalPending)) {
                count -= try db.integer("SELECT count(*) FROM events e WHERE \(Self.waiting) AND id BETWEEN ?2 AND ?3",
                                        [.integer(time), .integer(Int64(clamping: run.lowerBound)),
                                         .integer(Int64(clamping: run.upperBound))]) ?? 0
            }
            return max(count, 0)
        })
    }

    public func hasFullBatch(maxEvents: Int, maxJSONBytes: Int) -> Bool {
        attempt("reading the queue", default: false) { () throws(SQLiteConnection.Failure) in
            var full = false
            try db.query("""
                SELECT count(*), total(size) FROM
                    (SELECT length(json) AS size FROM events e WHERE \(Self.waitingRows) ORDER BY id LIMIT ?2)
                """, [.integer(now), .integer(Int64(maxEvents))]) { row in
                full = row.integer(0) >= maxEvents || row.integer(1) >= maxJSONBytes
            }
            return full
        }
    }

    public var oldestWaiting: (sequence: UInt64, enqueuedAtMilliseconds: Int64)? {
        attempt("reading the queue", default: nil) { () throws(SQLiteConnection.Failure) in
            var oldest: (UInt64, Int64)?
            try db.query("SELECT id, enqueued_at FROM events e WHERE \(Self.waitingRows) ORDER BY id LIMIT 1",
                         [.integer(now)]) { row in
                oldest = (UInt64(row.integer(0)), row.integer(1))
            }
            return oldest
        }
    }

    public func peek(maxEvents: Int, maxJSONBytes: Int) -> QueuePeek {
        attempt("reading the queue", default: QueuePeek(oldest: nil, full: false)) { () throws(SQLiteConnection.Failure) in
            var peek = QueuePeek(oldest: nil, full: false)
            // Once a turn of the worker: is the path still this file?
            if damage == nil, db.fileHasMoved() { noteDamage(Self.movedMessage) }
            guard damage == nil else { return peek }
            // Events that have their fate and wait only to be removed (a full disk): as soon as
            // there is room again, not at the next claim.
            if !removalPending.isEmpty {
                do throws(SQLiteConnection.Failure) {
                    try db.transaction { () throws(SQLiteConnection.Failure) in try removeSettledEvents() }
                    removalPending.removeAll()
                } catch {
                    // Tried again at the next turn.
                }
            }
            var count = 0
            var bytes = 0
            try db.query("SELECT id, enqueued_at, length(json) FROM events e WHERE \(Self.waitingRows) ORDER BY id LIMIT ?2",
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

    /// Events still in the file that have their fate (`removalPending`) do not count.
    public var lowestUnsettled: UInt64? {
        attempt("reading the queue", default: nil) { () throws(SQLiteConnection.Failure) in
            if removalPending.isEmpty { return try db.integer("SELECT min(id) FROM events").map(UInt64.init) }
            var lowest: UInt64?
            try db.query("SELECT id FROM events ORDER BY id LIMIT ?1", [.integer(Int64(removalPending.count + 1))]) { row in
                let id = UInt64(row.integer(0))
                if lowest == nil, !removalPending.contains(id) { lowest = id }
            }
            return lowest
        }
    }

    public func unsettledCount(upTo sequence: UInt64) -> Int {
        Int(attempt("counting events", default: 0) { () throws(SQLiteConnection.Failure) -> Int64 in
            let count = try db.integer("SELECT count(*) FROM events WHERE id <= ?1", [.integer(Int64(clamping: sequence))]) ?? 0
            return max(count - Int64(removalPending.lazy.filter { $0 <= sequence }.count), 0)
        })
    }

    /// Events that have their fate but whose removal from the file failed (a full disk): they
    /// are removed before anything else is taken, and never sent again by this client.
    /// Guarded by `lock`.
    private var removalPending: Set<UInt64> = []

    /// Inside a transaction of the worker's, with `lock` held: removes the events of
    /// `removalPending`. The caller empties the set once the transaction commits.
    private func removeSettledEvents() throws(SQLiteConnection.Failure) {
        guard !removalPending.isEmpty else { return }
        let runs = Self.runs(of: Array(removalPending))
        try deleteEvents(runs)
        if let top = runs.last?.upperBound { try raiseHighWater(removedUpTo: top) }
    }

    /// Removes these runs of ids, and their attempt counts. Inside a transaction, with `lock`.
    private func deleteEvents(_ runs: [ClosedRange<UInt64>]) throws(SQLiteConnection.Failure) {
        for run in runs {
            let bounds: [SQLiteValue] = [.integer(Int64(clamping: run.lowerBound)), .integer(Int64(clamping: run.upperBound))]
            try db.query("DELETE FROM events WHERE id BETWEEN ?1 AND ?2", bounds)
            try db.query("DELETE FROM retries WHERE id BETWEEN ?1 AND ?2", bounds)
        }
    }

    public func take(maxEvents: Int, maxJSONBytes: Int, upTo last: UInt64) -> [QueuedEvent] {
        attempt("claiming events", writes: true, default: []) { () throws(SQLiteConnection.Failure) in
            addedSinceTake.store(0, ordering: .relaxed)
            let time = now
            var leases: [(id: Int64, events: [UInt64])] = []
            let taken = try db.transaction { () throws(SQLiteConnection.Failure) -> [QueuedEvent] in
                try removeSettledEvents()
                // Leases of clients that died (or gave up) are only in the way.
                try db.query("DELETE FROM leases WHERE until < ?1", [.integer(time)])
                var events: [QueuedEvent] = []
                var bytes = 0
                var full = false
                try db.query("""
                    SELECT \(Self.eventColumnsRead) FROM events e
                    WHERE \(Self.waitingRows) AND id <= ?3 ORDER BY id LIMIT ?2
                    """, [.integer(time), .integer(Int64(maxEvents)), .integer(Int64(clamping: last))]) { row in
                    let size = Int(row.bytes(3))
                    guard !full, events.isEmpty || bytes + size <= maxJSONBytes else {
                        full = true
                        return
                    }
                    events.append(Self.event(row))
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
            // Committed: now they are this client's, and what had its fate is gone.
            removalPending.removeAll()
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
        attempt("removing expired events", writes: true, default: []) { () throws(SQLiteConnection.Failure) in
            let expired = try db.transaction { () throws(SQLiteConnection.Failure) in
                try removeSettledEvents()
                // Only the oldest waiting events are looked at (ids grow with time): a scan of
                // the whole file at every turn of the worker would cost more than the sending.
                let expired = try claim("""
                    SELECT \(Self.eventColumnsRead) FROM events e
                    WHERE e.id IN (SELECT id FROM events e WHERE \(Self.waitingRows) ORDER BY id LIMIT ?3)
                      AND enqueued_at < ?2
                    """, [.integer(now), .integer(cutoffMilliseconds), .integer(Int64(min(maxEvents, 1000)))])
                let runs = Self.runs(of: expired.map(\.sequence))
                try deleteEvents(runs)
                if let top = runs.last?.upperBound { try raiseHighWater(removedUpTo: top) }
                return expired
            }
            removalPending.removeAll()
            return expired
        }
    }

    /// Runs a statement that returns events, oldest first.
    private func claim(_ sql: String, _ values: [SQLiteValue]) throws(SQLiteConnection.Failure) -> [QueuedEvent] {
        var events: [QueuedEvent] = []
        try db.query(sql, values) { row in events.append(Self.event(row)) }
        events.sort { $0.sequence < $1.sequence }
        return events
    }

    public func requeue(_ events: [QueuedEvent]) {
        guard !events.isEmpty else { return }
        attempt("returning events to the queue", writes: true, default: ()) { () throws(SQLiteConnection.Failure) in
            try db.transaction { () throws(SQLiteConnection.Failure) in
                for event in events {
                    try db.query("INSERT OR REPLACE INTO retries(id, attempts) VALUES (?1, ?2)",
                                 [.integer(Int64(event.sequence)), .integer(Int64(event.attempts))])
                }
                try endLeases(of: events)
            }
        }
    }

    public func settle(_ events: [QueuedEvent]) {
        guard !events.isEmpty else { return }
        attempt("removing delivered events", writes: true, default: ()) { () throws(SQLiteConnection.Failure) in
            // A batch is mostly one run of consecutive ids: a statement per run, not per event.
            let runs = Self.runs(of: events.map(\.sequence))
            do throws(SQLiteConnection.Failure) {
                try db.transaction { () throws(SQLiteConnection.Failure) in
                    try deleteEvents(runs)
                    try endLeases(of: events)
                    if let top = runs.last?.upperBound { try raiseHighWater(removedUpTo: top) }
                }
            } catch {
                // They have their fate: whatever happens to the file, this client does not
                // take them again (the next transaction removes them first).
                removalPending.formUnion(events.lazy.map(\.sequence))
                throw error
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
        attempt("releasing events", writes: true, default: ()) { () throws(SQLiteConnection.Failure) in
            try db.transaction { () throws(SQLiteConnection.Failure) in
                try removeSettledEvents()
                try endLeases(of: events)
            }
            removalPending.removeAll()
        }
    }

    public var isDurable: Bool { true }
    public var pollInterval: Double? { 1.0 }

    /// The database and its WAL.
    public var storageBytes: Int64 {
        attempt("reading the file size", default: 0) { () throws(SQLiteConnection.Failure) in
            let pages = try db.integer("PRAGMA page_count") ?? 0
            let size = try db.integer("PRAGMA page_size") ?? 0
            return pages * size + OutboxFile.fileSize(path + "-wal")
        }
    }
}
