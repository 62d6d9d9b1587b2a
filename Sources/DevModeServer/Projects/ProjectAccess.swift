import DevModeFileSystem
import DevModeProtocol
import DevModeStore
import FoundationEssentials
import JSONRPC
import Logging

/// The access room: who may touch a project (the caller's role on its workspace), the locks that
/// keep a check and the change it guards together, the workspace's storage account, and the one
/// audited-change helper every change goes through (`project/create` and `project/open`'s
/// registration included).
///
/// Locks: a project's lock (`project:<id>`) around every change of its files or history; inside
/// it, for hosted projects, the workspace's storage lock (`workspace:<id>`) around the storage
/// check, the write and the accounting, so that two projects of one workspace cannot both spend
/// the same free bytes. The order is always project, then workspace.
final class ProjectAccess: Sendable {
    let store: Store
    /// Most bytes a workspace's hosted projects may hold on disk (`workspaceStorageBytes`).
    let workspaceStorageBytes: Int
    let watchers: ProjectWatchers
    private let locks = KeyedLocks()
    private let usage = LockedState<[String: Int]>([:])
    /// Success rows of changes that were made but whose audit row could not be written: appended,
    /// in order, before the next audit row (see `change`).
    private let auditBacklog = LockedState<[AuditEvent]>([])
    private let logger = Logger(label: "devmode.projects")
    static let maxBacklog = 10_000

    init(store: Store, workspaceStorageBytes: Int, watchers: ProjectWatchers) {
        self.store = store
        self.workspaceStorageBytes = workspaceStorageBytes
        self.watchers = watchers
    }

    // MARK: Rights

