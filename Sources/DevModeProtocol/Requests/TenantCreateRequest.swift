import JSONRPC

/// `tenant/create` (server admin).
public struct TenantCreateRequest: RequestType, Hashable {
    public static let method = "tenant/create"
    public typealias Response = TenantInfo
    public var name: String
    public init(name: String) { self.name = name }
}
