import DevModeStore
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// Who is calling, as established at `initialize`.
public struct Caller: Sendable, Hashable {
    public enum Credential: Sendable, Hashable {
        case apiKey(id: String, expiresAt: Int64?, scopes: [String])
        /// `keyId`: the API key the token was minted from (it dies with that key).
        case sessionToken(id: String, expiresAt: Int64, keyId: String?)
        /// Local mode over stdio: trusted because the OS process boundary is.
        case local
    }

    public var userId: String
    public var userName: String
    public var tenantId: String
    public var tenantName: String
    public var isServerAdmin: Bool
    public var isTenantAdmin: Bool
    public var credential: Credential

    init(user: User, tenant: Tenant, credential: Credential) {
        userId = user.id
        userName = user.name
        tenantId = tenant.id
        tenantName = tenant.name
        isServerAdmin = user.isServerAdmin
        isTenantAdmin = user.isTenantAdmin
        self.credential = credential
    }

    var credentialName: String {
        switch credential {
        case .apiKey: return "apiKey"
        case .sessionToken: return "sessionToken"
        case .local: return "local"
        }
    }

    var scopes: [String] {
        if case .apiKey(_, _, let scopes) = credential { return scopes }
        return []
    }

    /// The API key behind this session: the key itself, or the key a token was minted from.
    var apiKeyId: String? {
        switch credential {
        case .apiKey(let id, _, _): return id
        case .sessionToken(_, _, let keyId): return keyId
        case .local: return nil
        }
    }

    var expiresAt: Int64? {
        switch credential {
        case .apiKey(_, let expiresAt, _): return expiresAt
        case .sessionToken(_, let expiresAt, _): return expiresAt
        case .local: return nil
        }
    }
}

/// Who did something, for rights and for the audit log (a signed-in caller, the CLI or the server
/// itself). Not `Actor`: that name is Swift's.
public enum Principal: Sendable, Hashable {
    case caller(Caller)
    /// `devmode admin …` on the machine: it has the database, so it has every right.
    case cli
    /// The server itself (local-mode provisioning).
    case system

    var auditName: String {
        switch self {
        case .caller(let caller): return "user:\(caller.userId)"
        case .cli: return "cli"
        case .system: return "system"
        }
    }

    var caller: Caller? {
        if case .caller(let caller) = self { return caller }
        return nil
    }

    /// Server admins, the CLI and the server itself see every tenant.
    var isServerWide: Bool {
        switch self {
        case .caller(let caller): return caller.isServerAdmin
        case .cli, .system: return true
        }
    }
}

enum Timestamp {
    static func iso(_ milliseconds: Int64) -> String {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            .formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    static func iso(_ milliseconds: Int64?) -> String? {
        milliseconds.map { iso($0) }
    }

    static func milliseconds(_ text: String) -> Int64? {
        let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        guard let date = (try? withFraction.parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text)) else {
            return nil
        }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
