/// Budgets in the store: reservations are conditional updates (`used + reserved + n <= limit`), one
/// per budget, in one transaction, in budget-id order (so two transactions on PostgreSQL never wait
/// on each other's rows in opposite orders). Under PostgreSQL's READ COMMITTED an UPDATE that waited
/// for another transaction's row re-checks its WHERE on the committed row; SQLite's writers take
/// turns (`BEGIN IMMEDIATE`). Either way no two calls can both take the last of a budget.
extension StoreTransaction {
    private static let budgetColumns =
        "id, tenant_id, level, workspace_id, user_id, key_id, metric, period, limit_value, used, reserved, period_start, created_at, updated_at, thresholds"

    // MARK: Setting budgets

    /// Creates or changes `owner`'s budget in `metric`. Changing only the limit keeps what is used and
    /// reserved; changing the period starts the new period's count at 0. `thresholds` nil: a new
    /// budget gets the defaults, an existing one keeps its own.
    @discardableResult
    public func setBudget(
        owner: BudgetOwner, metric: BudgetMetric, period: BudgetPeriod, limit: Int64, thresholds: [Int]? = nil, id: String
    ) throws -> Budget {
        let start = period.start(containing: now)
        let thresholdsText: SQLValue = thresholds.map { .text($0.map(String.init).joined(separator: ",")) } ?? .null
        if let existing = try budget(owner: owner, metric: metric) {
            if thresholds != nil {
                try connection.execute("UPDATE budgets SET thresholds = ? WHERE id = ?", thresholdsText, .text(existing.id))
            }
            let sameperiod = existing.period == period
            try connection.execute(
                """
                UPDATE budgets SET limit_value = ?, period = ?, used = CASE WHEN ? = 1 THEN used ELSE 0 END,
                    period_start = CASE WHEN ? = 1 THEN period_start ELSE ? END, updated_at = ? WHERE id = ?
                """,
                .integer(limit), .text(period.rawValue), .integer(sameperiod ? 1 : 0), .integer(sameperiod ? 1 : 0),
                .integer(start), .integer(now), .text(existing.id))
        } else {
            try connection.execute(
                """
                INSERT INTO budgets (id, tenant_id, level, scope, workspace_id, user_id, key_id, metric, period, limit_value,
                    used, reserved, period_start, created_at, updated_at, thresholds)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?)
                """,
                .text(id), .text(owner.tenantId), .text(owner.level.rawValue), .text(owner.scope),
                .optionalText(owner.workspaceId), .optionalText(owner.userId), .optionalText(owner.keyId),
                .text(metric.rawValue), .text(period.rawValue), .integer(limit), .integer(start), .integer(now), .integer(now),
                thresholdsText)
        }
        guard let budget = try currentBudgets(owners: [owner]).first(where: { $0.metric == metric }) else {
            throw SQLError(kind: .other, function: "setBudget", message: "the budget just written is not there", code: "")
        }
        return budget
    }

    /// Removes `owner`'s budget in `metric` (and what calls in flight hold of it); false when there
    /// was none.
    @discardableResult
    public func removeBudget(owner: BudgetOwner, metric: BudgetMetric) throws -> Bool {
        guard let existing = try budget(owner: owner, metric: metric) else { return false }
        try connection.execute("DELETE FROM budget_holds WHERE budget_id = ?", .text(existing.id))
        try connection.execute("DELETE FROM budgets WHERE id = ?", .text(existing.id))
        return true
    }

    /// `owner`'s budget in `metric` as stored (not rolled to the current period).
    func budget(owner: BudgetOwner, metric: BudgetMetric) throws -> Budget? {
        try connection.execute(
            "SELECT \(Self.budgetColumns) FROM budgets WHERE level = ? AND scope = ? AND metric = ?",
            .text(owner.level.rawValue), .text(owner.scope), .text(metric.rawValue)
        ).first.map(Budget.init(row:))
    }

    // MARK: Reading

    /// The budgets of `owners`, in id order, as of now: `used` of the current period (0 after a
    /// period ended), `reserved` without the holds whose lease ran out. Changes nothing.
    public func currentBudgets(owners: [BudgetOwner]) throws -> [Budget] {
        var budgets = try storedBudgets(owners: owners)
        for index in budgets.indices {
            let expired = try connection.execute(
                """
                SELECT COALESCE(SUM(amount), 0) AS amount FROM budget_holds
                WHERE budget_id = ? AND reclaimed_at IS NULL AND lease_until <= ?
                """, .text(budgets[index].id), .integer(now)
            ).first?["amount"].int64 ?? 0
            budgets[index].reserved -= expired
            budgets[index].rollIfEnded(now: now)
        }
        return budgets
    }

    /// Every budget of a tenant (for `quota/get` by admins), in id order, as of now.
    public func tenantBudgets(tenantId: String) throws -> [Budget] {
        let owners = try connection.execute(
            "SELECT \(Self.budgetColumns) FROM budgets WHERE tenant_id = ? ORDER BY id", .text(tenantId)
        ).map { Budget(row: $0).owner }
        return try currentBudgets(owners: Array(Set(owners)))
    }

