import DevModeFileSystem
import DevModeGit
import DevModeProtocol
import DevModeStore
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import JSONRPC

extension DevModeServer {
    static func registerFileHandlers(_ router: inout Router) {
        router.on(FileListRequest.self) { request, context in
            try await context.server.projects.files.list(request, by: context.actor)
        }

        router.on(FileReadRequest.self) { request, context in
            try await context.server.projects.files.read(request, by: context.actor)
        }

        router.on(FileWriteRequest.self) { request, context in
            try await context.server.projects.files.write(request, by: context.actor, origin: context.session)
        }

        router.on(FileDeleteRequest.self) { request, context in
            try await context.server.projects.files.delete(request, by: context.actor, origin: context.session)
        }

        router.on(FileMoveRequest.self) { request, context in
            try await context.server.projects.files.move(request, by: context.actor, origin: context.session)
        }

        router.on(FileSearchRequest.self) { request, context in
            try await context.server.search.search(request, by: context.actor, in: context.session)
        }
    }
}

