import DevModeCrypto
import FoundationEssentials
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// devmode's memory: tenants, users, workspaces, memberships, API keys, settings and the audit log,
/// over any `SQLDriver`. One implementation of every query, so SQLite and PostgreSQL behave alike.
public final class Store: Sendable {
    public let driver: any SQLDriver
    private let clock: @Sendable () -> Int64
    /// The audit key every appended row is anchored with; nil until `anchorAudit(with:)` (the
    /// server and the admin commands set it as they open, from the audit key file).
    private let auditAnchorState = Mutex<AuditAnchor?>(nil)

    public init(driver: any SQLDriver, clock: @escaping @Sendable () -> Int64 = Store.systemClock) {
        self.driver = driver
        self.clock = clock
    }

    /// From now on, audit rows appended through this Store carry HMACs under `anchor`'s key, and
    /// `verifyAudit` checks them.
    public func anchorAudit(with anchor: AuditAnchor?) {
        auditAnchorState.withLock { $0 = anchor }
    }

    public var auditAnchor: AuditAnchor? { auditAnchorState.withLock { $0 } }

    public static let systemClock: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    public var now: Int64 { clock() }

    /// Applies the migrations not yet applied, in one transaction; running it again changes nothing.
    /// Several processes starting at once on one PostgreSQL database take turns (an advisory lock).
    @discardableResult
    public func migrate() async throws -> [Int] {
        let now = self.now
        return try await driver.transaction(.write) { connection in
            if connection.dialect == .postgres {
                try connection.execute("SELECT pg_advisory_xact_lock(7420001)")
            }
            try connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
            )
            let applied = Set(try connection.execute("SELECT version FROM schema_migrations").compactMap { $0["version"].int })
            var ran: [Int] = []
            for migration in Schema.migrations where !applied.contains(migration.version) {
                for statement in migration.statements {
                    try connection.execute(statement)
                }
                try connection.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    .integer(Int64(migration.version)), .text(migration.name), .integer(now))
                ran.append(migration.version)
            }
            return ran
        }
    }

    /// Reads in one transaction.
    public func read<T: Sendable>(_ body: @escaping @Sendable (StoreTransaction) throws -> T) async throws -> T {
        let now = self.now
        let anchor = auditAnchor
        return try await driver.transaction(.read) { try body(StoreTransaction(connection: $0, now: now, auditAnchor: anchor)) }
    }

    /// Changes in one transaction; audit rows appended in `body` commit or roll back with the change.
    /// Retried a few times when another transaction got in the way.
    public func write<T: Sendable>(_ body: @escaping @Sendable (StoreTransaction) throws -> T) async throws -> T {
        var attempt = 0
        while true {
            let now = self.now
            let anchor = auditAnchor
            do {
                return try await driver.transaction(.write) {
                    try body(StoreTransaction(connection: $0, now: now, auditAnchor: anchor))
                }
            } catch let error as SQLError where error.kind == .conflict && attempt < 5 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(5 << attempt))
            }
        }
    }

    /// Appends one audit row on its own (for refusals and failures, which change nothing else).
    @discardableResult
    public func audit(_ event: AuditEvent) async throws -> AuditEntry {
        try await write { try $0.appendAudit(event) }
    }

    /// Walks the whole audit chain and names every row that was edited or deleted, and, with the
    /// audit key (`anchorAudit(with:)`), every row rewritten without it.
    public func verifyAudit(pageSize: Int = 1000) async throws -> AuditVerification {
        var verifier = AuditVerifier(anchor: auditAnchor)
        var after: Int64 = 0
        while true {
            // The hashing and HMACs run inside the read, on the driver's threads, not on the
            // cooperative pool.
            let (cursor, current) = (after, verifier)
            let page = try await read { transaction -> (verifier: AuditVerifier, count: Int, lastSeq: Int64?) in
                var verifier = current
                let rows = try transaction.auditRows(afterSeq: cursor, limit: pageSize)
                for row in rows { verifier.check(row) }
                return (verifier, rows.count, rows.last?.seq)
            }
            verifier = page.verifier
            guard let last = page.lastSeq, page.count == pageSize else { break }
            after = last
        }
        let head = try await read { try $0.auditHead() }
        return verifier.finish(head: head)
    }
}

