import JSONRPC

/// `member/setRole` (admin and up; only an owner grants or takes away `owner`; the last owner stays).
public struct MemberSetRoleRequest: ObjectScopedRequest, Hashable {
    public static let method = "member/setRole"
    public typealias Response = MemberInfo
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["userId": "usr_nobody", "role": "viewer"]
    public var workspaceId: String
    public var userId: String
    public var role: WorkspaceRole
    public init(workspaceId: String, userId: String, role: WorkspaceRole) {
        self.workspaceId = workspaceId
        self.userId = userId
        self.role = role
    }
}
