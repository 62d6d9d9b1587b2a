import DevModeFileSystem
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import DevModeProtocol
import DevModeStore
import JSONRPC

/// Every tenancy operation, with its rights check and its audit row, for RPC handlers and the CLI
/// alike. A change and its audit row commit in one transaction; a refusal is audited on its own.
/// An object in another tenant is reported exactly like a missing one.
public struct Directory: Sendable {
    public let store: Store

    public init(store: Store) { self.store = store }

    // MARK: Running an audited change

    /// Runs `body` in a write transaction that also appends the audit row (success). When `body`
    /// refuses (forbidden, not found, conflict) or fails, that is audited in a transaction of its own.
    func change<T: Sendable>(
        _ method: String, by actor: Principal, tenantId: String? = nil, workspaceId: String? = nil, target: String?,
        _ body: @escaping @Sendable (StoreTransaction) throws -> (T, AuditEvent?)
    ) async throws -> T {
        do {
            return try await store.write { transaction in
                let (result, event) = try body(transaction)
                try transaction.appendAudit(
                    event ?? AuditEvent(
                        actor: actor.auditName, tenantId: tenantId, workspaceId: workspaceId, method: method, target: target))
                return result
            }
        } catch let error as ResponseError {
            _ = try? await store.audit(await refusal(method, by: actor, tenantId: tenantId, workspaceId: workspaceId, target: target, error.message))
            throw error
        } catch let error as SQLError where error.kind == .uniqueViolation {
            _ = try? await store.audit(await refusal(method, by: actor, tenantId: tenantId, workspaceId: workspaceId, target: target, "already exists"))
            throw ResponseError.conflict("that name is already taken")
        }
    }

    /// A refusal's audit row. It is filed under the actor's own tenant, never one the request named
    /// (which the caller controls and could fill with rows); a named tenant or workspace outside the
    /// actor's tenant goes in the detail.
    private func refusal(
        _ method: String, by actor: Principal, tenantId: String?, workspaceId: String?, target: String?, _ reason: String
    ) async -> AuditEvent {
        let ownTenant = actor.caller?.tenantId ?? tenantId
        var detail = reason
        if let tenantId, tenantId != ownTenant { detail += " (tenant named: \(tenantId))" }
        var ownWorkspace: String?
        if let workspaceId {
            let workspaceTenant = try? await store.read { try $0.workspace(id: workspaceId)?.tenantId }
            if workspaceTenant == ownTenant {
                ownWorkspace = workspaceId
            } else {
                detail += " (workspace named: \(workspaceId))"
            }
        }
        return AuditEvent(
            actor: actor.auditName, tenantId: ownTenant, workspaceId: ownWorkspace, method: method, target: target,
            outcome: .denied, detail: detail)
    }

    // MARK: Rights

    /// The tenant, if the actor may see it; `admin` also requires managing it.
    static func tenant(_ id: String, for actor: Principal, admin: Bool, in transaction: StoreTransaction) throws -> Tenant {
        if let caller = actor.caller, !caller.isServerAdmin {
            guard caller.tenantId == id, let tenant = try transaction.tenant(id: id) else {
                throw ResponseError.notFound("tenant", id)
            }
            if admin && !caller.isTenantAdmin { throw ResponseError.forbidden("only a tenant admin may do this") }
            return tenant
        }
        guard let tenant = try transaction.tenant(id: id) else { throw ResponseError.notFound("tenant", id) }
        return tenant
    }

    /// The user, if the actor may see it (same tenant, or server-wide); `admin` also requires being
    /// that tenant's admin (or the user themself when `selfAllowed`).
    static func user(
        _ id: String, for actor: Principal, admin: Bool, selfAllowed: Bool = false, in transaction: StoreTransaction
    ) throws -> User {
        guard let user = try transaction.user(id: id) else { throw ResponseError.notFound("user", id) }
        if let caller = actor.caller, !caller.isServerAdmin {
            guard user.tenantId == caller.tenantId else { throw ResponseError.notFound("user", id) }
            let isSelf = selfAllowed && caller.userId == id
            if admin && !caller.isTenantAdmin && !isSelf {
                throw ResponseError.forbidden("only a tenant admin may do this")
            }
            // A tenant admin manages its tenant's users, not a server admin who happens to be in it
            // (else minting a key for them would be a way up).
            if admin && user.isServerAdmin && !isSelf {
                throw ResponseError.forbidden("only a server admin may manage a server admin")
            }
        }
        return user
    }

