import DevModeStore
import DevModeStorePostgres
import DevModeStoreSQLite
import Foundation
import Synchronization
import Testing

/// The engines every Store test runs against.
public enum TestDatabase: String, CaseIterable, CustomStringConvertible, Sendable {
    case sqlite
    case postgres

    public var description: String { rawValue }
}

/// A driver on a fresh, empty database, and what removes that database afterwards.
public struct TestDriver: Sendable {
    public let driver: any SQLDriver
    public let cleanup: @Sendable () async -> Void
    /// Another driver on the same database, as a second process would open it (close it yourself,
    /// before `cleanup`).
    public let another: @Sendable () async throws -> any SQLDriver

    public init(
        driver: any SQLDriver, another: @escaping @Sendable () async throws -> any SQLDriver,
        cleanup: @escaping @Sendable () async -> Void
    ) {
        self.driver = driver
        self.another = another
        self.cleanup = cleanup
    }
}

/// A fresh, empty database for one test. SQLite: a file in a new temp dir. PostgreSQL: the server at
/// DEVMODE_TEST_POSTGRES_URL, in a new schema of its own (dropped by `cleanup`). Returns nil when
/// PostgreSQL is not configured and CI is not "true" (prints that the test skipped); when CI=true and
/// it is missing, records a failure with Issue.record and returns nil.
public func makeTestDriver(_ database: TestDatabase) async throws -> TestDriver? {
    switch database {
    case .sqlite:
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("devmode-store-test-\(UUID().uuidString)")
        // A directory the driver has to create, as `devmode serve` does with its data directory.
        let path = directory.appendingPathComponent("data/devmode.sqlite").path
        let driver = try SQLiteDriver(path: path)
        return TestDriver(driver: driver, another: { try SQLiteDriver(path: path) }) {
            await driver.close()
            try? FileManager.default.removeItem(at: directory)
        }
    case .postgres:
        guard let url = try testPostgresURL() else { return nil }
        let schema = "devmode_test_" + String(UInt64.random(in: .min ... .max), radix: 16)
        let driver = try await PostgresDriver(url: url, schema: schema)
        return TestDriver(driver: driver, another: { try await PostgresDriver(url: url, schema: schema) }) {
            await driver.close()
            do {
                let dropper = try await PostgresDriver(url: url, poolSize: 1)
                _ = try await dropper.transaction(.write) { try $0.execute("DROP SCHEMA \"\(schema)\" CASCADE") }
                await dropper.close()
            } catch {
                Issue.record(Comment(rawValue: "could not drop test schema \(schema): \(error)"))
            }
        }
    }
}

/// DEVMODE_TEST_POSTGRES_URL. Without it the test is reported as skipped (`Test.cancel`), except
/// under CI=true, where it fails (records an issue and returns nil): CI must test PostgreSQL.
public func testPostgresURL(sourceLocation: SourceLocation = #_sourceLocation) throws -> String? {
    let environment = ProcessInfo.processInfo.environment
    if let url = environment["DEVMODE_TEST_POSTGRES_URL"], !url.isEmpty { return url }
    if environment["CI"] == "true" {
        Issue.record(
            "DEVMODE_TEST_POSTGRES_URL is not set and CI=true: PostgreSQL tests must run in CI (use ./scripts/test)",
            sourceLocation: sourceLocation)
        return nil
    }
    try Test.cancel("PostgreSQL: DEVMODE_TEST_POSTGRES_URL is not set (./scripts/test starts a server)", sourceLocation: sourceLocation)
}

/// The engine the server suites run on. `DEVMODE_TEST_STORE=postgres` (./scripts/test's second
/// pass) runs every suite that opens servers through `TestServer` on PostgreSQL; SQLite otherwise.
public enum TestStore {
    public static var engine: TestDatabase {
        ProcessInfo.processInfo.environment["DEVMODE_TEST_STORE"] == "postgres" ? .postgres : .sqlite
    }

    /// Schemas made for SQLite paths in this test process: a second server on the same path (another
    /// process, a restart) opens the same database, as it would on SQLite.
    private static let schemas = Mutex<[String: String]>([:])

    /// A driver for one test server on `engine`: SQLite at `sqlitePath`, or the schema that stands
    /// for that path on DEVMODE_TEST_POSTGRES_URL (left for the throwaway server to take away:
    /// schemas are cheap, and a server's tests may still be reading when it is dropped).
    public static func makeDriver(sqlitePath: String) async throws -> any SQLDriver {
        switch engine {
        case .sqlite:
            return try SQLiteDriver(path: sqlitePath)
        case .postgres:
            guard let url = ProcessInfo.processInfo.environment["DEVMODE_TEST_POSTGRES_URL"], !url.isEmpty else {
                throw TestStoreError(
                    description: "DEVMODE_TEST_STORE=postgres needs DEVMODE_TEST_POSTGRES_URL (./scripts/test sets both)")
            }
            let schema = schemas.withLock { schemas in
                if let known = schemas[sqlitePath] { return known }
                let made = "devmode_server_" + String(UInt64.random(in: .min ... .max), radix: 16)
                schemas[sqlitePath] = made
                return made
            }
            return try await PostgresDriver(url: url, poolSize: 2, schema: schema)
        }
    }
}

struct TestStoreError: Error, CustomStringConvertible {
    let description: String
}
