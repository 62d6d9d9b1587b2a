import DevModeClock
import DevModeCrypto
import DevModeProtocol
import DevModeStore
import JSONRPC
import Logging

/// Turns a credential into a `Caller`, issues API keys and session tokens, and re-checks a caller
/// whose credential may have been revoked by another process. Secrets are never logged or stored:
/// an API key is kept as its SHA-256, a token is only verified.
public struct Authenticator: Sendable {
    let store: Store
    let tokenSecret: [UInt8]
    let logger: Logger
    /// Failed sign-ins per peer address and API key id.
    let throttle: SignInThrottle
    /// Failed sign-ins in the audit log, one row per source and interval.
    let failedSignIns: FailedSignInLog

    init(
        store: Store, tokenSecret: [UInt8], policy: SignInPolicy = SignInPolicy(), clock: any ServerClock,
        logger: Logger
    ) {
        self.store = store
        self.tokenSecret = tokenSecret
        self.logger = logger
        self.throttle = SignInThrottle(settings: policy, clock: clock)
        self.failedSignIns = FailedSignInLog(policy: policy, clock: clock, store: store, logger: logger)
    }

    static let keyPrefix = "dmk_"

    /// Why a credential was refused: said in the audit log, never to the client (which hears only
    /// "invalid credentials", so a probe learns nothing).
    enum Refusal: String {
        case missing = "no credential"
        case unknownKey = "unknown API key"
        case revokedKey = "revoked API key"
        case expiredKey = "expired API key"
        case malformedToken = "malformed session token"
        case badAlgorithm = "session token with an unsupported algorithm"
        case badSignature = "session token with a bad signature"
        case expiredToken = "expired session token"
        case unknownUser = "credential of an unknown user"
        case disabledUser = "credential of a disabled user"
    }

    /// The caller a credential stands for, or a refusal: -32023 while the peer address (`peer`, nil
    /// for stdio and in-process sessions) or the API key id has failed too often (the credential is
    /// not even looked at), else -32010 for a bad credential. Every failure is audited as a denied
    /// `initialize` by `anonymous`, aggregated per source and interval (`FailedSignInLog`).
    func authenticate(_ credential: String?, transport: String, peer: String? = nil) async throws -> Caller {
        let keyId = Self.keyId(of: credential)
        var keys: [SignInThrottle.Key] = []
        if let peer { keys.append(.peer(peer)) }
        if let keyId { keys.append(.apiKey(keyId)) }
        let source = FailedSignInLog.Source(transport: transport, peer: peer)
        do {
            try throttle.check(keys)
        } catch {
            await failedSignIns.record(source, keyId: keyId, reason: "throttled")
            throw ResponseError.signInThrottled(error)
        }
        do {
            return try await resolve(credential)
        } catch let refusal as RefusalError {
            throttle.recordFailure(keys)
            let reason = refusal.refusal.rawValue
            let first = await failedSignIns.record(source, keyId: keyId, reason: reason)
            let metadata: Logger.Metadata = ["reason": "\(reason)", "transport": "\(transport)", "peer": "\(peer ?? "-")"]
            // One line per source and interval at notice; the rest are in the interval's audit row.
            if first {
                logger.notice("authentication refused", metadata: metadata)
            } else {
                logger.debug("authentication refused", metadata: metadata)
            }
            throw ResponseError.unauthenticated(refusal.refusal == .missing ? "credentials required" : "invalid credentials")
        }
    }

    /// An API key's public id: its first 12 characters (`dmk_` and 8 more), the `prefix` the
    /// store keeps. Nothing for other credentials (a session token is throttled by address only).
    static func keyId(of credential: String?) -> String? {
        guard let credential, credential.hasPrefix(keyPrefix), credential.utf8.count > keyPrefix.count + 8 else { return nil }
        return String(credential.prefix(keyPrefix.count + 8))
    }

    struct RefusalError: Error {
        let refusal: Refusal
    }

