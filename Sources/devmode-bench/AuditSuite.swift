import DevModeCrypto
import DevModeStore
import DevModeStorePostgres
import DevModeStoreSQLite
import Foundation

/// The bench's own targets for the audit log (chosen here: every change and sign-in appends a row
/// in the request's path, so appending must not be what limits a busy server).
extension Target {
    /// Rows appended per second, one appender at a time (each its own transaction).
    static let auditSequentialRowsPerSecond = 500.0
    /// `verifyAudit` time per 10,000 rows, in ms.
    static let auditVerifyMillisecondsPer10k = 1_000.0
}

/// Audit rows appended per second through `DevModeStore`, in process, on SQLite and PostgreSQL:
/// one appender at a time and several at once; then the chain verified.
struct AuditSuite {
    let rows: Int
    let concurrency: Int
    let postgresURL: String?
    let workDirectory: String

    struct Backend: Sendable {
        var name: String
        var migrateNanoseconds: UInt64 = 0
        var sequentialRows = 0
        var sequentialNanoseconds: UInt64 = 0
        /// Each `store.audit` call, sequential phase.
        var sequentialLatencies: [UInt64] = []
        var concurrentRows = 0
        var concurrentNanoseconds: UInt64 = 0
        var verifyNanoseconds: UInt64 = 0
        var rowsChecked = 0
        var chainOK = false
        var problems = 0
        var note: String?

        var sequentialRate: Double { Double(sequentialRows) / (Double(sequentialNanoseconds) / 1e9) }
        var concurrentRate: Double { Double(concurrentRows) / (Double(concurrentNanoseconds) / 1e9) }
        var verifyPer10k: Double { Double(verifyNanoseconds) / Double(max(rowsChecked, 1)) * 10_000 }
    }

    struct Result {
        var backends: [Backend] = []
        var skipped: [String: String] = [:]
        var failures: [String] = []
    }

