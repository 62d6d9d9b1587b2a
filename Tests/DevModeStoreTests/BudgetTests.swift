import DevModeStore
import DevModeTestSupport
import Foundation
import Synchronization
import Testing

/// Budgets in the store, the same on both engines: all-or-nothing holds, idempotent settlement,
/// leases, periods that roll over by computation, and no overspend under concurrency.
@Suite("Budgets")
struct BudgetTests {
    /// The store's clock, set by the test (ms since the epoch).
    final class Clock: Sendable {
        let value: Mutex<Int64>
        init(_ ms: Int64) { value = Mutex(ms) }
        var now: Int64 { value.withLock { $0 } }
        func advance(_ ms: Int64) { value.withLock { $0 += ms } }
    }

    /// 2026-12-07T10:00:00Z, a Monday.
    static let monday10am: Int64 = 1_796_637_600_000

    private func withStore(_ database: TestDatabase, clock: Clock, _ body: (Store) async throws -> Void) async throws {
        guard let test = try await makeTestDriver(database) else { return }
        let store = Store(driver: test.driver, clock: { clock.now })
        do {
            try await store.migrate()
            try await body(store)
        } catch {
            await test.cleanup()
            throw error
        }
        await test.cleanup()
    }

    static let tenant = BudgetOwner.tenant("ten_1")
    static let workspace = BudgetOwner.workspace("wsp_1", tenantId: "ten_1")
    static let user = BudgetOwner.user("usr_1", workspaceId: "wsp_1", tenantId: "ten_1")

    private func usage(_ id: String, tokens: Int, cost: Int = 0) -> UsageEvent {
        UsageEvent(
            id: id, tenantId: "ten_1", workspaceId: "wsp_1", userId: "usr_1", kind: .completion, model: "m", subject: "cmp_x",
            inputTokens: tokens / 2, outputTokens: tokens - tokens / 2, costMicros: cost)
    }

    /// Holds `amount` of every budget of the tenant, workspace and user.
    private func reserve(_ store: Store, _ id: String, _ amount: Int64, lease: Int64 = 60_000) async throws {
        try await store.write { transaction in
            let budgets = try transaction.prepareBudgets(owners: [Self.tenant, Self.workspace, Self.user])
            try transaction.hold(
                reservationId: id, budgets.map { BudgetHold(budgetId: $0.id, amount: amount) },
                leaseUntil: transaction.now + lease)
        }
    }

    private func current(_ store: Store, _ owner: BudgetOwner) async throws -> Budget {
        try #require(try await store.read { try $0.currentBudgets(owners: [owner]) }.first)
    }

    @Test func periodsStartAndEndOnUTCCalendarBoundaries() {
        let t = Self.monday10am
        let day = BudgetPeriod.day.start(containing: t)
        #expect(day == 1_796_601_600_000)  // 2026-12-07T00:00Z
        #expect(BudgetPeriod.day.end(ofPeriodStartingAt: day) == day + 86_400_000)
        #expect(BudgetPeriod.week.start(containing: t) == day)  // a Monday starts its own week
        #expect(BudgetPeriod.week.start(containing: t + 6 * 86_400_000) == day)  // Sunday the 13th
        #expect(BudgetPeriod.week.start(containing: t + 7 * 86_400_000) == day + 7 * 86_400_000)
        let december = BudgetPeriod.month.start(containing: t)
        #expect(december == 1_796_083_200_000)  // 2026-12-01T00:00Z
        #expect(BudgetPeriod.month.end(ofPeriodStartingAt: december) == 1_798_761_600_000)  // 2027-01-01
        // 2028 is a leap year: February has 29 days.
        let february2028 = BudgetPeriod.month.start(containing: 1_835_000_000_000)  // 2028-02-24
        #expect(february2028 == 1_832_976_000_000)  // 2028-02-01
        #expect(BudgetPeriod.month.end(ofPeriodStartingAt: february2028) == february2028 + 29 * 86_400_000)
        #expect(BudgetPeriod.none.start(containing: t) == 0)
        #expect(BudgetPeriod.none.end(ofPeriodStartingAt: 0) == nil)
        // Before the epoch, too.
        #expect(BudgetPeriod.day.start(containing: -1) == -86_400_000)
    }

