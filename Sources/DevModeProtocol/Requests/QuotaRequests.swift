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
    /// Percentages of `limit`, ascending, at which the sessions the budget applies to are sent
    /// `quota/didChange`.
    public var thresholds: [Int]?
    public init(
        level: String, tenantId: String, workspaceId: String?, userId: String?, keyId: String?, metric: String, period: String,
        limit: Int, used: Int, reserved: Int, remaining: Int, resetAt: String?, thresholds: [Int]? = nil
    ) {
        self.thresholds = thresholds
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

/// One rate limit as a client sees it, and how much of it is in use now.
public struct RateLimitInfo: Codable, Sendable, Hashable {
    /// `tenant`, `workspace` or `user` (with `userId`; without it, each user of the workspace).
    public var level: String
    public var tenantId: String
    public var workspaceId: String?
    public var userId: String?
    /// `requestsPerMinute`, `tokensPerMinute` or `concurrentRequests`.
    public var metric: String
    public var limit: Int
    /// How many requests or tokens may come at once (per-minute limits).
    public var burst: Int
    /// Calls of the free `local` model count too.
    public var includesLocal: Bool
    /// Requests or tokens within the burst now, or calls in flight, for the caller.
    public var used: Int
    /// When all of it is free again (ISO 8601); absent when it is now.
    public var freeAt: String?
    public init(
        level: String, tenantId: String, workspaceId: String?, userId: String?, metric: String, limit: Int, burst: Int,
        includesLocal: Bool, used: Int, freeAt: String?
    ) {
        self.level = level
        self.tenantId = tenantId
        self.workspaceId = workspaceId
        self.userId = userId
        self.metric = metric
        self.limit = limit
        self.burst = burst
        self.includesLocal = includesLocal
        self.used = used
        self.freeAt = freeAt
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
    /// The rate limits that count the user's calls there: tenant, workspace, then the user's own
    /// (or the workspace's each-user limit).
    public var rateLimits: [RateLimitInfo]
    public init(workspaceId: String, userId: String, quotas: [QuotaInfo], rateLimits: [RateLimitInfo] = []) {
        self.workspaceId = workspaceId
        self.userId = userId
        self.quotas = quotas
        self.rateLimits = rateLimits
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
    /// `tokens` or `cost` (a budget), or `requestsPerMinute`, `tokensPerMinute` or
    /// `concurrentRequests` (a rate limit).
    public var metric: String
    /// Budgets: absent: `month`.
    public var period: String?
    /// Absent or null: the budget or limit is removed.
    public var limit: Int?
    /// Per-minute rate limits: how many may come at once; absent: `limit` (a minute's worth).
    public var burst: Int?
    /// Rate limits: count calls of the free `local` model too (default false).
    public var includeLocal: Bool?
    /// Budgets: percentages of the limit (1 to 100, at most 10) at which the sessions the budget
    /// applies to are sent `quota/didChange`; `[]`: never. Absent: a new budget gets 80 and 95, an
    /// existing one keeps its own.
    public var thresholds: [Int]?
    public init(
        tenantId: String? = nil, level: String, workspaceId: String? = nil, userId: String? = nil, keyId: String? = nil,
        metric: String, period: String? = nil, limit: Int?, burst: Int? = nil, includeLocal: Bool? = nil,
        thresholds: [Int]? = nil
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

public struct QuotaSetResult: ResponseType, Hashable {
    /// The budget as it is now; absent when it was removed or a rate limit was set.
    public var quota: QuotaInfo?
    /// The rate limit as it is now; absent when it was removed or a budget was set.
    public var rateLimit: RateLimitInfo?
    /// True when the call removed a budget or limit (false: there was none to remove, or one was set).
    public var removed: Bool
    public init(quota: QuotaInfo?, rateLimit: RateLimitInfo? = nil, removed: Bool) {
        self.quota = quota
        self.rateLimit = rateLimit
        self.removed = removed
    }
}