    /// The workspace and the actor's effective role in it. Tenant admins (and server-wide actors)
    /// act as owners; a non-member sees nothing.
    static func workspace(
        _ id: String, for actor: Principal, atLeast minimum: Role, in transaction: StoreTransaction
    ) throws -> (Workspace, Role) {
        guard let workspace = try transaction.workspace(id: id) else { throw ResponseError.notFound("workspace", id) }
        guard let caller = actor.caller else { return (workspace, .owner) }
        if caller.isServerAdmin { return (workspace, .owner) }
        guard workspace.tenantId == caller.tenantId else { throw ResponseError.notFound("workspace", id) }
        let role: Role
        if caller.isTenantAdmin {
            role = .owner
        } else if let membership = try transaction.membership(workspaceId: id, userId: caller.userId) {
            role = membership.role
        } else {
            throw ResponseError.notFound("workspace", id)
        }
        guard role >= minimum else {
            throw ResponseError.forbidden("this needs the \(minimum.rawValue) role in the workspace; you are \(role.rawValue)")
        }
        return (workspace, role)
    }

    // MARK: Tenants

    public func createTenant(name: String, by actor: Principal) async throws -> Tenant {
        let name = try Self.validName(name, field: "name")
        guard actor.isServerWide else {
            _ = try? await store.audit(
                AuditEvent(
                    actor: actor.auditName, tenantId: actor.caller?.tenantId, method: TenantCreateRequest.method,
                    target: name, outcome: .denied, detail: "not a server admin"))
            throw ResponseError.forbidden("only a server admin may create tenants")
        }
        return try await change(TenantCreateRequest.method, by: actor, target: name) { transaction in
            let tenant = Tenant(id: Identifier.make("ten"), name: name, createdAt: transaction.now)
            try transaction.insertTenant(tenant)
            return (
                tenant,
                AuditEvent(actor: actor.auditName, tenantId: tenant.id, method: TenantCreateRequest.method, target: tenant.id)
            )
        }
    }

    public func tenants(for actor: Principal) async throws -> [Tenant] {
        try await store.read { transaction in
            if let caller = actor.caller, !caller.isServerAdmin {
                return try transaction.tenant(id: caller.tenantId).map { [$0] } ?? []
            }
            return try transaction.tenants()
        }
    }

    public func tenant(id: String, for actor: Principal) async throws -> Tenant {
        try await store.read { try Self.tenant(id, for: actor, admin: false, in: $0) }
    }

    // MARK: Users

    public func createUser(
        tenantId: String?, name: String, email: String?, isTenantAdmin: Bool, isServerAdmin: Bool = false, by actor: Principal
    ) async throws -> User {
        let name = try Self.validName(name, field: "name")
        guard let tenantId = tenantId ?? actor.caller?.tenantId else {
            throw ResponseError.invalidParams("tenantId is required", field: "tenantId")
        }
        if isServerAdmin && !actor.isServerWide { throw ResponseError.forbidden("only a server admin may create server admins") }
        return try await change(UserCreateRequest.method, by: actor, tenantId: tenantId, target: name) { transaction in
            _ = try Self.tenant(tenantId, for: actor, admin: true, in: transaction)
            let user = User(
                id: Identifier.make("usr"), tenantId: tenantId, name: name, email: email, isServerAdmin: isServerAdmin,
                isTenantAdmin: isTenantAdmin, createdAt: transaction.now)
            try transaction.insertUser(user)
            return (
                user,
                AuditEvent(actor: actor.auditName, tenantId: tenantId, method: UserCreateRequest.method, target: user.id)
            )
        }
    }

    public func users(tenantId: String?, for actor: Principal) async throws -> [User] {
        guard let tenantId = tenantId ?? actor.caller?.tenantId else {
            throw ResponseError.invalidParams("tenantId is required", field: "tenantId")
        }
        return try await store.read { transaction in
            _ = try Self.tenant(tenantId, for: actor, admin: true, in: transaction)
            return try transaction.users(tenantId: tenantId)
        }
    }