    private func resolve(_ credential: String?) async throws -> Caller {
        guard let credential, !credential.isEmpty else { throw RefusalError(refusal: .missing) }
        let now = store.now
        if credential.hasPrefix(Self.keyPrefix) {
            let hash = ByteEncoding.hex(Crypto.sha256(credential))
            guard let key = try await store.read({ try $0.apiKey(hash: hash) }) else {
                throw RefusalError(refusal: .unknownKey)
            }
            // The lookup is by hash; compare the hashes again in constant time all the same.
            guard Crypto.constantTimeEqual(Array(key.hash.utf8), Array(hash.utf8)) else {
                throw RefusalError(refusal: .unknownKey)
            }
            if key.revokedAt != nil { throw RefusalError(refusal: .revokedKey) }
            if let expiresAt = key.expiresAt, expiresAt <= now { throw RefusalError(refusal: .expiredKey) }
            let caller = try await caller(
                userId: key.userId, credential: .apiKey(id: key.id, expiresAt: key.expiresAt, scopes: key.scopes))
            let keyId = key.id
            _ = try? await store.write { try $0.touchAPIKey(id: keyId) }
            return caller
        }
        let claims: SessionToken.Claims
        do {
            claims = try SessionToken.verify(credential, secret: tokenSecret, now: now / 1000)
        } catch {
            switch error {
            case .malformed: throw RefusalError(refusal: .malformedToken)
            case .unsupportedAlgorithm: throw RefusalError(refusal: .badAlgorithm)
            case .badSignature: throw RefusalError(refusal: .badSignature)
            case .expired: throw RefusalError(refusal: .expiredToken)
            }
        }
        if let keyId = claims.kid {
            let key = try await store.read { try $0.apiKey(id: keyId) }
            guard let key, key.revokedAt == nil else { throw RefusalError(refusal: .revokedKey) }
            if let expiresAt = key.expiresAt, expiresAt <= now { throw RefusalError(refusal: .expiredKey) }
        }
        let caller = try await caller(
            userId: claims.sub, credential: .sessionToken(id: claims.jti, expiresAt: claims.exp * 1000, keyId: claims.kid))
        guard caller.tenantId == claims.tid else { throw RefusalError(refusal: .unknownUser) }
        return caller
    }

    private func caller(userId: String, credential: Caller.Credential) async throws -> Caller {
        let found = try await store.read { transaction -> (User, Tenant)? in
            guard let user = try transaction.user(id: userId), let tenant = try transaction.tenant(id: user.tenantId) else {
                return nil
            }
            return (user, tenant)
        }
        guard let (user, tenant) = found else { throw RefusalError(refusal: .unknownUser) }
        if user.isDisabled { throw RefusalError(refusal: .disabledUser) }
        return Caller(user: user, tenant: tenant, credential: credential)
    }

    /// Whether a caller's credential still holds (not revoked or expired, user not disabled); for
    /// sessions whose credential another process may have revoked. Returns the refreshed caller.
    func revalidate(_ caller: Caller) async throws -> Caller? {
        let now = store.now
        if let expiresAt = caller.expiresAt, expiresAt <= now { return nil }
        let state = try await store.read { transaction -> (User?, APIKeyRecord?) in
            let user = try transaction.user(id: caller.userId)
            if let keyId = caller.apiKeyId {
                return (user, try transaction.apiKey(id: keyId))
            }
            return (user, nil)
        }
        guard let user = state.0, !user.isDisabled else { return nil }
        if caller.apiKeyId != nil {
            guard let key = state.1, key.revokedAt == nil else { return nil }
            if let expiresAt = key.expiresAt, expiresAt <= now { return nil }
        }
        var refreshed = caller
        refreshed.isServerAdmin = user.isServerAdmin
        refreshed.isTenantAdmin = user.isTenantAdmin
        return refreshed
    }

    /// A new API key: the secret (returned once) and the record to store (its hash only).
    static func makeAPIKey(
        userId: String, tenantId: String, name: String, scopes: [String], expiresAt: Int64?, now: Int64
    ) -> (secret: String, record: APIKeyRecord) {
        let secret = keyPrefix + ByteEncoding.base64URL(Crypto.randomBytes(32))
        let record = APIKeyRecord(
            id: Identifier.make("key"), userId: userId, tenantId: tenantId, name: name,
            prefix: String(secret.prefix(keyPrefix.count + 8)), hash: ByteEncoding.hex(Crypto.sha256(secret)),
            scopes: scopes, createdAt: now, expiresAt: expiresAt)
        return (secret, record)
    }

    /// A session token for the caller, valid `ttl` seconds, never past the expiry of the key behind
    /// the session, and revoked with it.
    func issueToken(for caller: Caller, ttl: Int64) -> (token: String, expiresAt: Int64) {
        let nowSeconds = store.now / 1000
        var expiry = nowSeconds + ttl
        if let keyExpiry = caller.expiresAt { expiry = min(expiry, keyExpiry / 1000) }
        let claims = SessionToken.Claims(
            sub: caller.userId, tid: caller.tenantId, iat: nowSeconds, exp: expiry, jti: Identifier.make("tok"),
            kid: caller.apiKeyId)
        return (SessionToken.sign(claims, secret: tokenSecret), claims.exp * 1000)
    }
}

extension ResponseError {
    /// -32023 for a throttled sign-in: `data.retryAfterMs` is exact (a retry after it is allowed).
    static func signInThrottled(_ throttled: SignInThrottle.Throttled) -> ResponseError {
        let what: String
        switch throttled.key {
        case .peer: what = "this address"
        case .apiKey: what = "this API key"
        }
        return ResponseError(
            code: .rateLimited,
            message: "Rate limited: too many failed sign-ins from \(what); retry after \(throttled.retryAfterMs) ms",
            data: [
                "retryAfterMs": .int(throttled.retryAfterMs), "source": "signIn",
                "limit": .string(throttled.key.isPeer ? "peer" : "apiKey"), "setting": .string(throttled.key.setting),
            ])
    }
}
