import JSONRPC

/// One budget as a client sees it: whose it is, what it counts, and what is left of it now.
public struct QuotaInfo: Codable, Sendable, Hashable {
    /// `tenant`, `workspace`, `user` (one user's share of one workspace) or `key`.
    public var level: String
    public var tenantId: String
    public var workspaceId: String?
    public var userId: String?
    public var keyId: String?
    /// `tokens` (input plus output) or `cost` (millionths of a US dollar).
    public var metric: String
    /// `day`, `week`, `month` (UTC calendar boundaries) or `none`.
    public var period: String
    public var limit: Int
    /// Settled in the current period.
    public var used: Int
    /// Held by calls in flight.
    public var reserved: Int
    public var remaining: Int
    /// When `used` goes back to 0 (ISO 8601); absent for `none`.
    public var resetAt: String?
    public init(
        level: String, tenantId: String, workspaceId: String?, userId: String?, keyId: String?, metric: String, period: String,
        limit: Int, used: Int, reserved: Int, remaining: Int, resetAt: String?
    ) {
        self.level = level
        self.tenantId = tenantId
        self.workspaceId = workspaceId
        self.userId = userId
        self.keyId = keyId
        self.metric = metric
        self.period = period
        self.limit = limit
        self.used = used
        self.reserved = reserved
        self.remaining = remaining
        self.resetAt = resetAt
    }
}

/// `quota/get`: the budgets that apply to the caller's model calls in a workspace (tenant,
/// workspace, the user's share, the caller's API key), or to another user's calls there (tenant
/// admins).
public struct QuotaGetRequest: ObjectScopedRequest, Hashable {
    public static let method = "quota/get"
    public typealias Response = QuotaGetResult
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = false
    /// Absent: the caller's first workspace.
    public var workspaceId: String?
    /// Absent: the caller.
    public var userId: String?
    public init(workspaceId: String? = nil, userId: String? = nil) {
        self.workspaceId = workspaceId
        self.userId = userId
    }
}

public struct QuotaGetResult: ResponseType, Hashable {
    public var workspaceId: String
    public var userId: String
    /// Tenant first, then workspace, user and key; a level without a budget is not listed.
    public var quotas: [QuotaInfo]
    public init(workspaceId: String, userId: String, quotas: [QuotaInfo]) {
        self.workspaceId = workspaceId
        self.userId = userId
        self.quotas = quotas
    }
}

/// `quota/set`: sets or removes one budget of a tenant's tree (tenant admins for their own tenant,
/// server admins for any). Audited.
public struct QuotaSetRequest: ObjectScopedRequest, Hashable {
    public static let method = "quota/set"
    public typealias Response = QuotaSetResult
    public static let objectIDField = "tenantId"
    public static let objectKind = ObjectKind.tenant
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["level": "tenant", "metric": "tokens", "limit": 1_000]
    /// Absent: the caller's tenant.
    public var tenantId: String?
    public var level: String
    /// For `workspace` and `user`.
    public var workspaceId: String?
    /// For `user`.
    public var userId: String?
    /// For `key`.
    public var keyId: String?
    public var metric: String
    /// Absent: `month`.
    public var period: String?
    /// Absent or null: the budget is removed.
    public var limit: Int?
    public init(
        tenantId: String? = nil, level: String, workspaceId: String? = nil, userId: String? = nil, keyId: String? = nil,
        metric: String, period: String? = nil, limit: Int?
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

public struct QuotaSetResult: ResponseType, Hashable {
    /// The budget as it is now; absent when it was removed.
    public var quota: QuotaInfo?
    /// True when the call removed a budget (false: there was none to remove, or one was set).
    public var removed: Bool
    public init(quota: QuotaInfo?, removed: Bool) {
        self.quota = quota
        self.removed = removed
    }
}
