import JSONRPC

/// `workspace/get` (viewer and up).
public struct WorkspaceGetRequest: ObjectScopedRequest, Hashable {
    public static let method = "workspace/get"
    public typealias Response = WorkspaceInfo
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = false
    public var workspaceId: String
    public init(workspaceId: String) { self.workspaceId = workspaceId }
}
