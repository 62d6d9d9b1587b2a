import JSONRPC

/// `user/list`: the users of a tenant (tenant admin; server admin for any tenant). `tenantId`
/// defaults to the caller's.
public struct UserListRequest: ObjectScopedRequest, Hashable {
    public static let method = "user/list"
    public typealias Response = UserListResult
    public static let objectIDField = "tenantId"
    public static let objectKind = ObjectKind.tenant
    public static let isWrite = false
    public var tenantId: String?
    public init(tenantId: String? = nil) { self.tenantId = tenantId }
}

public struct UserListResult: ResponseType, Hashable {
    public var users: [UserInfo]
    public init(users: [UserInfo]) { self.users = users }
}
