import JSONRPC

/// `workspace/update` (admin and up): rename or describe.
public struct WorkspaceUpdateRequest: ObjectScopedRequest, Hashable {
    public static let method = "workspace/update"
    public typealias Response = WorkspaceInfo
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["description": "changed"]
    public var workspaceId: String
    public var name: String?
    public var description: String?
    public init(workspaceId: String, name: String? = nil, description: String? = nil) {
        self.workspaceId = workspaceId
        self.name = name
        self.description = description
    }
}
