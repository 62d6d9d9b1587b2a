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
    static func registerProjectHandlers(_ router: inout Router) {
        router.on(ProjectCreateRequest.self) { request, context in
            let projects = context.server.projects
            let name = try Directory.validName(request.name, field: "name")
            let actor = context.actor
            let workspace: Workspace
            do {
                workspace = try await context.server.store.read {
                    try Directory.workspace(request.workspaceId, for: actor, atLeast: .member, in: $0).0
                }
            } catch let error as ResponseError {
                _ = try? await context.server.store.audit(
                    AuditEvent(
                        actor: actor.auditName, tenantId: context.caller.tenantId, method: ProjectCreateRequest.method,
                        target: request.workspaceId, outcome: .denied, detail: error.message))
                throw error
            }
            // Check every initial file before anything is created.
            let id = Identifier.make("prj")
            let root = projects.settings.dataDirectory + "/projects/" + id
            var files: [(ProjectPath, [UInt8])] = []
            for file in request.files ?? [] {
                let path = try ProjectPath.resolve(file.path, in: root)
                let bytes = try FileContentCoding.decode(file.content, encoding: file.encoding)
                guard bytes.count <= projects.settings.maxFileBytes else {
                    throw ResponseError.payloadTooLarge(
                        "'\(file.path)' (\(bytes.count) bytes)", limit: projects.settings.maxFileBytes,
                        setting: "maxFileBytes")
                }
                files.append((path, bytes))
            }
            if files.isEmpty {
                files = [(try ProjectPath.resolve("README.md", in: root), Array("# \(name)\n".utf8))]
            }
            let project = Project(
                id: id, workspaceId: workspace.id, tenantId: workspace.tenantId, name: name, kind: .hosted, root: root,
                createdAt: context.server.store.now)
            // The initial files take the workspace's storage like any write.
            try await projects.checkStorage(workspace.id, growingBy: files.reduce(0) { $0 + $1.1.count })
            let signature = try await context.signature()
            do {
                let repository = try await GitRepository.create(at: root)
                for (path, bytes) in files {
                    do {
                        try FileSystem.writeAtomically(bytes, to: path.absolute)
                    } catch is FileSystem.Failure {
                        throw ResponseError.invalidParams(
                            "'\(path.relative)' cannot be written (do two initial files overlap, such as 'a' and 'a/b'?)",
                            field: "files")
                    }
                }
                _ = try await repository.commit(message: "Initial commit", author: signature, committer: signature)
                await repository.close()
                try await context.server.store.write { transaction in
                    try transaction.insertProject(project)
                    try transaction.appendAudit(
                        AuditEvent(
                            actor: actor.auditName, tenantId: project.tenantId, workspaceId: project.workspaceId,
                            method: ProjectCreateRequest.method, target: project.id))
                }
            } catch {
                try? FileManager.default.removeItem(atPath: root)
                if let sql = error as? SQLError, sql.kind == .uniqueViolation {
                    throw ResponseError.conflict("the workspace has a project named '\(name)' already")
                }
                throw error
            }
            projects.forgetUsage(project.workspaceId)
            return try await ProjectInfo(project, projects: projects)
        }

        router.on(ProjectListRequest.self) { request, context in
            let actor = context.actor
            let list = try await context.server.store.read { transaction in
                _ = try Directory.workspace(request.workspaceId, for: actor, atLeast: .viewer, in: transaction)
                return try transaction.projects(workspaceId: request.workspaceId)
            }
            var infos: [ProjectInfo] = []
            for project in list { infos.append(try await ProjectInfo(project, projects: context.server.projects)) }
            return ProjectListResult(projects: infos)
        }

        router.on(ProjectGetRequest.self) { request, context in
            let project = try await context.server.projects.project(request.projectId, for: context.actor, atLeast: .viewer)
            return try await ProjectInfo(project, projects: context.server.projects)
        }

        router.on(ProjectRenameRequest.self) { request, context in
            let projects = context.server.projects
            let name = try Directory.validName(request.name, field: "name")
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .admin, auditing: ProjectRenameRequest.method)
            do {
                try await projects.change(project, method: ProjectRenameRequest.method, target: nil, by: context.actor) {
                    try await projects.store.write { try $0.renameProject(id: project.id, name: name) }
                    return ((), "renamed to \(name)")
                }
            } catch let error as SQLError where error.kind == .uniqueViolation {
                throw ResponseError.conflict("the workspace has a project named '\(name)' already")
            }
            var renamed = project
            renamed.name = name
            return try await ProjectInfo(renamed, projects: projects)
        }

        router.on(ProjectDeleteRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .admin, auditing: ProjectDeleteRequest.method)
            try await projects.change(project, method: ProjectDeleteRequest.method, target: nil, by: context.actor) {
                _ = try await projects.store.write { try $0.deleteProject(id: project.id) }
                await projects.forget(project)
                if project.kind == .hosted { try? FileManager.default.removeItem(atPath: project.root) }
                return ((), project.kind == .local ? "forgotten; the folder is untouched" : nil)
            }
            projects.forgetUsage(project.workspaceId)
            return DeletedResult(deleted: true)
        }

        router.on(ProjectOpenRequest.self) { request, context in
            let projects = context.server.projects
            guard context.caller.credential == .local else {
                throw ResponseError.forbidden("project/open is for local mode (a stdio session on this machine)")
            }
            guard request.path.hasPrefix("/"), let real = ProjectPath.realPath(request.path),
                FileSystem.kind(real) == .directory
            else {
                throw ResponseError.invalidParams("path must be an existing folder, given as an absolute path", field: "path")
            }
            guard projects.settings.allows(real) else {
                throw ResponseError.forbidden("'\(real)' is outside the allowed roots (--allowed-root)")
            }
            return try await ProjectInfo(
                try await projects.openLocal(
                    root: real, name: request.name, workspaceId: request.workspaceId, by: context.actor,
                    signature: try await context.signature()),
                projects: projects)
        }

        router.on(ProjectWatchRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .viewer)
            let on = request.watch ?? true
            projects.watch(project, session: context.session, connection: context.connection, on)
            return ProjectWatchResult(watching: on)
        }
    }
}

