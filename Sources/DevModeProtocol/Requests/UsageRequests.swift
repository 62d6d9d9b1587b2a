import JSONRPC

/// One row of a usage report: the group's key (only the columns grouped by are present) and its
/// sums over the period.
public struct UsageRowInfo: Codable, Sendable, Hashable {
    public var workspaceId: String?
    public var userId: String?
    public var model: String?
    /// The UTC day, `YYYY-MM-DD`.
    public var day: String?
    /// Completion requests answered or failed (cache hits included; refusals are counted apart).
    public var requests: Int
    public var inputTokens: Int
    public var outputTokens: Int
    /// Millionths of a US dollar, at the registry's prices when the call was made.
    public var costMicros: Int
    /// Completions the client said it showed (`completion/didShow`).
    public var shown: Int
    /// Completions accepted, whole or in part (`completion/didAccept`).
    public var accepted: Int
    /// `accepted / shown`; absent when nothing was shown.
    public var acceptanceRate: Double?
    /// Calls a budget (-32020) or a rate limit (-32023) refused.
    public var refusals: Int
    public init(
        workspaceId: String?, userId: String?, model: String?, day: String?, requests: Int, inputTokens: Int, outputTokens: Int,
        costMicros: Int, shown: Int, accepted: Int, acceptanceRate: Double?, refusals: Int
    ) {
        self.workspaceId = workspaceId
        self.userId = userId
        self.model = model
        self.day = day
        self.requests = requests
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.costMicros = costMicros
        self.shown = shown
        self.accepted = accepted
        self.acceptanceRate = acceptanceRate
        self.refusals = refusals
    }
}

/// `usage/report`: a tenant's usage summed by any of workspace, user, model and day. Tenant admins
/// (their tenant) and server admins (any) see everyone's; anyone else sees only their own calls.
public struct UsageReportRequest: ObjectScopedRequest, Hashable {
    public static let method = "usage/report"
    public typealias Response = UsageReportResult
    public static let objectIDField = "tenantId"
    public static let objectKind = ObjectKind.tenant
    public static let isWrite = false
    /// Absent: the caller's tenant.
    public var tenantId: String?
    /// Only this workspace's calls.
    public var workspaceId: String?
    /// Only this user's calls (for a caller who is not an admin: absent or their own id).
    public var userId: String?
    /// Only this model's calls.
    public var model: String?
    /// From this time (ISO 8601, or a `YYYY-MM-DD` UTC day), inclusive; absent: from the first row.
    public var from: String?
    /// Until this time (as `from`), exclusive; absent: now.
    public var to: String?
    /// Any of `workspace`, `user`, `model` and `day`, in the order the rows are keyed and sorted;
    /// absent or empty: one row of totals.
    public var groupBy: [String]?
    public init(
        tenantId: String? = nil, workspaceId: String? = nil, userId: String? = nil, model: String? = nil, from: String? = nil,
        to: String? = nil, groupBy: [String]? = nil
    ) {
        self.tenantId = tenantId
        self.workspaceId = workspaceId
        self.userId = userId
        self.model = model
        self.from = from
        self.to = to
        self.groupBy = groupBy
    }
}

public struct UsageReportResult: ResponseType, Hashable {
    public var tenantId: String
    public var groupBy: [String]
    public var rows: [UsageRowInfo]
    /// More groups matched than a report holds (10,000): narrow the period or the grouping.
    public var truncated: Bool
    public init(tenantId: String, groupBy: [String], rows: [UsageRowInfo], truncated: Bool) {
        self.tenantId = tenantId
        self.groupBy = groupBy
        self.rows = rows
        self.truncated = truncated
    }
}

/// `usage/export`: the rows `usage/report` answers with the same params, as CSV (RFC 4180: a
/// header row, CRLF line ends, text fields quoted).
public struct UsageExportRequest: ObjectScopedRequest, Hashable {
    public static let method = "usage/export"
    public typealias Response = UsageExportResult
    public static let objectIDField = "tenantId"
    public static let objectKind = ObjectKind.tenant
    public static let isWrite = false
    public var tenantId: String?
    public var workspaceId: String?
    public var userId: String?
    public var model: String?
    public var from: String?
    public var to: String?
    public var groupBy: [String]?
    public init(
        tenantId: String? = nil, workspaceId: String? = nil, userId: String? = nil, model: String? = nil, from: String? = nil,
        to: String? = nil, groupBy: [String]? = nil
    ) {
        self.tenantId = tenantId
        self.workspaceId = workspaceId
        self.userId = userId
        self.model = model
        self.from = from
        self.to = to
        self.groupBy = groupBy
    }

    /// The same report as a `usage/report`.
    public var report: UsageReportRequest {
        UsageReportRequest(
            tenantId: tenantId, workspaceId: workspaceId, userId: userId, model: model, from: from, to: to, groupBy: groupBy)
    }
}

public struct UsageExportResult: ResponseType, Hashable {
    /// `text/csv`.
    public var contentType: String
    public var csv: String
    /// Data rows (the header not counted).
    public var rows: Int
    public var truncated: Bool
    public init(csv: String, rows: Int, truncated: Bool) {
        self.contentType = "text/csv"
        self.csv = csv
        self.rows = rows
        self.truncated = truncated
    }
}
