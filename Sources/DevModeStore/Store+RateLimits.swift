/// Rate limits in the store, shared by every process on one database.
///
/// Requests and tokens per minute are GCRA (the generic cell rate algorithm, a token bucket kept as
/// one number): a limiter holds its theoretical arrival time (TAT); a call of weight n moves it
/// n × 60 000 / limit ms on, and is admitted while the TAT stays within `burst` emission intervals
/// of now. To stay exact for any limit, times are computed scaled by the limit (ms × limit, in
/// 128 bits), so an emission interval is exactly 60 000 units and `retryAfterMs` is the exact wait,
/// rounded up to the millisecond; the TAT is stored as whole milliseconds and the remainder. Concurrent requests are counted as holds with a lease, like budget holds.
///
/// Each limiter's state row is locked before it is read (an UPDATE that changes nothing), so
/// concurrent transactions on PostgreSQL take turns on it; SQLite's writers take turns anyway.

/// What a rate limit counts.
public enum RateMetric: String, Sendable, Hashable, Codable, CaseIterable {
    case requestsPerMinute
    case tokensPerMinute
    /// Model calls in flight at once.
    case concurrentRequests
}

/// One configured rate limit. A `user` limit without a user id (`owner.userId` nil) applies to
/// each user of the workspace on their own, unless that user has a limit of their own.
public struct RateLimit: Sendable, Hashable, Codable {
    public var id: String
    public var owner: BudgetOwner
    public var metric: RateMetric
    public var limit: Int64
    /// How many (requests or tokens) may come at once; per-minute limits only.
    public var burst: Int64
    /// Whether calls of the free `local` model count too.
    public var includesLocal: Bool

    public init(id: String, owner: BudgetOwner, metric: RateMetric, limit: Int64, burst: Int64, includesLocal: Bool) {
        self.id = id
        self.owner = owner
        self.metric = metric
        self.limit = limit
        self.burst = burst
        self.includesLocal = includesLocal
    }
}

/// A call a rate limit refused, and when to try again.
public struct RateRefusal: Error, Sendable, Hashable {
    public var limit: RateLimit
    /// The user the limit counted for (each-user limits).
    public var userId: String?
    /// Requests or tokens counted against the limit now (the bucket's level), or calls in flight.
    public var used: Int64
    /// The exact wait before the same call would be admitted; nil for concurrent requests (when
    /// one of the calls in flight ends).
    public var retryAfterMs: Int64?
    public var needed: Int64
}

/// What one call holds of the rate limits, to settle or release.
public struct RateHold: Sendable, Hashable {
    public var limitId: String
    public var subject: String
    public var metric: RateMetric
    public var amount: Int64
}

extension StoreTransaction {
    private static let rateColumns = "id, tenant_id, level, workspace_id, user_id, metric, limit_value, burst, includes_local"

    /// Creates or changes a rate limit (`burst` nil: the limit itself, a minute's worth at once).
    @discardableResult
    public func setRateLimit(owner: BudgetOwner, metric: RateMetric, limit: Int64, burst: Int64?, includesLocal: Bool, id: String)
        throws -> RateLimit
    {
        let burst = metric == .concurrentRequests ? limit : max(1, burst ?? limit)
        try connection.execute(
            """
            INSERT INTO rate_limits (id, tenant_id, level, scope, workspace_id, user_id, metric, limit_value, burst, includes_local,
                created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (level, scope, metric) DO UPDATE SET limit_value = excluded.limit_value, burst = excluded.burst,
                includes_local = excluded.includes_local, updated_at = excluded.updated_at
            """,
            .text(id), .text(owner.tenantId), .text(owner.level.rawValue), .text(Self.rateScope(owner)),
            .optionalText(owner.workspaceId), .optionalText(owner.userId), .text(metric.rawValue), .integer(limit), .integer(burst),
            .integer(includesLocal ? 1 : 0), .integer(now), .integer(now))
        guard
            let row = try connection.execute(
                "SELECT \(Self.rateColumns) FROM rate_limits WHERE level = ? AND scope = ? AND metric = ?",
                .text(owner.level.rawValue), .text(Self.rateScope(owner)), .text(metric.rawValue)
            ).first
        else { throw SQLError(kind: .other, function: "setRateLimit", message: "the limit just written is not there", code: "") }
        return RateLimit(row: row)
    }

