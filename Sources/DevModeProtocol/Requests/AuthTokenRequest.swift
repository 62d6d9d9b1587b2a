import JSONRPC

/// `auth/token`: a short-lived session token (HS256 JWT) for the caller, to hand to another client.
public struct AuthTokenRequest: RequestType, Hashable {
    public static let method = "auth/token"
    public typealias Response = AuthTokenResult
    /// Lifetime in seconds: 1…86400, default 3600.
    public var ttlSeconds: Int?
    public init(ttlSeconds: Int? = nil) { self.ttlSeconds = ttlSeconds }
}

public struct AuthTokenResult: ResponseType, Hashable {
    public var token: String
    public var expiresAt: String
    public init(token: String, expiresAt: String) {
        self.token = token
        self.expiresAt = expiresAt
    }
}
