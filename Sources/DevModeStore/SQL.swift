/// The seam between the Store (schema, migrations, queries: written once, here) and a database
/// engine (SQLite, PostgreSQL: one module each, the only importer of its C library).

/// A value bound to a statement or read from a row. Booleans are stored as integers 0/1 and times
/// as integer milliseconds since 1970, so that both engines hold exactly the same data.
public enum SQLValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    public var description: String {
        switch self {
        case .null: return "NULL"
        case .integer(let value): return String(value)
        case .real(let value): return String(value)
        case .text(let value): return "'\(value)'"
        }
    }
}

/// One row: its column names (lowercase, as the query named them) and values.
public struct SQLRow: Sendable, Hashable {
    public let columns: [String]
    public let values: [SQLValue]

    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    public subscript(column: String) -> SQLValue {
        guard let index = columns.firstIndex(of: column) else { return .null }
        return values[index]
    }
}

public enum SQLDialect: Sendable, Hashable {
    case sqlite
    case postgres
}

/// What went wrong in the database, with the C function that failed and the engine's own message.
public struct SQLError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// A UNIQUE or PRIMARY KEY constraint refused the change.
        case uniqueViolation
        /// Another transaction got in the way (SQLITE_BUSY, serialization failure, deadlock): retry.
        case conflict
        /// The connection to the database is gone.
        case connection
        case other
    }

    public var kind: Kind
    /// The C function that failed, e.g. `sqlite3_step` or `PQexecParams`.
    public var function: String
    public var message: String
    /// The engine's code: an SQLite extended result code or a PostgreSQL SQLSTATE.
    public var code: String

    public init(kind: Kind, function: String, message: String, code: String) {
        self.kind = kind
        self.function = function
        self.message = message
        self.code = code
    }

    public var description: String { "\(function) failed (\(code)): \(message)" }
}

/// A connection inside a transaction. Used on the driver's own thread, by one caller, for the
/// duration of one `transaction` call: never stored, never shared.
public protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }
    /// Runs one statement. Parameters are written `?` in `sql` (the PostgreSQL driver renumbers them
    /// `$1…`); the statement text has no other `?`. Returns the rows it produced (none for most
    /// writes; writes with `RETURNING` return rows too).
    @discardableResult
    func execute(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow]
}

extension SQLConnection {
    @discardableResult
    public func execute(_ sql: String, _ parameters: SQLValue...) throws -> [SQLRow] {
        try execute(sql, parameters)
    }
}

public enum TransactionKind: Sendable {
    case read
    case write
}

/// A database engine behind the Store.
public protocol SQLDriver: Sendable {
    var dialect: SQLDialect { get }

    /// Runs `body` inside one transaction on a connection of the driver's, on a thread of the
    /// driver's (never the cooperative pool: libpq and sqlite calls block). Commits when `body`
    /// returns, rolls back when it throws. A `.write` transaction on SQLite starts with
    /// `BEGIN IMMEDIATE`, so writers queue instead of failing midway.
    func transaction<T: Sendable>(_ kind: TransactionKind, _ body: @escaping @Sendable (any SQLConnection) throws -> T)
        async throws -> T

    /// Closes every connection. Transactions after this throw.
    func close() async
}
