import CPostgres
import DevModeStore
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One libpq connection.
///
/// `@unchecked Sendable`: the `PGconn*` and the other state are touched only by work submitted to
/// `queue`, a serial queue, so one thread at a time uses them, as libpq requires of a connection.
final class PostgresHandle: @unchecked Sendable {
    /// The queue every use of this connection runs on: libpq calls block (network round trips),
    /// so they stay off the cooperative pool.
    let queue: DispatchQueue
    /// Run after connecting and after every reset: session settings do not survive `PQreset`.
    private let sessionSetup: [String]
    /// libpq's functions, loaded at run time.
    private let pq: LibPQ
    private var connection: OpaquePointer?
    /// The connection broke; it is reset before its next use.
    private var needsReset = false
    /// This transaction already tried (and failed) to reset: no second attempt before release.
    private var resetFailedInTransaction = false
    /// `?` → `$n` rewrites, by statement text.
    private var numberedStatements: [String: (sql: String, count: Int)] = [:]
    /// Statements with parameters prepared on this connection (their names, by text), so the
    /// server parses and plans each once rather than on every call: a reservation runs a dozen
    /// statements, and parsing them was most of the server's time. Session state: gone after a
    /// reset. At most `maxPrepared`; statements past that run unprepared.
    private var prepared: [String: String] = [:]
    static let maxPrepared = 512

    init(label: String, sessionSetup: [String], libpq: LibPQ) {
        self.queue = DispatchQueue(label: label)
        self.pq = libpq
        self.sessionSetup = sessionSetup
    }

    deinit {
        assert(connection == nil, "PostgresHandle dropped without close(): call PostgresDriver.close()")
        if let connection { pq.PQfinish(connection) }
    }

