import DevModeProtocol
import DevModeStore
import JSONRPC

extension DevModeServer {
    static func registerAuditHandlers(_ router: inout Router) {
        router.on(AuditQueryRequest.self) { request, context in
            let page = try await context.server.audit.query(AuditService.filter(request), for: context.caller)
            return AuditQueryResult(entries: page.entries.map(AuditEntryInfo.init), nextCursor: page.nextCursor)
        }
        router.on(AuditVerifyRequest.self) { _, context in
            AuditVerifyResult(try await context.server.audit.verify(for: context.caller))
        }
    }
}

extension AuditVerifyResult {
    public init(_ verification: AuditVerification) {
        self.init(
            ok: verification.ok, rowsChecked: verification.rowsChecked, lastSeq: Int(verification.lastSeq),
            problems: verification.problems.map { Problem(seq: Int($0.seq), kind: $0.kind.rawValue, detail: $0.detail) },
            anchoredRows: verification.anchoredRows, unanchoredRows: verification.unanchoredRows,
            anchorStartSeq: verification.anchorStartSeq.map(Int.init))
    }
}
