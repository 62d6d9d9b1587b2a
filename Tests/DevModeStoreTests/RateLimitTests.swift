import DevModeStore
import DevModeTestSupport
import Foundation
import Synchronization
import Testing

/// Rate limits in the store, on a test clock: GCRA admits exactly the configured rate, names the
/// exact wait, and two stores on one database (two processes) share one limiter.
@Suite("Rate limits")
struct RateLimitTests {
    typealias Clock = BudgetTests.Clock

    static let workspace = BudgetOwner.workspace("wsp_1", tenantId: "ten_1")
    static let eachUser = BudgetOwner(level: .user, tenantId: "ten_1", workspaceId: "wsp_1")

    /// A migrated store, and a second `Store` on the same database (another process's).
    private func withStores(_ database: TestDatabase, clock: Clock, _ body: (Store, Store) async throws -> Void) async throws {
        guard let test = try await makeTestDriver(database) else { return }
        let store = Store(driver: test.driver, clock: { clock.now })
        // Another process's store: a driver of its own on the same database.
        let second = try await test.another()
        let other = Store(driver: second, clock: { clock.now })
        let closeOther: @Sendable () async -> Void = { await second.close() }
        do {
            try await store.migrate()
            try await body(store, other)
        } catch {
            await closeOther()
            await test.cleanup()
            throw error
        }
        await closeOther()
        await test.cleanup()
    }

