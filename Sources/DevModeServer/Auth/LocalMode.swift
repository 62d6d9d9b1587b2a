import DevModeStore

/// Local mode: one local tenant, user and workspace, created on first start and found again after.
/// A stdio sidecar acts as this user without a credential: the OS process boundary is the trust
/// boundary (whoever can start the process can read its data directory anyway).
enum LocalMode {
    static let userSetting = "local_user_id"

    static func provision(store: Store) async throws -> Caller {
        let found = try await store.write { transaction -> (User, Tenant) in
            if let userId = try transaction.setting(userSetting), let user = try transaction.user(id: userId),
                let tenant = try transaction.tenant(id: user.tenantId)
            {
                return (user, tenant)
            }
            let now = transaction.now
            let tenant = Tenant(id: Identifier.make("ten"), name: "local-\(Identifier.make("host").suffix(6))", createdAt: now)
            try transaction.insertTenant(tenant)
            let user = User(
                id: Identifier.make("usr"), tenantId: tenant.id, name: "local", isServerAdmin: true, isTenantAdmin: true,
                createdAt: now)
            try transaction.insertUser(user)
            let workspace = Workspace(
                id: Identifier.make("wsp"), tenantId: tenant.id, name: "default", description: "The local workspace",
                createdAt: now, updatedAt: now)
            try transaction.insertWorkspace(workspace)
            try transaction.upsertMembership(Membership(workspaceId: workspace.id, userId: user.id, role: .owner, createdAt: now))
            _ = try transaction.settingIfAbsent(userSetting, user.id)
            try transaction.appendAudit(
                AuditEvent(actor: "system", tenantId: tenant.id, method: "localMode/provision", target: user.id))
            return (user, tenant)
        }
        return Caller(user: found.0, tenant: found.1, credential: .local)
    }
}
