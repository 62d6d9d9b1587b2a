import DevModeStore
import JSONRPC

/// A driver around a real one (SQLite or PostgreSQL) that sees every statement: it counts the
/// migrations run through it and whether it was closed, and it fails (or answers with no rows) the
/// next statements containing a given text, so a test can make one step of a request fail, or see
/// a row appear late, at a known point. The one test driver of the suites.
public final class ObservingDriver: SQLDriver {
    /// Statements to fail or hide: the next `remaining` statements containing `sql`.
    public struct Fault: Sendable {
        public var sql: String
        public var remaining: Int
        /// Answer with no rows instead of failing.
        public var hide: Bool
    }

    private struct State {
        var faults: [Fault] = []
        var migrations = 0
        var closed = false
    }

    public let base: any SQLDriver
    private let state = LockedState(State())

    public init(base: any SQLDriver) { self.base = base }

    public var dialect: SQLDialect { base.dialect }

    /// The next `count` statements containing `sql` fail with an `SQLError` (or, with `hide`,
    /// return no rows).
    public func arm(_ sql: String, count: Int, hide: Bool = false) {
        state.withLock { $0.faults.append(Fault(sql: sql, remaining: count, hide: hide)) }
    }

    /// How many of the statements armed for `sql` have not come yet.
    public func remaining(_ sql: String) -> Int {
        state.withLock { $0.faults.filter { $0.sql == sql }.reduce(0) { $0 + $1.remaining } }
    }

    /// Migrations run through this driver (each `Store.migrate` starts by making its table).
    public var migrations: Int { state.withLock { $0.migrations } }

    /// Whether `close()` was called.
    public var closed: Bool { state.withLock { $0.closed } }

    /// Counts the statement, and says whether it is to fail or be hidden.
    fileprivate func saw(_ sql: String) -> Fault? {
        state.withLock { state in
            if sql.hasPrefix("CREATE TABLE IF NOT EXISTS schema_migrations") { state.migrations += 1 }
            guard let index = state.faults.firstIndex(where: { $0.remaining > 0 && sql.contains($0.sql) }) else { return nil }
            state.faults[index].remaining -= 1
            return state.faults[index]
        }
    }

    public func transaction<T: Sendable>(_ kind: TransactionKind, _ body: @escaping @Sendable (any SQLConnection) throws -> T)
        async throws -> T
    {
        try await base.transaction(kind) { connection in try body(ObservedConnection(base: connection, driver: self)) }
    }

    public func close() async {
        state.withLock { $0.closed = true }
        await base.close()
    }
}

/// One of the real driver's connections, seen through an `ObservingDriver`.
final class ObservedConnection: SQLConnection {
    let base: any SQLConnection
    let driver: ObservingDriver

    init(base: any SQLConnection, driver: ObservingDriver) {
        self.base = base
        self.driver = driver
    }

    var dialect: SQLDialect { base.dialect }

    func execute(_ sql: String, _ parameters: [SQLValue]) throws -> [SQLRow] {
        if let fault = driver.saw(sql) {
            if fault.hide { return [] }
            throw SQLError(kind: .other, function: "ObservingDriver", message: "injected failure", code: "test")
        }
        return try base.execute(sql, parameters)
    }
}
