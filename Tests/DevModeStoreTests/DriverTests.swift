import DevModeStore
import DevModeTestSupport
@testable import DevModeStorePostgres
import DevModeStoreSQLite
import Dispatch
import Foundation
import Synchronization
import Testing

/// The SQL seam, against both engines: what the Store relies on behaves the same on each.
@Suite struct DriverTests {
    @Test(arguments: TestDatabase.allCases)
    func everyValueKindRoundTrips(_ database: TestDatabase) async throws {
        try await withDatabase(database) { driver in
            let integers: [Int64] = [0, 1, -1, .max, .min, 1 << 53 + 1]
            let reals: [Double] = [0, 1.5, -2.25, 0.1, .pi, 1e300, -1e-300]
            let texts = [
                "", "plain", "unicode: é ß 中文 日本語 🙂 👩‍💻", "quotes ' \" and a ? and $1 inside a value",
                "line\nbreak\ttab\\backslash", String(repeating: "long ", count: 20_000),
            ]
            var expected: [SQLRow] = []
            for index in 0..<max(integers.count, reals.count, texts.count) {
                expected.append(
                    SQLRow(
                        columns: ["id", "i", "r", "t"],
                        values: [
                            .integer(Int64(index)), .integer(integers[index % integers.count]),
                            .real(reals[index % reals.count]), .text(texts[index % texts.count]),
                        ]))
            }
            expected.append(SQLRow(columns: ["id", "i", "r", "t"], values: [.integer(100), .null, .null, .null]))
            let written = expected

            _ = try await driver.transaction(.write) { connection in
                try connection.execute(
                    "CREATE TABLE value_kinds (id INTEGER PRIMARY KEY, i BIGINT, r DOUBLE PRECISION, t TEXT)")
                for row in written {
                    try connection.execute("INSERT INTO value_kinds (id, i, r, t) VALUES (?, ?, ?, ?)", row.values)
                }
            }
            let rows = try await driver.transaction(.read) {
                try $0.execute("SELECT id, i, r, t FROM value_kinds ORDER BY id")
            }
            #expect(rows == expected)

            let filtered = try await driver.transaction(.read) {
                try $0.execute("SELECT t FROM value_kinds WHERE i = ? AND r = ?", .integer(-1), .real(-2.25))
            }
            #expect(filtered.map { $0["t"] } == [.text(texts[2])])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func columnNamesLiteralsAndCastsReadTheSame(_ database: TestDatabase) async throws {
        try await withDatabase(database) { driver in
            let row = try await driver.transaction(.read) { connection in
                try connection.execute(
                    """
                    SELECT 1 AS MixedCase, 'a ? in a literal' AS literal, ? AS bound,
                        CAST(? AS BIGINT) AS whole, CAST(? AS DOUBLE PRECISION) AS fraction, 2 > 1 AS yes, NULL AS missing
                    """,
                    .text("text ?"), .integer(-7), .real(0.5)
                ).first
            }
            #expect(row?.columns == ["mixedcase", "literal", "bound", "whole", "fraction", "yes", "missing"])
            #expect(
                row?.values == [.integer(1), .text("a ? in a literal"), .text("text ?"), .integer(-7), .real(0.5), .integer(1), .null])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func aThrowingBodyLeavesNothingBehind(_ database: TestDatabase) async throws {
        struct Abandon: Error {}
        try await withDatabase(database) { driver in
            _ = try await driver.transaction(.write) {
                try $0.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            }
            await #expect(throws: Abandon.self) {
                _ = try await driver.transaction(.write) { connection in
                    try connection.execute("INSERT INTO notes (id, body) VALUES (?, ?)", .integer(1), .text("draft"))
                    try connection.execute("INSERT INTO notes (id, body) VALUES (?, ?)", .integer(2), .text("draft"))
                    throw Abandon()
                }
            }
            #expect(try await count(of: "notes", in: driver) == .integer(0))
        }
    }

    /// PostgreSQL aborts a transaction at its first failed statement; SQLite is made to do the same,
    /// so a body that swallows an error cannot commit half its work on one engine only.
    @Test(arguments: TestDatabase.allCases)
    func aFailedStatementAbortsTheTransactionEvenWhenTheBodyCarriesOn(_ database: TestDatabase) async throws {
        try await withDatabase(database) { driver in
            _ = try await driver.transaction(.write) { connection in
                try connection.execute("CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
                try connection.execute("INSERT INTO names (id, name) VALUES (1, 'taken')")
            }
            let laterStatementFailed = Flag()
            let error = await #expect(throws: SQLError.self) {
                _ = try await driver.transaction(.write) { connection in
                    try connection.execute("INSERT INTO names (id, name) VALUES (2, 'fresh')")
                    do {
                        try connection.execute("INSERT INTO names (id, name) VALUES (3, 'taken')")
                    } catch {
                        // Carries on as if the row existed.
                    }
                    do {
                        try connection.execute("SELECT 1")
                    } catch {
                        laterStatementFailed.set()
                    }
                }
            }
            #expect(error?.kind == .uniqueViolation)
            #expect(laterStatementFailed.isSet)
            #expect(try await count(of: "names", in: driver) == .integer(1))
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func duplicateKeysAreUniqueViolations(_ database: TestDatabase) async throws {
        try await withDatabase(database) { driver in
            _ = try await driver.transaction(.write) { connection in
                try connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE)")
                try connection.execute("INSERT INTO users (id, email) VALUES (?, ?)", .integer(1), .text("a@example.com"))
            }
            for duplicate: [SQLValue] in [[.integer(1), .text("b@example.com")], [.integer(2), .text("a@example.com")]] {
                let error = await #expect(throws: SQLError.self) {
                    _ = try await driver.transaction(.write) {
                        try $0.execute("INSERT INTO users (id, email) VALUES (?, ?)", duplicate)
                    }
                }
                #expect(error?.kind == .uniqueViolation)
                #expect(error?.function == (database == .sqlite ? "sqlite3_step" : "PQexecPrepared"))
                #expect(error?.message.isEmpty == false)
            }
            #expect(try await count(of: "users", in: driver) == .integer(1))
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func returningGivesTheWrittenRows(_ database: TestDatabase) async throws {
        try await withDatabase(database) { driver in
            let ids = try await driver.transaction(.write) { connection in
                let id = connection.dialect == .sqlite ? "INTEGER PRIMARY KEY" : "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
                try connection.execute("CREATE TABLE items (id \(id), name TEXT NOT NULL)")
                return try ["first", "second"].map { name in
                    try connection.execute("INSERT INTO items (name) VALUES (?) RETURNING id, name", .text(name))
                }
            }
            #expect(ids == [
                [SQLRow(columns: ["id", "name"], values: [.integer(1), .text("first")])],
                [SQLRow(columns: ["id", "name"], values: [.integer(2), .text("second")])],
            ])
            let renamed = try await driver.transaction(.write) {
                try $0.execute("UPDATE items SET name = ? WHERE id = ? RETURNING name", .text("renamed"), .integer(2))
            }
            #expect(renamed.map { $0["name"] } == [.text("renamed")])
            let missing = try await driver.transaction(.write) {
                try $0.execute("DELETE FROM items WHERE id = ? RETURNING id", .integer(99))
            }
            #expect(missing.isEmpty)
        }
    }

    /// The quota pattern: a conditional UPDATE that spends only while the limit allows, from many
    /// callers at once.
    @Test(arguments: TestDatabase.allCases)
    func concurrentConditionalUpdatesNeverOverspend(_ database: TestDatabase) async throws {
        try await withDatabase(database) { driver in
            _ = try await driver.transaction(.write) { connection in
                try connection.execute("CREATE TABLE quota (id INTEGER PRIMARY KEY, used INTEGER NOT NULL, lim INTEGER NOT NULL)")
                try connection.execute("INSERT INTO quota (id, used, lim) VALUES (1, 0, 100)")
            }
            let spent = try await withThrowingTaskGroup(of: SQLValue?.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await driver.transaction(.write) {
                            try $0.execute(
                                "UPDATE quota SET used = used + ? WHERE id = ? AND used + ? <= lim RETURNING used",
                                .integer(3), .integer(1), .integer(3)
                            ).first?["used"]
                        }
                    }
                }
                return try await group.reduce(into: [SQLValue?]()) { $0.append($1) }
            }
            let granted = spent.compactMap { $0 }
            #expect(granted.count == 33)
            #expect(Set(granted) == Set((1...33).map { SQLValue.integer(Int64($0) * 3) }))
            let used = try await driver.transaction(.read) { try $0.execute("SELECT used FROM quota WHERE id = 1") }
            #expect(used.first?["used"] == .integer(99))
        }
    }

    /// In WAL mode (SQLite) and under MVCC (PostgreSQL) a read runs while a write transaction is open,
    /// and sees the state before it.
    @Test(arguments: TestDatabase.allCases)
    func readsDoNotWaitForAnOpenWrite(_ database: TestDatabase) async throws {
        try await withDatabase(database) { driver in
            _ = try await driver.transaction(.write) { connection in
                try connection.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
                try connection.execute("INSERT INTO counter (id, value) VALUES (1, 0)")
            }
            let (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
            let finishWrite = DispatchSemaphore(value: 0)
            let writer = Task {
                try await driver.transaction(.write) { connection -> Bool in
                    try connection.execute("UPDATE counter SET value = 1 WHERE id = 1")
                    enteredContinuation.yield()
                    // Times out (and the test fails) only if the read below waited for this write.
                    return finishWrite.wait(timeout: .now() + 20) == .success
                }
            }
            for await _ in entered { break }
            let during = try await driver.transaction(.read) { try $0.execute("SELECT value FROM counter") }
            finishWrite.signal()
            #expect(try await writer.value)
            #expect(during.first?["value"] == .integer(0))
            let after = try await driver.transaction(.read) { try $0.execute("SELECT value FROM counter") }
            #expect(after.first?["value"] == .integer(1))
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func readTransactionsRefuseWrites(_ database: TestDatabase) async throws {
        try await withDatabase(database) { driver in
            _ = try await driver.transaction(.write) { try $0.execute("CREATE TABLE logs (line TEXT)") }
            await #expect(throws: SQLError.self) {
                try await driver.transaction(.read) { try $0.execute("INSERT INTO logs (line) VALUES ('x')") }
            }
            #expect(try await count(of: "logs", in: driver) == .integer(0))
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func aClosedDriverRefusesTransactions(_ database: TestDatabase) async throws {
        try await withDatabase(database) { driver in
            await driver.close()
            let error = await #expect(throws: SQLError.self) {
                try await driver.transaction(.read) { try $0.execute("SELECT 1") }
            }
            #expect(error?.kind == .connection)
        }
    }

    // MARK: SQLite

    /// Two drivers on one file stand for two processes: their writers wait for each other (busy
    /// timeout, BEGIN IMMEDIATE) instead of failing with SQLITE_BUSY, and no update is lost.
    @Test func sqliteWritersQueueAcrossConnections() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-sqlite-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("shared.sqlite").path
        let first = try SQLiteDriver(path: path)
        let second = try SQLiteDriver(path: path)
        do {
            _ = try await first.transaction(.write) { connection in
                try connection.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
                try connection.execute("INSERT INTO counter (id, value) VALUES (1, 0)")
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<50 {
                    let driver = index.isMultiple(of: 2) ? first : second
                    group.addTask {
                        _ = try await driver.transaction(.write) { connection in
                            // Read, then write: a lost update would show in the total.
                            guard case .integer(let value) = try connection.execute("SELECT value FROM counter WHERE id = 1").first?["value"]
                            else { throw SQLError(kind: .other, function: "test", message: "no counter", code: "") }
                            try connection.execute("UPDATE counter SET value = ? WHERE id = 1", .integer(value + 1))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let total = try await second.transaction(.read) { try $0.execute("SELECT value FROM counter") }
            #expect(total.first?["value"] == .integer(50))
        } catch {
            await first.close()
            await second.close()
            throw error
        }
        await first.close()
        await second.close()
    }

    @Test func sqliteCreatesAPrivateFileInMissingDirectories() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-sqlite-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("nested/data/devmode.sqlite").path
        let driver = try SQLiteDriver(path: path)
        _ = try await driver.transaction(.write) { try $0.execute("CREATE TABLE t (x INTEGER)") }
        let mode = { (path: String) in
            (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int).map { $0 & 0o777 }
        }
        #expect(mode(path) == 0o600)
        #expect(mode(path + "-wal") == 0o600)
        #expect(mode(directory.appendingPathComponent("nested/data").path) == 0o700)
        await driver.close()
    }

    @Test func sqliteInMemoryWorks() async throws {
        let driver = try SQLiteDriver.inMemory()
        _ = try await driver.transaction(.write) { connection in
            try connection.execute("CREATE TABLE t (x INTEGER)")
            try connection.execute("INSERT INTO t (x) VALUES (?)", .integer(42))
        }
        let rows = try await driver.transaction(.read) { try $0.execute("SELECT x FROM t") }
        #expect(rows.first?["x"] == .integer(42))
        await #expect(throws: SQLError.self) {
            try await driver.transaction(.read) { try $0.execute("INSERT INTO t (x) VALUES (1)") }
        }
        await driver.close()
    }

    // MARK: PostgreSQL

    @Test func postgresPoolServesMoreTransactionsThanItsSize() async throws {
        guard let url = try testPostgresURL() else { return }
        let driver = try await PostgresDriver(url: url, poolSize: 2)
        let inside = Concurrency()
        let backends = try await withThrowingTaskGroup(of: SQLValue?.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await driver.transaction(.read) { connection in
                        inside.enter()
                        defer { inside.leave() }
                        return try connection.execute("SELECT pg_backend_pid() AS pid, pg_sleep(0.01)").first?["pid"]
                    }
                }
            }
            return try await group.reduce(into: [SQLValue?]()) { $0.append($1) }
        }
        await driver.close()
        #expect(backends.count == 20)
        #expect(Set(backends).count <= 2)
        #expect(inside.most <= 2)
    }

    @Test func postgresConnectionKilledServerSideFailsOnceThenRecovers() async throws {
        guard let url = try testPostgresURL() else { return }
        let driver = try await PostgresDriver(url: url, poolSize: 1)
        let admin = try await PostgresDriver(url: url, poolSize: 1)
        do {
            let pid = try await driver.transaction(.read) { try $0.execute("SELECT pg_backend_pid() AS pid").first?["pid"] }
            let terminated = try await admin.transaction(.write) {
                // Waits (up to 5 s) until the backend is gone.
                try $0.execute("SELECT pg_terminate_backend(?, 5000) AS done", pid ?? .null).first?["done"]
            }
            #expect(terminated == .integer(1))

            let error = await #expect(throws: SQLError.self) {
                try await driver.transaction(.read) { try $0.execute("SELECT 1") }
            }
            #expect(error?.kind == .connection)

            let newPid = try await driver.transaction(.read) { try $0.execute("SELECT pg_backend_pid() AS pid").first?["pid"] }
            #expect(newPid != nil && newPid != pid)
        } catch {
            await driver.close()
            await admin.close()
            throw error
        }
        await driver.close()
        await admin.close()
    }

    @Test func placeholdersAreNumberedOutsideLiteralsAndComments() {
        let (sql, count) = Placeholders.numbered(
            "SELECT '?', 'it''s ?', \"odd?\" FROM t WHERE a = ? AND b IN (?, ?) -- ?\n AND c = /* ? */ ?")
        #expect(sql == "SELECT '?', 'it''s ?', \"odd?\" FROM t WHERE a = $1 AND b IN ($2, $3) -- ?\n AND c = /* ? */ $4")
        #expect(count == 4)
    }
}

/// Runs `body` on a fresh database of `database`'s kind and removes the database afterwards,
/// whether `body` succeeds or not. Does nothing when that engine is not configured.
private func withDatabase(_ database: TestDatabase, _ body: (any SQLDriver) async throws -> Void) async throws {
    guard let test = try await makeTestDriver(database) else { return }
    do {
        try await body(test.driver)
    } catch {
        await test.cleanup()
        throw error
    }
    await test.cleanup()
}

private func count(of table: String, in driver: any SQLDriver) async throws -> SQLValue? {
    try await driver.transaction(.read) { try $0.execute("SELECT COUNT(*) AS n FROM \(table)").first?["n"] }
}

/// How many callers are inside at once, and the most there ever were.
private final class Concurrency: Sendable {
    private let state = Mutex((now: 0, most: 0))
    func enter() { state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    var most: Int { state.withLock { $0.most } }
}

private final class Flag: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var isSet: Bool { state.withLock { $0 } }
}