    public func setUserDisabled(id: String, disabled: Bool, by actor: Principal) async throws -> User {
        if let caller = actor.caller, caller.userId == id, disabled {
            _ = try? await store.audit(
                AuditEvent(
                    actor: actor.auditName, tenantId: caller.tenantId, method: UserDisableRequest.method, target: id,
                    outcome: .denied, detail: "cannot disable yourself"))
            throw ResponseError.forbidden("you cannot disable yourself")
        }
        return try await change(UserDisableRequest.method, by: actor, target: id) { transaction in
            let user = try Self.user(id, for: actor, admin: true, in: transaction)
            try transaction.setUserDisabled(id: id, disabled)
            let updated = try transaction.user(id: id) ?? user
            return (
                updated,
                AuditEvent(
                    actor: actor.auditName, tenantId: user.tenantId, method: UserDisableRequest.method, target: id,
                    detail: disabled ? "disabled" : "enabled")
            )
        }
    }

    // MARK: Workspaces

    public func createWorkspace(
        tenantId: String?, name: String, description: String?, ownerId: String?, by actor: Principal
    ) async throws -> (Workspace, Role?) {
        let name = try Self.validName(name, field: "name")
        guard let tenantId = tenantId ?? actor.caller?.tenantId else {
            throw ResponseError.invalidParams("tenantId is required", field: "tenantId")
        }
        // The creator owns it, unless a server admin creates it in another tenant (they need no membership).
        let ownerId = ownerId ?? actor.caller.flatMap { $0.tenantId == tenantId ? $0.userId : nil }
        return try await change(WorkspaceCreateRequest.method, by: actor, tenantId: tenantId, target: name) { transaction in
            _ = try Self.tenant(tenantId, for: actor, admin: false, in: transaction)
            let workspace = Workspace(
                id: Identifier.make("wsp"), tenantId: tenantId, name: name, description: description,
                createdAt: transaction.now, updatedAt: transaction.now)
            try transaction.insertWorkspace(workspace)
            if let ownerId {
                let owner = try Self.user(ownerId, for: actor, admin: false, in: transaction)
                guard owner.tenantId == tenantId else { throw ResponseError.notFound("user", ownerId) }
                try transaction.upsertMembership(
                    Membership(workspaceId: workspace.id, userId: ownerId, role: .owner, createdAt: transaction.now))
            }
            return (
                (workspace, ownerId == actor.caller?.userId && ownerId != nil ? Role.owner : nil),
                AuditEvent(
                    actor: actor.auditName, tenantId: tenantId, workspaceId: workspace.id,
                    method: WorkspaceCreateRequest.method, target: workspace.id)
            )
        }
    }

    public func workspaces(for actor: Principal) async throws -> [(Workspace, Role?)] {
        guard let caller = actor.caller else {
            return try await store.read { transaction in
                try transaction.tenants().flatMap { try transaction.workspaces(tenantId: $0.id) }.map { ($0, Role.owner) }
            }
        }
        return try await store.read { transaction in
            let memberOf = try transaction.workspaces(memberId: caller.userId)
            var roles: [String: Role] = [:]
            for workspace in memberOf {
                roles[workspace.id] = try transaction.membership(workspaceId: workspace.id, userId: caller.userId)?.role
            }
            let visible = caller.isTenantAdmin ? try transaction.workspaces(tenantId: caller.tenantId) : memberOf
            return visible.map { ($0, roles[$0.id]) }
        }
    }

    public func workspace(id: String, for actor: Principal) async throws -> (Workspace, Role) {
        try await store.read { try Self.workspace(id, for: actor, atLeast: .viewer, in: $0) }
    }

    public func updateWorkspace(id: String, name: String?, description: String?, by actor: Principal) async throws -> (
        Workspace, Role
    ) {
        let name = try name.map { try Self.validName($0, field: "name") }
        return try await change(WorkspaceUpdateRequest.method, by: actor, workspaceId: id, target: id) { transaction in
            let (workspace, role) = try Self.workspace(id, for: actor, atLeast: .admin, in: transaction)
            let updated = try transaction.updateWorkspace(id: id, name: name, description: description) ?? workspace
            return (
                (updated, role),
                AuditEvent(
                    actor: actor.auditName, tenantId: workspace.tenantId, workspaceId: id,
                    method: WorkspaceUpdateRequest.method, target: id)
            )
        }
    }

    public func deleteWorkspace(id: String, by actor: Principal) async throws {
        try await change(WorkspaceDeleteRequest.method, by: actor, workspaceId: id, target: id) { transaction in
            let (workspace, _) = try Self.workspace(id, for: actor, atLeast: .owner, in: transaction)
            try transaction.deleteWorkspace(id: id)
            return (
                (),
                AuditEvent(
                    actor: actor.auditName, tenantId: workspace.tenantId, workspaceId: id,
                    method: WorkspaceDeleteRequest.method, target: id)
            )
        }
    }

