import DevModeProtocol
import DevModeStore
import JSONRPC

/// Reading and verifying the audit log, with its rights: a server admin sees every tenant, a
/// tenant admin their tenant, a workspace admin or owner their workspace; only a server admin
/// verifies the chain.
struct AuditService: Sendable {
    let store: Store

    /// The query's filter from the request's params (shape checks only).
    static func filter(_ request: AuditQueryRequest) throws -> AuditFilter {
        let limit = request.limit ?? 100
        guard (1...500).contains(limit) else { throw ResponseError.invalidParams("limit must be 1…500", field: "limit") }
        var filter = AuditFilter(limit: limit)
        func time(_ text: String?, _ field: String) throws -> Int64? {
            guard let text else { return nil }
            guard let value = Timestamp.milliseconds(text) else {
                throw ResponseError.invalidParams("\(field) must be an ISO 8601 time", field: field)
            }
            return value
        }
        filter.from = try time(request.from, "from")
        filter.to = try time(request.to, "to")
        if let text = request.outcome {
            guard let value = AuditOutcome(rawValue: text) else {
                throw ResponseError.invalidParams("outcome must be success, denied or failed", field: "outcome")
            }
            filter.outcome = value
        }
        if let cursor = request.cursor {
            guard let value = Int64(cursor), value > 0 else {
                throw ResponseError.invalidParams("cursor is not one this server gave", field: "cursor")
            }
            filter.beforeSeq = value
        }
        filter.actor = request.actor
        filter.method = request.method
        filter.workspaceId = request.workspaceId
        return filter
    }

    /// The entries `caller` may see that match `filter`, newest first, and the next page's cursor.
    func query(_ filter: AuditFilter, for caller: Caller) async throws -> (entries: [AuditEntry], nextCursor: String?) {
        var query = filter
        // Tenant admins see their tenant; workspace admins and owners their workspace.
        if !caller.isServerAdmin { query.tenantId = caller.tenantId }
        let principal = Principal.caller(caller)
        let entries = try await store.read { [query] transaction -> [AuditEntry] in
            if !caller.isServerAdmin {
                if !caller.isTenantAdmin {
                    guard let workspaceId = query.workspaceId else {
                        throw ResponseError.forbidden("name a workspace you administer (workspaceId)")
                    }
                    _ = try Directory.workspace(workspaceId, for: principal, atLeast: .admin, in: transaction)
                } else if let workspaceId = query.workspaceId {
                    _ = try Directory.workspace(workspaceId, for: principal, atLeast: .viewer, in: transaction)
                }
            }
            return try transaction.queryAudit(query)
        }
        let next = entries.count == query.limit ? entries.last.map { String($0.seq) } : nil
        return (entries, next)
    }

    /// Walks the hash chain (server admins only).
    func verify(for caller: Caller) async throws -> AuditVerification {
        guard caller.isServerAdmin else { throw ResponseError.forbidden("only a server admin may verify the audit log") }
        return try await store.verifyAudit()
    }
}
