import DevModeProtocol
import JSONRPC

extension DevModeServer {
    static func registerVCSHandlers(_ router: inout Router) {
        router.on(VCSStatusRequest.self) { request, context in
            VCSStatusResult(try await context.server.projects.history.status(request, by: context.actor))
        }

        router.on(VCSCommitRequest.self) { request, context in
            let history = context.server.projects.history
            return CommitInfo(try await history.commit(request, by: context.actor, signature: try await context.signature()))
        }

        router.on(VCSLogRequest.self) { request, context in
            VCSLogResult(try await context.server.projects.history.log(request, by: context.actor))
        }

        router.on(VCSDiffRequest.self) { request, context in
            VCSDiffResult(try await context.server.projects.history.diff(request, by: context.actor))
        }

        router.on(VCSRestoreRequest.self) { request, context in
            try await context.server.projects.history.restore(request, by: context.actor, origin: context.session)
        }

        router.on(VCSBranchListRequest.self) { request, context in
            VCSBranchListResult(try await context.server.projects.history.branches(request, by: context.actor))
        }

        router.on(VCSBranchCreateRequest.self) { request, context in
            VCSBranchListResult.Branch(try await context.server.projects.history.createBranch(request, by: context.actor))
        }

        router.on(VCSCheckoutRequest.self) { request, context in
            try await context.server.projects.history.checkout(request, by: context.actor, origin: context.session)
        }
    }
}