/// A transaction's view of the Store: typed queries over one connection.
public struct StoreTransaction {
    public let connection: any SQLConnection
    /// The transaction's time, in milliseconds: every row it writes carries the same time.
    public let now: Int64
    /// The key the audit rows this transaction appends are anchored with (nil: none).
    let auditAnchor: AuditAnchor?

    // MARK: Tenants

    public func insertTenant(_ tenant: Tenant) throws {
        try connection.execute(
            "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
            .text(tenant.id), .text(tenant.name), .integer(tenant.createdAt))
    }

    public func tenant(id: String) throws -> Tenant? {
        try connection.execute("SELECT id, name, created_at FROM tenants WHERE id = ?", .text(id)).first.map(Tenant.init(row:))
    }

    public func tenants() throws -> [Tenant] {
        try connection.execute("SELECT id, name, created_at FROM tenants ORDER BY created_at, id").map(Tenant.init(row:))
    }

    // MARK: Users

    private static let userColumns = "id, tenant_id, name, email, is_server_admin, is_tenant_admin, disabled_at, created_at"

    public func insertUser(_ user: User) throws {
        try connection.execute(
            "INSERT INTO users (\(Self.userColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            .text(user.id), .text(user.tenantId), .text(user.name), .optionalText(user.email),
            .bool(user.isServerAdmin), .bool(user.isTenantAdmin), .optionalInteger(user.disabledAt),
            .integer(user.createdAt))
    }

    public func user(id: String) throws -> User? {
        try connection.execute("SELECT \(Self.userColumns) FROM users WHERE id = ?", .text(id)).first.map(User.init(row:))
    }

    public func users(tenantId: String) throws -> [User] {
        try connection.execute(
            "SELECT \(Self.userColumns) FROM users WHERE tenant_id = ? ORDER BY created_at, id", .text(tenantId)
        ).map(User.init(row:))
    }

    public func serverAdminCount() throws -> Int {
        try connection.execute("SELECT COUNT(*) AS n FROM users WHERE is_server_admin = 1 AND disabled_at IS NULL")
            .first?["n"].int ?? 0
    }

    /// Returns false when there is no such user.
    @discardableResult
    public func setUserDisabled(id: String, _ disabled: Bool) throws -> Bool {
        let rows = try connection.execute(
            "UPDATE users SET disabled_at = ? WHERE id = ? RETURNING id", disabled ? .integer(now) : .null, .text(id))
        return !rows.isEmpty
    }

    // MARK: Workspaces

    private static let workspaceColumns = "id, tenant_id, name, description, created_at, updated_at"

    public func insertWorkspace(_ workspace: Workspace) throws {
        try connection.execute(
            "INSERT INTO workspaces (\(Self.workspaceColumns)) VALUES (?, ?, ?, ?, ?, ?)",
            .text(workspace.id), .text(workspace.tenantId), .text(workspace.name), .optionalText(workspace.description),
            .integer(workspace.createdAt), .integer(workspace.updatedAt))
    }

    public func workspace(id: String) throws -> Workspace? {
        try connection.execute("SELECT \(Self.workspaceColumns) FROM workspaces WHERE id = ?", .text(id)).first
            .map(Workspace.init(row:))
    }

    public func workspaces(tenantId: String) throws -> [Workspace] {
        try connection.execute(
            "SELECT \(Self.workspaceColumns) FROM workspaces WHERE tenant_id = ? ORDER BY created_at, id", .text(tenantId)
        ).map(Workspace.init(row:))
    }

