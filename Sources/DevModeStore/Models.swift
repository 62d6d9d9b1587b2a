/// Rows of the Store, as the rest of the server sees them. Times are milliseconds since 1970.

public struct Tenant: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var createdAt: Int64
    public init(id: String, name: String, createdAt: Int64) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }
}

public struct User: Sendable, Hashable, Codable {
    public var id: String
    public var tenantId: String
    public var name: String
    public var email: String?
    /// Manages every tenant.
    public var isServerAdmin: Bool
    /// Manages its own tenant: users, workspaces, keys, audit.
    public var isTenantAdmin: Bool
    public var disabledAt: Int64?
    public var createdAt: Int64

    public init(
        id: String, tenantId: String, name: String, email: String? = nil, isServerAdmin: Bool = false,
        isTenantAdmin: Bool = false, disabledAt: Int64? = nil, createdAt: Int64
    ) {
        self.id = id
        self.tenantId = tenantId
        self.name = name
        self.email = email
        self.isServerAdmin = isServerAdmin
        self.isTenantAdmin = isTenantAdmin
        self.disabledAt = disabledAt
        self.createdAt = createdAt
    }

    public var isDisabled: Bool { disabledAt != nil }
}

public struct Workspace: Sendable, Hashable, Codable {
    public var id: String
    public var tenantId: String
    public var name: String
    public var description: String?
    public var createdAt: Int64
    public var updatedAt: Int64
    public init(id: String, tenantId: String, name: String, description: String?, createdAt: Int64, updatedAt: Int64) {
        self.id = id
        self.tenantId = tenantId
        self.name = name
        self.description = description
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A user's role in a workspace, weakest first.
public enum Role: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case viewer, member, admin, owner

    private var rank: Int {
        switch self {
        case .viewer: return 0
        case .member: return 1
        case .admin: return 2
        case .owner: return 3
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}

public struct Membership: Sendable, Hashable, Codable {
    public var workspaceId: String
    public var userId: String
    public var role: Role
    public var createdAt: Int64
    public init(workspaceId: String, userId: String, role: Role, createdAt: Int64) {
        self.workspaceId = workspaceId
        self.userId = userId
        self.role = role
        self.createdAt = createdAt
    }
}

/// An API key as stored: never the secret, only its SHA-256 and a short prefix to recognise it by.
public struct APIKeyRecord: Sendable, Hashable, Codable {
    public var id: String
    public var userId: String
    public var tenantId: String
    public var name: String
    /// The first characters of the key, shown in lists so a person can tell keys apart.
    public var prefix: String
    /// Hex SHA-256 of the whole key.
    public var hash: String
    public var scopes: [String]
    public var createdAt: Int64
    public var expiresAt: Int64?
    public var revokedAt: Int64?
    public var lastUsedAt: Int64?

    public init(
        id: String, userId: String, tenantId: String, name: String, prefix: String, hash: String, scopes: [String],
        createdAt: Int64, expiresAt: Int64?, revokedAt: Int64? = nil, lastUsedAt: Int64? = nil
    ) {
        self.id = id
        self.userId = userId
        self.tenantId = tenantId
        self.name = name
        self.prefix = prefix
        self.hash = hash
        self.scopes = scopes
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
    }
}

public enum AuditOutcome: String, Sendable, Hashable, Codable, CaseIterable {
    /// The change was made.
    case success
    /// Refused: bad credentials, forbidden, not found.
    case denied
    /// Attempted and failed for another reason.
    case failed
}

/// What happened, before it is numbered and chained.
public struct AuditEvent: Sendable, Hashable {
    /// `user:<id>`, `cli`, `system`, or `anonymous` (for failed authentication).
    public var actor: String
    public var tenantId: String?
    public var workspaceId: String?
    public var method: String
    public var target: String?
    public var outcome: AuditOutcome
    /// A short reason (never a secret).
    public var detail: String?

    public init(
        actor: String, tenantId: String? = nil, workspaceId: String? = nil, method: String, target: String? = nil,
        outcome: AuditOutcome = .success, detail: String? = nil
    ) {
        self.actor = actor
        self.tenantId = tenantId
        self.workspaceId = workspaceId
        self.method = method
        self.target = target
        self.outcome = outcome
        self.detail = detail
    }
}

/// One row of the audit log: the event, its number, its time and its place in the hash chain.
public struct AuditEntry: Sendable, Hashable, Codable {
    public var seq: Int64
    public var at: Int64
    public var actor: String
    public var tenantId: String?
    public var workspaceId: String?
    public var method: String
    public var target: String?
    public var outcome: AuditOutcome
    public var detail: String?
    /// Hex SHA-256 of the row before (64 zeros for the first).
    public var prevHash: String
    /// Hex SHA-256 of this row's fields and `prevHash`.
    public var hash: String
    /// Hex HMAC-SHA256 of `hash` under the audit key, which is kept outside the database
    /// (`AuditAnchor`); nil for rows written before anchoring began.
    public var anchor: String? = nil
}

public struct Project: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// A repository under the data directory.
        case hosted
        /// A folder on the user's machine, opened in local mode.
        case local
    }
    public var id: String
    public var workspaceId: String
    public var tenantId: String
    public var name: String
    public var kind: Kind
    public var root: String
    public var createdAt: Int64
    public init(id: String, workspaceId: String, tenantId: String, name: String, kind: Kind, root: String, createdAt: Int64) {
        self.id = id
        self.workspaceId = workspaceId
        self.tenantId = tenantId
        self.name = name
        self.kind = kind
        self.root = root
        self.createdAt = createdAt
    }
}
