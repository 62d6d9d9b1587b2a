import DevModeProtocol
import DevModeStore
import DevModeStorePostgres
import DevModeStoreSQLite
import Foundation

/// `--suite quota`: what budgets cost a model call.
///   round trip: one call's reservation (the tenant's, workspace's and user's budgets made
///     current and held, one rate limit admitted: one write transaction) and its settlement (the
///     usage row, the budgets and the limiter: a second), through `DevModeStore` in process, one
///     call at a time, on SQLite (as devmode opens it: WAL, synchronous=FULL) and PostgreSQL;
///   completion overhead: `--suite completion`'s misses (a server in process, a model that answers
///     at once) with no budget and with three budgets and a rate limit set.
struct QuotaSuite {
    static let roundTripP50TargetMs = ["SQLite": 1.0, "PostgreSQL": 2.0]

    var calls = 2_000
    var postgresURL: String?
    var workDirectory: String
    var completionRequests = 1_000

    struct Backend {
        var name: String
        var latency = CompletionSuite.Latency()
        var reserve = CompletionSuite.Latency()
        var settle = CompletionSuite.Latency()
    }

    static let owners: [BudgetOwner] = [
        .tenant("ten_bench"), .workspace("wsp_bench", tenantId: "ten_bench"),
        .user("usr_bench", workspaceId: "wsp_bench", tenantId: "ten_bench"),
    ]

    func roundTrips(store: Store, name: String) async throws -> Backend {
        try await store.migrate()
        try await store.write { transaction in
            for (index, owner) in Self.owners.enumerated() {
                try transaction.setBudget(owner: owner, metric: .tokens, period: .month, limit: 1 << 50, id: "bud_bench\(index)")
            }
            try transaction.setRateLimit(
                owner: BudgetOwner(level: .user, tenantId: "ten_bench", workspaceId: "wsp_bench"), metric: .requestsPerMinute,
                limit: 1 << 30, burst: nil, includesLocal: false, id: "rtl_bench")
        }
        var total: [UInt64] = []
        var reserves: [UInt64] = []
        var settles: [UInt64] = []
        for index in 0..<(calls + 100) {
            let id = "use_bench\(index)"
            let t0 = monotonicNanoseconds()
            let holds = try await store.write { transaction -> [RateHold] in
                let budgets = try transaction.prepareBudgets(owners: Self.owners)
                let limits = try transaction.rateLimits(tenantId: "ten_bench", workspaceId: "wsp_bench", userId: "usr_bench")
                let rate = try transaction.admit(
                    reservationId: id, limits: limits, userId: "usr_bench", tokens: 300, leaseUntil: transaction.now + 300_000)
                try transaction.hold(
                    reservationId: id, budgets.map { BudgetHold(budgetId: $0.id, amount: 300) }, leaseUntil: transaction.now + 300_000)
                return rate
            }
            let t1 = monotonicNanoseconds()
            try await store.write { transaction in
                let event = UsageEvent(
                    id: id, tenantId: "ten_bench", workspaceId: "wsp_bench", userId: "usr_bench", kind: .completion, model: "bench",
                    subject: "cmp_bench", inputTokens: 200, outputTokens: 40, costMicros: 12, latencyMs: 1)
                if try transaction.settle(event) {
                    try transaction.settleRate(reservationId: id, holds: holds, usedTokens: 240)
                }
            }
            let t2 = monotonicNanoseconds()
            guard index >= 100 else { continue }  // warm-up
            total.append(t2 - t0)
            reserves.append(t1 - t0)
            settles.append(t2 - t1)
        }
        return Backend(
            name: name, latency: CompletionSuite.Latency(total), reserve: CompletionSuite.Latency(reserves),
            settle: CompletionSuite.Latency(settles))
    }

    func run(progress: (String) -> Void) async -> (backends: [Backend], completion: [(String, CompletionSuite.Latency)], failures: [String]) {
        var backends: [Backend] = []
        var failures: [String] = []
        do {
            let directory = workDirectory + "/quota-sqlite"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let driver = try SQLiteDriver(path: directory + "/quota.sqlite3")
            progress("  SQLite: \(calls) round trips")
            backends.append(try await roundTrips(store: Store(driver: driver), name: "SQLite"))
            await driver.close()
            try? FileManager.default.removeItem(atPath: directory)
        } catch {
            failures.append("SQLite: \(error)")
        }
        if let url = postgresURL, !url.isEmpty {
            let schema = "devmode_bench_quota_\(getpid())"
            do {
                let driver = try await PostgresDriver(url: url, schema: schema)
                progress("  PostgreSQL: \(calls) round trips")
                backends.append(try await roundTrips(store: Store(driver: driver), name: "PostgreSQL"))
                await driver.close()
                let dropper = try await PostgresDriver(url: url, poolSize: 1)
                _ = try await dropper.transaction(.write) { try $0.execute("DROP SCHEMA IF EXISTS \"\(schema)\" CASCADE") }
                await dropper.close()
            } catch {
                failures.append("PostgreSQL: \(error)")
            }
        } else {
            progress("  PostgreSQL: skipped (no --postgres URL and no DEVMODE_TEST_POSTGRES_URL)")
        }
        var completion: [(String, CompletionSuite.Latency)] = []
        for budgets in [false, true] {
            let name = budgets ? "3 budgets + 1 rate limit" : "no budget"
            progress("  completion misses, \(name)")
            do {
                var suite = CompletionSuite(requests: completionRequests)
                suite.withBudgets = budgets
                let figures = try await suite.run(workDirectory: workDirectory, progress: { _ in })
                completion.append((name, figures.miss))
            } catch {
                failures.append("completion (\(name)): \(error)")
            }
        }
        return (backends, completion, failures)
    }

    func table(_ result: (backends: [Backend], completion: [(String, CompletionSuite.Latency)], failures: [String])) -> String {
        func ms(_ value: Double) -> String { String(format: "%.3f", value) }
        var lines = ["reservation + settlement round trip (ms)   p50      p90      p99   target p50"]
        for backend in result.backends {
            let target = Self.roundTripP50TargetMs[backend.name] ?? 0
            lines.append(
                "  \(backend.name.padding(toLength: 12, withPad: " ", startingAt: 0)) round trip   \(ms(backend.latency.p50Milliseconds))   "
                    + "\(ms(backend.latency.p90Milliseconds))   \(ms(backend.latency.p99Milliseconds))   ≤ \(ms(target)) "
                    + (backend.latency.p50Milliseconds <= target ? "ok" : "MISSED"))
            lines.append(
                "  \(backend.name.padding(toLength: 12, withPad: " ", startingAt: 0)) reserve      \(ms(backend.reserve.p50Milliseconds))   "
                    + "\(ms(backend.reserve.p90Milliseconds))   \(ms(backend.reserve.p99Milliseconds))")
            lines.append(
                "  \(backend.name.padding(toLength: 12, withPad: " ", startingAt: 0)) settle       \(ms(backend.settle.p50Milliseconds))   "
                    + "\(ms(backend.settle.p90Milliseconds))   \(ms(backend.settle.p99Milliseconds))")
        }
        lines.append("completion miss, in process, SQLite (ms)  p50      p90      p99")
        for (name, latency) in result.completion {
            lines.append(
                "  \(name.padding(toLength: 26, withPad: " ", startingAt: 0))  \(ms(latency.p50Milliseconds))   "
                    + "\(ms(latency.p90Milliseconds))   \(ms(latency.p99Milliseconds))")
        }
        return lines.joined(separator: "\n")
    }
}
