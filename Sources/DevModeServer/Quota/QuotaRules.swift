import DevModeProtocol
import DevModeStore
import JSONRPC

/// Who may see and set budgets. Setting one is a tenant admin's (for their own tenant) or a server
/// admin's; a workspace's owner is not enough, as budgets are what the tenant pays for. Reading:
/// anyone who can see the workspace, for their own calls; a tenant admin for any user's.
extension Directory {
    /// What `quota/set` asks for, parsed.
    public struct BudgetChange: Sendable {
        public var tenantId: String?
        public var level: String
        public var workspaceId: String?
        public var userId: String?
        public var keyId: String?
        public var metric: String
        public var period: String?
        public var limit: Int?
        public var burst: Int?
        public var includeLocal: Bool?
        public var thresholds: [Int]?

        public init(
            tenantId: String?, level: String, workspaceId: String?, userId: String?, keyId: String?, metric: String,
            period: String?, limit: Int?, burst: Int? = nil, includeLocal: Bool? = nil, thresholds: [Int]? = nil
        ) {
            self.thresholds = thresholds
            self.burst = burst
            self.includeLocal = includeLocal
            self.tenantId = tenantId
            self.level = level
            self.workspaceId = workspaceId
            self.userId = userId
            self.keyId = keyId
            self.metric = metric
            self.period = period
            self.limit = limit
        }
    }

    /// What `quota/set` changed: a budget or a rate limit as it is now (nil when removed).
    public enum SetOutcome: Sendable {
        case budget(Budget?, removed: Bool)
        case rateLimit(RateLimit?, removed: Bool)
    }

    /// Sets (or, with no limit, removes) one budget or rate limit; audited.
    public func setBudget(_ change: BudgetChange, by actor: Principal) async throws -> SetOutcome {
        guard let tenantId = change.tenantId ?? actor.caller?.tenantId else {
            throw ResponseError.invalidParams("tenantId is required", field: "tenantId")
        }
        guard let level = BudgetLevel(rawValue: change.level) else {
            throw ResponseError.invalidParams("level must be tenant, workspace, user or key", field: "level")
        }
        let metric = BudgetMetric(rawValue: change.metric)
        let rateMetric = RateMetric(rawValue: change.metric)
        guard metric != nil || rateMetric != nil else {
            throw ResponseError.invalidParams(
                "metric must be tokens or cost (a budget), or requestsPerMinute, tokensPerMinute or concurrentRequests (a rate limit)",
                field: "metric")
        }
        guard let period = BudgetPeriod(rawValue: change.period ?? BudgetPeriod.month.rawValue) else {
            throw ResponseError.invalidParams("period must be day, week, month or none", field: "period")
        }
        if let limit = change.limit, limit < (rateMetric == nil ? 0 : 1) {
            throw ResponseError.invalidParams(
                rateMetric == nil ? "limit must be 0 or more (null removes the budget)" : "a rate limit is at least 1 (null removes it)",
                field: "limit")
        }
        if let burst = change.burst, burst < 1 { throw ResponseError.invalidParams("burst must be at least 1", field: "burst") }
        let thresholds = try change.thresholds.map { try Self.validThresholds($0, budget: metric != nil) }
        if rateMetric != nil && level == .key {
            throw ResponseError.invalidParams("rate limits are per tenant, workspace or user, not per key", field: "level")
        }
        let target = [change.level, change.workspaceId, change.userId, change.keyId].compactMap { $0 }.joined(separator: ":")
        let method = QuotaSetRequest.method
        return try await self.change(method, by: actor, tenantId: tenantId, workspaceId: change.workspaceId, target: target) {
            transaction in
            _ = try Self.tenant(tenantId, for: actor, admin: true, in: transaction)
            let owner = try Self.budgetOwner(level, change, tenantId: tenantId, eachUser: rateMetric != nil, in: transaction)
            let detail: String
            let outcome: SetOutcome
            switch (metric, rateMetric, change.limit) {
            case (let metric?, _, let limit?):
                let budget = try transaction.setBudget(
                    owner: owner, metric: metric, period: period, limit: Int64(limit), thresholds: thresholds,
                    id: Identifier.make("bud"))
                outcome = .budget(budget, removed: false)
                detail = "\(metric.rawValue) \(limit) per \(period.rawValue), \(budget.thresholds.isEmpty ? "no thresholds" : "thresholds " + budget.thresholds.map { "\($0)%" }.joined(separator: ", "))"
            case (let metric?, _, nil):
                outcome = .budget(nil, removed: try transaction.removeBudget(owner: owner, metric: metric))
                detail = "\(metric.rawValue) removed"
            case (nil, let metric?, let limit?):
                let rate = try transaction.setRateLimit(
                    owner: owner, metric: metric, limit: Int64(limit), burst: change.burst.map { Int64($0) },
                    includesLocal: change.includeLocal ?? false, id: Identifier.make("rtl"))
                outcome = .rateLimit(rate, removed: false)
                detail = "\(metric.rawValue) \(limit), burst \(rate.burst)\(rate.includesLocal ? ", local included" : "")"
            case (nil, let metric?, nil):
                outcome = .rateLimit(nil, removed: try transaction.removeRateLimit(owner: owner, metric: metric))
                detail = "\(metric.rawValue) removed"
            case (nil, nil, _):
                throw ResponseError.invalidParams("unknown metric", field: "metric")
            }
            return (
                outcome,
                AuditEvent(
                    actor: actor.auditName, tenantId: tenantId, workspaceId: owner.workspaceId, method: method, target: target,
                    detail: detail)
            )
        }
    }

