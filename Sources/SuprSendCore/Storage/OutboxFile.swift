import Glibc

/// What a path holds, decided from its bytes before SQLite opens it: nothing is written to a
/// file until it is known to be an outbox (or a new, empty one), so another application's
/// database, a file of a newer schema or any other file is refused exactly as it was.
///
/// An outbox is marked in the database header (`PRAGMA application_id`, written before anything
/// else when the file is made), which a reader finds at a fixed offset without SQLite. Files of
/// 0.1.0 carry no mark: they are known by the columns of their `events` table in the schema
/// text, which lives on the first page.
enum OutboxFile {
    /// "SSOB" (SuprSend OutBox), at offset 68 of the header.
    static let applicationID: Int32 = 0x5353_4F42

    enum Kind: Equatable {
        /// Made now, or empty: SQLite writes its first page.
        case new
        /// Marked as an outbox; its schema (by the header) is this or older.
        case marked
        /// A 0.1.0 outbox (schema 1 or 2, no mark): by its first page when it has no WAL; with
        /// a WAL, whose pages are newer, SQLite must confirm it (`Outbox`).
        case unmarked
    }

    /// What is at the path, and whether a WAL file (not empty) lies beside it: then the file
    /// alone is not the whole database, and only SQLite can read it.
    struct Look: Equatable {
        var kind: Kind
        var hasWAL: Bool
    }

    /// Makes the file (mode 0600, whatever the umask: queued events hold personal data) when
    /// there is none, or tells what is there. Throws `.storage` naming the path and why.
    static func prepare(path: String, knownSchema: Int64, unmarkedSignatures: [String]) throws(SuprSendError) -> Look {
        for _ in 0..<3 {
            // The WAL's size first: a process making the file writes its first page, then its
            // WAL, so a WAL seen before the file's size never pairs with an older, empty file.
            let walSize = fileSize(path + "-wal")
            var info = stat()
            if stat(path, &info) != 0 {
                let code = errno
                guard code == ENOENT else { throw failure(path, "cannot be read: \(systemErrorMessage(code))") }
                switch create(path) {
                case .made: return Look(kind: .new, hasWAL: false)
                case .exists: continue  // another process made it first: look at it
                case .failed(let code): throw failure(path, "cannot be created: \(systemErrorMessage(code))")
                }
            }
            guard info.st_mode & S_IFMT == S_IFREG else {
                throw failure(path, "not a regular file; nothing was changed")
            }
            return try classify(path: path, size: Int(info.st_size), walSize: walSize, knownSchema: knownSchema,
                                unmarkedSignatures: unmarkedSignatures)
        }
        throw failure(path, "appeared and disappeared while it was being opened")
    }

    private enum Creation {
        case made, exists, failed(Int32)
    }

    /// Creates the file with O_EXCL and mode 0600. SQLite gives its -wal and -shm files the
    /// mode of the database file.
    private static func create(_ path: String) -> Creation {
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR)
        guard fd >= 0 else {
            let code = errno
            return code == EEXIST ? .exists : .failed(code)
        }
        // A umask that takes the owner's own bits away (0200, 0400) would leave a file SQLite
        // cannot use; the group's and others' bits are never given, whatever the umask.
        var info = stat()
        if fstat(fd, &info) == 0, info.st_mode & 0o777 != 0o600 { _ = fchmod(fd, S_IRUSR | S_IWUSR) }
        close(fd)
        return .made
    }

    private static func classify(path: String, size: Int, walSize: Int64, knownSchema: Int64,
                                 unmarkedSignatures: [String]) throws(SuprSendError) -> Look {
        let hasWAL = walSize > 0
        if size == 0 {
            // A database whose first page is only in a WAL is not one we made (the mark is
            // written to the file before WAL mode begins): not ours to guess about.
            guard walSize == 0 else {
                throw failure(path, "empty, with a non-empty -wal file beside it: not an outbox this library made; "
                    + "nothing was changed")
            }
            return Look(kind: .new, hasWAL: false)
        }
        let header = readPrefix(path, count: 65_536)
        guard header.count >= 100, header.starts(with: Array("SQLite format 3\0".utf8)) else {
            throw failure(path, "not an outbox (not a SQLite database); nothing was changed")
        }
        let schema = Int64(bigEndianInt32(header, at: 60))
        let mark = bigEndianInt32(header, at: 68)
        if mark == applicationID {
            if schema > knownSchema {
                throw failure(path, "written by a newer version of libsuprsend (schema \(schema); this one knows "
                    + "\(knownSchema)); nothing was changed")
            }
            return Look(kind: .marked, hasWAL: hasWAL)
        }
        // Without the mark: a 0.1.0 outbox (schema 1 or 2) whose schema text is on page 1, or
        // may be in its WAL (its first page was rewritten there: the mark of an upgrade, say).
        let pageSize = Self.pageSize(header)
        let firstPage = header.prefix(pageSize)
        if mark == 0, schema == 1 || schema == 2,
           hasWAL || unmarkedSignatures.allSatisfy({ contains(firstPage, Array($0.utf8)) }) {
            return Look(kind: .unmarked, hasWAL: hasWAL)
        }
        throw failure(path, "not an outbox (a SQLite database of another application?); nothing was changed")
    }

    /// The page size from the header (offset 16; 1 means 65536).
    private static func pageSize(_ header: [UInt8]) -> Int {
        let value = Int(header[16]) << 8 | Int(header[17])
        return value == 1 ? 65_536 : max(value, 512)
    }

    private static func bigEndianInt32(_ bytes: [UInt8], at offset: Int) -> Int32 {
        let value = UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
        return Int32(bitPattern: value)
    }

    private static func contains(_ haystack: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, needle.count <= haystack.count else { return false }
        var index = haystack.startIndex
        let last = haystack.endIndex - needle.count
        while index <= last {
            if haystack[index] == first, haystack[index..<index + needle.count].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }

    /// What changes when a file is written: its inode, size and modification time, and the
    /// size of its WAL. Equal before and after a read without locks: no one wrote meanwhile.
    struct Identity: Equatable {
        var inode: UInt64 = 0
        var size: Int64 = -1
        var modified = timespec()
        var walSize: Int64 = 0

        static func == (a: Identity, b: Identity) -> Bool {
            a.inode == b.inode && a.size == b.size && a.walSize == b.walSize
                && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
        }
    }

    static func identity(_ path: String) -> Identity {
        var info = stat()
        guard stat(path, &info) == 0 else { return Identity() }
        return Identity(inode: UInt64(info.st_ino), size: Int64(info.st_size), modified: info.st_mtim,
                        walSize: fileSize(path + "-wal"))
    }

    /// The size of a file, 0 when there is none.
    static func fileSize(_ path: String) -> Int64 {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : 0
    }

    /// Up to `count` bytes from the start of the file (fewer when it is shorter or unreadable).
    private static func readPrefix(_ path: String, count: Int) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let read = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return -1 }
                return pread(fd, base + filled, count - filled, off_t(filled))
            }
            if read < 0, errno == EINTR { continue }
            guard read > 0 else { break }
            filled += read
        }
        return Array(bytes.prefix(filled))
    }

    private static func failure(_ path: String, _ why: String) -> SuprSendError {
        SuprSendError(.storage, "outbox '\(path)': \(why)")
    }
}
