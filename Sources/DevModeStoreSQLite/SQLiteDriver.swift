import CSQLite
import DevModeStore
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The embedded engine: one SQLite file in WAL mode.
///
/// One connection writes (write transactions queue for it in arrival order and start with
/// `BEGIN IMMEDIATE`, so they wait for other processes at BEGIN, up to the 5 s busy timeout,
/// instead of failing midway); a few more connections read, so reads never wait for a write.
/// Every connection runs its sqlite calls on a serial dispatch queue of its own.
public final class SQLiteDriver: SQLDriver {
    public var dialect: SQLDialect { .sqlite }

    private let writer: ConnectionPool<SQLiteHandle>
    /// Nil when reads share the writer (an in-memory database has one connection only).
    private let readers: ConnectionPool<SQLiteHandle>?

    /// Opens (or creates, mode 0600, with any missing parent directories, mode 0700) the database at
    /// `path`, with one write connection and `readConnections` read connections.
    public init(path: String, readConnections: Int = 4) throws {
        precondition(readConnections >= 1, "SQLiteDriver needs at least one read connection")
        try Self.createParentDirectories(of: path)
        try Self.createFileIfMissing(path)
        // The writer opens first: it switches the file to WAL, which readers then find in place.
        let writer = try SQLiteHandle(path: path, role: .writer, label: "devmode.sqlite.writer")
        var readers: [SQLiteHandle] = []
        do {
            for index in 0..<readConnections {
                readers.append(try SQLiteHandle(path: path, role: .reader, label: "devmode.sqlite.reader\(index)"))
            }
        } catch {
            writer.close()
            readers.forEach { $0.close() }
            throw error
        }
        self.writer = ConnectionPool([writer])
        self.readers = ConnectionPool(readers)
    }

    private init(inMemory: Void) throws {
        let handle = try SQLiteHandle(path: ":memory:", role: .writer, sharesReads: true, label: "devmode.sqlite.memory")
        self.writer = ConnectionPool([handle])
        self.readers = nil
    }

    /// A private database in memory, gone at `close()`. One connection serves reads and writes.
    public static func inMemory() throws -> SQLiteDriver {
        try SQLiteDriver(inMemory: ())
    }

    public func transaction<T: Sendable>(
        _ kind: TransactionKind, _ body: @escaping @Sendable (any SQLConnection) throws -> T
    ) async throws -> T {
        let pool = kind == .read ? (readers ?? writer) : writer
        let handle = try await pool.acquire()
        return try await withCheckedThrowingContinuation { continuation in
            handle.queue.async {
                continuation.resume(with: Result { try handle.transaction(kind, body) })
                pool.release(handle)
            }
        }
    }

    /// Waits for running transactions, then closes every connection. Transactions after this throw
    /// an `SQLError` of kind `.connection`.
    public func close() async {
        var handles = await writer.close()
        if let readers { handles += await readers.close() }
        for handle in handles {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                handle.queue.async {
                    handle.close()
                    continuation.resume()
                }
            }
        }
    }

    // MARK: Files

    /// `mkdir -p` of the directory holding `path`, new directories private to the user.
    private static func createParentDirectories(of path: String) throws {
        guard let slash = path.lastIndex(of: "/") else { return }
        let parent = String(path[..<slash])
        var prefix = parent.hasPrefix("/") ? "/" : ""
        for component in parent.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                throw SQLError.sqlite(
                    SQLITE_CANTOPEN, function: "mkdir",
                    message: "cannot create directory \(prefix): \(String(cString: strerror(errno)))")
            }
            prefix += "/"
        }
    }

    /// Creates the database file readable by its owner only. SQLite gives its -wal and -shm files
    /// the database file's mode.
    private static func createFileIfMissing(_ path: String) throws {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw SQLError.sqlite(
                SQLITE_CANTOPEN, function: "open",
                message: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        closeFile(descriptor)
    }
}

/// `close(2)`, out of reach of `SQLiteDriver.close()`'s name.
private func closeFile(_ descriptor: Int32) {
    _ = close(descriptor)
}
