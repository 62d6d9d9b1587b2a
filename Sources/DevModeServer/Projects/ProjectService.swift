import DevModeFileSystem
import DevModeGit
import DevModeProtocol
import DevModeStore
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import JSONRPC
import Logging

/// Projects and their files: every operation checks the caller's role on the project's workspace,
/// resolves paths safely, writes atomically, checks versions under the project's lock, enforces the
/// size limits, audits changes, and tells watching sessions what another session changed.
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
    private let locks = KeyedLocks()
    private let repositories = LockedState<[String: GitRepository]>([:])
    private let watchers = LockedState<[String: [ObjectIdentifier: (Session, Connection)]]>([:])
    private let usage = LockedState<[String: Int]>([:])
    /// Told of every change to a project's files (the local engines re-learn them).
    private let observers = LockedState<[@Sendable (Project, [String]) -> Void]>([])

    init(settings: Settings, store: Store) {
        self.settings = settings
        self.store = store
    }

    // MARK: Access

    /// The project and the actor's role in its workspace (at least `minimum`), or not found. For a
    /// change (`auditing` names its method), a refusal is audited as denied.
    func project(_ id: String, for actor: Principal, atLeast minimum: Role, auditing method: String? = nil) async throws
        -> Project
    {
        do {
            return try await store.read { transaction in
                guard let project = try transaction.project(id: id) else { throw ResponseError.notFound("project", id) }
                do {
                    _ = try Directory.workspace(project.workspaceId, for: actor, atLeast: minimum, in: transaction)
                } catch let error as ResponseError where error.code == .notFound {
                    throw ResponseError.notFound("project", id)
                }
                return project
            }
        } catch let error as ResponseError {
            if let method {
                _ = try? await store.audit(
                    AuditEvent(
                        actor: actor.auditName, tenantId: actor.caller?.tenantId, method: method, target: id,
                        outcome: .denied, detail: error.message))
            }
            throw error
        }
    }

    func repository(for project: Project) async throws -> GitRepository {
        if let open = repositories.withLock({ $0[project.id] }) { return open }
        let repository = try await GitRepository.open(at: project.root)
        let (kept, extra) = repositories.withLock { open -> (GitRepository, GitRepository?) in
            if let existing = open[project.id] { return (existing, repository) }
            open[project.id] = repository
            return (repository, nil)
        }
        if let extra { await extra.close() }
        return kept
    }

    /// Closes every open repository.
    func close() async {
        let open = repositories.withLock { all in defer { all = [:] }; return Array(all.values) }
        for repository in open { await repository.close() }
    }

    func forget(_ project: Project) async {
        if let repository = repositories.withLock({ $0.removeValue(forKey: project.id) }) { await repository.close() }
        watchers.withLock { _ = $0.removeValue(forKey: project.id) }
    }

    /// Runs an audited change under the project's lock; a refusal is audited too.
    func change<T: Sendable>(
        _ project: Project, method: String, target: String?, by actor: Principal,
        _ body: @Sendable () async throws -> (T, detail: String?)
    ) async throws -> T {
        let event = { (outcome: AuditOutcome, detail: String?) in
            AuditEvent(
                actor: actor.auditName, tenantId: project.tenantId, workspaceId: project.workspaceId, method: method,
                target: target.map { "\(project.id):\($0)" } ?? project.id, outcome: outcome, detail: detail)
        }
        do {
            let (result, detail) = try await locks.withLock(project.id) { try await body() }
            try await store.audit(event(.success, detail))
            return result
        } catch let error as ResponseError {
            _ = try? await store.audit(event(.denied, error.message))
            throw error
        } catch {
            _ = try? await store.audit(event(.failed, nil))
            throw error
        }
    }

    // MARK: Watching

    func watch(_ project: Project, session: Session, connection: Connection, _ on: Bool) {
        watchers.withLock { all in
            if on {
                all[project.id, default: [:]][ObjectIdentifier(session)] = (session, connection)
            } else {
                all[project.id]?.removeValue(forKey: ObjectIdentifier(session))
            }
        }
    }

    /// Calls `observer` with the paths of every change to a project's files, from any session.
    func observeChanges(_ observer: @escaping @Sendable (Project, [String]) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    func sessionEnded(_ session: Session) {
        watchers.withLock { all in
            for key in all.keys { all[key]?.removeValue(forKey: ObjectIdentifier(session)) }
        }
    }

    /// Tells every session watching the project, except the one that made the change.
    func notify(_ project: Project, changes: [ProjectDidChangeFilesNotification.Change], cause: String, except origin: Session?) {
        guard !changes.isEmpty else { return }
        let paths = changes.map(\.path)
        for observer in observers.withLock({ $0 }) { observer(project, paths) }
        let targets = watchers.withLock { Array(($0[project.id] ?? [:]).values) }
        let notification = ProjectDidChangeFilesNotification(projectId: project.id, changes: changes, cause: cause)
        for (session, connection) in targets where session !== origin {
            connection.send(notification)
        }
    }

    // MARK: Storage

    /// Bytes the workspace's hosted projects hold; measured once, then kept up to date by writes.
    func workspaceUsage(_ workspaceId: String) async throws -> Int {
        if let known = usage.withLock({ $0[workspaceId] }) { return known }
        let projects = try await store.read { try $0.projects(workspaceId: workspaceId) }
        let total = projects.filter { $0.kind == .hosted }.reduce(0) { $0 + FileSystem.usage($1.root) }
        usage.withLock { $0[workspaceId] = total }
        return total
    }

    func checkSizes(_ project: Project, newBytes: Int, replacing oldBytes: Int) async throws {
        guard newBytes <= settings.maxFileBytes else {
            throw ResponseError.payloadTooLarge(
                "a file of \(newBytes) bytes", limit: settings.maxFileBytes, setting: "maxFileBytes")
        }
        guard project.kind == .hosted else { return }
        try await checkStorage(project.workspaceId, growingBy: newBytes - oldBytes)
    }

    /// Refuses growth that would take the workspace's hosted projects over `workspaceStorageBytes`
    /// (shrinking is always allowed).
    func checkStorage(_ workspaceId: String, growingBy delta: Int) async throws {
        let used = try await workspaceUsage(workspaceId)
        let after = used + delta
        if delta > 0 && after > settings.workspaceStorageBytes {
            throw ResponseError(
                code: .quotaExceeded,
                message: "Quota exceeded: the workspace's storage would grow to \(after) bytes, over its limit",
                data: [
                    "limit": .int(settings.workspaceStorageBytes), "used": .int(used), "setting": "workspaceStorageBytes",
                ])
        }
    }

    func adjustUsage(_ project: Project, by delta: Int) {
        guard project.kind == .hosted, delta != 0 else { return }
        usage.withLock { if let known = $0[project.workspaceId] { $0[project.workspaceId] = known + delta } }
    }

    func forgetUsage(_ workspaceId: String) {
        usage.withLock { _ = $0.removeValue(forKey: workspaceId) }
    }
}
