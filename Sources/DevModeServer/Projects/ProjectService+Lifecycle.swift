import DevModeFileSystem
import DevModeGit
import DevModeProtocol
import DevModeStore
import FoundationEssentials
import JSONRPC

/// A project's life: create, open, list, describe, rename, delete, watch.
extension ProjectService {
    /// A hosted project with its initial files (a README when none). Every file is checked before
    /// anything is created; the storage check, the files, the first commit and the registration
    /// run under the workspace's storage lock, so concurrent creates and writes cannot overspend.
    func create(_ request: ProjectCreateRequest, by actor: Principal) async throws -> ProjectDescription {
        let name = try Directory.validName(request.name, field: "name")
        let workspace = try await access.workspace(request.workspaceId, for: actor, atLeast: .member, auditing: ProjectCreateRequest.method)
        let id = Identifier.make("prj")
        let root = settings.dataDirectory + "/projects/" + id
        var files: [(ProjectPath, [UInt8])] = []
        for file in request.files ?? [] {
            let path = try ProjectPath.resolve(file.path, in: root)
            let bytes = try FileContentCoding.decode(file.content, encoding: file.encoding)
            guard bytes.count <= settings.maxFileBytes else {
                throw ResponseError.payloadTooLarge(
                    "'\(file.path)' (\(bytes.count) bytes)", limit: settings.maxFileBytes, setting: "maxFileBytes")
            }
            files.append((path, bytes))
        }
        if files.isEmpty { files = [(try ProjectPath.resolve("README.md", in: root), Array("# \(name)\n".utf8))] }
        let project = Project(
            id: id, workspaceId: workspace.id, tenantId: workspace.tenantId, name: name, kind: .hosted, root: root,
            createdAt: store.now)
        let signature = try await signature(for: actor)
        let (access, store, initial) = (self.access, self.store, files)
        let scope = ProjectAccess.Scope(
            tenantId: workspace.tenantId, workspaceId: workspace.id, lock: "workspace:" + workspace.id, target: id, project: nil)
        let created = try await access.change(scope, method: ProjectCreateRequest.method, by: actor, origin: nil) {
            // The initial files take the workspace's storage like any write.
            try await access.checkStorage(workspace.id, growingBy: initial.reduce(0) { $0 + $1.1.count })
            do {
                let repository = try await GitRepository.create(at: root)
                try await BlockingIO.run {
                    for (path, bytes) in initial {
                        do {
                            try FileSystem.writeAtomically(bytes, to: path.absolute)
                        } catch is FileSystem.Failure {
                            throw ResponseError.invalidParams(
                                "'\(path.relative)' cannot be written (do two initial files overlap, such as 'a' and 'a/b'?)",
                                field: "files")
                        }
                    }
                }
                _ = try await repository.commit(message: "Initial commit", author: signature, committer: signature)
                await repository.close()
                try await store.write { try $0.insertProject(project) }
            } catch {
                try? await BlockingIO.run { try FileManager.default.removeItem(atPath: root) }
                if let sql = error as? SQLError, sql.kind == .uniqueViolation {
                    throw ResponseError.conflict("the workspace has a project named '\(name)' already")
                }
                throw error
            }
            // Measured again (with what git keeps) by the next check, under this same lock.
            access.forgetUsage(workspace.id)
            return .init(project)
        }
        return await describe(created)
    }

    func list(workspaceId: String, by actor: Principal) async throws -> [ProjectDescription] {
        let list = try await store.read { transaction in
            _ = try Directory.workspace(workspaceId, for: actor, atLeast: .viewer, in: transaction)
            return try transaction.projects(workspaceId: workspaceId)
        }
        var described: [ProjectDescription] = []
        for project in list { described.append(await describe(project)) }
        return described
    }

    func describe(_ id: String, by actor: Principal) async throws -> ProjectDescription {
        await describe(try await access.project(id, for: actor, atLeast: .viewer))
    }