    // MARK: Members

    public func setMember(
        workspaceId: String, userId: String, role: Role, adding: Bool, by actor: Principal
    ) async throws -> (Membership, User) {
        let method = adding ? MemberAddRequest.method : MemberSetRoleRequest.method
        return try await change(method, by: actor, workspaceId: workspaceId, target: userId) { transaction in
            let (workspace, actorRole) = try Self.workspace(workspaceId, for: actor, atLeast: .admin, in: transaction)
            let user = try Self.user(userId, for: actor, admin: false, in: transaction)
            guard user.tenantId == workspace.tenantId else { throw ResponseError.notFound("user", userId) }
            let existing = try transaction.membership(workspaceId: workspaceId, userId: userId)
            if adding, let existing {
                throw ResponseError.conflict(
                    "already a member", data: ["currentRole": .string(existing.role.rawValue)])
            }
            if !adding && existing == nil { throw ResponseError.notFound("member", userId) }
            if (role == .owner || existing?.role == .owner) && actorRole < .owner {
                throw ResponseError.forbidden("only an owner may grant or take away ownership")
            }
            let demotesOwner = existing?.role == .owner && role != .owner
            if try demotesOwner && transaction.ownerCount(workspaceId: workspaceId) <= 1 {
                throw ResponseError.conflict("a workspace keeps at least one owner")
            }
            let membership = Membership(
                workspaceId: workspaceId, userId: userId, role: role, createdAt: existing?.createdAt ?? transaction.now)
            try transaction.upsertMembership(membership)
            return (
                (membership, user),
                AuditEvent(
                    actor: actor.auditName, tenantId: workspace.tenantId, workspaceId: workspaceId, method: method,
                    target: userId, detail: "role \(role.rawValue)")
            )
        }
    }

    public func removeMember(workspaceId: String, userId: String, by actor: Principal) async throws {
        try await change(MemberRemoveRequest.method, by: actor, workspaceId: workspaceId, target: userId) { transaction in
            let (workspace, actorRole) = try Self.workspace(workspaceId, for: actor, atLeast: .admin, in: transaction)
            guard let existing = try transaction.membership(workspaceId: workspaceId, userId: userId) else {
                throw ResponseError.notFound("member", userId)
            }
            if existing.role == .owner {
                if actorRole < .owner { throw ResponseError.forbidden("only an owner may remove an owner") }
                if try transaction.ownerCount(workspaceId: workspaceId) <= 1 {
                    throw ResponseError.conflict("a workspace keeps at least one owner")
                }
            }
            try transaction.deleteMembership(workspaceId: workspaceId, userId: userId)
            return (
                (),
                AuditEvent(
                    actor: actor.auditName, tenantId: workspace.tenantId, workspaceId: workspaceId,
                    method: MemberRemoveRequest.method, target: userId)
            )
        }
    }

    public func members(workspaceId: String, for actor: Principal) async throws -> [(Membership, User)] {
        try await store.read { transaction in
            _ = try Self.workspace(workspaceId, for: actor, atLeast: .viewer, in: transaction)
            return try transaction.memberships(workspaceId: workspaceId).compactMap { membership in
                try transaction.user(id: membership.userId).map { (membership, $0) }
            }
        }
    }

    // MARK: API keys

