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

        public init(
            tenantId: String?, level: String, workspaceId: String?, userId: String?, keyId: String?, metric: String,
            period: String?, limit: Int?
        ) {
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

    /// Sets (or, with no limit, removes) one budget; audited. Returns the budget as it is now (nil
    /// when removed) and whether a budget was removed.
    public func setBudget(_ change: BudgetChange, by actor: Principal) async throws -> (Budget?, removed: Bool) {
        guard let tenantId = change.tenantId ?? actor.caller?.tenantId else {
            throw ResponseError.invalidParams("tenantId is required", field: "tenantId")
        }
        guard let level = BudgetLevel(rawValue: change.level) else {
            throw ResponseError.invalidParams("level must be tenant, workspace, user or key", field: "level")
        }
        guard let metric = BudgetMetric(rawValue: change.metric) else {
            throw ResponseError.invalidParams("metric must be tokens or cost", field: "metric")
        }
        guard let period = BudgetPeriod(rawValue: change.period ?? BudgetPeriod.month.rawValue) else {
            throw ResponseError.invalidParams("period must be day, week, month or none", field: "period")
        }
        if let limit = change.limit, limit < 0 {
            throw ResponseError.invalidParams("limit must be 0 or more (null removes the budget)", field: "limit")
        }
        let target = [change.level, change.workspaceId, change.userId, change.keyId].compactMap { $0 }.joined(separator: ":")
        let method = QuotaSetRequest.method
        return try await self.change(method, by: actor, tenantId: tenantId, workspaceId: change.workspaceId, target: target) {
            transaction in
            _ = try Self.tenant(tenantId, for: actor, admin: true, in: transaction)
            let owner = try Self.budgetOwner(level, change, tenantId: tenantId, in: transaction)
            let detail: String
            let result: (Budget?, removed: Bool)
            if let limit = change.limit {
                let budget = try transaction.setBudget(
                    owner: owner, metric: metric, period: period, limit: Int64(limit), id: Identifier.make("bud"))
                result = (budget, false)
                detail = "\(metric.rawValue) \(limit) per \(period.rawValue)"
            } else {
                result = (nil, try transaction.removeBudget(owner: owner, metric: metric))
                detail = "\(metric.rawValue) removed"
            }
            return (
                result,
                AuditEvent(
                    actor: actor.auditName, tenantId: tenantId, workspaceId: owner.workspaceId, method: method, target: target,
                    detail: detail)
            )
        }
    }

    /// The owner `change` names at `level`; each id must be in `tenantId` (else not found).
    private static func budgetOwner(
        _ level: BudgetLevel, _ change: BudgetChange, tenantId: String, in transaction: StoreTransaction
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
        -> (workspaceId: String, userId: String, budgets: [Budget])
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
            return (workspaceId, userId, budgets)
        }
    }
}
