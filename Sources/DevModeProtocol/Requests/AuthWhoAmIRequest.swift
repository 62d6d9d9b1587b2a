import JSONRPC

/// `auth/whoami`: who this session is.
public struct AuthWhoAmIRequest: RequestType, Hashable {
    public static let method = "auth/whoami"
    public typealias Response = IdentityInfo
    public init() {}
}

public struct IdentityInfo: ResponseType, Hashable {
    public var userId: String
    public var userName: String
    public var tenantId: String
    public var tenantName: String
    public var isServerAdmin: Bool
    public var isTenantAdmin: Bool
    /// "apiKey", "sessionToken" or "local".
    public var credential: String
    /// API key scopes (empty: every method).
    public var scopes: [String]
    /// When the credential stops working, if it does.
    public var expiresAt: String?
    public init(
        userId: String, userName: String, tenantId: String, tenantName: String, isServerAdmin: Bool,
        isTenantAdmin: Bool, credential: String, scopes: [String], expiresAt: String?
    ) {
        self.userId = userId
        self.userName = userName
        self.tenantId = tenantId
        self.tenantName = tenantName
        self.isServerAdmin = isServerAdmin
        self.isTenantAdmin = isTenantAdmin
        self.credential = credential
        self.scopes = scopes
        self.expiresAt = expiresAt
    }
}
