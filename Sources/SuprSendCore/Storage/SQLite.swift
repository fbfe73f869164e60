import CSQLite

/// A thin layer over one SQLite connection: statements prepared once, values bound and read
/// by position, and every failure as an error that says what and why. Not thread-safe: its
/// owner serialises every use (see `Outbox`).
final class SQLiteConnection {
    struct Failure: Error {
        var code: Int32
        var message: String

        /// SQLite's primary code (the low byte of an extended one).
        var primaryCode: Int32 { code & 0xFF }
        /// Another connection holds the lock: SQLITE_BUSY or SQLITE_LOCKED.
        var isBusy: Bool { primaryCode == SQLITE_BUSY || primaryCode == SQLITE_LOCKED }
        /// The file is damaged, or not a database: SQLITE_CORRUPT or SQLITE_NOTADB.
        var isDamage: Bool { primaryCode == SQLITE_CORRUPT || primaryCode == SQLITE_NOTADB }
        /// The file could not be read or written: SQLITE_IOERR, SQLITE_FULL.
        var isIOFailure: Bool { primaryCode == SQLITE_IOERR || primaryCode == SQLITE_FULL }
    }

    private let db: OpaquePointer
    private var statements: [String: OpaquePointer] = [:]

    /// Opens a file for reading and writing. Without `create`, SQLite makes no file: the outbox
    /// makes its own, with the mode it wants (see `OutboxFile`).
    convenience init(path: String, create: Bool = false) throws(Failure) {
        try self.init(opening: path, flags: SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0))
    }

    /// Opens a file only to read it, as it is: no lock, no journal or WAL, nothing created
    /// beside it (SQLite's `immutable`). For a file that no one writes at the moment.
    convenience init(readingUnchanged path: String) throws(Failure) {
        var uri = "file:"
        let hex = Array("0123456789ABCDEF".unicodeScalars)
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "/"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                uri.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                uri.unicodeScalars.append("%")
                uri.unicodeScalars.append(hex[Int(byte >> 4)])
                uri.unicodeScalars.append(hex[Int(byte & 0xF)])
            }
        }
        try self.init(opening: uri + "?immutable=1", flags: SQLITE_OPEN_READONLY | SQLITE_OPEN_URI)
    }

    private init(opening filename: String, flags: Int32) throws(Failure) {
        var handle: OpaquePointer?
        let code = sqlite3_open_v2(filename, &handle, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let handle else {
            let message = handle.map { Self.describe($0, code) } ?? String(cString: sqlite3_errstr(code))
            if let handle { sqlite3_close_v2(handle) }
            throw Failure(code: code, message: message)
        }
        db = handle
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(db)
    }

    /// "disk I/O error (No space left on device)": SQLite's words, and the system's when it has some.
    private static func describe(_ db: OpaquePointer, _ code: Int32) -> String {
        var message = String(cString: sqlite3_errmsg(db))
        let systemCode = sqlite3_system_errno(db)
        if systemCode != 0 {
            let system = systemErrorMessage(systemCode)
            if !message.contains(system) { message += " (\(system))" }
        }
        return message
    }

    private func failure(_ code: Int32) -> Failure {
        Failure(code: code, message: Self.describe(db, code))
    }

    func setBusyTimeout(milliseconds: Int32) {
        sqlite3_busy_timeout(db, milliseconds)
    }

    /// Whether closing checkpoints the WAL into the database file (SQLite's default: yes).
    func setCheckpointOnClose(_ on: Bool) {
        _ = suprsend_sqlite_set_no_checkpoint_on_close(db, on ? 0 : 1)
    }

    /// Whether the file this connection has open was deleted, or another file renamed over its
    /// path, since it was opened (SQLite compares the path's inode with the open one's).
    func fileHasMoved() -> Bool {
        var moved: Int32 = 0
        guard sqlite3_file_control(db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK else { return false }
        return moved != 0
    }

    /// The text results of a statement, one per row (PRAGMA quick_check).
    func texts(_ sql: String) throws(Failure) -> [String] {
        var result: [String] = []
        try query(sql) { row in result.append(row.text(0)) }
        return result
    }

    /// Runs SQL without results (several statements allowed).
    func execute(_ sql: String) throws(Failure) {
        let code = sqlite3_exec(db, sql, nil, nil, nil)
        guard code == SQLITE_OK else { throw failure(code) }
    }

    /// Runs one statement, binding `values` to ?1, ?2, ..., and calls `row` for each result row.
    func query(_ sql: String, _ values: [SQLiteValue] = [], row: (SQLiteRow) -> Void = { _ in }) throws(Failure) {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (index, value) in values.enumerated() {
            let position = Int32(index + 1)
            let code: Int32
            switch value {
            case .integer(let number): code = sqlite3_bind_int64(statement, position, number)
            case .text(let text):
                code = text.withCString { suprsend_sqlite_bind_text(statement, position, $0, Int32(text.utf8.count)) }
            case .blob(let bytes):
                code = bytes.withUnsafeBytes { suprsend_sqlite_bind_blob(statement, position, $0.baseAddress, Int32($0.count)) }
            case .null: code = sqlite3_bind_null(statement, position)
            }
            guard code == SQLITE_OK else { throw failure(code) }
        }
        while true {
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else { throw failure(code) }
            row(SQLiteRow(statement: statement))
        }
    }

    /// The first column of the first row as an integer, nil when there is no row or it is NULL.
    func integer(_ sql: String, _ values: [SQLiteValue] = []) throws(Failure) -> Int64? {
        var result: Int64?
        try query(sql, values) { row in
            if result == nil, !row.isNull(0) { result = row.integer(0) }
        }
        return result
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }

    private func prepared(_ sql: String) throws(Failure) -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else { throw failure(code) }
        statements[sql] = statement
        return statement
    }

    /// Runs `body` in a write transaction (BEGIN IMMEDIATE, so that two processes never both
    /// read and then wait to write), committing if it returns, rolling back if it throws.
    func transaction<T>(_ body: () throws(Failure) -> T) throws(Failure) -> T {
        // Prepared once, like every statement run through `query`: sqlite3_exec would parse
        // them again for every event (a fifth of an enqueue's instructions).
        try query("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try query("COMMIT")
            return result
        } catch {
            try? query("ROLLBACK")
            throw error
        }
    }
}

enum SQLiteValue {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null
}

/// One result row, valid only during the `query` callback.
struct SQLiteRow {
    let statement: OpaquePointer

    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    /// The size of a text or blob column, without copying it.
    func bytes(_ column: Int32) -> Int32 { sqlite3_column_bytes(statement, column) }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let pointer = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}
