import JSONRPC

/// `member/remove` (admin and up; only an owner removes an owner; the last owner stays).
public struct MemberRemoveRequest: ObjectScopedRequest, Hashable {
    public static let method = "member/remove"
    public typealias Response = RemovedResult
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["userId": "usr_nobody"]
    public var workspaceId: String
    public var userId: String
    public init(workspaceId: String, userId: String) {
        self.workspaceId = workspaceId
        self.userId = userId
    }
}

public struct RemovedResult: ResponseType, Hashable {
    public var removed: Bool
    public init(removed: Bool) { self.removed = removed }
}