    /// The project, when the principal holds at least `minimum` in its workspace; else not found
    /// (a missing project and one the caller may not see answer alike). For a change (`auditing`
    /// names its method), a refusal is audited as denied.
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
                await appendAudit(
                    AuditEvent(
                        actor: actor.auditName, tenantId: actor.caller?.tenantId, method: method, target: id,
                        outcome: .denied, detail: error.message))
            }
            throw error
        }
    }

    /// The workspace, when the principal holds at least `minimum` in it; a refusal is audited as
    /// denied under `method`.
    func workspace(_ id: String, for actor: Principal, atLeast minimum: Role, auditing method: String) async throws -> Workspace {
        do {
            return try await store.read { try Directory.workspace(id, for: actor, atLeast: minimum, in: $0).0 }
        } catch let error as ResponseError {
            await appendAudit(
                AuditEvent(
                    actor: actor.auditName, tenantId: actor.caller?.tenantId, method: method, target: id, outcome: .denied,
                    detail: error.message))
            throw error
        }
    }

    // MARK: The audited change

    /// What a change did: its answer, a detail for the audit row, and the file changes to tell the
    /// project's other watchers.
    struct Outcome<T: Sendable>: Sendable {
        var result: T
        var detail: String?
        var changes: [ProjectDidChangeFilesNotification.Change]
        /// False when the body found nothing to do (no success row, no notification).
        var changed: Bool

        init(
            _ result: T, detail: String? = nil, changes: [ProjectDidChangeFilesNotification.Change] = [], changed: Bool = true
        ) {
            self.result = result
            self.detail = detail
            self.changes = changes
            self.changed = changed
        }
    }

    /// Where a change is audited and whom it concerns.
    struct Scope: Sendable {
        var tenantId: String
        var workspaceId: String
        /// The lock the change holds (`project:<id>`, or `workspace:<id>` for a registration).
        var lock: String
        /// The audit row's target.
        var target: String
        /// The project whose watchers hear of the change.
        var project: Project?

        static func project(_ project: Project, target: String?) -> Scope {
            Scope(
                tenantId: project.tenantId, workspaceId: project.workspaceId, lock: "project:" + project.id,
                target: target.map { "\(project.id):\($0)" } ?? project.id, project: project)
        }
    }

    /// Runs a change of a project under the project's lock, audits it, and tells the other watchers.
    func change<T: Sendable>(
        _ project: Project, method: String, target: String?, by actor: Principal, origin: Session?,
        _ body: @Sendable () async throws -> Outcome<T>
    ) async throws -> T {
        try await change(.project(project, target: target), method: method, by: actor, origin: origin, body)
    }

    /// The one audited-change path. A refusal (a `ResponseError`) is audited as denied and a failure
    /// as failed, and both are thrown. A change that was made is answered as made: its success row
    /// is appended (retried), and when the store still refuses the row it is kept in a backlog that
    /// the next audit append writes first, with a `critical` log line, so the answer, the audit trail
    /// and the change notification all say what happened: the change is done.
    func change<T: Sendable>(
        _ scope: Scope, method: String, by actor: Principal, origin: Session?, _ body: @Sendable () async throws -> Outcome<T>
    ) async throws -> T {
        let event = { (outcome: AuditOutcome, detail: String?) in
            AuditEvent(
                actor: actor.auditName, tenantId: scope.tenantId, workspaceId: scope.workspaceId, method: method,
                target: scope.target, outcome: outcome, detail: detail)
        }
        let outcome: Outcome<T>
        do {
            outcome = try await locks.withLock(scope.lock) { try await body() }
        } catch let error as ResponseError {
            await appendAudit(event(.denied, error.message))
            throw error
        } catch {
            await appendAudit(event(.failed, nil))
            throw error
        }
        guard outcome.changed else { return outcome.result }
        await appendAudit(event(.success, outcome.detail))
        if let project = scope.project {
            watchers.notify(project, changes: outcome.changes, cause: method, except: origin)
        }
        return outcome.result
    }

    /// Appends an audit row, after any the store refused earlier. Never throws: a row the store
    /// will not take (after a few tries) waits in the backlog, and the fault is logged.
    func appendAudit(_ event: AuditEvent) async {
        let pending = auditBacklog.withLock { backlog in defer { backlog = [] }; return backlog } + [event]
        for (index, row) in pending.enumerated() {
            var written = false
            for _ in 0..<3 where !written {
                written = (try? await store.audit(row)) != nil
            }
            guard written else {
                let unwritten = Array(pending[index...])
                auditBacklog.withLock { backlog in
                    backlog = unwritten + backlog
                    if backlog.count > Self.maxBacklog { backlog.removeFirst(backlog.count - Self.maxBacklog) }
                }
                logger.critical(
                    "audit rows could not be written; kept to append later",
                    metadata: ["pending": "\(unwritten.count)", "method": "\(row.method)", "target": "\(row.target ?? "")"])
                return
            }
        }
    }

    /// Writes the rows the store refused earlier (at shutdown).
    func appendAuditBacklog() async {
        guard let last = auditBacklog.withLock({ $0.popLast() }) else { return }
        await appendAudit(last)
    }

    /// Audit rows waiting for the store (0 when the trail is complete).
    var pendingAuditRows: Int { auditBacklog.withLock { $0.count } }

    // MARK: Storage

    /// Runs `body` holding the workspace's storage lock, when the project is hosted (local projects
    /// take no storage): a storage check, the write it allows and the accounting run together.
    func withStorage<T: Sendable>(of project: Project, _ body: @Sendable () async throws -> T) async throws -> T {
        guard project.kind == .hosted else { return try await body() }
        return try await withStorage(workspace: project.workspaceId, body)
    }

    func withStorage<T: Sendable>(workspace workspaceId: String, _ body: @Sendable () async throws -> T) async throws -> T {
        try await locks.withLock("workspace:" + workspaceId) { try await body() }
    }

    /// Bytes the workspace's hosted projects hold; measured once (off the cooperative pool), then
    /// kept up to date by the writes.
    func workspaceUsage(_ workspaceId: String) async throws -> Int {
        if let known = usage.withLock({ $0[workspaceId] }) { return known }
        let projects = try await store.read { try $0.projects(workspaceId: workspaceId) }
        let roots = projects.filter { $0.kind == .hosted }.map(\.root)
        let total = try await BlockingIO.run { roots.reduce(0) { $0 + FileSystem.usage($1) } }
        usage.withLock { $0[workspaceId] = total }
        return total
    }

    /// Refuses growth that would take the workspace's hosted projects over `workspaceStorageBytes`
    /// (shrinking is always allowed). Call it inside `withStorage`.
    func checkStorage(_ workspaceId: String, growingBy delta: Int) async throws {
        let used = try await workspaceUsage(workspaceId)
        let after = used + delta
        if delta > 0 && after > workspaceStorageBytes {
            throw ResponseError(
                code: .quotaExceeded,
                message: "Quota exceeded: the workspace's storage would grow to \(after) bytes, over its limit",
                data: ["limit": .int(workspaceStorageBytes), "used": .int(used), "setting": "workspaceStorageBytes"])
        }
    }

    func adjustUsage(_ project: Project, by delta: Int) {
        guard project.kind == .hosted, delta != 0 else { return }
        usage.withLock { if let known = $0[project.workspaceId] { $0[project.workspaceId] = known + delta } }
    }

    /// Drops what is known of the workspace's use: the next check measures it again.
    func forgetUsage(_ workspaceId: String) {
        usage.withLock { _ = $0.removeValue(forKey: workspaceId) }
    }
}
