import JSONRPC

/// `member/add` (admin and up; only an owner grants `owner`). The user must be of the workspace's tenant.
public struct MemberAddRequest: ObjectScopedRequest, Hashable {
    public static let method = "member/add"
    public typealias Response = MemberInfo
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["userId": "usr_nobody", "role": "member"]
    public var workspaceId: String
    public var userId: String
    public var role: WorkspaceRole
    public init(workspaceId: String, userId: String, role: WorkspaceRole) {
        self.workspaceId = workspaceId
        self.userId = userId
        self.role = role
    }
}
