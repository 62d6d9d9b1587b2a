import DevModeProtocol
import DevModeStore

/// Store rows to protocol results: the only place that knows both shapes.
extension IdentityInfo {
    public init(_ caller: Caller) {
        self.init(
            userId: caller.userId, userName: caller.userName, tenantId: caller.tenantId, tenantName: caller.tenantName,
            isServerAdmin: caller.isServerAdmin, isTenantAdmin: caller.isTenantAdmin, credential: caller.credentialName,
            scopes: caller.scopes, expiresAt: Timestamp.iso(caller.expiresAt))
    }
}

extension TenantInfo {
    public init(_ tenant: Tenant) {
        self.init(id: tenant.id, name: tenant.name, createdAt: Timestamp.iso(tenant.createdAt))
    }
}

extension UserInfo {
    public init(_ user: User) {
        self.init(
            id: user.id, tenantId: user.tenantId, name: user.name, email: user.email, isServerAdmin: user.isServerAdmin,
            isTenantAdmin: user.isTenantAdmin, disabled: user.isDisabled, createdAt: Timestamp.iso(user.createdAt))
    }
}

extension WorkspaceRole {
    public init(_ role: Role) { self = WorkspaceRole(rawValue: role.rawValue) ?? .viewer }
    public var storeRole: Role { Role(rawValue: rawValue) ?? .viewer }
}

extension WorkspaceInfo {
    public init(_ workspace: Workspace, role: Role?) {
        self.init(
            id: workspace.id, tenantId: workspace.tenantId, name: workspace.name, description: workspace.description,
            role: role.map(WorkspaceRole.init), createdAt: Timestamp.iso(workspace.createdAt),
            updatedAt: Timestamp.iso(workspace.updatedAt))
    }
}

extension MemberInfo {
    public init(_ membership: Membership, user: User) {
        self.init(
            workspaceId: membership.workspaceId, userId: membership.userId, userName: user.name,
            role: WorkspaceRole(membership.role), createdAt: Timestamp.iso(membership.createdAt))
    }
}

extension APIKeyInfo {
    public init(_ key: APIKeyRecord) {
        self.init(
            id: key.id, userId: key.userId, tenantId: key.tenantId, name: key.name, prefix: key.prefix, scopes: key.scopes,
            createdAt: Timestamp.iso(key.createdAt), expiresAt: Timestamp.iso(key.expiresAt),
            revokedAt: Timestamp.iso(key.revokedAt), lastUsedAt: Timestamp.iso(key.lastUsedAt))
    }
}

extension AuditEntryInfo {
    public init(_ entry: AuditEntry) {
        self.init(
            seq: Int(entry.seq), at: Timestamp.iso(entry.at), actor: entry.actor, tenantId: entry.tenantId,
            workspaceId: entry.workspaceId, method: entry.method, target: entry.target, outcome: entry.outcome.rawValue,
            detail: entry.detail, hash: entry.hash)
    }
}
