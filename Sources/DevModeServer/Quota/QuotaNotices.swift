import DevModeProtocol
import DevModeStore

/// Soft limits: a settlement that takes a budget to or past one of its thresholds is told, as
/// `quota/didChange`, to the sessions the budget applies to. A session is in a workspace once it
/// made a model call there (or chose it for completion at `initialize`); a tenant's budget is told
/// to every such session of the tenant, a workspace's to those in it, a user's share to that
/// user's sessions in it, a key's cap to the sessions signed in with the key.
extension DevModeServer {
    func announce(_ crossings: [ThresholdCrossing]) {
        for crossing in crossings {
            let owner = crossing.budget.owner
            let notice = QuotaDidChangeNotification(threshold: crossing.threshold, quota: QuotaInfo(crossing.budget))
            tellSessions(notice) { session in
                guard let caller = session.caller, caller.tenantId == owner.tenantId else { return false }
                switch owner.level {
                case .tenant:
                    return session.usesAnyWorkspace
                case .workspace:
                    return owner.workspaceId.map { session.uses(workspace: $0) } ?? false
                case .user:
                    return caller.userId == owner.userId && (owner.workspaceId.map { session.uses(workspace: $0) } ?? false)
                case .key:
                    return caller.apiKeyId != nil && caller.apiKeyId == owner.keyId
                }
            }
        }
    }
}
