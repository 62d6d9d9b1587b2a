import JSONRPC

/// `tenant/list`: every tenant for a server admin; the caller's own for anyone else.
public struct TenantListRequest: RequestType, Hashable {
    public static let method = "tenant/list"
    public typealias Response = TenantListResult
    public init() {}
}

public struct TenantListResult: ResponseType, Hashable {
    public var tenants: [TenantInfo]
    public init(tenants: [TenantInfo]) { self.tenants = tenants }
}
