import DevModeCrypto
import DevModeProtocol
@testable import DevModeServer
import DevModeClock
import DevModeStore
import DevModeTestSupport
import Foundation
import JSONRPC
import Logging
import Testing

/// Authentication at `initialize`: API keys, session tokens, revocation of open sessions, scopes,
/// and secrets kept out of logs and the audit log.
@Suite("Authentication")
struct AuthTests {
    /// The session-token key of the servers here, so tests can sign (and forge) tokens.
    static let secret = Array("devmode test secret, 32 bytes or more".utf8)

    static let refusal = "Unauthenticated: invalid credentials"

    /// A server with a known token key and the tenancy fixture, closed afterwards.
    private func withServer(
        clock: ManualClock? = nil, recheck: Duration = .seconds(5), localMode: Bool = false,
        _ body: (ScratchServer, TenancyFixture) async throws -> Void
    ) async throws {
        let configuration = ServerConfiguration(
            localMode: localMode, tokenSecret: Self.secret, credentialRecheckInterval: recheck)
        try await withScratchServer(configuration: configuration, clock: clock?.now ?? Store.systemClock) { scratch in
            try await body(scratch, try await TenancyFixture.make(server: scratch.server))
        }
    }

    /// A second server on the same database: another devmode process, as in a shared deployment.
    /// Runs `body` with it, and closes it (leaving the files to `scratch`).
    private func withOtherProcess(on scratch: ScratchServer, _ body: (ScratchServer) async throws -> Void) async throws {
        let other = try await ScratchServer.open(
            configuration: ServerConfiguration(tokenSecret: Self.secret), directory: scratch.directory)
        do {
            try await body(other)
        } catch {
            await other.close(remove: false)
            throw error
        }
        await other.close(remove: false)
    }

    /// Expects a new session with `credential` to be refused at `initialize`, like any bad credential.
    private func expectNewSessionRefused(
        _ server: DevModeServer, _ credential: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let client = TestClient(server: server)
        let error = await expectError(.unauthenticated, what, sourceLocation: sourceLocation) {
            try await client.initialize(token: credential)
        }
        #expect(error?.message == Self.refusal, "\(what): \(error?.message ?? "-")", sourceLocation: sourceLocation)
        // Nothing else is served on that connection.
        await expectRefusedOrClosed("\(what): a request after the refusal", sourceLocation: sourceLocation) {
            try await client.send(AuthWhoAmIRequest())
        }
        await client.close()
    }

    // MARK: API keys

    @Test func wrongUnknownAndMalformedCredentialsAreRefusedAlike() async throws {
        try await withServer { scratch, fixture in
            let server = scratch.server
            // The right key works, so the refusals below are about the credential.
            let good = try await TestClient.connect(to: server, token: fixture.memberA.key)
            #expect(try await good.send(AuthWhoAmIRequest()).userId == fixture.memberA.user.id)

            var altered = Array(fixture.memberA.key)
            altered[10] = altered[10] == "A" ? "B" : "A"
            let attempts: [(String, String)] = [
                ("a key with one character changed", String(altered)),
                ("a well-formed key that was never issued", "dmk_" + ByteEncoding.base64URL(Crypto.randomBytes(32))),
                ("the key without its prefix", String(fixture.memberA.key.dropFirst(4))),
                ("a password", "hunter2"),
                ("a three-part string that is no token", "a.b.c"),
            ]
            for (what, credential) in attempts {
                await expectNewSessionRefused(server, credential, what)
            }
            await good.close()
        }
    }

