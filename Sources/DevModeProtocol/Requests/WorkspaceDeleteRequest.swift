import JSONRPC

/// `workspace/delete` (owner, or the tenant's admin).
public struct WorkspaceDeleteRequest: ObjectScopedRequest, Hashable {
    public static let method = "workspace/delete"
    public typealias Response = DeletedResult
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = true
    public var workspaceId: String
    public init(workspaceId: String) { self.workspaceId = workspaceId }
}

public struct DeletedResult: ResponseType, Hashable {
    public var deleted: Bool
    public init(deleted: Bool) { self.deleted = deleted }
}
