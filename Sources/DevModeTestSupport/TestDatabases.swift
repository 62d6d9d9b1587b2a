import DevModeStore
import DevModeStorePostgres
import DevModeStoreSQLite
import Foundation
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
        return TestDriver(driver: driver) {
            await driver.close()
            try? FileManager.default.removeItem(at: directory)
        }
    case .postgres:
        guard let url = testPostgresURL() else { return nil }
        let schema = "devmode_test_" + String(UInt64.random(in: .min ... .max), radix: 16)
        let driver = try await PostgresDriver(url: url, schema: schema)
        return TestDriver(driver: driver) {
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

/// DEVMODE_TEST_POSTGRES_URL, or nil after saying why the PostgreSQL test does not run.
public func testPostgresURL(sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    let environment = ProcessInfo.processInfo.environment
    if let url = environment["DEVMODE_TEST_POSTGRES_URL"], !url.isEmpty { return url }
    if environment["CI"] == "true" {
        Issue.record(
            "DEVMODE_TEST_POSTGRES_URL is not set and CI=true: PostgreSQL tests must run in CI (use ./scripts/test)",
            sourceLocation: sourceLocation)
    } else {
        print("skipped (postgres): DEVMODE_TEST_POSTGRES_URL is not set; ./scripts/test starts a server")
    }
    return nil
}