    func rename(_ id: String, to newName: String, by actor: Principal) async throws -> ProjectDescription {
        let name = try Directory.validName(newName, field: "name")
        let project = try await access.project(id, for: actor, atLeast: .admin, auditing: ProjectRenameRequest.method)
        let store = self.store
        try await access.change(project, method: ProjectRenameRequest.method, target: nil, by: actor, origin: nil) {
            do {
                try await store.write { try $0.renameProject(id: project.id, name: name) }
            } catch let error as SQLError where error.kind == .uniqueViolation {
                throw ResponseError.conflict("the workspace has a project named '\(name)' already")
            }
            return .init((), detail: "renamed to \(name)")
        }
        var renamed = project
        renamed.name = name
        return await describe(renamed)
    }

    func delete(_ id: String, by actor: Principal) async throws {
        let project = try await access.project(id, for: actor, atLeast: .admin, auditing: ProjectDeleteRequest.method)
        let (access, store) = (self.access, self.store)
        try await access.change(project, method: ProjectDeleteRequest.method, target: nil, by: actor, origin: nil) {
            try await access.withStorage(of: project) {
                _ = try await store.write { try $0.deleteProject(id: project.id) }
                await self.forget(project)
                if project.kind == .hosted { try? await BlockingIO.run { try FileManager.default.removeItem(atPath: project.root) } }
                access.forgetUsage(project.workspaceId)
            }
            return .init((), detail: project.kind == .local ? "forgotten; the folder is untouched" : nil)
        }
    }

    func watch(_ id: String, on: Bool, by actor: Principal, session: Session, connection: Connection) async throws -> Bool {
        let project = try await access.project(id, for: actor, atLeast: .viewer)
        watchers.watch(project, session: session, connection: connection, on)
        return on
    }

    /// `project/open`: local mode only, an existing folder inside the allowed roots.
    func open(_ request: ProjectOpenRequest, by caller: Caller) async throws -> ProjectDescription {
        guard caller.credential == .local else {
            throw ResponseError.forbidden("project/open is for local mode (a stdio session on this machine)")
        }
        guard request.path.hasPrefix("/"), let real = ProjectPath.realPath(request.path), FileSystem.kind(real) == .directory else {
            throw ResponseError.invalidParams("path must be an existing folder, given as an absolute path", field: "path")
        }
        guard settings.allows(real) else {
            throw ResponseError.forbidden("'\(real)' is outside the allowed roots (--allowed-root)")
        }
        let actor = Principal.caller(caller)
        let project = try await openLocal(
            root: real, name: request.name, workspaceId: request.workspaceId, by: actor, signature: try await signature(for: actor))
        return await describe(project)
    }

    /// Registers a local folder as a project (once: the same folder gives the same project, to
    /// those who may see it).
    func openLocal(
        root: String, name: String?, workspaceId: String?, by actor: Principal, signature: GitSignature
    ) async throws -> Project {
        if let existing = try await store.read({ try $0.project(root: root) }) {
            _ = try await access.project(existing.id, for: actor, atLeast: .viewer)
            return existing
        }
        let workspaceId = try await resolveWorkspace(workspaceId, for: actor)
        let workspace = try await access.workspace(workspaceId, for: actor, atLeast: .member, auditing: ProjectOpenRequest.method)
        let project = Project(
            id: Identifier.make("prj"), workspaceId: workspace.id, tenantId: workspace.tenantId,
            name: try Directory.validName(name ?? Paths.lastComponent(root), field: "name"), kind: .local,
            root: root, createdAt: store.now)
        let (access, store) = (self.access, self.store)
        let scope = ProjectAccess.Scope(
            tenantId: workspace.tenantId, workspaceId: workspace.id, lock: "workspace:" + workspace.id, target: project.id,
            project: nil)
        return try await access.change(scope, method: ProjectOpenRequest.method, by: actor, origin: nil) {
            if FileSystem.kind(root + "/.git") == nil { await (try GitRepository.create(at: root)).close() }
            do {
                try await store.write { try $0.insertProject(project) }
            } catch let error as SQLError where error.kind == .uniqueViolation {
                // Opened by someone else meanwhile, or the name is taken: the root decides, and only
                // for a caller who may see that project (else it is just a name that is taken).
                if let existing = try await store.read({ try $0.project(root: root) }),
                    (try? await access.project(existing.id, for: actor, atLeast: .viewer)) != nil
                {
                    return .init(existing, changed: false)
                }
                throw ResponseError.conflict("the workspace has a project with that name already; give another name")
            }
            return .init(project, detail: root)
        }
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
