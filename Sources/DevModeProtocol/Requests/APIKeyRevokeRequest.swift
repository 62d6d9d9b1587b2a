import JSONRPC

/// `apiKey/revoke`: the key's owner or a tenant admin. Sessions opened with the key are cut off.
public struct APIKeyRevokeRequest: ObjectScopedRequest, Hashable {
    public static let method = "apiKey/revoke"
    public typealias Response = APIKeyInfo
    public static let objectIDField = "apiKeyId"
    public static let objectKind = ObjectKind.apiKey
    public static let isWrite = true
    public var apiKeyId: String
    public init(apiKeyId: String) { self.apiKeyId = apiKeyId }
}
