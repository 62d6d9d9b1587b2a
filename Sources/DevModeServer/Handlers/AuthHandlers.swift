import DevModeProtocol
import DevModeStore
import JSONRPC

extension DevModeServer {
    static func registerAuthHandlers(_ router: inout Router) {
        router.on(AuthWhoAmIRequest.self) { _, context in
            IdentityInfo(context.caller)
        }
        router.on(AuthTokenRequest.self) { request, context in
            // Tokens carry no scopes: a scoped key minting one would shed its scopes.
            guard context.caller.scopes.isEmpty else {
                throw ResponseError.forbidden("a key with scopes cannot mint session tokens")
            }
            let ttl = request.ttlSeconds ?? 3600
            guard (1...86_400).contains(ttl) else {
                throw ResponseError.invalidParams("ttlSeconds must be 1…86400", field: "ttlSeconds")
            }
            let issued = context.server.authenticator.issueToken(for: context.caller, ttl: Int64(ttl))
            try await context.server.store.audit(
                AuditEvent(
                    actor: context.actor.auditName, tenantId: context.caller.tenantId, method: AuthTokenRequest.method,
                    target: context.caller.userId, detail: "ttl \(ttl)s"))
            return AuthTokenResult(token: issued.token, expiresAt: Timestamp.iso(issued.expiresAt))
        }
    }
}
