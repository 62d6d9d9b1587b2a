import JSONRPC

/// `apiKey/list`: the caller's keys, or a user's (tenant admin).
public struct APIKeyListRequest: ObjectScopedRequest, Hashable {
    public static let method = "apiKey/list"
    public typealias Response = APIKeyListResult
    public static let objectIDField = "userId"
    public static let objectKind = ObjectKind.user
    public static let isWrite = false
    public var userId: String?
    public init(userId: String? = nil) { self.userId = userId }
}

public struct APIKeyListResult: ResponseType, Hashable {
    public var apiKeys: [APIKeyInfo]
    public init(apiKeys: [APIKeyInfo]) { self.apiKeys = apiKeys }
}
