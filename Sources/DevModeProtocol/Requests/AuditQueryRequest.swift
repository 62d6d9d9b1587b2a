import JSONRPC

/// `audit/query`: newest first. Server admins see everything; tenant admins their tenant; workspace
/// admins and owners their workspace (`workspaceId` required for them).
public struct AuditQueryRequest: ObjectScopedRequest, Hashable {
    public static let method = "audit/query"
    public typealias Response = AuditQueryResult
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = false
    /// ISO 8601 times; `to` is exclusive.
    public var from: String?
    public var to: String?
    public var actor: String?
    public var workspaceId: String?
    public var method: String?
    /// success, denied or failed.
    public var outcome: String?
    /// `nextCursor` from the previous page.
    public var cursor: String?
    /// 1…500, default 100.
    public var limit: Int?
    public init(
        from: String? = nil, to: String? = nil, actor: String? = nil, workspaceId: String? = nil, method: String? = nil,
        outcome: String? = nil, cursor: String? = nil, limit: Int? = nil
    ) {
        self.from = from
        self.to = to
        self.actor = actor
        self.workspaceId = workspaceId
        self.method = method
        self.outcome = outcome
        self.cursor = cursor
        self.limit = limit
    }
}

public struct AuditQueryResult: ResponseType, Hashable {
    public var entries: [AuditEntryInfo]
    /// Present when there may be more: pass it as `cursor`.
    public var nextCursor: String?
    public init(entries: [AuditEntryInfo], nextCursor: String?) {
        self.entries = entries
        self.nextCursor = nextCursor
    }
}
