import JSONRPC

/// `workspace/list`: the workspaces the caller is a member of (every workspace of the tenant for a
/// tenant admin).
public struct WorkspaceListRequest: RequestType, Hashable {
    public static let method = "workspace/list"
    public typealias Response = WorkspaceListResult
    public init() {}
}

public struct WorkspaceListResult: ResponseType, Hashable {
    public var workspaces: [WorkspaceInfo]
    public init(workspaces: [WorkspaceInfo]) { self.workspaces = workspaces }
}