extension ProjectService {
    /// Registers a local folder as a project (once: the same folder gives the same project).
    func openLocal(
        root: String, name: String?, workspaceId: String?, by actor: Principal, signature: GitSignature
    ) async throws -> Project {
        if let existing = try await store.read({ try $0.project(root: root) }) {
            _ = try await project(existing.id, for: actor, atLeast: .viewer)
            return existing
        }
        let workspaceId = try await resolveWorkspace(workspaceId, for: actor)
        let workspace = try await store.read {
            try Directory.workspace(workspaceId, for: actor, atLeast: .member, in: $0).0
        }
        if FileSystem.kind(root + "/.git") == nil {
            await (try GitRepository.create(at: root)).close()
        }
        let project = Project(
            id: Identifier.make("prj"), workspaceId: workspace.id, tenantId: workspace.tenantId,
            name: try Directory.validName(name ?? Paths.lastComponent(root), field: "name"), kind: .local,
            root: root, createdAt: store.now)
        do {
            try await store.write { transaction in
                try transaction.insertProject(project)
                try transaction.appendAudit(
                    AuditEvent(
                        actor: actor.auditName, tenantId: project.tenantId, workspaceId: project.workspaceId,
                        method: ProjectOpenRequest.method, target: project.id, detail: root))
            }
        } catch let error as SQLError where error.kind == .uniqueViolation {
            // Opened by someone else meanwhile, or the name is taken: the root decides.
            if let existing = try await store.read({ try $0.project(root: root) }) { return existing }
            throw ResponseError.conflict("the workspace has a project with that name already; give another name")
        }
        return project
    }

    /// The workspace to use: the one given, else the caller's first workspace they can write to.
    func resolveWorkspace(_ given: String?, for actor: Principal) async throws -> String {
        if let given { return given }
        guard let caller = actor.caller else { throw ResponseError.invalidParams("workspaceId is required", field: "workspaceId") }
        let candidates = try await store.read { transaction -> [String] in
            try transaction.workspaces(memberId: caller.userId).compactMap { workspace in
                let role = try transaction.membership(workspaceId: workspace.id, userId: caller.userId)?.role
                return (role ?? .viewer) >= .member ? workspace.id : nil
            }
        }
        guard let first = candidates.first else {
            throw ResponseError.invalidParams("workspaceId is required (you are a member of no workspace)", field: "workspaceId")
        }
        return first
    }
}

extension ProjectInfo {
    init(_ project: Project, projects: ProjectService) async throws {
        let branch = try? await projects.repository(for: project).currentBranch()
        self.init(
            id: project.id, workspaceId: project.workspaceId, name: project.name, kind: project.kind.rawValue,
            root: project.kind == .local ? project.root : nil, branch: branch ?? nil,
            createdAt: Timestamp.iso(project.createdAt))
    }
}

extension RequestContext {
    /// The caller as a git author.
    func signature() async throws -> GitSignature {
        let caller = self.caller
        let email = try await server.store.read { try $0.user(id: caller.userId)?.email }
        return GitSignature(name: caller.userName, email: email ?? "\(caller.userId)@devmode.invalid", time: Date())
    }
}

/// Content on the wire: UTF-8 text as is, or base64 for anything else.
enum FileContentCoding {
    static func decode(_ content: String, encoding: String?) throws -> [UInt8] {
        switch encoding ?? "utf-8" {
        case "utf-8", "utf8": return Array(content.utf8)
        case "base64":
            guard let data = Data(base64Encoded: content) else {
                throw ResponseError.invalidParams("content is not valid base64", field: "content")
            }
            return Array(data)
        default:
            throw ResponseError.invalidParams("encoding must be utf-8 or base64", field: "encoding")
        }
    }

    /// Text when the bytes are UTF-8 without NUL; base64 otherwise.
    static func encode(_ bytes: [UInt8]) -> (content: String, encoding: String) {
        if !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) {
            return (text, "utf-8")
        }
        return (Data(bytes).base64EncodedString(), "base64")
    }
}
