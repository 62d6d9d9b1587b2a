import DevModeProtocol
import DevModeStore
import JSONRPC

extension DevModeServer {
    static func registerAuditHandlers(_ router: inout Router) {
        router.on(AuditQueryRequest.self) { request, context in
            let limit = request.limit ?? 100
            guard (1...500).contains(limit) else { throw ResponseError.invalidParams("limit must be 1…500", field: "limit") }
            var filter = AuditFilter(limit: limit)
            if let text = request.from {
                guard let value = Timestamp.milliseconds(text) else {
                    throw ResponseError.invalidParams("from must be an ISO 8601 time", field: "from")
                }
                filter.from = value
            }
            if let text = request.to {
                guard let value = Timestamp.milliseconds(text) else {
                    throw ResponseError.invalidParams("to must be an ISO 8601 time", field: "to")
                }
                filter.to = value
            }
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
            let caller = context.caller
            let actor = context.actor
            if !caller.isServerAdmin {
                // Tenant admins see their tenant; workspace admins and owners their workspace.
                filter.tenantId = caller.tenantId
            }
            let query = filter
            let entries = try await context.server.store.read { transaction -> [AuditEntry] in
                if !caller.isServerAdmin {
                    if !caller.isTenantAdmin {
                        guard let workspaceId = request.workspaceId else {
                            throw ResponseError.forbidden("name a workspace you administer (workspaceId)")
                        }
                        _ = try Directory.workspace(workspaceId, for: actor, atLeast: .admin, in: transaction)
                    } else if let workspaceId = request.workspaceId {
                        _ = try Directory.workspace(workspaceId, for: actor, atLeast: .viewer, in: transaction)
                    }
                }
                return try transaction.queryAudit(query)
            }
            let next = entries.count == limit ? entries.last.map { String($0.seq) } : nil
            return AuditQueryResult(entries: entries.map(AuditEntryInfo.init), nextCursor: next)
        }
        router.on(AuditVerifyRequest.self) { _, context in
            guard context.caller.isServerAdmin else { throw ResponseError.forbidden("only a server admin may verify the audit log") }
            let verification = try await context.server.store.verifyAudit()
            return AuditVerifyResult(verification)
        }
    }
}

extension AuditVerifyResult {
    public init(_ verification: AuditVerification) {
        self.init(
            ok: verification.ok, rowsChecked: verification.rowsChecked, lastSeq: Int(verification.lastSeq),
            problems: verification.problems.map { Problem(seq: Int($0.seq), kind: $0.kind.rawValue, detail: $0.detail) })
    }
}
