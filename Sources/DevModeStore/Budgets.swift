/// Budgets: how many tokens, or how much money, a tenant, a workspace, a user in a workspace or an
/// API key may spend in a period. Enforced in the store (`Store+Quota.swift`), so every process
/// sharing one database enforces the same budget.

/// Whose budget it is. A call is admitted only when every level that applies to it has room.
public enum BudgetLevel: String, Sendable, Hashable, Codable, CaseIterable {
    case tenant
    case workspace
    /// One user's share of one workspace.
    case user
    /// One API key, whatever workspace it is used in.
    case key
}

/// What a budget counts.
public enum BudgetMetric: String, Sendable, Hashable, Codable, CaseIterable {
    /// Input plus output tokens.
    case tokens
    /// Millionths of a US dollar, from the model registry's prices.
    case cost
}

/// The period a budget's `used` counts over: calendar boundaries in UTC (weeks start on Monday),
/// or none (a budget that never resets). Periods roll over by computation: the first reservation,
/// settlement or read in a new period sees `used` at 0, with no sweeper that has to run.
public enum BudgetPeriod: String, Sendable, Hashable, Codable, CaseIterable {
    case day
    case week
    case month
    case none

    static let dayMs: Int64 = 86_400_000

    /// The start (ms since the epoch, UTC) of the period holding `ms`; 0 for `none`.
    public func start(containing ms: Int64) -> Int64 {
        let day = Self.floorDiv(ms, Self.dayMs)
        switch self {
        case .none:
            return 0
        case .day:
            return day * Self.dayMs
        case .week:
            // 1970-01-01 was a Thursday: day 0 is weekday 3 counting from Monday.
            let weekday = Self.floorMod(day + 3, 7)
            return (day - weekday) * Self.dayMs
        case .month:
            let (year, month, _) = Self.civil(fromDays: day)
            return Self.days(year: year, month: month, day: 1) * Self.dayMs
        }
    }

    /// When the period that starts at `start` ends (the next one's start); nil for `none`.
    public func end(ofPeriodStartingAt start: Int64) -> Int64? {
        switch self {
        case .none:
            return nil
        case .day:
            return start + Self.dayMs
        case .week:
            return start + 7 * Self.dayMs
        case .month:
            let (year, month, _) = Self.civil(fromDays: Self.floorDiv(start, Self.dayMs))
            let next = month == 12 ? (year + 1, 1) : (year, month + 1)
            return Self.days(year: next.0, month: next.1, day: 1) * Self.dayMs
        }
    }

    private static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    private static func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
        a - floorDiv(a, b) * b
    }

    // Days since 1970-01-01 of a proleptic Gregorian date and back (H. Hinnant's algorithms).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Whom a budget belongs to: a tenant, a workspace, one user in one workspace, or an API key.
public struct BudgetOwner: Sendable, Hashable, Codable {
    public var level: BudgetLevel
    public var tenantId: String
    public var workspaceId: String?
    public var userId: String?
    public var keyId: String?

    public static func tenant(_ tenantId: String) -> BudgetOwner { BudgetOwner(level: .tenant, tenantId: tenantId) }
    public static func workspace(_ workspaceId: String, tenantId: String) -> BudgetOwner {
        BudgetOwner(level: .workspace, tenantId: tenantId, workspaceId: workspaceId)
    }
    public static func user(_ userId: String, workspaceId: String, tenantId: String) -> BudgetOwner {
        BudgetOwner(level: .user, tenantId: tenantId, workspaceId: workspaceId, userId: userId)
    }
    public static func key(_ keyId: String, tenantId: String) -> BudgetOwner {
        BudgetOwner(level: .key, tenantId: tenantId, keyId: keyId)
    }

    public init(level: BudgetLevel, tenantId: String, workspaceId: String? = nil, userId: String? = nil, keyId: String? = nil) {
        self.level = level
        self.tenantId = tenantId
        self.workspaceId = workspaceId
        self.userId = userId
        self.keyId = keyId
    }

    /// The owner's key in the `budgets` table: one budget per owner and metric.
    var scope: String {
        switch level {
        case .tenant: return tenantId
        case .workspace: return workspaceId ?? ""
        case .user: return (workspaceId ?? "") + "/" + (userId ?? "")
        case .key: return keyId ?? ""
        }
    }
}

/// One budget, as of a moment: its counts are those of the period holding that moment.
public struct Budget: Sendable, Hashable, Codable {
    public var id: String
    public var owner: BudgetOwner
    public var metric: BudgetMetric
    public var period: BudgetPeriod
    public var limit: Int64
    /// Settled in the current period.
    public var used: Int64
    /// Held by calls in flight (whose leases have not run out).
    public var reserved: Int64
    /// The current period's start (0 for `none`).
    public var periodStart: Int64
    public var createdAt: Int64
    public var updatedAt: Int64
    /// Percentages of `limit`, ascending: a settlement that takes `used` to or past one of them is
    /// told to the sessions the budget applies to.
    public var thresholds: [Int]

    /// The thresholds of a budget that was given none.
    public static let defaultThresholds = [80, 95]

    public init(
        id: String, owner: BudgetOwner, metric: BudgetMetric, period: BudgetPeriod, limit: Int64, used: Int64 = 0,
        reserved: Int64 = 0, periodStart: Int64 = 0, createdAt: Int64 = 0, updatedAt: Int64 = 0,
        thresholds: [Int] = Budget.defaultThresholds
    ) {
        self.thresholds = thresholds
        self.id = id
        self.owner = owner
        self.metric = metric
        self.period = period
        self.limit = limit
        self.used = used
        self.reserved = reserved
        self.periodStart = periodStart
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// What is left: never below 0 (a settlement may exceed what it held).
    public var remaining: Int64 { max(0, limit - used - reserved) }

    /// When `used` goes back to 0; nil for a budget without a period.
    public var resetAt: Int64? { period.end(ofPeriodStartingAt: periodStart) }

    /// The highest threshold that `used` going from `before` to `after` reaches or passes, if any.
    public func thresholdCrossed(from before: Int64, to after: Int64) -> Int? {
        guard limit > 0, after > before else { return nil }
        let (limit, before, after) = (Int128(limit), Int128(before), Int128(after))
        return thresholds.last { percent in
            let mark = Int128(percent) * limit
            return before * 100 < mark && after * 100 >= mark
        }
    }
}

/// A settlement took a budget's `used` to or past one of its thresholds.
public struct ThresholdCrossing: Sendable, Hashable {
    /// As the settlement left it.
    public var budget: Budget
    /// The percentage reached (the highest, when one call passed several).
    public var threshold: Int
    public init(budget: Budget, threshold: Int) {
        self.budget = budget
        self.threshold = threshold
    }
}

/// A reservation refused: `budget` (as of the refusal) had no room for `needed`.
public struct BudgetRefusal: Error, Sendable, Hashable {
    public var budget: Budget
    public var needed: Int64
    public init(budget: Budget, needed: Int64) {
        self.budget = budget
        self.needed = needed
    }
}

/// What one call holds of one budget.
public struct BudgetHold: Sendable, Hashable {
    public var budgetId: String
    public var amount: Int64
    public init(budgetId: String, amount: Int64) {
        self.budgetId = budgetId
        self.amount = amount
    }
}
