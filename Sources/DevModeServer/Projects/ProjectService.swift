import DevModeFileSystem
import DevModeGit
import DevModeProtocol
import DevModeStore
import FoundationEssentials
import JSONRPC

/// Projects: their life (create, open, list, rename, delete, watch) here, and three rooms with one
/// job each: `access` (rights, locks, the storage account, the one audited-change helper), `files`
/// (list, read, write, delete, move; content coding) and `history` (vcs/*). Every change goes
/// through `access.change`, so it is checked, locked, audited and told to the other watchers alike.
public final class ProjectService: Sendable {
    public struct Settings: Sendable {
        /// Hosted projects live in `<dataDirectory>/projects/<id>`.
        public var dataDirectory: String
        /// Largest file a client may write (`maxFileBytes`).
        public var maxFileBytes: Int
        /// Most bytes a workspace's hosted projects may hold on disk (`workspaceStorageBytes`).
        public var workspaceStorageBytes: Int
        /// Local mode: folders `project/open` may register (and everything under them).
        public var allowedRoots: [String]

        /// Whether `real` (a resolved path) is one of the allowed roots or under one.
        func allows(_ real: String) -> Bool {
            allowedRoots.compactMap(ProjectPath.realPath).contains { Paths.isInside(real, $0) }
        }

        public init(
            dataDirectory: String, maxFileBytes: Int = 10 << 20, workspaceStorageBytes: Int = 1 << 30,
            allowedRoots: [String] = []
        ) {
            self.dataDirectory = dataDirectory
            self.maxFileBytes = maxFileBytes
            self.workspaceStorageBytes = workspaceStorageBytes
            self.allowedRoots = allowedRoots
        }
    }

    let settings: Settings
    let store: Store
    let access: ProjectAccess
    let files: ProjectFiles
    let history: ProjectHistory
    let repositories = ProjectRepositories()
    let watchers = ProjectWatchers()

    init(settings: Settings, store: Store) {
        self.settings = settings
        self.store = store
        self.access = ProjectAccess(store: store, workspaceStorageBytes: settings.workspaceStorageBytes, watchers: watchers)
        self.files = ProjectFiles(settings: settings, access: access, repositories: repositories)
        self.history = ProjectHistory(settings: settings, access: access, repositories: repositories)
    }

    // MARK: Shared with the other areas

    /// The project and the actor's role in its workspace (at least `minimum`), or not found.
    func project(_ id: String, for actor: Principal, atLeast minimum: Role, auditing method: String? = nil) async throws
        -> Project
    {
        try await access.project(id, for: actor, atLeast: minimum, auditing: method)
    }

    func repository(for project: Project) async throws -> GitRepository {
        try await repositories.repository(for: project)
    }

    /// Closes every open repository, after writing any audit rows the store refused earlier.
    func close() async {
        if access.pendingAuditRows > 0 { await access.appendAuditBacklog() }
        await repositories.close()
    }

    func forget(_ project: Project) async {
        await repositories.forget(project)
        watchers.forget(project)
    }

    func forgetUsage(_ workspaceId: String) { access.forgetUsage(workspaceId) }

    /// Calls `observer` with the paths of every change to a project's files, from any session.
    func observeChanges(_ observer: @escaping @Sendable (Project, [String]) -> Void) { watchers.observe(observer) }

    func sessionEnded(_ session: Session) { watchers.sessionEnded(session) }

    /// The principal as a git author.
    func signature(for actor: Principal) async throws -> GitSignature {
        guard let caller = actor.caller else { return GitSignature(name: actor.auditName, email: "devmode@devmode.invalid", time: Date()) }
        let email = try await store.read { try $0.user(id: caller.userId)?.email }
        return GitSignature(name: caller.userName, email: email ?? "\(caller.userId)@devmode.invalid", time: Date())
    }

    /// A project with what its description needs from git (the current branch).
    func describe(_ project: Project) async -> ProjectDescription {
        let branch = try? await repositories.repository(for: project).currentBranch()
        return ProjectDescription(project: project, branch: branch ?? nil)
    }
}

/// A project as `ProjectInfo` shows it.
struct ProjectDescription: Sendable {
    var project: Project
    var branch: String?
}