    /// Runs `work` on this connection's queue.
    func perform<T: Sendable>(_ work: @escaping @Sendable (PostgresHandle) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work(self) }) }
        }
    }

    // MARK: Connection

    /// Connects to `url` and applies the session settings. On `queue`.
    func open(url: String) throws {
        dispatchPrecondition(condition: .onQueue(queue))
        guard let connection = pq.PQconnectdb(url) else {
            throw SQLError(kind: .connection, function: "PQconnectdb", message: "out of memory", code: "08001")
        }
        guard pq.PQstatus(connection) == CONNECTION_OK else {
            let error = SQLError.postgresConnection(function: "PQconnectdb", connection: connection, libpq: pq)
            pq.PQfinish(connection)
            throw error
        }
        // Notices (such as "schema already exists, skipping") would go to stderr.
        _ = pq.PQsetNoticeProcessor(connection, { _, _ in }, nil)
        self.connection = connection
        do {
            try applySessionSetup()
        } catch {
            close()
            throw error
        }
    }

    /// On `queue`.
    func close() {
        if let connection { pq.PQfinish(connection) }
        connection = nil
        prepared = [:]
    }

    /// Reconnects a connection that broke. On `queue`.
    func reset() throws {
        guard let connection else { throw SQLError.driverClosed }
        pq.PQreset(connection)
        prepared = [:]
        guard pq.PQstatus(connection) == CONNECTION_OK else {
            needsReset = true
            throw SQLError.postgresConnection(function: "PQreset", connection: connection, libpq: pq)
        }
        do {
            try applySessionSetup()
        } catch {
            // Without its search_path the connection would work in the wrong schema: not usable.
            needsReset = true
            throw error
        }
        needsReset = false
    }

    /// Called after each transaction, before the connection goes back to the pool. On `queue`.
    func resetIfBroken() {
        // A failure leaves `needsReset` set: the next transaction tries again first.
        if needsReset && !resetFailedInTransaction { try? reset() }
        resetFailedInTransaction = false
    }

    private func applySessionSetup() throws {
        for sql in sessionSetup { try execute(sql) }
    }

    // MARK: Transactions

    /// Runs `body` in one transaction: commits when it returns, rolls back when it (or any
    /// statement in it, even one whose error the body caught) fails. On `queue`.
    func transaction<T>(_ kind: TransactionKind, _ body: (any SQLConnection) throws -> T) throws -> T {
        dispatchPrecondition(condition: .onQueue(queue))
        guard connection != nil else { throw SQLError.driverClosed }
        if needsReset {
            do {
                try reset()
            } catch {
                resetFailedInTransaction = true
                throw error
            }
        }
        try execute(kind == .read ? "BEGIN READ ONLY" : "BEGIN")
        let transaction = PostgresTransactionConnection(handle: self)
        defer { transaction.handle = nil }
        let result: T
        do {
            result = try body(transaction)
        } catch {
            rollbackIfOpen()
            throw error
        }
        // The server aborted the transaction at that statement; COMMIT would answer ROLLBACK.
        if let failure = transaction.failure {
            rollbackIfOpen()
            throw failure
        }
        do {
            try execute("COMMIT")
        } catch {
            rollbackIfOpen()
            throw error
        }
        return result
    }

    private func rollbackIfOpen() {
        guard let connection, pq.PQstatus(connection) == CONNECTION_OK,
            pq.PQtransactionStatus(connection) != PQTRANS_IDLE
        else { return }
        _ = try? execute("ROLLBACK")
    }

    // MARK: Statements

    /// Runs one statement with `?` parameters (text format) and returns its rows. On `queue`.
    @discardableResult
    func execute(_ sql: String, _ parameters: [SQLValue] = []) throws -> [SQLRow] {
        guard let connection else { throw SQLError.driverClosed }
        let numbered = numberedStatement(sql)
        guard numbered.count == parameters.count else {
            throw SQLError(
                kind: .other, function: "PQexecParams",
                message: "the statement takes \(numbered.count) parameters, \(parameters.count) given", code: "07001")
        }

        var texts: [UnsafeMutablePointer<CChar>?] = []
        texts.reserveCapacity(parameters.count)
        defer { texts.forEach { free($0) } }
        for (offset, parameter) in parameters.enumerated() {
            switch parameter {
            case .null:
                texts.append(nil)
            case .integer(let value):
                texts.append(strdup(String(value)))
            case .real(let value):
                texts.append(strdup(Self.text(of: value)))
            case .text(let value):
                guard !value.utf8.contains(0) else {
                    throw SQLError(
                        kind: .other, function: "PQexecParams",
                        message: "parameter \(offset + 1) holds a NUL character, which PostgreSQL text cannot", code: "22021")
                }
                texts.append(strdup(value))
            }
        }
        let values = texts.map { UnsafePointer($0) }
        // Parameter types left to the server (nil: inferred from where each `$n` appears).
        let statement = parameters.isEmpty ? nil : try preparedStatement(sql, numbered.sql, count: numbered.count)
        let result = values.withUnsafeBufferPointer { values in
            if let statement {
                return pq.PQexecPrepared(connection, statement, Int32(values.count), values.baseAddress, nil, nil, 0)
            }
            return pq.PQexecParams(connection, numbered.sql, Int32(values.count), nil, values.baseAddress, nil, nil, 0)
        }
        let function = statement == nil ? "PQexecParams" : "PQexecPrepared"
        defer { pq.PQclear(result) }
        guard let result else {
            if pq.PQstatus(connection) != CONNECTION_OK { needsReset = true }
            throw SQLError.postgres(nil, function: function, connection: connection, libpq: pq)
        }
        switch pq.PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return []
        case PGRES_TUPLES_OK:
            return rows(of: result)
        default:
            let error = SQLError.postgres(result, function: function, connection: connection, libpq: pq)
            if pq.PQstatus(connection) != CONNECTION_OK { needsReset = true }
            throw error
        }
    }

    /// The name `sql` is prepared under on this connection, preparing it first if need be; nil
    /// when `maxPrepared` are already prepared (it then runs unprepared). A statement the server
    /// refuses to prepare throws what running it would have.
    private func preparedStatement(_ sql: String, _ numbered: String, count: Int) throws -> String? {
        if let name = prepared[sql] { return name }
        guard let connection, prepared.count < Self.maxPrepared else { return nil }
        let name = "devmode_\(prepared.count + 1)"
        let result = pq.PQprepare(connection, name, numbered, Int32(count), nil)
        defer { pq.PQclear(result) }
        guard let result, pq.PQresultStatus(result) == PGRES_COMMAND_OK else {
            let error = SQLError.postgres(result, function: "PQprepare", connection: connection, libpq: pq)
            if pq.PQstatus(connection) != CONNECTION_OK { needsReset = true }
            throw error
        }
        prepared[sql] = name
        return name
    }

    private func numberedStatement(_ sql: String) -> (sql: String, count: Int) {
        if let numbered = numberedStatements[sql] { return numbered }
        let numbered = Placeholders.numbered(sql)
        if numberedStatements.count >= 256 { numberedStatements = [:] }
        numberedStatements[sql] = numbered
        return numbered
    }

    private func rows(of result: OpaquePointer) -> [SQLRow] {
        let rowCount = pq.PQntuples(result)
        let columnCount = pq.PQnfields(result)
        let columns = (0..<columnCount).map { column in
            pq.PQfname(result, column).map { String(cString: $0).lowercased() } ?? ""
        }
        let types = (0..<columnCount).map { pq.PQftype(result, $0) }
        var rows: [SQLRow] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [SQLValue] = []
            values.reserveCapacity(Int(columnCount))
            for column in 0..<columnCount {
                if pq.PQgetisnull(result, row, column) != 0 {
                    values.append(.null)
                    continue
                }
                let length = Int(pq.PQgetlength(result, row, column))
                let text = pq.PQgetvalue(result, row, column).map {
                    String(decoding: UnsafeRawBufferPointer(start: $0, count: length), as: UTF8.self)
                } ?? ""
                values.append(Self.value(text, type: types[Int(column)]))
            }
            rows.append(SQLRow(columns: columns, values: values))
        }
        return rows
    }

    // MARK: Conversions

    /// Type OIDs from `pg_type`.
    private enum TypeOID {
        static let bool: Oid = 16
        static let int8: Oid = 20
        static let int2: Oid = 21
        static let int4: Oid = 23
        static let float4: Oid = 700
        static let float8: Oid = 701
        static let numeric: Oid = 1700
    }

    /// A text-format result value as the SQLValue its column type calls for.
    static func value(_ text: String, type: Oid) -> SQLValue {
        switch type {
        case TypeOID.int2, TypeOID.int4, TypeOID.int8:
            return Int64(text).map(SQLValue.integer) ?? .text(text)
        case TypeOID.float4, TypeOID.float8, TypeOID.numeric:
            return Double(text).map(SQLValue.real) ?? .text(text)
        case TypeOID.bool:
            return .integer(text == "t" ? 1 : 0)
        default:
            return .text(text)
        }
    }

    /// A Double in PostgreSQL's input syntax; Swift's shortest round-trip digits otherwise.
    static func text(of value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
        return String(value)
    }
}

/// What a transaction's body sees: the handle, for this one transaction only.
final class PostgresTransactionConnection: SQLConnection {
    var dialect: SQLDialect { .postgres }
    /// Cleared when the transaction ends, so a connection kept past it fails instead of running
    /// statements outside any transaction, on a thread of the caller's.
    fileprivate var handle: PostgresHandle?
    /// The first statement that failed: PostgreSQL has aborted the transaction.
    fileprivate var failure: SQLError?

    fileprivate init(handle: PostgresHandle) {
        self.handle = handle
    }

    @discardableResult
    func execute(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow] {
        guard let handle else {
            throw SQLError(
                kind: .other, function: "execute", message: "the connection was used after its transaction ended",
                code: "")
        }
        if let failure {
            // What the server answers too; said here also for failures found before sending.
            throw SQLError(
                kind: .other, function: "execute",
                message: "current transaction is aborted by an earlier failed statement (\(failure)); statements are ignored until it ends",
                code: "25P02")
        }
        do {
            return try handle.execute(sql, parameters)
        } catch let error as SQLError {
            failure = error
            throw error
        }
    }
}
