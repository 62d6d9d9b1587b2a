import JSONRPC

/// `tenant/get`: the caller's own tenant (any tenant for a server admin).
public struct TenantGetRequest: ObjectScopedRequest, Hashable {
    public static let method = "tenant/get"
    public typealias Response = TenantInfo
    public static let objectIDField = "tenantId"
    public static let objectKind = ObjectKind.tenant
    public static let isWrite = false
    public var tenantId: String
    public init(tenantId: String) { self.tenantId = tenantId }
}
