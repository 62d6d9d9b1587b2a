import JSONRPC

/// `member/list` (viewer and up).
public struct MemberListRequest: ObjectScopedRequest, Hashable {
    public static let method = "member/list"
    public typealias Response = MemberListResult
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = false
    public var workspaceId: String
    public init(workspaceId: String) { self.workspaceId = workspaceId }
}

public struct MemberListResult: ResponseType, Hashable {
    public var members: [MemberInfo]
    public init(members: [MemberInfo]) { self.members = members }
}
