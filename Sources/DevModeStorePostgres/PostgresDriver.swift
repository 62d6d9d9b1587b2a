import CPostgres
import DevModeStore
import Dispatch

/// The shared engine: a PostgreSQL server through libpq, for deployments where several devmode
/// processes share one database.
///
/// A fixed pool of connections, each running its libpq calls on a serial dispatch queue of its
/// own; transactions wait, in arrival order, when every connection is busy. A connection that
/// breaks fails its transaction with a `.connection` error and is reset before it is used again.
public final class PostgresDriver: SQLDriver {
    public var dialect: SQLDialect { .postgres }

    private let pool: ConnectionPool<PostgresHandle>

    /// Connects `poolSize` connections to `url` (a libpq connection string or URI, such as
    /// `postgres://user@127.0.0.1:5432/db`). With `schema`, the schema is created if missing and
    /// every connection works in it (`search_path`).
    public init(url: String, poolSize: Int = 4, schema: String? = nil) async throws {
        precondition(poolSize >= 1, "PostgresDriver needs at least one connection")
        // libpq is loaded here, not at process start: see LibPQ.
        let libpq = try LibPQ.load()
        var sessionSetup = ["SET client_encoding TO 'UTF8'"]
        let quotedSchema = schema.map { "\"" + $0.replacingAll("\"", with: "\"\"") + "\"" }
        if let quotedSchema {
            sessionSetup.append("SET search_path TO \(quotedSchema)")
        }
        let handles = (0..<poolSize).map { index in
            PostgresHandle(label: "devmode.postgres.\(index)", sessionSetup: sessionSetup, libpq: libpq)
        }
        do {
            // One connection creates the schema, before the others need it.
            try await handles[0].perform { handle in
                try handle.open(url: url)
                if let quotedSchema { try Self.createSchema(quotedSchema, on: handle) }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for handle in handles.dropFirst() {
                    group.addTask { try await handle.perform { try $0.open(url: url) } }
                }
                try await group.waitForAll()
            }
        } catch {
            for handle in handles {
                _ = try? await handle.perform { $0.close() }
            }
            throw error
        }
        self.pool = ConnectionPool(handles)
    }

    private static func createSchema(_ quotedSchema: String, on handle: PostgresHandle) throws {
        do {
            try handle.execute("CREATE SCHEMA IF NOT EXISTS \(quotedSchema)")
        } catch let error as SQLError where error.code == "23505" || error.code == "42P06" {
            // Another process created it at the same moment: IF NOT EXISTS is not atomic.
        }
    }

    public func transaction<T: Sendable>(
        _ kind: TransactionKind, _ body: @escaping @Sendable (any SQLConnection) throws -> T
    ) async throws -> T {
        let handle = try await pool.acquire()
        let pool = self.pool
        return try await withCheckedThrowingContinuation { continuation in
            handle.queue.async {
                continuation.resume(with: Result { try handle.transaction(kind, body) })
                // After answering the caller, before anyone else gets the connection.
                handle.resetIfBroken()
                pool.release(handle)
            }
        }
    }

    /// Waits for running transactions, then closes every connection. Transactions after this throw
    /// an `SQLError` of kind `.connection`.
    public func close() async {
        for handle in await pool.close() {
            _ = try? await handle.perform { $0.close() }
        }
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for character in self {
            if character == target { result += replacement } else { result.append(character) }
        }
        return result
    }
}