    @Test(arguments: TestDatabase.allCases)
    func aHoldIsAllOrNothingAcrossTheLevels(database: TestDatabase) async throws {
        let clock = Clock(Self.monday10am)
        try await withStore(database, clock: clock) { store in
            try await store.write { transaction in
                try transaction.setBudget(owner: Self.tenant, metric: .tokens, period: .month, limit: 1_000, id: "bud_a")
                try transaction.setBudget(owner: Self.workspace, metric: .tokens, period: .day, limit: 100, id: "bud_b")
                try transaction.setBudget(owner: Self.user, metric: .tokens, period: .none, limit: 500, id: "bud_c")
            }
            try await reserve(store, "use_1", 60)
            do {
                try await reserve(store, "use_2", 60)
                Issue.record("a hold past the workspace's limit was taken")
            } catch let refusal as BudgetRefusal {
                #expect(refusal.budget.owner.level == .workspace)
                #expect(refusal.budget.limit == 100)
                #expect(refusal.budget.used == 0 && refusal.budget.reserved == 60)
                #expect(refusal.needed == 60)
            }
            // The refused call holds nothing anywhere: the tenant's hold was rolled back with it.
            #expect(try await current(store, Self.tenant).reserved == 60)
            #expect(try await current(store, Self.user).reserved == 60)
            #expect(try await store.read { try $0.holds(reservationId: "use_2") }.isEmpty)
            try await reserve(store, "use_3", 40)  // exactly the rest
            #expect(try await current(store, Self.workspace).remaining == 0)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func settlingChargesWhatWasUsedOnceAndReleasesTheRest(database: TestDatabase) async throws {
        let clock = Clock(Self.monday10am)
        try await withStore(database, clock: clock) { store in
            try await store.write { transaction in
                try transaction.setBudget(owner: Self.workspace, metric: .tokens, period: .day, limit: 100, id: "bud_t")
                try transaction.setBudget(owner: Self.workspace, metric: .cost, period: .day, limit: 5_000, id: "bud_c")
            }
            try await store.write { transaction in
                let budgets = try transaction.prepareBudgets(owners: [Self.workspace])
                try transaction.hold(
                    reservationId: "use_1",
                    budgets.map { BudgetHold(budgetId: $0.id, amount: $0.metric == .tokens ? 80 : 4_000) },
                    leaseUntil: transaction.now + 60_000)
            }
            let first = try await store.write { try $0.settle(self.usage("use_1", tokens: 30, cost: 1_200)) }
            let again = try await store.write { try $0.settle(self.usage("use_1", tokens: 30, cost: 1_200)) }
            #expect(first && !again)
            let budgets = try await store.read { try $0.currentBudgets(owners: [Self.workspace]) }
            let tokens = try #require(budgets.first { $0.metric == .tokens })
            let cost = try #require(budgets.first { $0.metric == .cost })
            #expect(tokens.used == 30 && tokens.reserved == 0 && tokens.remaining == 70)
            #expect(cost.used == 1_200 && cost.reserved == 0)
            // One usage row, written with the settlement.
            let rows = try await store.read { try $0.usageEvents(tenantId: "ten_1") }
            #expect(rows.map(\.id) == ["use_1"])
            #expect(rows.first?.inputTokens == 15 && rows.first?.outputTokens == 15)
        }
    }

    @Test func aStepReportsTheHighestThresholdItReachedOrPassed() {
        let budget = Budget(
            id: "bud_1", owner: Self.workspace, metric: .tokens, period: .none, limit: 1_000, thresholds: [50, 80, 95])
        #expect(budget.thresholdCrossed(from: 0, to: 499) == nil)
        #expect(budget.thresholdCrossed(from: 499, to: 500) == 50, "reaching the mark is enough")
        #expect(budget.thresholdCrossed(from: 500, to: 700) == nil, "50% was already passed")
        #expect(budget.thresholdCrossed(from: 700, to: 990) == 95, "one step past two marks: the higher")
        #expect(budget.thresholdCrossed(from: 990, to: 1_200) == nil)
        #expect(budget.thresholdCrossed(from: 600, to: 600) == nil)
        // Marks are exact, not rounded: 80% of 3 is 2.4.
        let small = Budget(id: "bud_2", owner: Self.workspace, metric: .tokens, period: .none, limit: 3, thresholds: [80])
        #expect(small.thresholdCrossed(from: 0, to: 2) == nil && small.thresholdCrossed(from: 2, to: 3) == 80)
        let huge = Budget(id: "bud_3", owner: Self.workspace, metric: .cost, period: .none, limit: .max, thresholds: [95])
        #expect(huge.thresholdCrossed(from: .max / 100 * 94, to: .max) == 95, "no overflow at the top of Int64")
        #expect(Budget(id: "bud_4", owner: Self.workspace, metric: .tokens, period: .none, limit: 0).thresholdCrossed(from: 0, to: 5) == nil)
    }

    @Test(arguments: TestDatabase.allCases)
    func aSettlementAnswersTheThresholdsItsOwnStepReached(database: TestDatabase) async throws {
        let clock = Clock(Self.monday10am)
        try await withStore(database, clock: clock) { store in
            let defaults = try await store.write { transaction in
                try transaction.setBudget(owner: Self.workspace, metric: .tokens, period: .day, limit: 100, id: "bud_w")
            }
            #expect(defaults.thresholds == Budget.defaultThresholds)
            try await store.write { transaction in
                try transaction.setBudget(owner: Self.user, metric: .tokens, period: .day, limit: 1_000, thresholds: [], id: "bud_u")
            }
            func step(_ id: String, _ tokens: Int) async throws -> [ThresholdCrossing]? {
                try await reserve(store, id, Int64(tokens))
                return try await store.write { try $0.settlement(self.usage(id, tokens: tokens)) }
            }
            #expect(try await step("use_1", 79)?.isEmpty == true)
            let eighty = try #require(try await step("use_2", 1))
            #expect(eighty.map(\.threshold) == [80] && eighty.first?.budget.id == "bud_w", "the user's budget has none")
            #expect(eighty.first?.budget.used == 80 && eighty.first?.budget.reserved == 0)
            #expect(try await store.write { try $0.settlement(self.usage("use_2", tokens: 1)) } == nil, "settled once")
            #expect(try await step("use_3", 20)?.map(\.threshold) == [95])
            // A changed limit keeps the thresholds; changed thresholds are kept as given.
            let kept = try await store.write { transaction in
                try transaction.setBudget(owner: Self.workspace, metric: .tokens, period: .day, limit: 200, id: "bud_x")
            }
            #expect(kept.thresholds == [80, 95] && kept.used == 100)
            let changed = try await store.write { transaction in
                try transaction.setBudget(owner: Self.workspace, metric: .tokens, period: .day, limit: 200, thresholds: [60], id: "bud_x")
            }
            #expect(changed.thresholds == [60] && changed.id == "bud_w")
            #expect(try await step("use_4", 20)?.map(\.threshold) == [60])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func aCrashedCallsHoldIsReclaimedWhenItsLeaseRunsOut(database: TestDatabase) async throws {
        let clock = Clock(Self.monday10am)
        try await withStore(database, clock: clock) { store in
            try await store.write {
                try $0.setBudget(owner: Self.workspace, metric: .tokens, period: .none, limit: 100, id: "bud_t")
            }
            try await reserve(store, "use_dead", 90, lease: 30_000)
            await #expect(throws: BudgetRefusal.self) { try await reserve(store, "use_2", 20) }
            clock.advance(29_999)
            await #expect(throws: BudgetRefusal.self) { try await reserve(store, "use_2", 20) }
            #expect(try await current(store, Self.workspace).reserved == 90)
            clock.advance(1)
            // Read as of now, before anything wrote: the expired hold no longer counts.
            #expect(try await current(store, Self.workspace).reserved == 0)
            try await reserve(store, "use_2", 20)
            let stored = try await store.read {
                try $0.connection.execute("SELECT reserved FROM budgets WHERE id = 'bud_t'").first?["reserved"].int64
            }
            #expect(stored == 20)
            // The lost call turns up after all: what it used is charged, its hold is not released twice.
            #expect(try await store.write { try $0.settle(self.usage("use_dead", tokens: 10)) })
            let budget = try await current(store, Self.workspace)
            #expect(budget.used == 10 && budget.reserved == 20)

            // A call that never settles keeps its reclaimed row a day, for a late settlement; the
            // next reclaim after that clears it.
            func rows() async throws -> [String] {
                try await store.read {
                    try $0.connection.execute("SELECT reservation_id FROM budget_holds ORDER BY reservation_id").compactMap {
                        $0["reservation_id"].text
                    }
                }
            }
            #expect(try await store.write { try $0.settle(self.usage("use_2", tokens: 0)) })
            let day: Int64 = 86_400_000
            try await reserve(store, "use_lost", 10, lease: 1_000)
            clock.advance(1_000)
            try await reserve(store, "use_3", 10, lease: 10 * day)  // reclaims use_lost
            #expect(try await rows() == ["use_3", "use_lost"])
            clock.advance(day)
            try await reserve(store, "use_4", 10, lease: 10 * day)  // reclaims nothing: no clean-up on the hot path
            #expect(try await rows() == ["use_3", "use_4", "use_lost"])
            try await reserve(store, "use_crash", 10, lease: 1)
            clock.advance(1)
            try await reserve(store, "use_5", 10, lease: 10 * day)  // reclaims use_crash, and clears use_lost
            #expect(try await rows() == ["use_3", "use_4", "use_5", "use_crash"])
            #expect(try await current(store, Self.workspace).reserved == 30)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func aPeriodRollsOverWithoutASweeper(database: TestDatabase) async throws {
        let clock = Clock(Self.monday10am)
        try await withStore(database, clock: clock) { store in
            try await store.write {
                try $0.setBudget(owner: Self.workspace, metric: .tokens, period: .day, limit: 100, id: "bud_t")
            }
            try await reserve(store, "use_1", 100)
            #expect(try await store.write { try $0.settle(self.usage("use_1", tokens: 100)) })
            await #expect(throws: BudgetRefusal.self) { try await reserve(store, "use_2", 1) }
            var budget = try await current(store, Self.workspace)
            #expect(budget.resetAt == BudgetPeriod.day.start(containing: Self.monday10am) + 86_400_000)
            // A call in flight across midnight settles into the new day.
            try await store.write {
                try $0.setBudget(owner: Self.workspace, metric: .tokens, period: .day, limit: 150, id: "bud_t")
            }
            try await reserve(store, "use_3", 50, lease: 20 * 3_600_000)
            clock.advance(14 * 3_600_000)  // 00:00 on Tuesday
            budget = try await current(store, Self.workspace)
            #expect(budget.used == 0 && budget.reserved == 50 && budget.remaining == 100)
            #expect(try await store.write { try $0.settle(self.usage("use_3", tokens: 40)) })
            budget = try await current(store, Self.workspace)
            #expect(budget.used == 40 && budget.reserved == 0 && budget.periodStart == BudgetPeriod.day.start(containing: clock.now))
            try await reserve(store, "use_4", 110)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func concurrentReservationsNeverOverspend(database: TestDatabase) async throws {
        let clock = Clock(Self.monday10am)
        try await withStore(database, clock: clock) { store in
            try await store.write {
                try $0.setBudget(owner: Self.tenant, metric: .tokens, period: .month, limit: 1_000, id: "bud_t")
                try $0.setBudget(owner: Self.workspace, metric: .tokens, period: .month, limit: 215, id: "bud_w")
            }
            let admitted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<60 {
                    group.addTask {
                        do {
                            try await self.reserve(store, "use_\(index)", 10)
                            return true
                        } catch is BudgetRefusal {
                            return false
                        }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(admitted == 21)
            #expect(try await current(store, Self.workspace).reserved == 210)
            #expect(try await current(store, Self.tenant).reserved == 210)
        }
    }
}
