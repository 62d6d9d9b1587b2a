import DevModeGit
import DevModeProtocol
import JSONRPC

extension DevModeServer {
    static func registerProjectHandlers(_ router: inout Router) {
        router.on(ProjectCreateRequest.self) { request, context in
            ProjectInfo(try await context.server.projects.create(request, by: context.actor))
        }

        router.on(ProjectListRequest.self) { request, context in
            ProjectListResult(
                projects: try await context.server.projects.list(workspaceId: request.workspaceId, by: context.actor).map(ProjectInfo.init))
        }

        router.on(ProjectGetRequest.self) { request, context in
            ProjectInfo(try await context.server.projects.describe(request.projectId, by: context.actor))
        }

        router.on(ProjectRenameRequest.self) { request, context in
            ProjectInfo(try await context.server.projects.rename(request.projectId, to: request.name, by: context.actor))
        }

        router.on(ProjectDeleteRequest.self) { request, context in
            try await context.server.projects.delete(request.projectId, by: context.actor)
            return DeletedResult(deleted: true)
        }

        router.on(ProjectOpenRequest.self) { request, context in
            ProjectInfo(try await context.server.projects.open(request, by: context.caller))
        }

        router.on(ProjectWatchRequest.self) { request, context in
            let watching = try await context.server.projects.watch(
                request.projectId, on: request.watch ?? true, by: context.actor, session: context.session,
                connection: context.connection)
            return ProjectWatchResult(watching: watching)
        }
    }
}

extension RequestContext {
    /// The caller as a git author.
    func signature() async throws -> GitSignature {
        try await server.projects.signature(for: actor)
    }
}
