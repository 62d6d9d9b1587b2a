import JSONRPC

/// `workspace/create`: any user of the tenant; the creator becomes its owner. `tenantId` defaults to
/// the caller's (only a server admin may name another).
public struct WorkspaceCreateRequest: ObjectScopedRequest, Hashable {
    public static let method = "workspace/create"
    public typealias Response = WorkspaceInfo
    public static let objectIDField = "tenantId"
    public static let objectKind = ObjectKind.tenant
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["name": "elsewhere"]
    public var tenantId: String?
    public var name: String
    public var description: String?
    public init(tenantId: String? = nil, name: String, description: String? = nil) {
        self.tenantId = tenantId
        self.name = name
        self.description = description
    }
}
