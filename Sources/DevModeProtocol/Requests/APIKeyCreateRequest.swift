import JSONRPC

/// `apiKey/create`: a new API key for the caller (or, for a tenant admin, for a user of the tenant).
/// The secret is in the result once and never again.
public struct APIKeyCreateRequest: ObjectScopedRequest, Hashable {
    public static let method = "apiKey/create"
    public typealias Response = APIKeyCreateResult
    public static let objectIDField = "userId"
    public static let objectKind = ObjectKind.user
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["name": "stolen"]
    public var name: String
    public var userId: String?
    /// Seconds until the key expires (none: it does not).
    public var expiresInSeconds: Int?
    /// Method areas the key may call (e.g. "workspace", "file"); none: every method.
    public var scopes: [String]?
    public init(name: String, userId: String? = nil, expiresInSeconds: Int? = nil, scopes: [String]? = nil) {
        self.name = name
        self.userId = userId
        self.expiresInSeconds = expiresInSeconds
        self.scopes = scopes
    }
}

public struct APIKeyCreateResult: ResponseType, Hashable {
    /// The secret: shown once, stored only as its SHA-256.
    public var key: String
    public var apiKey: APIKeyInfo
    public init(key: String, apiKey: APIKeyInfo) {
        self.key = key
        self.apiKey = apiKey
    }
}
