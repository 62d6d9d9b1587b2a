import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import DevModeProtocol
import DevModeStore
import JSONRPC

extension DevModeServer {
    static func registerTenancyHandlers(_ router: inout Router) {
        // Tenants
        router.on(TenantCreateRequest.self) { request, context in
            TenantInfo(try await context.server.directory.createTenant(name: request.name, by: context.actor))
        }
        router.on(TenantListRequest.self) { _, context in
            TenantListResult(tenants: try await context.server.directory.tenants(for: context.actor).map(TenantInfo.init))
        }
        router.on(TenantGetRequest.self) { request, context in
            TenantInfo(try await context.server.directory.tenant(id: request.tenantId, for: context.actor))
        }

        // Users
        router.on(UserCreateRequest.self) { request, context in
            UserInfo(
                try await context.server.directory.createUser(
                    tenantId: request.tenantId, name: request.name, email: request.email,
                    isTenantAdmin: request.isTenantAdmin ?? false, by: context.actor))
        }
        router.on(UserListRequest.self) { request, context in
            UserListResult(
                users: try await context.server.directory.users(tenantId: request.tenantId, for: context.actor).map(UserInfo.init))
        }
        router.on(UserDisableRequest.self) { request, context in
            let disabled = request.disabled ?? true
            let user = try await context.server.directory.setUserDisabled(
                id: request.userId, disabled: disabled, by: context.actor)
            if disabled {
                context.server.cutOff(reason: "user disabled") { $0.userId == user.id }
            }
            return UserInfo(user)
        }

        // Workspaces
        router.on(WorkspaceCreateRequest.self) { request, context in
            let (workspace, role) = try await context.server.directory.createWorkspace(
                tenantId: request.tenantId, name: request.name, description: request.description, ownerId: nil,
                by: context.actor)
            return WorkspaceInfo(workspace, role: role)
        }
        router.on(WorkspaceListRequest.self) { _, context in
            WorkspaceListResult(
                workspaces: try await context.server.directory.workspaces(for: context.actor).map {
                    WorkspaceInfo($0.0, role: $0.1)
                })
        }
        router.on(WorkspaceGetRequest.self) { request, context in
            let (workspace, role) = try await context.server.directory.workspace(id: request.workspaceId, for: context.actor)
            return WorkspaceInfo(workspace, role: role)
        }
        router.on(WorkspaceUpdateRequest.self) { request, context in
            let (workspace, role) = try await context.server.directory.updateWorkspace(
                id: request.workspaceId, name: request.name, description: request.description, by: context.actor)
            return WorkspaceInfo(workspace, role: role)
        }
        router.on(WorkspaceDeleteRequest.self) { request, context in
            let projects = try await context.server.store.read { try $0.projects(workspaceId: request.workspaceId) }
            try await context.server.directory.deleteWorkspace(id: request.workspaceId, by: context.actor)
            // Its projects go with it: hosted repositories are removed, local folders only forgotten.
            for project in projects {
                await context.server.projects.forget(project)
                if project.kind == .hosted { try? FileManager.default.removeItem(atPath: project.root) }
            }
            context.server.projects.forgetUsage(request.workspaceId)
            return DeletedResult(deleted: true)
        }

        // Members
        router.on(MemberAddRequest.self) { request, context in
            let (membership, user) = try await context.server.directory.setMember(
                workspaceId: request.workspaceId, userId: request.userId, role: request.role.storeRole, adding: true,
                by: context.actor)
            return MemberInfo(membership, user: user)
        }
        router.on(MemberSetRoleRequest.self) { request, context in
            let (membership, user) = try await context.server.directory.setMember(
                workspaceId: request.workspaceId, userId: request.userId, role: request.role.storeRole, adding: false,
                by: context.actor)
            return MemberInfo(membership, user: user)
        }
        router.on(MemberRemoveRequest.self) { request, context in
            try await context.server.directory.removeMember(
                workspaceId: request.workspaceId, userId: request.userId, by: context.actor)
            return RemovedResult(removed: true)
        }
        router.on(MemberListRequest.self) { request, context in
            MemberListResult(
                members: try await context.server.directory.members(workspaceId: request.workspaceId, for: context.actor)
                    .map { MemberInfo($0.0, user: $0.1) })
        }

        // API keys
        router.on(APIKeyCreateRequest.self) { request, context in
            let key = try await context.server.directory.createAPIKey(
                userId: request.userId, name: request.name, expiresInSeconds: request.expiresInSeconds,
                scopes: request.scopes ?? [], by: context.actor)
            return APIKeyCreateResult(key: key.secret, apiKey: APIKeyInfo(key.record))
        }
        router.on(APIKeyListRequest.self) { request, context in
            APIKeyListResult(
                apiKeys: try await context.server.directory.apiKeys(userId: request.userId, for: context.actor)
                    .map(APIKeyInfo.init))
        }
        router.on(APIKeyRevokeRequest.self) { request, context in
            let key = try await context.server.directory.revokeAPIKey(id: request.apiKeyId, by: context.actor)
            // Sessions opened with the key, and with tokens minted from it.
            context.server.cutOff(reason: "API key revoked") { $0.apiKeyId == key.id }
            return APIKeyInfo(key)
        }
    }
}