    /// Removes a rate limit and its state; false when there was none.
    @discardableResult
    public func removeRateLimit(owner: BudgetOwner, metric: RateMetric) throws -> Bool {
        let removed = try connection.execute(
            "DELETE FROM rate_limits WHERE level = ? AND scope = ? AND metric = ? RETURNING id", .text(owner.level.rawValue),
            .text(Self.rateScope(owner)), .text(metric.rawValue))
        for row in removed {
            try connection.execute("DELETE FROM rate_state WHERE limit_id = ?", .text(row["id"].text ?? ""))
            try connection.execute("DELETE FROM rate_holds WHERE limit_id = ?", .text(row["id"].text ?? ""))
        }
        return !removed.isEmpty
    }

    /// "workspace/*" for each user of a workspace.
    static func rateScope(_ owner: BudgetOwner) -> String {
        owner.level == .user && owner.userId == nil ? (owner.workspaceId ?? "") + "/*" : owner.scope
    }

    /// The rate limits that apply to `userId`'s calls in `workspaceId`: the tenant's, the
    /// workspace's, and the user's own or else the workspace's each-user limit, per metric.
    public func rateLimits(tenantId: String, workspaceId: String, userId: String) throws -> [RateLimit] {
        let rows = try connection.execute(
            """
            SELECT \(Self.rateColumns) FROM rate_limits
            WHERE (level = 'tenant' AND scope = ?) OR (level = 'workspace' AND scope = ?) OR (level = 'user' AND scope IN (?, ?))
            ORDER BY id
            """, .text(tenantId), .text(workspaceId), .text(workspaceId + "/" + userId), .text(workspaceId + "/*")
        ).map(RateLimit.init(row:))
        let own = Set(rows.filter { $0.owner.level == .user && $0.owner.userId != nil }.map(\.metric))
        return rows.filter { !($0.owner.level == .user && $0.owner.userId == nil && own.contains($0.metric)) }
    }

    /// Every rate limit of a tenant.
    public func tenantRateLimits(tenantId: String) throws -> [RateLimit] {
        try connection.execute("SELECT \(Self.rateColumns) FROM rate_limits WHERE tenant_id = ? ORDER BY id", .text(tenantId))
            .map(RateLimit.init(row:))
    }

    /// Admits a call of `tokens` (its worst case) by `userId` under `limits`, all or nothing: throws
    /// `RateRefusal` for the first limit (in id order) that refuses, and the transaction, rolled
    /// back, changes nothing. Concurrent-request holds last until `leaseUntil` unless settled.
    public func admit(
        reservationId: String, limits: [RateLimit], userId: String, tokens: Int64, leaseUntil: Int64
    ) throws -> [RateHold] {
        var holds: [RateHold] = []
        for limit in limits.sorted(by: { $0.id < $1.id }) {
            let subject = limit.owner.level == .user && limit.owner.userId == nil ? userId : ""
            let tat = try lockState(limit, subject: subject)
            switch limit.metric {
            case .requestsPerMinute, .tokensPerMinute:
                let weight = limit.metric == .requestsPerMinute ? 1 : tokens
                guard weight > 0 else { continue }
                let scale = Int128(limit.limit)
                let scaledNow = Int128(now) * scale
                let start = max(tat, scaledNow)
                let next = start + 60_000 * Int128(weight)
                let allowance = 60_000 * Int128(limit.burst)
                if next - scaledNow > allowance {
                    let wait = next - scaledNow - allowance
                    throw RateRefusal(
                        limit: limit, userId: subject.isEmpty ? nil : subject, used: Self.level(start - scaledNow),
                        retryAfterMs: Int64((wait + scale - 1) / scale), needed: weight)
                }
                try storeState(limit, subject: subject, next)
                holds.append(RateHold(limitId: limit.id, subject: subject, metric: limit.metric, amount: weight))
            case .concurrentRequests:
                let inFlight = try connection.execute(
                    "SELECT COUNT(*) AS n FROM rate_holds WHERE limit_id = ? AND subject = ? AND lease_until > ?", .text(limit.id),
                    .text(subject), .integer(now)
                ).first?["n"].int64 ?? 0
                guard inFlight < limit.limit else {
                    throw RateRefusal(
                        limit: limit, userId: subject.isEmpty ? nil : subject, used: inFlight, retryAfterMs: nil, needed: 1)
                }
                try connection.execute(
                    "INSERT INTO rate_holds (reservation_id, limit_id, subject, lease_until) VALUES (?, ?, ?, ?)",
                    .text(reservationId), .text(limit.id), .text(subject), .integer(leaseUntil))
                holds.append(RateHold(limitId: limit.id, subject: subject, metric: limit.metric, amount: 1))
            }
        }
        return holds
    }