    func run(progress: (String) -> Void) async -> Result {
        var result = Result()
        do {
            let directory = workDirectory + "/audit-sqlite"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let driver = try SQLiteDriver(path: directory + "/audit.sqlite3")
            var backend = try await measure(name: "SQLite", store: Store(driver: driver), progress: progress)
            await driver.close()
            backend.note = "WAL, synchronous=FULL (as devmode opens it), in \(directory)"
            result.backends.append(backend)
        } catch {
            result.failures.append("SQLite: \(error)")
            progress("  SQLite: FAILED: \(error)")
        }

        guard let url = postgresURL, !url.isEmpty else {
            result.skipped["PostgreSQL"] = "no --postgres URL and no DEVMODE_TEST_POSTGRES_URL"
            progress("  PostgreSQL: skipped (no --postgres URL and no DEVMODE_TEST_POSTGRES_URL)")
            return result
        }
        let schema = "devmode_bench_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        do {
            // devmode's own pool size (StoreLocation opens PostgresDriver(url:) with the default).
            let driver = try await PostgresDriver(url: url, schema: schema)
            do {
                var backend = try await measure(name: "PostgreSQL", store: Store(driver: driver), progress: progress)
                backend.note = "schema \(schema) at \(Self.redacted(url)), dropped afterwards; 4 pooled connections"
                result.backends.append(backend)
            } catch {
                result.failures.append("PostgreSQL: \(error)")
                progress("  PostgreSQL: FAILED: \(error)")
            }
            await driver.close()
        } catch {
            result.failures.append("PostgreSQL: cannot connect to \(Self.redacted(url)): \(error)")
            progress("  PostgreSQL: FAILED: cannot connect to \(Self.redacted(url)): \(error)")
        }
        do {
            let dropper = try await PostgresDriver(url: url, poolSize: 1)
            _ = try await dropper.transaction(.write) { try $0.execute("DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE") }
            await dropper.close()
        } catch {
            result.failures.append("PostgreSQL: could not drop schema \(schema): \(error)")
        }
        return result
    }

    private func measure(name: String, store: Store, progress: (String) -> Void) async throws -> Backend {
        var backend = Backend(name: name)
        var started = monotonicNanoseconds()
        try await store.migrate()
        backend.migrateNanoseconds = monotonicNanoseconds() - started
        // Anchored, as the server's rows are (an HMAC per row, and one more per row to verify).
        store.anchorAudit(with: AuditAnchor(key: Crypto.randomBytes(AuditAnchor.keyLength), startSeq: 1))

        // Warm-up: statements prepared, pages cached.
        for index in 0..<min(100, rows) { try await store.audit(Self.event(index, task: -1)) }

        backend.sequentialLatencies.reserveCapacity(rows)
        started = monotonicNanoseconds()
        for index in 0..<rows {
            let before = monotonicNanoseconds()
            try await store.audit(Self.event(index, task: 0))
            backend.sequentialLatencies.append(monotonicNanoseconds() - before)
        }
        backend.sequentialNanoseconds = monotonicNanoseconds() - started
        backend.sequentialRows = rows
        progress(
            "  \(name): \(rows) rows one at a time: \(Format.rate(backend.sequentialRate)) rows/s "
                + "(p50 \(Format.us(Stats.percentile(backend.sequentialLatencies, 0.5))) µs per append)")

        let concurrency = self.concurrency
        let perTask = max(1, rows / concurrency)
        started = monotonicNanoseconds()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 1...concurrency {
                group.addTask {
                    for index in 0..<perTask { try await store.audit(Self.event(index, task: task)) }
                }
            }
            try await group.waitForAll()
        }
        backend.concurrentNanoseconds = monotonicNanoseconds() - started
        backend.concurrentRows = perTask * concurrency
        progress(
            "  \(name): \(backend.concurrentRows) rows from \(concurrency) tasks: "
                + "\(Format.rate(backend.concurrentRate)) rows/s")

        started = monotonicNanoseconds()
        let verification = try await store.verifyAudit()
        backend.verifyNanoseconds = monotonicNanoseconds() - started
        backend.rowsChecked = verification.rowsChecked
        backend.chainOK = verification.ok
        backend.problems = verification.problems.count
        let expected = min(100, rows) + backend.sequentialRows + backend.concurrentRows
        if verification.rowsChecked != expected {
            backend.chainOK = false
            backend.note = "verifyAudit checked \(verification.rowsChecked) rows, \(expected) were appended"
        }
        progress(
            "  \(name): verifyAudit over \(verification.rowsChecked) rows: \(Format.ms(backend.verifyNanoseconds)) ms, "
                + (verification.ok ? "chain intact" : "\(verification.problems.count) problems"))
        return backend
    }

    /// A row like the ones devmode writes for a file change.
    private static func event(_ index: Int, task: Int) -> AuditEvent {
        AuditEvent(
            actor: "user:usr_bench\(task)", tenantId: "ten_bench", workspaceId: "wsp_bench", method: "file/write",
            target: "prj_bench:src/file-\(index).swift", outcome: .success, detail: "bench task \(task)")
    }

    /// The URL without a password, for printing.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }

    // MARK: Report

    func table(_ result: Result) -> String {
        var lines: [String] = []
        if !result.backends.isEmpty {
            var table = Table(columns: result.backends.map(\.name))
            func row(_ label: String, _ target: String = "", _ make: (Backend) -> String) {
                table.add(label, target, result.backends.map(make))
            }
            row("migrate, fresh database (ms)") { Format.ms($0.migrateNanoseconds) }
            row("appends, one at a time (rows/s)", "≥ 500") {
                Table.cell(Format.rate($0.sequentialRate), $0.sequentialRate >= Target.auditSequentialRowsPerSecond)
            }
            row("  per append p50 / p99 (µs)") {
                "\(Format.us(Stats.percentile($0.sequentialLatencies, 0.5))) / \(Format.us(Stats.percentile($0.sequentialLatencies, 0.99)))"
            }
            row("appends, \(concurrency) concurrent tasks (rows/s)") { Format.rate($0.concurrentRate) }
            row("  concurrent vs one at a time") { String(format: "%.2f×", $0.concurrentRate / $0.sequentialRate) }
            row("verifyAudit, whole chain (ms)") { Format.ms($0.verifyNanoseconds) }
            row("verifyAudit per 10,000 rows (ms)", "≤ 1,000") {
                Table.cell(String(format: "%.1f", $0.verifyPer10k / 1e6), $0.verifyPer10k / 1e6 <= Target.auditVerifyMillisecondsPer10k)
            }
            row("rows checked / chain intact", "all / yes") {
                Table.cell("\($0.rowsChecked) / \($0.chainOK ? "yes" : "NO (\($0.problems) problems)")", $0.chainOK)
            }
            lines.append(table.render())
            for backend in result.backends { if let note = backend.note { lines.append("\(backend.name): \(note)") } }
        }
        for (name, reason) in result.skipped.sorted(by: { $0.key < $1.key }) { lines.append("\(name): skipped: \(reason)") }
        return lines.joined(separator: "\n")
    }

    struct BackendFigures: Encodable {
        var migrateMilliseconds: Double
        var sequentialRows: Int
        var sequentialRowsPerSecond: Double
        var sequentialAppendP50Microseconds: Double
        var sequentialAppendP99Microseconds: Double
        var concurrentTasks: Int
        var concurrentRows: Int
        var concurrentRowsPerSecond: Double
        var verifyMilliseconds: Double
        var verifyMillisecondsPer10kRows: Double
        var rowsChecked: Int
        var chainOK: Bool
        var pass: [String: Bool]
    }

    struct Figures: Encodable {
        var backends: [String: BackendFigures]
        var skipped: [String: String]
        var failures: [String]
    }

    func figures(_ result: Result) -> Figures {
        var backends: [String: BackendFigures] = [:]
        for backend in result.backends {
            backends[backend.name] = BackendFigures(
                migrateMilliseconds: Double(backend.migrateNanoseconds) / 1e6,
                sequentialRows: backend.sequentialRows, sequentialRowsPerSecond: backend.sequentialRate,
                sequentialAppendP50Microseconds: Double(Stats.percentile(backend.sequentialLatencies, 0.5)) / 1e3,
                sequentialAppendP99Microseconds: Double(Stats.percentile(backend.sequentialLatencies, 0.99)) / 1e3,
                concurrentTasks: concurrency, concurrentRows: backend.concurrentRows,
                concurrentRowsPerSecond: backend.concurrentRate,
                verifyMilliseconds: Double(backend.verifyNanoseconds) / 1e6,
                verifyMillisecondsPer10kRows: backend.verifyPer10k / 1e6, rowsChecked: backend.rowsChecked,
                chainOK: backend.chainOK,
                pass: [
                    "sequentialRowsPerSecond": backend.sequentialRate >= Target.auditSequentialRowsPerSecond,
                    "verifyMillisecondsPer10kRows": backend.verifyPer10k / 1e6 <= Target.auditVerifyMillisecondsPer10k,
                    "chainOK": backend.chainOK,
                ])
        }
        return Figures(backends: backends, skipped: result.skipped, failures: result.failures)
    }
}
