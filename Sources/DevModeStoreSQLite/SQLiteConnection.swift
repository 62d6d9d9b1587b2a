import CSQLite
import Dispatch
import DevModeStore

/// One sqlite3 connection and its prepared statements.
///
/// `@unchecked Sendable`: after `init` (which runs before the handle is shared), the `sqlite3*`,
/// the statement cache and the other state are touched only by work submitted to `queue`, a serial
/// queue, so no two threads use them at once. That is also what SQLite's multi-thread mode
/// (`SQLITE_OPEN_NOMUTEX`) asks of a connection.
final class SQLiteHandle: @unchecked Sendable {
    enum Role {
        /// The one connection that writes (and, for an in-memory database, also reads).
        case writer
        /// A reader: `PRAGMA query_only`, so a write in a `.read` transaction fails loudly.
        case reader
    }

    /// The queue every use of this connection runs on: sqlite calls block, so they stay off the
    /// cooperative pool.
    let queue: DispatchQueue
    let role: Role
    /// Reads share this connection with writes (an in-memory database has only one connection).
    let sharesReads: Bool
    private var database: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]
    /// Enough for every distinct statement the Store runs; past it the cache starts over.
    private static let statementCacheLimit = 256

    init(path: String, role: Role, sharesReads: Bool = false, label: String) throws {
        self.queue = DispatchQueue(label: label)
        self.role = role
        self.sharesReads = sharesReads
        var database: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &database, flags, nil)
        guard rc == SQLITE_OK, let database else {
            let error = SQLError.sqlite(rc, function: "sqlite3_open_v2", database: database)
            sqlite3_close_v2(database)
            throw error
        }
        self.database = database
        do {
            // First: the pragmas below may wait for a lock held by another process.
            try check(sqlite3_busy_timeout(database, 5000), "sqlite3_busy_timeout")
            if role == .writer {
                let mode = try execute("PRAGMA journal_mode=WAL").first?.values.first
                // An in-memory database answers "memory": it has no journal file at all.
                if path != ":memory:", mode != .text("wal") {
                    throw SQLError.sqlite(
                        SQLITE_ERROR, function: "sqlite3_step",
                        message: "PRAGMA journal_mode=WAL left the journal mode at \(mode ?? .null)")
                }
            }
            try execute("PRAGMA synchronous=FULL")
            try execute("PRAGMA foreign_keys=ON")
            if role == .reader {
                try execute("PRAGMA query_only=ON")
            }
        } catch {
            close()
            throw error
        }
    }

    deinit {
        assert(database == nil, "SQLiteHandle dropped without close(): call SQLiteDriver.close()")
        if database != nil { close() }
    }

    /// Finalizes every statement and closes the connection. On `queue`, or before sharing.
    func close() {
        for statement in statements.values { sqlite3_finalize(statement) }
        statements = [:]
        if let database {
            let rc = sqlite3_close(database)
            assert(rc == SQLITE_OK, "sqlite3_close: \(rc)")
        }
        database = nil
    }

    // MARK: Transactions

    /// Runs `body` in one transaction: commits when it returns, rolls back when it (or any
    /// statement in it, even one whose error the body caught) fails. On `queue`.
    func transaction<T>(_ kind: TransactionKind, _ body: (any SQLConnection) throws -> T) throws -> T {
        dispatchPrecondition(condition: .onQueue(queue))
        guard database != nil else { throw SQLError.driverClosed }
        let readOnlyOnWriter = kind == .read && sharesReads
        if readOnlyOnWriter { try execute("PRAGMA query_only=ON") }
        defer { if readOnlyOnWriter { _ = try? execute("PRAGMA query_only=OFF") } }

        // IMMEDIATE takes the write lock up front: writers queue (busy_timeout) at BEGIN instead of
        // failing midway with SQLITE_BUSY when another process wrote first.
        try execute(kind == .write ? "BEGIN IMMEDIATE" : "BEGIN")
        let connection = SQLiteTransactionConnection(handle: self)
        defer { connection.handle = nil }
        let result: T
        do {
            result = try body(connection)
        } catch {
            rollbackIfActive()
            throw error
        }
        if let failure = connection.failure {
            // PostgreSQL aborts a transaction at its first failed statement; so do we, so that both
            // engines behave alike when a body catches an error and carries on.
            rollbackIfActive()
            throw failure
        }
        do {
            try execute("COMMIT")
        } catch {
            rollbackIfActive()
            throw error
        }
        return result
    }

    private func rollbackIfActive() {
        guard let database, sqlite3_get_autocommit(database) == 0 else { return }
        _ = try? execute("ROLLBACK")
    }

    // MARK: Statements

    /// Runs one statement with `?` parameters and returns its rows. On `queue`.
    @discardableResult
    func execute(_ sql: String, _ parameters: [SQLValue] = []) throws -> [SQLRow] {
        guard let database else { throw SQLError.driverClosed }
        guard let statement = try prepared(sql, database) else { return [] }
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(parameters, to: statement, database)

        var columns: [String] = []
        var rows: [SQLRow] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw SQLError.sqlite(rc, function: "sqlite3_step", database: database) }
            let count = sqlite3_column_count(statement)
            if columns.isEmpty {
                columns = (0..<count).map { index in
                    sqlite3_column_name(statement, index).map { String(cString: $0).lowercased() } ?? ""
                }
            }
            var values: [SQLValue] = []
            values.reserveCapacity(Int(count))
            for index in 0..<count {
                values.append(value(of: statement, at: index))
            }
            rows.append(SQLRow(columns: columns, values: values))
        }
        return rows
    }

    /// The cached statement for `sql`, prepared on first use; nil for a statement-less text (only
    /// whitespace or comments).
    private func prepared(_ sql: String, _ database: OpaquePointer) throws -> OpaquePointer? {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let rc = sql.withCString { text in
            let rc = sqlite3_prepare_v3(database, text, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, &tail)
            // PostgreSQL takes one statement per call with parameters; refuse a second one here too
            // rather than ignore it silently.
            if rc == SQLITE_OK, let rest = tail, rest.pointee != 0 {
                var extra: OpaquePointer?
                let restRC = sqlite3_prepare_v2(database, rest, -1, &extra, nil)
                if extra != nil || restRC != SQLITE_OK {
                    sqlite3_finalize(extra)
                    sqlite3_finalize(statement)
                    statement = nil
                    return Int32(-1)
                }
            }
            return rc
        }
        if rc == -1 {
            throw SQLError.sqlite(
                SQLITE_MISUSE, function: "sqlite3_prepare_v3",
                message: "execute runs one statement; this text holds more than one: \(sql)")
        }
        guard rc == SQLITE_OK else {
            throw SQLError.sqlite(rc, function: "sqlite3_prepare_v3", database: database)
        }
        guard let statement else { return nil }
        if statements.count >= Self.statementCacheLimit {
            for cached in statements.values { sqlite3_finalize(cached) }
            statements = [:]
        }
        statements[sql] = statement
        return statement
    }

    private func bind(_ parameters: [SQLValue], to statement: OpaquePointer, _ database: OpaquePointer) throws {
        let expected = Int(sqlite3_bind_parameter_count(statement))
        guard expected == parameters.count else {
            throw SQLError.sqlite(
                SQLITE_RANGE, function: "sqlite3_bind_parameter_count",
                message: "the statement takes \(expected) parameters, \(parameters.count) given")
        }
        for (offset, parameter) in parameters.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            let function: String
            switch parameter {
            case .null:
                (rc, function) = (sqlite3_bind_null(statement, index), "sqlite3_bind_null")
            case .integer(let value):
                (rc, function) = (sqlite3_bind_int64(statement, index, value), "sqlite3_bind_int64")
            case .real(let value):
                (rc, function) = (sqlite3_bind_double(statement, index, value), "sqlite3_bind_double")
            case .text(let value):
                // By length, not up to the first NUL; SQLite copies the bytes (SQLITE_TRANSIENT).
                let length = Int32(value.utf8.count)
                rc = value.withCString { sqlite3_bind_text(statement, index, $0, length, devmode_sqlite_transient()) }
                function = "sqlite3_bind_text"
            }
            guard rc == SQLITE_OK else {
                throw SQLError.sqlite(rc, function: function, database: database)
            }
        }
    }

    private func value(of statement: OpaquePointer, at index: Int32) -> SQLValue {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_NULL:
            return .null
        case SQLITE_INTEGER:
            return .integer(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT:
            return .real(sqlite3_column_double(statement, index))
        default:
            // TEXT (and BLOB, which the Store does not use: read as UTF-8 like text).
            let count = Int(sqlite3_column_bytes(statement, index))
            guard let bytes = sqlite3_column_blob(statement, index), count > 0 else { return .text("") }
            return .text(String(decoding: UnsafeRawBufferPointer(start: bytes, count: count), as: UTF8.self))
        }
    }

    private func check(_ rc: Int32, _ function: String) throws {
        guard rc == SQLITE_OK else { throw SQLError.sqlite(rc, function: function, database: database) }
    }
}

/// What a transaction's body sees: the handle, for this one transaction only.
final class SQLiteTransactionConnection: SQLConnection {
    var dialect: SQLDialect { .sqlite }
    /// Cleared when the transaction ends, so a connection kept past it fails instead of running
    /// statements outside any transaction, on a thread of the caller's.
    fileprivate var handle: SQLiteHandle?
    /// The first statement that failed: the transaction is aborted from then on.
    fileprivate var failure: SQLError?

    fileprivate init(handle: SQLiteHandle) {
        self.handle = handle
    }

    @discardableResult
    func execute(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow] {
        guard let handle else {
            throw SQLError.sqlite(
                SQLITE_MISUSE, function: "execute", message: "the connection was used after its transaction ended")
        }
        if let failure {
            throw SQLError.sqlite(
                SQLITE_ABORT, function: "execute",
                message: "the transaction is aborted by an earlier failed statement (\(failure)); statements are ignored until it ends")
        }
        do {
            return try handle.execute(sql, parameters)
        } catch let error as SQLError {
            failure = error
            throw error
        }
    }
}