    public func createAPIKey(
        userId: String?, name: String, expiresInSeconds: Int?, scopes: [String], by actor: Principal
    ) async throws -> (secret: String, record: APIKeyRecord) {
        let name = try Self.validName(name, field: "name")
        if let expiresInSeconds, !(1...Self.maxKeyLifetimeSeconds).contains(expiresInSeconds) {
            throw ResponseError.invalidParams(
                "expiresInSeconds must be 1…\(Self.maxKeyLifetimeSeconds) (ten years)", field: "expiresInSeconds")
        }
        for scope in scopes where !Self.isValidScope(scope) {
            throw ResponseError.invalidParams("unknown scope '\(scope)'", field: "scopes")
        }
        // A scoped key cannot mint a key wider than itself.
        if let callerScopes = actor.caller?.scopes, !callerScopes.isEmpty,
            scopes.isEmpty || !Set(scopes).isSubset(of: Set(callerScopes))
        {
            throw ResponseError.forbidden("a key with scopes can only create keys within the same scopes")
        }
        guard let userId = userId ?? actor.caller?.userId else {
            throw ResponseError.invalidParams("userId is required", field: "userId")
        }
        return try await change(APIKeyCreateRequest.method, by: actor, target: userId) { transaction in
            let user = try Self.user(userId, for: actor, admin: true, selfAllowed: true, in: transaction)
            if user.isDisabled { throw ResponseError.conflict("the user is disabled") }
            let expiresAt = expiresInSeconds.map { transaction.now + Int64($0) * 1000 }
            let key = Authenticator.makeAPIKey(
                userId: user.id, tenantId: user.tenantId, name: name, scopes: scopes, expiresAt: expiresAt,
                now: transaction.now)
            try transaction.insertAPIKey(key.record)
            return (
                key,
                AuditEvent(
                    actor: actor.auditName, tenantId: user.tenantId, method: APIKeyCreateRequest.method,
                    target: key.record.id, detail: "for \(user.id)")
            )
        }
    }

    public func apiKeys(userId: String?, for actor: Principal) async throws -> [APIKeyRecord] {
        guard let userId = userId ?? actor.caller?.userId else {
            throw ResponseError.invalidParams("userId is required", field: "userId")
        }
        return try await store.read { transaction in
            _ = try Self.user(userId, for: actor, admin: true, selfAllowed: true, in: transaction)
            return try transaction.apiKeys(userId: userId)
        }
    }

    public func revokeAPIKey(id: String, by actor: Principal) async throws -> APIKeyRecord {
        try await change(APIKeyRevokeRequest.method, by: actor, target: id) { transaction in
            guard let key = try transaction.apiKey(id: id) else { throw ResponseError.notFound("apiKey", id) }
            do {
                _ = try Self.user(key.userId, for: actor, admin: true, selfAllowed: true, in: transaction)
            } catch let error as ResponseError where error.code == .notFound {
                throw ResponseError.notFound("apiKey", id)
            }
            try transaction.revokeAPIKey(id: id)
            return (
                try transaction.apiKey(id: id) ?? key,
                AuditEvent(actor: actor.auditName, tenantId: key.tenantId, method: APIKeyRevokeRequest.method, target: id)
            )
        }
    }

    // MARK: Validation

    static func validName(_ name: String, field: String) throws -> String {
        let trimmed = name.trimmed
        guard !trimmed.isEmpty, trimmed.count <= 200, !trimmed.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw ResponseError.invalidParams("\(field) must be 1 to 200 characters on one line", field: field)
        }
        return trimmed
    }

    static let maxKeyLifetimeSeconds = 10 * 365 * 24 * 3600

    static func isValidScope(_ scope: String) -> Bool {
        !scope.isEmpty && scope.count <= 40 && scope.allSatisfy { $0.isLetter || $0.isNumber || $0 == "$" }
    }
}

extension Directory {
    // MARK: Models

    /// Sets the models a workspace may use (workspace admin and up). The caller checks the ids
    /// against the registry.
    public func setWorkspaceModels(workspaceId: String, models: [String], fallbackModel: String? = nil, by actor: Principal)
        async throws
    {
        try await change(
            WorkspaceSetModelsRequest.method, by: actor, workspaceId: workspaceId, target: workspaceId
        ) { transaction in
            let (workspace, _) = try Self.workspace(workspaceId, for: actor, atLeast: .admin, in: transaction)
            try transaction.setWorkspaceModels(workspaceId: workspaceId, models)
            try transaction.setWorkspaceFallbackModel(workspaceId: workspaceId, fallbackModel)
            return (
                (),
                AuditEvent(
                    actor: actor.auditName, tenantId: workspace.tenantId, workspaceId: workspaceId,
                    method: WorkspaceSetModelsRequest.method, target: workspaceId,
                    detail: (models.isEmpty ? "no models" : models.joined(separator: ", "))
                        + (fallbackModel.map { "; fallback \($0)" } ?? ""))
            )
        }
    }

    /// The workspace a request that names none works in: the first the caller belongs to (any role).
    func defaultWorkspace(for actor: Principal, field: String = "workspaceId") async throws -> String {
        let all = try await workspaces(for: actor)
        guard let first = all.first(where: { $0.1 != nil }) ?? all.first else {
            throw ResponseError.invalidParams("\(field) is required (you are a member of no workspace)", field: field)
        }
        return first.0.id
    }
}
