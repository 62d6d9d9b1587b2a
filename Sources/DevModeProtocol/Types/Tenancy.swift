import JSONRPC

public struct TenantInfo: ResponseType, Hashable {
    public var id: String
    public var name: String
    public var createdAt: String
    public init(id: String, name: String, createdAt: String) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
    }
}

public struct UserInfo: ResponseType, Hashable {
    public var id: String
    public var tenantId: String
    public var name: String
    public var email: String?
    public var isServerAdmin: Bool
    public var isTenantAdmin: Bool
    public var disabled: Bool
    public var createdAt: String
    public init(
        id: String, tenantId: String, name: String, email: String?, isServerAdmin: Bool, isTenantAdmin: Bool,
        disabled: Bool, createdAt: String
    ) {
        self.id = id
        self.tenantId = tenantId
        self.name = name
        self.email = email
        self.isServerAdmin = isServerAdmin
        self.isTenantAdmin = isTenantAdmin
        self.disabled = disabled
        self.createdAt = createdAt
    }
}

/// A workspace role, weakest first: viewer reads, member writes, admin manages members and
/// settings, owner may also delete the workspace and grant ownership.
public enum WorkspaceRole: String, Codable, Sendable, Hashable, CaseIterable {
    case viewer, member, admin, owner
}

public struct WorkspaceInfo: ResponseType, Hashable {
    public var id: String
    public var tenantId: String
    public var name: String
    public var description: String?
    /// The caller's own role here (absent for tenant admins who are not members).
    public var role: WorkspaceRole?
    public var createdAt: String
    public var updatedAt: String
    public init(
        id: String, tenantId: String, name: String, description: String?, role: WorkspaceRole?, createdAt: String,
        updatedAt: String
    ) {
        self.id = id
        self.tenantId = tenantId
        self.name = name
        self.description = description
        self.role = role
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

public struct MemberInfo: ResponseType, Hashable {
    public var workspaceId: String
    public var userId: String
    public var userName: String
    public var role: WorkspaceRole
    public var createdAt: String
    public init(workspaceId: String, userId: String, userName: String, role: WorkspaceRole, createdAt: String) {
        self.workspaceId = workspaceId
        self.userId = userId
        self.userName = userName
        self.role = role
        self.createdAt = createdAt
    }
}

/// An API key's description; never its secret.
public struct APIKeyInfo: ResponseType, Hashable {
    public var id: String
    public var userId: String
    public var tenantId: String
    public var name: String
    /// The key's first characters, to tell keys apart.
    public var prefix: String
    public var scopes: [String]
    public var createdAt: String
    public var expiresAt: String?
    public var revokedAt: String?
    public var lastUsedAt: String?
    public init(
        id: String, userId: String, tenantId: String, name: String, prefix: String, scopes: [String], createdAt: String,
        expiresAt: String?, revokedAt: String?, lastUsedAt: String?
    ) {
        self.id = id
        self.userId = userId
        self.tenantId = tenantId
        self.name = name
        self.prefix = prefix
        self.scopes = scopes
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
    }
}

public struct AuditEntryInfo: ResponseType, Hashable {
    public var seq: Int
    public var at: String
    public var actor: String
    public var tenantId: String?
    public var workspaceId: String?
    public var method: String
    public var target: String?
    /// success, denied or failed.
    public var outcome: String
    public var detail: String?
    public var hash: String
    public init(
        seq: Int, at: String, actor: String, tenantId: String?, workspaceId: String?, method: String, target: String?,
        outcome: String, detail: String?, hash: String
    ) {
        self.seq = seq
        self.at = at
        self.actor = actor
        self.tenantId = tenantId
        self.workspaceId = workspaceId
        self.method = method
        self.target = target
        self.outcome = outcome
        self.detail = detail
        self.hash = hash
    }
}