    @Test func aRevokedKeyOpensNoSessionAndItsOpenSessionIsCutOff() async throws {
        try await withServer { scratch, fixture in
            let server = scratch.server
            let member = try await TestClient.connect(to: server, token: fixture.memberA.key)
            _ = try await member.send(WorkspaceListRequest())

            // The tenant admin revokes the member's key from another session.
            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)
            let revoked = try await admin.send(APIKeyRevokeRequest(apiKeyId: fixture.memberA.keyId))
            #expect(revoked.revokedAt != nil)

            await expectRefusedOrClosed("the revoked key's open session") { try await member.send(WorkspaceListRequest()) }
            await expectRefusedOrClosed("the revoked key's open session, again") { try await member.send(AuthWhoAmIRequest()) }
            await expectNewSessionRefused(server, fixture.memberA.key, "a new session with the revoked key")

            // Nobody else lost anything: the admin's session and the viewer's key still work.
            _ = try await admin.send(WorkspaceListRequest())
            let viewer = try await TestClient.connect(to: server, token: fixture.viewerA.key)
            #expect(try await viewer.send(AuthWhoAmIRequest()).userId == fixture.viewerA.user.id)
            for client in [member, admin, viewer] { await client.close() }
        }
    }

    @Test func aKeyRevokedByAnotherProcessIsRefusedAtTheOpenSessionsNextRequest() async throws {
        try await withServer(recheck: .zero) { scratch, fixture in
            let member = try await TestClient.connect(to: scratch.server, token: fixture.memberA.key)
            _ = try await member.send(WorkspaceListRequest())

            // Another process on the same database revokes the key: this server is not told.
            try await withOtherProcess(on: scratch) { other in
                let admin = try await TestClient.connect(to: other.server, token: fixture.adminA.key)
                _ = try await admin.send(APIKeyRevokeRequest(apiKeyId: fixture.memberA.keyId))

                let error = await expectError(.unauthenticated, "the open session after the revocation") {
                    try await member.send(WorkspaceListRequest())
                }
                #expect(error?.message.contains("revoked") == true)
                await expectRefusedOrClosed("the request after that") { try await member.send(AuthWhoAmIRequest()) }
                await expectNewSessionRefused(scratch.server, fixture.memberA.key, "a new session with the revoked key")

                await admin.close()
                await member.close()
            }
        }
    }

    @Test func aDisabledUserOpensNoSessionAndItsOpenSessionsAreCutOff() async throws {
        try await withServer { scratch, fixture in
            let server = scratch.server
            let memberByKey = try await TestClient.connect(to: server, token: fixture.memberA.key)
            let token = try await memberByKey.send(AuthTokenRequest()).token
            let memberByToken = try await TestClient.connect(to: server, token: token)
            _ = try await memberByToken.send(WorkspaceListRequest())

            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)
            #expect(try await admin.send(UserDisableRequest(userId: fixture.memberA.user.id)).disabled)

            await expectRefusedOrClosed("the disabled user's key session") { try await memberByKey.send(WorkspaceListRequest()) }
            await expectRefusedOrClosed("the disabled user's token session") { try await memberByToken.send(WorkspaceListRequest()) }
            await expectNewSessionRefused(server, fixture.memberA.key, "a new session with the disabled user's key")
            await expectNewSessionRefused(server, token, "a new session with the disabled user's token")

            // Enabled again, the same key works: disabling did not revoke it.
            #expect(try await !admin.send(UserDisableRequest(userId: fixture.memberA.user.id, disabled: false)).disabled)
            let back = try await TestClient.connect(to: server, token: fixture.memberA.key)
            #expect(try await back.send(AuthWhoAmIRequest()).userId == fixture.memberA.user.id)

            for client in [memberByKey, memberByToken, admin, back] { await client.close() }
        }
    }

    @Test func aUserDisabledByAnotherProcessIsRefusedAtTheOpenSessionsNextRequest() async throws {
        try await withServer(recheck: .zero) { scratch, fixture in
            let memberByKey = try await TestClient.connect(to: scratch.server, token: fixture.memberA.key)
            let token = try await memberByKey.send(AuthTokenRequest()).token
            let memberByToken = try await TestClient.connect(to: scratch.server, token: token)

            try await withOtherProcess(on: scratch) { other in
                let admin = try await TestClient.connect(to: other.server, token: fixture.adminA.key)
                _ = try await admin.send(UserDisableRequest(userId: fixture.memberA.user.id))

                await expectError(.unauthenticated, "key session after the user was disabled") {
                    try await memberByKey.send(WorkspaceListRequest())
                }
                await expectError(.unauthenticated, "token session after the user was disabled") {
                    try await memberByToken.send(WorkspaceListRequest())
                }
                for client in [memberByKey, memberByToken, admin] { await client.close() }
            }
        }
    }

    @Test func anExpiredKeyIsRefused() async throws {
        let clock = ManualClock()
        try await withServer(clock: clock, recheck: .zero) { scratch, fixture in
            let server = scratch.server
            let key = try await server.directory.createAPIKey(
                userId: fixture.memberA.user.id, name: "short-lived", expiresInSeconds: 3600, scopes: [], by: .cli)
            let session = try await TestClient.connect(to: server, token: key.secret)
            let identity = try await session.send(AuthWhoAmIRequest())
            #expect(identity.credential == "apiKey")
            #expect(identity.expiresAt != nil)
            // A token minted from the key lives no longer than the key, whatever ttl was asked.
            let token = try await session.send(AuthTokenRequest(ttlSeconds: 3600))
            #expect(token.expiresAt <= (identity.expiresAt ?? ""), "\(token.expiresAt) vs \(identity.expiresAt ?? "-")")

            // Expiry follows the store's clock, moved by the test (a 1 s key expired on a loaded machine
            // before its first use).
            clock.advance(seconds: 3601)
            await expectError(.unauthenticated, "the open session once its key expired") {
                try await session.send(WorkspaceListRequest())
            }
            await expectNewSessionRefused(server, key.secret, "a new session with the expired key")
            await expectNewSessionRefused(server, token.token, "a new session with a token minted from the expired key")
            // A key without an expiry is unaffected by the passing time.
            let lasting = try await TestClient.connect(to: server, token: fixture.memberA.key)
            _ = try await lasting.send(WorkspaceListRequest())
            await session.close()
            await lasting.close()
        }
    }

    // MARK: Session tokens

    @Test func authTokenGivesATokenThatOpensANewSession() async throws {
        try await withServer { scratch, fixture in
            let server = scratch.server
            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)
            let issued = try await admin.send(AuthTokenRequest(ttlSeconds: 600))
            #expect(SessionToken.looksLikeToken(issued.token))

            let session = try await TestClient.connect(to: server, token: issued.token)
            let identity = try await session.send(AuthWhoAmIRequest())
            #expect(identity.userId == fixture.adminA.user.id)
            #expect(identity.tenantId == fixture.tenantA.id)
            #expect(identity.credential == "sessionToken")
            #expect(identity.expiresAt == issued.expiresAt)
            // The token carries its user's rights: a tenant admin may list the tenant's users.
            #expect(try await session.send(UserListRequest()).users.count == 3)

            await expectError(.invalidParams, "ttl above a day") { try await admin.send(AuthTokenRequest(ttlSeconds: 86_401)) }
            await expectError(.invalidParams, "ttl of zero") { try await admin.send(AuthTokenRequest(ttlSeconds: 0)) }
            await admin.close()
            await session.close()
        }
    }

    @Test func anExpiredSessionTokenIsRefused() async throws {
        let clock = ManualClock()
        try await withServer(clock: clock, recheck: .zero) { scratch, fixture in
            let server = scratch.server
            let member = try await TestClient.connect(to: server, token: fixture.memberA.key)
            let issued = try await member.send(AuthTokenRequest(ttlSeconds: 60))
            let session = try await TestClient.connect(to: server, token: issued.token)
            _ = try await session.send(WorkspaceListRequest())

            clock.advance(seconds: 61)
            await expectError(.unauthenticated, "the open session once its token expired") {
                try await session.send(WorkspaceListRequest())
            }
            await expectNewSessionRefused(server, issued.token, "a new session with the expired token")
            await member.close()
            await session.close()
        }
    }

    @Test func forgedAndTamperedTokensAreRefused() async throws {
        try await withServer { scratch, fixture in
            let server = scratch.server
            let now = Store.systemClock() / 1000
            let claims = SessionToken.Claims(
                sub: fixture.memberA.user.id, tid: fixture.tenantA.id, iat: now, exp: now + 600, jti: "tok_test")
            let genuine = SessionToken.sign(claims, secret: Self.secret)

            // A token signed with the server's key works: the forgeries below differ from it in one way each.
            let control = try await TestClient.connect(to: server, token: genuine)
            let identity = try await control.send(AuthWhoAmIRequest())
            #expect(identity.userId == fixture.memberA.user.id)
            #expect(identity.credential == "sessionToken")
            await control.close()

            let parts = genuine.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            var asRoot = claims
            asRoot.sub = fixture.serverAdmin.user.id
            asRoot.tid = fixture.serverAdmin.user.tenantId
            var expired = claims
            expired.iat = now - 7200
            expired.exp = now - 3600
            var otherTenant = claims
            otherTenant.tid = fixture.tenantB.id
            var flipped = try #require(ByteEncoding.fromBase64URL(parts[2]))
            flipped[0] ^= 0x01
            let none = Tokens.part(#"{"alg":"none","typ":"JWT"}"#)
            let forgeries: [(String, String)] = [
                ("alg none, no signature", none + "." + parts[1] + "."),
                ("alg none, the genuine signature", none + "." + parts[1] + "." + parts[2]),
                ("alg RS256, HMAC'd with the server's key", Tokens.make(header: #"{"alg":"RS256","typ":"JWT"}"#, payload: parts[1], secret: Self.secret)),
                ("alg HS512, HMAC-SHA256'd with the server's key", Tokens.make(header: #"{"alg":"HS512","typ":"JWT"}"#, payload: parts[1], secret: Self.secret)),
                ("sub changed to the server admin, original signature", parts[0] + "." + Tokens.claims(asRoot) + "." + parts[2]),
                ("signature with one bit flipped", parts[0] + "." + parts[1] + "." + ByteEncoding.base64URL(flipped)),
                ("signed with another key", SessionToken.sign(claims, secret: Array("not the server's key".utf8))),
                ("expired an hour ago, correctly signed", SessionToken.sign(expired, secret: Self.secret)),
                ("naming a tenant the user is not in, correctly signed", SessionToken.sign(otherTenant, secret: Self.secret)),
            ]
            for (what, token) in forgeries {
                #expect(token != genuine)
                await expectNewSessionRefused(server, token, what)
            }
        }
    }

    // MARK: Scopes and transports

    @Test func aScopedKeyCallsOnlyTheAreasItNames() async throws {
        try await withServer { scratch, fixture in
            let server = scratch.server
            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)
            // Unscoped, this tenant admin may list users; the scoped key of the same user may not.
            _ = try await admin.send(UserListRequest())
            let created = try await admin.send(APIKeyCreateRequest(name: "ci", scopes: ["workspace"]))
            #expect(created.apiKey.scopes == ["workspace"])

            let scoped = try await TestClient.connect(to: server, token: created.key)
            let identity = try await scoped.send(AuthWhoAmIRequest())
            #expect(identity.userId == fixture.adminA.user.id)
            #expect(identity.scopes == ["workspace"])
            let workspaces = try await scoped.send(WorkspaceListRequest()).workspaces
            #expect(workspaces.map(\.id).contains(fixture.workspaceA.id))
            _ = try await scoped.send(WorkspaceGetRequest(workspaceId: fixture.workspaceA.id))
            await expectError(.forbidden, "user/list with a key scoped to workspace") { try await scoped.send(UserListRequest()) }
            await expectError(.forbidden, "apiKey/create with a key scoped to workspace") {
                try await scoped.send(APIKeyCreateRequest(name: "escape"))
            }
            await expectError(.forbidden, "auth/token with a key scoped to workspace") { try await scoped.send(AuthTokenRequest()) }
            for client in [admin, scoped] { await client.close() }
        }
    }

    @Test func aScopedKeyCannotMintWiderCredentials() async throws {
        try await withServer { scratch, fixture in
            let server = scratch.server
            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)
            let created = try await admin.send(APIKeyCreateRequest(name: "ci", scopes: ["workspace", "auth", "apiKey"]))
            let scoped = try await TestClient.connect(to: server, token: created.key)
            await expectError(.forbidden, "user/list with a key scoped to workspace, auth, apiKey") {
                try await scoped.send(UserListRequest())
            }
            // A token carries no scopes, and an unscoped or wider key would shed them: both refused.
            await expectError(.forbidden, "auth/token from a scoped key") { try await scoped.send(AuthTokenRequest()) }
            await expectError(.forbidden, "an unscoped key from a scoped key") {
                try await scoped.send(APIKeyCreateRequest(name: "wider"))
            }
            await expectError(.forbidden, "a key with a scope the key lacks") {
                try await scoped.send(APIKeyCreateRequest(name: "wider", scopes: ["workspace", "user"]))
            }
            // Narrower is fine.
            let narrower = try await scoped.send(APIKeyCreateRequest(name: "narrower", scopes: ["workspace"]))
            #expect(narrower.apiKey.scopes == ["workspace"])
            for client in [admin, scoped] { await client.close() }
        }
    }

    @Test func aTokenDiesWithTheKeyItCameFrom() async throws {
        try await withServer { scratch, fixture in
            let server = scratch.server
            let member = try await TestClient.connect(to: server, token: fixture.memberA.key)
            let token = try await member.send(AuthTokenRequest()).token
            let tokenSession = try await TestClient.connect(to: server, token: token)
            _ = try await tokenSession.send(WorkspaceListRequest())
            // A token the member minted from another of their keys: it must outlive the revocation.
            let otherKey = try await member.send(APIKeyCreateRequest(name: "other"))
            let otherKeySession = try await TestClient.connect(to: server, token: otherKey.key)
            let otherToken = try await otherKeySession.send(AuthTokenRequest()).token

            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)
            _ = try await admin.send(APIKeyRevokeRequest(apiKeyId: fixture.memberA.keyId))
            await expectRefusedOrClosed("a session on a token minted from the revoked key") {
                try await tokenSession.send(WorkspaceListRequest())
            }
            await expectNewSessionRefused(server, token, "a new session on a token minted from the revoked key")
            let survivor = try await TestClient.connect(to: server, token: otherToken)
            #expect(try await survivor.send(AuthWhoAmIRequest()).userId == fixture.memberA.user.id)
            for client in [member, tokenSession, otherKeySession, admin, survivor] { await client.close() }
        }
    }

    @Test func aSessionThatIsNotLocalNeedsACredentialAndIsServedNothingWithout() async throws {
        // Local mode is on: only sessions the transport marks local (stdio) may go without a credential.
        try await withServer(localMode: true) { scratch, fixture in
            let server = scratch.server
            let remote = TestClient(server: server, local: false)
            let error = await expectError(.unauthenticated, "initialize without a credential") { try await remote.initialize(token: nil) }
            #expect(error?.message == "Unauthenticated: credentials required")
            await expectRefusedOrClosed("auth/whoami after the refusal") { try await remote.send(AuthWhoAmIRequest()) }
            await expectRefusedOrClosed("workspace/list after the refusal") { try await remote.send(WorkspaceListRequest()) }
            await expectRefusedOrClosed("a second initialize, now with a valid key") {
                try await remote.initialize(token: fixture.adminA.key)
            }
            await remote.close()

            // The local session on the same server is served without one.
            let local = try await TestClient.connect(to: server, token: nil, local: true)
            #expect(try await local.send(AuthWhoAmIRequest()).credential == "local")
            await local.close()
        }
    }

    // MARK: Secrets

    @Test func secretsNeverReachTheLogsOrTheAuditLog() async throws {
        let capture = LogCapture()
        // No configured token key: the server keeps a generated one in the database.
        try await withScratchServer(logger: capture.logger()) { scratch in
            let server = scratch.server
            let fixture = try await TenancyFixture.make(server: server)
            var secrets = [fixture.serverAdmin, fixture.adminA, fixture.memberA, fixture.viewerA, fixture.adminB].map(\.key)
            secrets.append(try #require(try await server.store.read { try $0.setting("token_secret") }))

            // Keys and tokens in use.
            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)
            let created = try await admin.send(APIKeyCreateRequest(name: "deploy"))
            let issued = try await admin.send(AuthTokenRequest(ttlSeconds: 600))
            secrets += [created.key, issued.token]
            let viaKey = try await TestClient.connect(to: server, token: created.key)
            _ = try await viaKey.send(WorkspaceListRequest())
            let viaToken = try await TestClient.connect(to: server, token: issued.token)
            _ = try await viaToken.send(AuthWhoAmIRequest())
            let member = try await TestClient.connect(to: server, token: fixture.memberA.key)
            await expectError(.forbidden) { try await member.send(UserListRequest()) }

            // Failed logins with wrong secrets.
            var tampered = Array(issued.token)
            tampered[tampered.count - 10] = tampered[tampered.count - 10] == "x" ? "y" : "x"
            var wrongKey = Array(fixture.memberA.key)
            wrongKey[12] = wrongKey[12] == "q" ? "r" : "q"
            let wrong = [
                "dmk_" + ByteEncoding.base64URL(Crypto.randomBytes(32)), String(wrongKey), String(tampered),
                "correct horse battery staple",
            ]
            secrets += wrong
            for credential in wrong {
                await expectNewSessionRefused(server, credential, "a wrong secret")
            }

            // Revocation cuts the key's session off; the key is refused afterwards.
            _ = try await admin.send(APIKeyRevokeRequest(apiKeyId: created.apiKey.id))
            await expectRefusedOrClosed("the revoked key's session") { try await viaKey.send(WorkspaceListRequest()) }
            await expectNewSessionRefused(server, created.key, "the revoked key")

            let root = try await TestClient.connect(to: server, token: fixture.serverAdmin.key)
            let audit = try await root.send(AuditQueryRequest(limit: 500)).entries

            // Each secret, and the part of it after a recognisable prefix.
            func needles(_ secret: String) -> [String] {
                var needles = [secret]
                if secret.hasPrefix("dmk_") { needles.append(String(secret.dropFirst(4))) }
                let parts = secret.split(separator: ".")
                if parts.count == 3 { needles.append(String(parts[2])) }
                return needles
            }
            let logs = capture.all
            #expect(logs.count > 10, "the scenario should have logged; captured \(logs.count) records")
            #expect(logs.contains { $0.contains("authentication refused") }, "failed logins are logged")
            #expect(logs.contains { $0.contains("session cut off") }, "the cut-off is logged")
            for secret in secrets {
                for needle in needles(secret) {
                    for line in logs where line.contains(needle) {
                        Issue.record("a secret reached the log: \(line)")
                    }
                    for entry in audit {
                        let fields = [entry.actor, entry.tenantId, entry.workspaceId, entry.method, entry.target, entry.detail]
                        if fields.contains(where: { $0?.contains(needle) == true }) {
                            Issue.record("a secret reached audit row \(entry.seq): \(fields)")
                        }
                    }
                }
            }
            #expect(audit.contains { $0.method == APIKeyCreateRequest.method && $0.outcome == "success" })
            #expect(audit.contains { $0.method == AuthTokenRequest.method && $0.outcome == "success" })
            // Failed sign-ins are counted per source and interval: the first row at once, the rest in one row.
            await server.authenticator.failedSignIns.flush(endedBy: nil)
            let denied = try await root.send(AuditQueryRequest(method: InitializeRequest.method, outcome: "denied", limit: 500))
            #expect(failedSignInCount(denied.entries) == wrong.count + 1)

            for client in [admin, viaKey, viaToken, member, root] { await client.close() }
        }
    }
}

/// How many failed sign-ins the rows stand for: 1 for a row of its own, N + ... for "N more failed sign-ins …".
func failedSignInCount(_ entries: [AuditEntryInfo]) -> Int {
    entries.reduce(0) { total, entry in
        if let detail = entry.detail, let range = detail.range(of: " more failed sign-ins"), let more = Int(detail[..<range.lowerBound]) {
            return total + more
        }
        return total + 1
    }
}

/// Sign-in throttling per peer address and per API key id, on a test clock.
@Suite("Sign-in throttling")
struct SignInThrottleTests {
    private func withServer(
        _ policy: SignInPolicy, clock: TestClock, _ body: (DevModeServer, TenancyFixture) async throws -> Void
    ) async throws {
        // The server's one clock: the throttle reads it (a policy has no clock of its own).
        let configuration = ServerConfiguration(tokenSecret: AuthTests.secret, clock: clock, signIn: policy)
        try await withScratchServer(configuration: configuration) { scratch in
            try await body(scratch.server, try await TenancyFixture.make(server: scratch.server))
        }
    }

    /// `initialize` from `peer` with `credential`: the error it got (nil: signed in).
    private func signIn(_ server: DevModeServer, _ credential: String, peer: String?) async -> ResponseError? {
        let client = TestClient(server: server, peer: peer)
        let error = await rpcError { try await client.initialize(token: credential) }
        await client.close()
        return error
    }

    private func expectThrottled(
        _ error: ResponseError?, retryAfterMs: Int, limit: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(error?.code == .rateLimited, "\(what): \(error.map { "\($0.code.rawValue) \($0.message)" } ?? "signed in")",
            sourceLocation: sourceLocation)
        #expect(error?.data?["retryAfterMs"] == .int(retryAfterMs), "\(what): \(String(describing: error?.data))",
            sourceLocation: sourceLocation)
        #expect(error?.data?["source"] == "signIn", sourceLocation: sourceLocation)
        #expect(error?.data?["limit"] == .string(limit), sourceLocation: sourceLocation)
    }

    @Test func failuresFromOneAddressAreThrottledWithAnExactRetryAfter() async throws {
        let clock = TestClock()
        let policy = SignInPolicy(peerBurst: 3, peerInterval: .seconds(1), keyBurst: 1_000)
        try await withServer(policy, clock: clock) { server, fixture in
            for attempt in 1...3 {
                #expect(await signIn(server, "hunter2", peer: "10.0.0.1")?.code == .unauthenticated, "attempt \(attempt)")
            }
            // The burst is spent: refused before the credential is looked at, the right key too.
            expectThrottled(await signIn(server, "hunter2", peer: "10.0.0.1"), retryAfterMs: 1_000, limit: "peer", "4th attempt")
            expectThrottled(await signIn(server, fixture.memberA.key, peer: "10.0.0.1"), retryAfterMs: 1_000, limit: "peer", "good key")
            // Another address is not held up; a throttled attempt does not spend more.
            #expect(await signIn(server, fixture.memberA.key, peer: "10.0.0.2") == nil)
            clock.advance(by: .milliseconds(400))
            expectThrottled(await signIn(server, "hunter2", peer: "10.0.0.1"), retryAfterMs: 600, limit: "peer", "400 ms later")
            clock.advance(by: .milliseconds(600))
            // One interval later: one more attempt, then throttled again for a whole interval.
            #expect(await signIn(server, fixture.memberA.key, peer: "10.0.0.1") == nil, "a good key once allowed")
            #expect(await signIn(server, "hunter2", peer: "10.0.0.1")?.code == .unauthenticated)
            expectThrottled(await signIn(server, "hunter2", peer: "10.0.0.1"), retryAfterMs: 1_000, limit: "peer", "after refill")
            // Sessions without an address (stdio, in process) are not throttled by address.
            for attempt in 1...10 {
                #expect(await signIn(server, "hunter2", peer: nil)?.code == .unauthenticated, "no address, attempt \(attempt)")
            }
        }
    }

    @Test func failuresNamingOneKeyIdAreThrottledFromAnyAddress() async throws {
        let clock = TestClock()
        let policy = SignInPolicy(peerBurst: 1_000, keyBurst: 2, keyInterval: .seconds(6))
        try await withServer(policy, clock: clock) { server, fixture in
            // Guesses at the rest of memberA's key: its public prefix, a wrong secret.
            let prefix = String(fixture.memberA.key.prefix(12))
            func guess() -> String { prefix + ByteEncoding.base64URL(Crypto.randomBytes(24)) }
            #expect(await signIn(server, guess(), peer: "10.0.0.1")?.code == .unauthenticated)
            #expect(await signIn(server, guess(), peer: nil)?.code == .unauthenticated)
            expectThrottled(await signIn(server, guess(), peer: "10.0.0.3"), retryAfterMs: 6_000, limit: "apiKey", "3rd guess")
            expectThrottled(await signIn(server, fixture.memberA.key, peer: "10.0.0.4"), retryAfterMs: 6_000, limit: "apiKey", "the key")
            // Other keys are not held up.
            #expect(await signIn(server, fixture.adminA.key, peer: "10.0.0.3") == nil)
            clock.advance(by: .milliseconds(5_999))
            expectThrottled(await signIn(server, fixture.memberA.key, peer: nil), retryAfterMs: 1, limit: "apiKey", "1 ms early")
            clock.advance(by: .milliseconds(1))
            #expect(await signIn(server, fixture.memberA.key, peer: nil) == nil, "allowed once the interval passed")
        }
    }

    @Test func theThrottleForgetsPaidUpKeysAndStaysBounded() async throws {
        let clock = TestClock()
        let throttle = SignInThrottle(settings: SignInPolicy(peerBurst: 1, peerInterval: .seconds(1), maxTrackedKeys: 100), clock: clock)
        for index in 0..<100 { throttle.recordFailure([.peer("10.1.0.\(index)")]) }
        #expect(throttle.trackedKeys == 100)
        throttle.recordFailure([.peer("10.2.0.1")])
        #expect(throttle.trackedKeys == 100, "beyond the bound, new keys go untracked")
        clock.advance(by: .seconds(1))
        throttle.recordFailure([.peer("10.2.0.1")])
        #expect(throttle.trackedKeys == 1, "keys whose debt is paid are forgotten")
        #expect(throws: SignInThrottle.Throttled(key: .peer("10.2.0.1"), retryAfter: .seconds(1))) {
            try throttle.check([.peer("10.2.0.1")])
        }
    }
}