    private func storedBudgets(owners: [BudgetOwner]) throws -> [Budget] {
        guard !owners.isEmpty else { return [] }
        var clauses: [String] = []
        var values: [SQLValue] = []
        for owner in Set(owners) {
            clauses.append("(level = ? AND scope = ?)")
            values.append(.text(owner.level.rawValue))
            values.append(.text(owner.scope))
        }
        return try connection.execute(
            "SELECT \(Self.budgetColumns) FROM budgets WHERE \(clauses.joined(separator: " OR ")) ORDER BY id", values
        ).map(Budget.init(row:))
    }

    // MARK: Reserving and settling

    /// The budgets of `owners`, in id order, made current in the table: holds whose lease ran out are
    /// reclaimed (their amount leaves `reserved`; the call may still settle what it used) and a budget
    /// whose period ended starts the new one at 0. The first step of a reservation.
    public func prepareBudgets(owners: [BudgetOwner]) throws -> [Budget] {
        let budgets = try storedBudgets(owners: owners)
        let reclaimed = try reclaimExpiredHolds(budgetIds: budgets.map(\.id))
        let rolled = try rollEndedPeriods(budgets)
        // Read again only when that changed a row (most reservations change none).
        return reclaimed || rolled ? try storedBudgets(owners: owners) : budgets
    }

    /// Holds `holds` for the call `reservationId` until `leaseUntil`, all or nothing: throws
    /// `BudgetRefusal` for the first budget (in id order) without room, and the transaction, rolled
    /// back, holds nothing. Call after `prepareBudgets` in the same transaction.
    public func hold(reservationId: String, _ holds: [BudgetHold], leaseUntil: Int64) throws {
        // One conditional update per budget, in id order (so PostgreSQL's row locks are always taken
        // in one order and two reservations cannot deadlock), then the hold rows in one insert.
        let taking = holds.sorted(by: { $0.budgetId < $1.budgetId }).filter { $0.amount > 0 }
        var held: [BudgetHold] = []
        for hold in taking {
            let taken = try connection.execute(
                """
                UPDATE budgets SET reserved = reserved + ?, updated_at = ?
                WHERE id = ? AND used + reserved + ? <= limit_value RETURNING id
                """, .integer(hold.amount), .integer(now), .text(hold.budgetId), .integer(hold.amount))
            guard !taken.isEmpty else {
                let budget = try connection.execute(
                    "SELECT \(Self.budgetColumns) FROM budgets WHERE id = ?", .text(hold.budgetId)
                ).first.map(Budget.init(row:))
                guard let budget else { continue }  // removed meanwhile: nothing to hold
                throw BudgetRefusal(budget: budget, needed: hold.amount)
            }
            held.append(hold)
        }
        guard !held.isEmpty else { return }
        try connection.execute(
            "INSERT INTO budget_holds (reservation_id, budget_id, amount, lease_until) VALUES "
                + Array(repeating: "(?, ?, ?, ?)", count: held.count).joined(separator: ", "),
            held.flatMap { [.text(reservationId), .text($0.budgetId), .integer($0.amount), .integer(leaseUntil)] })
    }

    /// Settles the call `event.id` reserved under: its usage row is written and, in the same
    /// transaction, what it held leaves `reserved` and what it used (`event`'s tokens and cost) is
    /// added to `used` of every budget it held. Idempotent: false (and nothing changes) when that
    /// usage row is already there. A call that failed or was cancelled settles what it used (often
    /// nothing), which releases the rest.
    @discardableResult
    public func settle(_ event: UsageEvent) throws -> Bool {
        try settlement(event) != nil
    }

