import DevModeGit
import DevModeProtocol
import DevModeStore
import JSONRPC

/// Who watches which project, and the observers told of every change (the local engines): a change
/// made by one session is told to the others.
final class ProjectWatchers: Sendable {
    private let watchers = LockedState<[String: [ObjectIdentifier: (Session, Connection)]]>([:])
    private let observers = LockedState<[@Sendable (Project, [String]) -> Void]>([])

    func watch(_ project: Project, session: Session, connection: Connection, _ on: Bool) {
        watchers.withLock { all in
            if on {
                all[project.id, default: [:]][ObjectIdentifier(session)] = (session, connection)
            } else {
                all[project.id]?.removeValue(forKey: ObjectIdentifier(session))
            }
        }
    }

    func observe(_ observer: @escaping @Sendable (Project, [String]) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    func sessionEnded(_ session: Session) {
        watchers.withLock { all in
            for key in all.keys { all[key]?.removeValue(forKey: ObjectIdentifier(session)) }
        }
    }

    func forget(_ project: Project) {
        watchers.withLock { _ = $0.removeValue(forKey: project.id) }
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
}

/// The open git repositories, one per project, opened on first use.
final class ProjectRepositories: Sendable {
    private let open = LockedState<[String: GitRepository]>([:])

    func repository(for project: Project) async throws -> GitRepository {
        if let known = open.withLock({ $0[project.id] }) { return known }
        let repository = try await GitRepository.open(at: project.root)
        let (kept, extra) = open.withLock { open -> (GitRepository, GitRepository?) in
            if let existing = open[project.id] { return (existing, repository) }
            open[project.id] = repository
            return (repository, nil)
        }
        if let extra { await extra.close() }
        return kept
    }

    func forget(_ project: Project) async {
        if let repository = open.withLock({ $0.removeValue(forKey: project.id) }) { await repository.close() }
    }

    func close() async {
        let all = open.withLock { all in defer { all = [:] }; return Array(all.values) }
        for repository in all { await repository.close() }
    }
}