    /// Admits one call of `tokens` for `userId`, or answers the refusal.
    private func admit(_ store: Store, _ id: String, user: String = "usr_1", tokens: Int64 = 1) async throws -> RateRefusal? {
        do {
            _ = try await store.write { transaction in
                let limits = try transaction.rateLimits(tenantId: "ten_1", workspaceId: "wsp_1", userId: user)
                return try transaction.admit(
                    reservationId: id, limits: limits, userId: user, tokens: tokens, leaseUntil: transaction.now + 60_000)
            }
            return nil
        } catch let refusal as RateRefusal {
            return refusal
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func exactlyTheConfiguredRateIsAdmittedAndTheWaitIsExact(database: TestDatabase) async throws {
        let clock = Clock(BudgetTests.monday10am)
        try await withStores(database, clock: clock) { store, _ in
            // 7 a minute, 3 at once: one every 8571.43 ms after the burst.
            try await store.write {
                try $0.setRateLimit(owner: Self.workspace, metric: .requestsPerMinute, limit: 7, burst: 3, includesLocal: false, id: "rtl_w")
            }
            for index in 0..<3 { #expect(try await admit(store, "use_\(index)") == nil, "burst call \(index)") }
            let refusal = try #require(try await admit(store, "use_3"))
            // The TAT is now +3 intervals (25714.29 ms); the 4th fits once it is back within 3: 8571.43 ms.
            #expect(refusal.retryAfterMs == 8_572, "\(refusal)")
            #expect(refusal.used == 3 && refusal.limit.metric == .requestsPerMinute)
            clock.advance(8_571)
            #expect(try await admit(store, "use_3")?.retryAfterMs == 1, "one millisecond short")
            clock.advance(1)
            #expect(try await admit(store, "use_3") == nil)
            // Over a long run exactly 7 a minute, without drift: called at their earliest, the next
            // calls fall at 8571.43 ms × k, so 69 of them before 600,000 ms (the 70th is at 600,000.1).
            var admitted = 0
            let end = clock.now + 600_000
            while clock.now < end {
                if let refusal = try await admit(store, "use_run_\(admitted)") {
                    clock.advance(try #require(refusal.retryAfterMs))
                } else {
                    admitted += 1
                }
            }
            #expect(admitted == 69, "admitted \(admitted) in 10 minutes at 7 a minute")
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func tokensPerMinuteChargeTheWorstCaseAndSettleWhatWasUsed(database: TestDatabase) async throws {
        let clock = Clock(BudgetTests.monday10am)
        try await withStores(database, clock: clock) { store, _ in
            try await store.write {
                try $0.setRateLimit(owner: Self.workspace, metric: .tokensPerMinute, limit: 600, burst: 300, includesLocal: false, id: "rtl_t")
            }
            // Admitted for 300 (its worst case), used 60: 240 given back.
            let holds = try await store.write { transaction in
                try transaction.admit(
                    reservationId: "use_a", limits: try transaction.rateLimits(tenantId: "ten_1", workspaceId: "wsp_1", userId: "u"),
                    userId: "u", tokens: 300, leaseUntil: transaction.now + 60_000)
            }
            #expect(try await admit(store, "use_b", tokens: 1)?.retryAfterMs == 100, "full: one token in 100 ms")
            try await store.write { try $0.settleRate(reservationId: "use_a", holds: holds, usedTokens: 60) }
            #expect(try await admit(store, "use_b", tokens: 240) == nil)
            #expect(try await admit(store, "use_c", tokens: 1)?.retryAfterMs == 100)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func eachUserHasTheirOwnLimiterAndConcurrencyIsCountedWithLeases(database: TestDatabase) async throws {
        let clock = Clock(BudgetTests.monday10am)
        try await withStores(database, clock: clock) { store, _ in
            try await store.write {
                try $0.setRateLimit(owner: Self.eachUser, metric: .requestsPerMinute, limit: 60, burst: 1, includesLocal: false, id: "rtl_e")
                try $0.setRateLimit(owner: Self.eachUser, metric: .concurrentRequests, limit: 2, burst: nil, includesLocal: false, id: "rtl_c")
            }
            #expect(try await admit(store, "use_1", user: "ada") == nil)
            #expect(try await admit(store, "use_2", user: "bob") == nil, "another user's limiter")
            #expect(try await admit(store, "use_3", user: "ada")?.retryAfterMs == 1_000)
            clock.advance(1_000)
            #expect(try await admit(store, "use_3", user: "ada") == nil)
            clock.advance(1_000)
            let third = try #require(try await admit(store, "use_4", user: "ada"), "two of ada's calls are in flight")
            #expect(third.limit.metric == .concurrentRequests && third.retryAfterMs == nil && third.used == 2)
            try await store.write { try $0.settleRate(reservationId: "use_1", holds: [], usedTokens: 0) }
            #expect(try await admit(store, "use_4", user: "ada") == nil)
            // A crashed process's calls stop counting when their lease runs out.
            clock.advance(60_000)
            #expect(try await admit(store, "use_5", user: "ada") == nil)
            clock.advance(1_000)
            #expect(try await admit(store, "use_6", user: "ada") == nil, "use_3 and use_4 no longer count")
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func twoProcessesShareOneLimiter(database: TestDatabase) async throws {
        let clock = Clock(BudgetTests.monday10am)
        try await withStores(database, clock: clock) { store, other in
            try await store.write {
                try $0.setRateLimit(owner: Self.workspace, metric: .requestsPerMinute, limit: 120, burst: 20, includesLocal: false, id: "rtl_s")
            }
            // 100 calls at once, half through each store: exactly the burst is admitted.
            let refused = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<100 {
                    group.addTask { try await self.admit(index % 2 == 0 ? store : other, "use_\(index)") != nil }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(refused == 80)
            #expect(try await admit(other, "use_x")?.retryAfterMs == 500)
        }
    }

    /// The defect: the scaled times were 64-bit, and a limit over about 5 million a minute
    /// overflowed (a trap: the server process died) at the first call.
    @Test(arguments: TestDatabase.allCases)
    func aHugeLimitNeitherOverflowsNorLosesExactness(database: TestDatabase) async throws {
        let clock = Clock(BudgetTests.monday10am)
        try await withStores(database, clock: clock) { store, _ in
            try await store.write {
                try $0.setRateLimit(
                    owner: Self.workspace, metric: .tokensPerMinute, limit: 1 << 40, burst: 1 << 40, includesLocal: false, id: "rtl_h")
            }
            #expect(try await admit(store, "use_1", tokens: 1 << 40) == nil)
            // Full: one more token is free in 60000 / 2^40 ms, rounded up to 1 ms.
            #expect(try await admit(store, "use_2", tokens: 1)?.retryAfterMs == 1)
            clock.advance(1)
            #expect(try await admit(store, "use_2", tokens: 1_000) == nil)
        }
    }
}