    /// `settle`, answering the thresholds the settlement reached (nil: it was settled already).
    public func settlement(_ event: UsageEvent) throws -> [ThresholdCrossing]? {
        guard try insertUsage(event, once: true) else { return nil }
        let holds = try connection.execute(
            "DELETE FROM budget_holds WHERE reservation_id = ? RETURNING budget_id, amount, reclaimed_at", .text(event.id))
        guard !holds.isEmpty else { return [] }
        let ids = holds.compactMap { $0["budget_id"].text }
        let placeholders = Array(repeating: "?", count: ids.count).joined(separator: ", ")
        let budgets = try connection.execute(
            "SELECT \(Self.budgetColumns) FROM budgets WHERE id IN (\(placeholders)) ORDER BY id", ids.map { .text($0) }
        ).map(Budget.init(row:))
        try rollEndedPeriods(budgets)
        let held = Dictionary(holds.map { ($0["budget_id"].text ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        var crossings: [ThresholdCrossing] = []
        for var budget in budgets {
            guard let hold = held[budget.id] else { continue }
            // A reclaimed hold already left `reserved`; what the call used is still charged.
            let release = hold["reclaimed_at"].int64 == nil ? (hold["amount"].int64 ?? 0) : 0
            let used = Int64(budget.metric == .tokens ? event.inputTokens + event.outputTokens : event.costMicros)
            // The row as this update leaves it (under PostgreSQL, after any concurrent settlement
            // that committed first), so `used - n .. used` is exactly this call's step.
            guard
                let after = try connection.execute(
                    "UPDATE budgets SET reserved = reserved - ?, used = used + ?, updated_at = ? WHERE id = ? RETURNING used, reserved, period_start",
                    .integer(release), .integer(used), .integer(now), .text(budget.id)
                ).first
            else { continue }
            budget.used = after["used"].int64 ?? budget.used
            budget.reserved = after["reserved"].int64 ?? budget.reserved
            budget.periodStart = after["period_start"].int64 ?? budget.periodStart
            if let threshold = budget.thresholdCrossed(from: budget.used - used, to: budget.used) {
                crossings.append(ThresholdCrossing(budget: budget, threshold: threshold))
            }
        }
        return crossings
    }

    /// Reclaims the holds on `budgetIds` whose lease ran out: a crashed process's calls stop holding
    /// room. The hold rows stay (marked) so that a late settlement still charges what was used;
    /// those reclaimed a day ago are deleted whenever others are reclaimed.
    /// True when it changed a budget's `reserved`.
    @discardableResult
    func reclaimExpiredHolds(budgetIds: [String]) throws -> Bool {
        guard !budgetIds.isEmpty else { return false }
        let ids = budgetIds.sorted()
        let list = Array(repeating: "?", count: ids.count).joined(separator: ", ")
        let reclaimed = try connection.execute(
            """
            UPDATE budget_holds SET reclaimed_at = ? WHERE budget_id IN (\(list)) AND reclaimed_at IS NULL AND lease_until <= ?
            RETURNING budget_id, amount
            """, [.integer(now)] + ids.map { .text($0) } + [.integer(now)])
        var amounts: [String: Int64] = [:]
        for row in reclaimed { amounts[row["budget_id"].text ?? "", default: 0] += row["amount"].int64 ?? 0 }
        for id in ids {
            guard let amount = amounts[id], amount > 0 else { continue }
            try connection.execute(
                "UPDATE budgets SET reserved = reserved - ?, updated_at = ? WHERE id = ?", .integer(amount), .integer(now), .text(id))
        }
        guard !reclaimed.isEmpty else { return false }
        // Rows are reclaimed only after a process died mid-call; that is when the ones reclaimed a
        // day ago are cleared too (not on every reservation: one statement less on the hot path).
        try connection.execute(
            "DELETE FROM budget_holds WHERE budget_id IN (\(list)) AND reclaimed_at IS NOT NULL AND reclaimed_at <= ?",
            ids.map { .text($0) } + [.integer(now - BudgetPeriod.dayMs)])
        return amounts.values.contains { $0 > 0 }
    }

    /// Starts the current period of every budget in `budgets` whose period ended (holds carry over:
    /// the calls in flight settle into the new period).
    /// True when a period ended.
    @discardableResult
    private func rollEndedPeriods(_ budgets: [Budget]) throws -> Bool {
        var rolled = false
        for budget in budgets {
            let start = budget.period.start(containing: now)
            guard start > budget.periodStart else { continue }
            try connection.execute(
                "UPDATE budgets SET used = 0, period_start = ?, updated_at = ? WHERE id = ? AND period_start < ?",
                .integer(start), .integer(now), .text(budget.id), .integer(start))
            rolled = true
        }
        return rolled
    }

    /// The holds of a call (tests, and reports of what is in flight).
    public func holds(reservationId: String) throws -> [BudgetHold] {
        try connection.execute(
            "SELECT budget_id, amount FROM budget_holds WHERE reservation_id = ? AND reclaimed_at IS NULL ORDER BY budget_id",
            .text(reservationId)
        ).map { BudgetHold(budgetId: $0["budget_id"].text ?? "", amount: $0["amount"].int64 ?? 0) }
    }
}

extension Budget {
    init(row: SQLRow) {
        let level = BudgetLevel(rawValue: row["level"].text ?? "") ?? .tenant
        self.init(
            id: row["id"].text ?? "",
            owner: BudgetOwner(
                level: level, tenantId: row["tenant_id"].text ?? "", workspaceId: row["workspace_id"].text,
                userId: row["user_id"].text, keyId: row["key_id"].text),
            metric: BudgetMetric(rawValue: row["metric"].text ?? "") ?? .tokens,
            period: BudgetPeriod(rawValue: row["period"].text ?? "") ?? .none, limit: row["limit_value"].int64 ?? 0,
            used: row["used"].int64 ?? 0, reserved: row["reserved"].int64 ?? 0, periodStart: row["period_start"].int64 ?? 0,
            createdAt: row["created_at"].int64 ?? 0, updatedAt: row["updated_at"].int64 ?? 0,
            thresholds: row["thresholds"].text.map { $0.split(separator: ",").compactMap { Int($0) } } ?? Budget.defaultThresholds)
    }

    /// As of `now`: a budget whose period ended has used nothing of the current one.
    mutating func rollIfEnded(now: Int64) {
        let start = period.start(containing: now)
        if start > periodStart {
            used = 0
            periodStart = start
        }
    }
}
