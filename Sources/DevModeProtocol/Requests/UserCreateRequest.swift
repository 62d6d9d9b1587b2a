import JSONRPC

/// `user/create` (tenant admin of that tenant, or server admin). `tenantId` defaults to the caller's.
public struct UserCreateRequest: ObjectScopedRequest, Hashable {
    public static let method = "user/create"
    public typealias Response = UserInfo
    public static let objectIDField = "tenantId"
    public static let objectKind = ObjectKind.tenant
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["name": "someone"]
    public var tenantId: String?
    public var name: String
    public var email: String?
    public var isTenantAdmin: Bool?
    public init(tenantId: String? = nil, name: String, email: String? = nil, isTenantAdmin: Bool? = nil) {
        self.tenantId = tenantId
        self.name = name
        self.email = email
        self.isTenantAdmin = isTenantAdmin
    }
}