    /// The workspaces a user is a member of.
    public func workspaces(memberId: String) throws -> [Workspace] {
        try connection.execute(
            """
            SELECT w.id, w.tenant_id, w.name, w.description, w.created_at, w.updated_at
            FROM workspaces w JOIN memberships m ON m.workspace_id = w.id
            WHERE m.user_id = ? ORDER BY w.created_at, w.id
            """, .text(memberId)
        ).map(Workspace.init(row:))
    }

    public func updateWorkspace(id: String, name: String?, description: String?) throws -> Workspace? {
        var sets: [String] = []
        var parameters: [SQLValue] = []
        if let name {
            sets.append("name = ?")
            parameters.append(.text(name))
        }
        if let description {
            sets.append("description = ?")
            parameters.append(.text(description))
        }
        sets.append("updated_at = ?")
        parameters.append(.integer(now))
        parameters.append(.text(id))
        try connection.execute("UPDATE workspaces SET \(sets.joined(separator: ", ")) WHERE id = ?", parameters)
        return try workspace(id: id)
    }

    @discardableResult
    public func deleteWorkspace(id: String) throws -> Bool {
        try connection.execute("DELETE FROM memberships WHERE workspace_id = ?", .text(id))
        try connection.execute("DELETE FROM projects WHERE workspace_id = ?", .text(id))
        return !(try connection.execute("DELETE FROM workspaces WHERE id = ? RETURNING id", .text(id))).isEmpty
    }

    // MARK: Memberships

    public func upsertMembership(_ membership: Membership) throws {
        try connection.execute(
            """
            INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role
            """,
            .text(membership.workspaceId), .text(membership.userId), .text(membership.role.rawValue),
            .integer(membership.createdAt))
    }

    public func membership(workspaceId: String, userId: String) throws -> Membership? {
        try connection.execute(
            "SELECT workspace_id, user_id, role, created_at FROM memberships WHERE workspace_id = ? AND user_id = ?",
            .text(workspaceId), .text(userId)
        ).first.map(Membership.init(row:))
    }

    public func memberships(workspaceId: String) throws -> [Membership] {
        try connection.execute(
            "SELECT workspace_id, user_id, role, created_at FROM memberships WHERE workspace_id = ? ORDER BY created_at, user_id",
            .text(workspaceId)
        ).map(Membership.init(row:))
    }

    @discardableResult
    public func deleteMembership(workspaceId: String, userId: String) throws -> Bool {
        !(try connection.execute(
            "DELETE FROM memberships WHERE workspace_id = ? AND user_id = ? RETURNING user_id", .text(workspaceId),
            .text(userId))).isEmpty
    }

    public func ownerCount(workspaceId: String) throws -> Int {
        try connection.execute(
            "SELECT COUNT(*) AS n FROM memberships WHERE workspace_id = ? AND role = 'owner'", .text(workspaceId)
        ).first?["n"].int ?? 0
    }

    // MARK: API keys

    private static let keyColumns =
        "id, user_id, tenant_id, name, prefix, hash, scopes, created_at, expires_at, revoked_at, last_used_at"

    public func insertAPIKey(_ key: APIKeyRecord) throws {
        try connection.execute(
            "INSERT INTO api_keys (\(Self.keyColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            .text(key.id), .text(key.userId), .text(key.tenantId), .text(key.name), .text(key.prefix), .text(key.hash),
            .text(key.scopes.joined(separator: " ")), .integer(key.createdAt), .optionalInteger(key.expiresAt),
            .optionalInteger(key.revokedAt), .optionalInteger(key.lastUsedAt))
    }

    public func apiKey(hash: String) throws -> APIKeyRecord? {
        try connection.execute("SELECT \(Self.keyColumns) FROM api_keys WHERE hash = ?", .text(hash)).first
            .map(APIKeyRecord.init(row:))
    }

    public func apiKey(id: String) throws -> APIKeyRecord? {
        try connection.execute("SELECT \(Self.keyColumns) FROM api_keys WHERE id = ?", .text(id)).first
            .map(APIKeyRecord.init(row:))
    }