    /// Settles a call's rate holds: its concurrent-request holds end, and a tokens-per-minute
    /// limiter is moved back (or on) by what the call used less (or more) than it was admitted for.
    public func settleRate(reservationId: String, holds: [RateHold], usedTokens: Int64) throws {
        try connection.execute("DELETE FROM rate_holds WHERE reservation_id = ?", .text(reservationId))
        for hold in holds.sorted(by: { $0.limitId < $1.limitId }) where hold.metric == .tokensPerMinute {
            let difference = usedTokens - hold.amount
            guard difference != 0,
                let row = try connection.execute("SELECT \(Self.rateColumns) FROM rate_limits WHERE id = ?", .text(hold.limitId)).first
            else { continue }
            let limit = RateLimit(row: row)
            let tat = try lockState(limit, subject: hold.subject)
            try storeState(limit, subject: hold.subject, tat + 60_000 * Int128(difference))
        }
    }

    /// The limiter's TAT (scaled by the limit), its row locked for this transaction (made on
    /// first use).
    private func lockState(_ limit: RateLimit, subject: String) throws -> Int128 {
        let lock = "UPDATE rate_state SET tat = tat WHERE limit_id = ? AND subject = ? RETURNING tat, tat_rem"
        var row = try connection.execute(lock, .text(limit.id), .text(subject)).first
        if row == nil {
            try connection.execute(
                "INSERT INTO rate_state (limit_id, subject, tat, tat_rem) VALUES (?, ?, 0, 0) ON CONFLICT (limit_id, subject) DO NOTHING",
                .text(limit.id), .text(subject))
            row = try connection.execute(lock, .text(limit.id), .text(subject)).first
        }
        return Int128(row?["tat"].int64 ?? 0) * Int128(limit.limit) + Int128(row?["tat_rem"].int64 ?? 0)
    }

    private func storeState(_ limit: RateLimit, subject: String, _ scaled: Int128) throws {
        let scale = Int128(limit.limit)
        var ms = scaled / scale
        var rem = scaled % scale
        if rem < 0 {
            ms -= 1
            rem += scale
        }
        try connection.execute(
            "UPDATE rate_state SET tat = ?, tat_rem = ? WHERE limit_id = ? AND subject = ?", .integer(Int64(ms)),
            .integer(Int64(rem)), .text(limit.id), .text(subject))
    }

    /// Emission intervals a scaled span holds, rounded up: how much of the burst is in use.
    private static func level(_ span: Int128) -> Int64 { span <= 0 ? 0 : Int64((span + 59_999) / 60_000) }

    /// How much of `limit` is in use now for `subject` (requests or tokens within the burst, or
    /// calls in flight), and when it is all free again (ms; nil when it is now).
    public func rateUse(_ limit: RateLimit, subject: String) throws -> (used: Int64, freeAt: Int64?) {
        switch limit.metric {
        case .concurrentRequests:
            let count = try connection.execute(
                "SELECT COUNT(*) AS n FROM rate_holds WHERE limit_id = ? AND subject = ? AND lease_until > ?", .text(limit.id),
                .text(subject), .integer(now)
            ).first?["n"].int64 ?? 0
            return (count, nil)
        case .requestsPerMinute, .tokensPerMinute:
            guard
                let row = try connection.execute(
                    "SELECT tat, tat_rem FROM rate_state WHERE limit_id = ? AND subject = ?", .text(limit.id), .text(subject)
                ).first
            else { return (0, nil) }
            let scale = Int128(limit.limit)
            let tat = Int128(row["tat"].int64 ?? 0) * scale + Int128(row["tat_rem"].int64 ?? 0)
            let span = tat - Int128(now) * scale
            return span <= 0 ? (0, nil) : (Self.level(span), Int64((tat + scale - 1) / scale))
        }
    }
}

extension RateLimit {
    init(row: SQLRow) {
        self.init(
            id: row["id"].text ?? "",
            owner: BudgetOwner(
                level: BudgetLevel(rawValue: row["level"].text ?? "") ?? .tenant, tenantId: row["tenant_id"].text ?? "",
                workspaceId: row["workspace_id"].text, userId: row["user_id"].text),
            metric: RateMetric(rawValue: row["metric"].text ?? "") ?? .requestsPerMinute, limit: row["limit_value"].int64 ?? 1,
            burst: row["burst"].int64 ?? 1, includesLocal: (row["includes_local"].int64 ?? 0) != 0)
    }
}