    /// Thresholds as a budget keeps them: ascending, each once.
    private static func validThresholds(_ thresholds: [Int], budget: Bool) throws -> [Int] {
        guard budget else { throw ResponseError.invalidParams("thresholds are for budgets, not rate limits", field: "thresholds") }
        guard thresholds.count <= 10, thresholds.allSatisfy({ (1...100).contains($0) }) else {
            throw ResponseError.invalidParams("thresholds are at most 10 percentages from 1 to 100", field: "thresholds")
        }
        return Array(Set(thresholds)).sorted()
    }

    /// The owner `change` names at `level`; each id must be in `tenantId` (else not found).
    /// `eachUser`: a `user` level without `userId` names each user of the workspace (rate limits).
    private static func budgetOwner(
        _ level: BudgetLevel, _ change: BudgetChange, tenantId: String, eachUser: Bool, in transaction: StoreTransaction
    ) throws -> BudgetOwner {
        func workspace() throws -> String {
            guard let id = change.workspaceId else {
                throw ResponseError.invalidParams("workspaceId is required for level \(level.rawValue)", field: "workspaceId")
            }
            guard let found = try transaction.workspace(id: id), found.tenantId == tenantId else {
                throw ResponseError.notFound("workspace", id)
            }
            return id
        }
        switch level {
        case .tenant:
            return .tenant(tenantId)
        case .workspace:
            return .workspace(try workspace(), tenantId: tenantId)
        case .user:
            let workspaceId = try workspace()
            if eachUser && change.userId == nil { return BudgetOwner(level: .user, tenantId: tenantId, workspaceId: workspaceId) }
            guard let userId = change.userId else {
                throw ResponseError.invalidParams("userId is required for level user", field: "userId")
            }
            guard let user = try transaction.user(id: userId), user.tenantId == tenantId else {
                throw ResponseError.notFound("user", userId)
            }
            return .user(userId, workspaceId: workspaceId, tenantId: tenantId)
        case .key:
            guard let keyId = change.keyId else {
                throw ResponseError.invalidParams("keyId is required for level key", field: "keyId")
            }
            guard let key = try transaction.apiKey(id: keyId), key.tenantId == tenantId else {
                throw ResponseError.notFound("apiKey", keyId)
            }
            return .key(keyId, tenantId: tenantId)
        }
    }

    /// The budgets that apply to `userId`'s (default: the caller's) model calls in `workspaceId`
    /// (default: the caller's first workspace), with the caller's API key's own when it is theirs.
    public func budgets(workspaceId named: String?, userId: String?, for actor: Principal) async throws
        -> (workspaceId: String, userId: String, budgets: [Budget], rateLimits: [RateLimitUse])
    {
        let workspaceId: String
        if let named { workspaceId = named } else { workspaceId = try await defaultWorkspace(for: actor) }
        guard let userId = userId ?? actor.caller?.userId else {
            throw ResponseError.invalidParams("userId is required", field: "userId")
        }
        let keyId = actor.caller?.userId == userId ? actor.caller?.apiKeyId : nil
        return try await store.read { transaction in
            let (workspace, _) = try Self.workspace(workspaceId, for: actor, atLeast: .viewer, in: transaction)
            if actor.caller?.userId != userId {
                _ = try Self.user(userId, for: actor, admin: true, in: transaction)
            }
            var owners: [BudgetOwner] = [
                .tenant(workspace.tenantId), .workspace(workspaceId, tenantId: workspace.tenantId),
                .user(userId, workspaceId: workspaceId, tenantId: workspace.tenantId),
            ]
            if let keyId { owners.append(.key(keyId, tenantId: workspace.tenantId)) }
            let order = Dictionary(uniqueKeysWithValues: BudgetLevel.allCases.enumerated().map { ($1, $0) })
            let budgets = try transaction.currentBudgets(owners: owners).sorted {
                (order[$0.owner.level] ?? 0, $0.metric.rawValue) < (order[$1.owner.level] ?? 0, $1.metric.rawValue)
            }
            let limits = try transaction.rateLimits(tenantId: workspace.tenantId, workspaceId: workspaceId, userId: userId)
                .sorted { (order[$0.owner.level] ?? 0, $0.metric.rawValue) < (order[$1.owner.level] ?? 0, $1.metric.rawValue) }
                .map { limit in
                    let subject = limit.owner.level == .user && limit.owner.userId == nil ? userId : ""
                    return RateLimitUse(limit: limit, use: try transaction.rateUse(limit, subject: subject))
                }
            return (workspaceId, userId, budgets, limits)
        }
    }
}

/// A rate limit and how much of it one user's calls use now.
public struct RateLimitUse: Sendable {
    public var limit: RateLimit
    public var use: (used: Int64, freeAt: Int64?)
}