    public func apiKeys(userId: String) throws -> [APIKeyRecord] {
        try connection.execute(
            "SELECT \(Self.keyColumns) FROM api_keys WHERE user_id = ? ORDER BY created_at, id", .text(userId)
        ).map(APIKeyRecord.init(row:))
    }

    public func apiKeys(tenantId: String) throws -> [APIKeyRecord] {
        try connection.execute(
            "SELECT \(Self.keyColumns) FROM api_keys WHERE tenant_id = ? ORDER BY created_at, id", .text(tenantId)
        ).map(APIKeyRecord.init(row:))
    }

    /// Returns false when there is no such key or it was already revoked.
    @discardableResult
    public func revokeAPIKey(id: String) throws -> Bool {
        !(try connection.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING id", .integer(now), .text(id)))
            .isEmpty
    }

    public func touchAPIKey(id: String) throws {
        try connection.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", .integer(now), .text(id))
    }

    // MARK: Projects

    private static let projectColumns = "id, workspace_id, tenant_id, name, kind, root, created_at"

    public func insertProject(_ project: Project) throws {
        try connection.execute(
            "INSERT INTO projects (\(Self.projectColumns)) VALUES (?, ?, ?, ?, ?, ?, ?)",
            .text(project.id), .text(project.workspaceId), .text(project.tenantId), .text(project.name),
            .text(project.kind.rawValue), .text(project.root), .integer(project.createdAt))
    }

    public func project(id: String) throws -> Project? {
        try connection.execute("SELECT \(Self.projectColumns) FROM projects WHERE id = ?", .text(id)).first
            .map(Project.init(row:))
    }

    public func projects(workspaceId: String) throws -> [Project] {
        try connection.execute(
            "SELECT \(Self.projectColumns) FROM projects WHERE workspace_id = ? ORDER BY created_at, id", .text(workspaceId)
        ).map(Project.init(row:))
    }

    public func project(root: String) throws -> Project? {
        try connection.execute("SELECT \(Self.projectColumns) FROM projects WHERE root = ?", .text(root)).first
            .map(Project.init(row:))
    }

    public func renameProject(id: String, name: String) throws {
        try connection.execute("UPDATE projects SET name = ? WHERE id = ?", .text(name), .text(id))
    }

    @discardableResult
    public func deleteProject(id: String) throws -> Bool {
        !(try connection.execute("DELETE FROM projects WHERE id = ? RETURNING id", .text(id))).isEmpty
    }

    // MARK: Settings

    public func setting(_ key: String) throws -> String? {
        try connection.execute("SELECT value FROM settings WHERE key = ?", .text(key)).first?["value"].text
    }

    /// Stores `value` unless the key already has one; returns the value that is stored now.
    public func settingIfAbsent(_ key: String, _ value: String) throws -> String {
        try connection.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", .text(key), .text(value))
        return try setting(key) ?? value
    }

    // MARK: Audit

    /// Appends an audit row, chained to the one before. Takes the chain's head row for the rest of the
    /// transaction, so concurrent appenders (in any process) line up and the chain never forks.
    @discardableResult
    public func appendAudit(_ event: AuditEvent) throws -> AuditEntry {
        guard let head = try connection.execute(
            "UPDATE audit_head SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq, last_hash"
        ).first, let seq = head["last_seq"].int64, let prevHash = head["last_hash"].text
        else {
            throw SQLError(kind: .other, function: "appendAudit", message: "the audit head row is missing", code: "")
        }
        var entry = AuditEntry(
            seq: seq, at: now, actor: event.actor, tenantId: event.tenantId, workspaceId: event.workspaceId,
            method: event.method, target: event.target, outcome: event.outcome, detail: event.detail,
            prevHash: prevHash, hash: "")
        entry.hash = AuditChain.hash(entry)
        entry.anchor = auditAnchor?.anchor(forHash: entry.hash)
        try connection.execute(
            """
            INSERT INTO audit_log (seq, at, actor, tenant_id, workspace_id, method, target, outcome, detail, prev_hash, hash, anchor)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            .integer(entry.seq), .integer(entry.at), .text(entry.actor), .optionalText(entry.tenantId),
            .optionalText(entry.workspaceId), .text(entry.method), .optionalText(entry.target),
            .text(entry.outcome.rawValue), .optionalText(entry.detail), .text(entry.prevHash), .text(entry.hash),
            .optionalText(entry.anchor))
        try connection.execute("UPDATE audit_head SET last_hash = ? WHERE id = 1", .text(entry.hash))
        return entry
    }

    private static let auditColumns =
        "seq, at, actor, tenant_id, workspace_id, method, target, outcome, detail, prev_hash, hash, anchor"

    public func auditRows(afterSeq: Int64, limit: Int) throws -> [AuditEntry] {
        try connection.execute(
            "SELECT \(Self.auditColumns) FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?", .integer(afterSeq),
            .integer(Int64(limit))
        ).map(AuditEntry.init(row:))
    }

    /// The newest row that carries an anchor, if any (the server checks its key against it as it opens).
    public func newestAnchoredAuditRow() throws -> AuditEntry? {
        try connection.execute(
            "SELECT \(Self.auditColumns) FROM audit_log WHERE anchor IS NOT NULL ORDER BY seq DESC LIMIT 1"
        ).first.map(AuditEntry.init(row:))
    }

    public func auditHead() throws -> (lastSeq: Int64, lastHash: String) {
        let row = try connection.execute("SELECT last_seq, last_hash FROM audit_head WHERE id = 1").first
        return (row?["last_seq"].int64 ?? 0, row?["last_hash"].text ?? Schema.genesisHash)
    }

    /// Newest first. `beforeSeq` continues a previous page.
    public func queryAudit(_ filter: AuditFilter) throws -> [AuditEntry] {
        var conditions: [String] = []
        var parameters: [SQLValue] = []
        func add(_ condition: String, _ value: SQLValue) {
            conditions.append(condition)
            parameters.append(value)
        }
        if let value = filter.beforeSeq { add("seq < ?", .integer(value)) }
        if let value = filter.from { add("at >= ?", .integer(value)) }
        if let value = filter.to { add("at < ?", .integer(value)) }
        if let value = filter.actor { add("actor = ?", .text(value)) }
        if let value = filter.tenantId { add("tenant_id = ?", .text(value)) }
        if let value = filter.workspaceId { add("workspace_id = ?", .text(value)) }
        if let value = filter.method { add("method = ?", .text(value)) }
        if let value = filter.outcome { add("outcome = ?", .text(value.rawValue)) }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        parameters.append(.integer(Int64(filter.limit)))
        return try connection.execute(
            "SELECT \(Self.auditColumns) FROM audit_log \(whereClause) ORDER BY seq DESC LIMIT ?", parameters
        ).map(AuditEntry.init(row:))
    }
}

public struct AuditFilter: Sendable, Hashable {
    public var from: Int64?
    public var to: Int64?
    public var actor: String?
    public var tenantId: String?
    public var workspaceId: String?
    public var method: String?
    public var outcome: AuditOutcome?
    public var beforeSeq: Int64?
    public var limit: Int

    public init(
        from: Int64? = nil, to: Int64? = nil, actor: String? = nil, tenantId: String? = nil, workspaceId: String? = nil,
        method: String? = nil, outcome: AuditOutcome? = nil, beforeSeq: Int64? = nil, limit: Int = 100
    ) {
        self.from = from
        self.to = to
        self.actor = actor
        self.tenantId = tenantId
        self.workspaceId = workspaceId
        self.method = method
        self.outcome = outcome
        self.beforeSeq = beforeSeq
        self.limit = limit
    }
}
