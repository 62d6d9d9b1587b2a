import DevModeCrypto
import DevModeProtocol
import DevModeClock
@testable import DevModeServer
import DevModeStore
import DevModeTestSupport
import Foundation
import JSONRPC
import Logging
import Testing

/// The audit log through RPC, on both engines: the hash chain catches edits and deletions made
/// directly in the database, and `audit/query` shows each caller only what they manage.
@Suite("Audit log")
struct AuditTests {
    /// A server and the tenancy fixture on a fresh database of `database`; nothing when that engine
    /// is not available here.
    private func withServer(
        _ database: TestDatabase, signIn: SignInPolicy = SignInPolicy(), clock: any ServerClock = SystemClock(),
        _ body: (DevModeServer, TenancyFixture) async throws -> Void
    ) async throws {
        guard let test = try await makeTestDriver(database) else { return }
        let projects = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-audit-test-\(UUID().uuidString)")
        var configuration = ServerConfiguration(clock: clock, signIn: signIn)
        configuration.projects.dataDirectory = projects.path
        do {
            let server = try await DevModeServer.open(
                configuration: configuration, store: Store(driver: test.driver),
                logger: Logger(label: "devmode.test") { _ in SwiftLogNoOpLogHandler() })
            try await body(server, try await TenancyFixture.make(server: server))
        } catch {
            await test.cleanup()
            try? FileManager.default.removeItem(at: projects)
            throw error
        }
        await test.cleanup()
        try? FileManager.default.removeItem(at: projects)
    }

    @Test(arguments: TestDatabase.allCases)
    func verifyNamesTheEditedAndTheDeletedRow(database: TestDatabase) async throws {
        try await withServer(database) { server, fixture in
            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)
            let root = try await TestClient.connect(to: server, token: fixture.serverAdmin.key)
            let one = try await admin.send(WorkspaceCreateRequest(name: "one"))
            _ = try await admin.send(WorkspaceUpdateRequest(workspaceId: one.id, description: "first"))
            let two = try await admin.send(WorkspaceCreateRequest(name: "two"))
            _ = try await admin.send(MemberAddRequest(workspaceId: two.id, userId: fixture.memberA.user.id, role: .member))
            _ = try await admin.send(WorkspaceDeleteRequest(workspaceId: one.id))

            let clean = try await root.send(AuditVerifyRequest())
            #expect(clean.ok)
            #expect(clean.problems.isEmpty)
            #expect(clean.rowsChecked == clean.lastSeq)

            let rows = try await root.send(AuditQueryRequest(actor: "user:\(fixture.adminA.user.id)", limit: 500)).entries
            let edited = try #require(rows.first { $0.method == WorkspaceUpdateRequest.method }).seq
            let deleted = try #require(rows.first { $0.method == MemberAddRequest.method }).seq
            #expect(deleted > edited + 1, "rows chosen apart, so each problem is judged on its own")
            try await server.store.write { transaction in
                try transaction.connection.execute(
                    "UPDATE audit_log SET detail = ? WHERE seq = ?", .text("nothing happened here"), .integer(Int64(edited)))
                try transaction.connection.execute("DELETE FROM audit_log WHERE seq = ?", .integer(Int64(deleted)))
            }

            let tampered = try await root.send(AuditVerifyRequest())
            #expect(!tampered.ok)
            #expect(tampered.problems.map { "\($0.seq) \($0.kind)" } == ["\(edited) altered", "\(deleted) missing"])

            // Only a server admin may verify.
            let member = try await TestClient.connect(to: server, token: fixture.memberA.key)
            await expectError(.forbidden, "audit/verify by a tenant admin") { try await admin.send(AuditVerifyRequest()) }
            await expectError(.forbidden, "audit/verify by a member") { try await member.send(AuditVerifyRequest()) }
            for client in [admin, root, member] { await client.close() }
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func anEditWithItsHashRecomputedIsStillCaught(database: TestDatabase) async throws {
        try await withServer(database) { server, fixture in
            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)
            let root = try await TestClient.connect(to: server, token: fixture.serverAdmin.key)
            _ = try await admin.send(WorkspaceUpdateRequest(workspaceId: fixture.workspaceA.id, description: "x"))
            _ = try await admin.send(WorkspaceCreateRequest(name: "later"))
            let rows = try await root.send(AuditQueryRequest(method: WorkspaceUpdateRequest.method, limit: 500)).entries
            let seq = Int64(try #require(rows.first).seq)

            // A careful forger rewrites the row's own hash too; the next row still links to the original.
            var entry = try #require(try await server.store.read { try $0.auditRows(afterSeq: seq - 1, limit: 1) }.first)
            #expect(entry.seq == seq)
            entry.actor = "user:\(fixture.memberA.user.id)"
            entry.hash = AuditChain.hash(entry)
            let forged = entry
            _ = try await server.store.write { transaction in
                try transaction.connection.execute(
                    "UPDATE audit_log SET actor = ?, hash = ? WHERE seq = ?", .text(forged.actor), .text(forged.hash),
                    .integer(seq))
            }
            let result = try await root.send(AuditVerifyRequest())
            #expect(result.problems.map { "\($0.seq) \($0.kind)" } == ["\(seq) altered"])
            await admin.close()
            await root.close()
        }
    }

    /// The defect: someone with write access to the database rewrites a row and every row after it,
    /// hashes and head recomputed. The hash chain holds (the old `audit/verify` answered ok); the
    /// anchors, made with a key the database does not hold, name the first rewritten row.
    @Test(arguments: TestDatabase.allCases)
    func aRowRewrittenWithEveryRowAfterItIsNamedByItsAnchor(database: TestDatabase) async throws {
        try await withServer(database) { server, fixture in
            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)
            let root = try await TestClient.connect(to: server, token: fixture.serverAdmin.key)
            _ = try await admin.send(WorkspaceUpdateRequest(workspaceId: fixture.workspaceA.id, description: "x"))
            _ = try await admin.send(WorkspaceCreateRequest(name: "later"))
            _ = try await admin.send(WorkspaceCreateRequest(name: "later still"))
            let clean = try await root.send(AuditVerifyRequest())
            #expect(clean.ok)
            #expect(clean.anchoredRows == clean.rowsChecked && clean.unanchoredRows == 0 && clean.anchorStartSeq == 1)

            let seq = Int64(try #require(try await root.send(AuditQueryRequest(method: WorkspaceUpdateRequest.method)).entries.first).seq)
            let memberId = fixture.memberA.user.id
            let rewritten = try await AuditForgery.rewrite(server.store, from: seq) { $0.actor = "user:\(memberId)" }
            #expect(rewritten >= 3)
            let result = try await root.send(AuditVerifyRequest())
            #expect(!result.ok)
            #expect(result.problems.map { "\($0.seq) \($0.kind)" } == ["\(seq) anchor"], "\(result.problems)")
            #expect(result.problems.first?.detail.contains("without the audit key") == true)
            await admin.close()
            await root.close()
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func rewrittenRowsWithBlankedAnchorsFailAfterTheAnchorStart(database: TestDatabase) async throws {
        try await withServer(database) { server, fixture in
            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)
            let root = try await TestClient.connect(to: server, token: fixture.serverAdmin.key)
            _ = try await admin.send(WorkspaceUpdateRequest(workspaceId: fixture.workspaceA.id, description: "x"))
            _ = try await admin.send(WorkspaceCreateRequest(name: "later"))
            let seq = Int64(try #require(try await root.send(AuditQueryRequest(method: WorkspaceUpdateRequest.method)).entries.first).seq)
            try await AuditForgery.rewrite(server.store, from: seq, blankAnchors: true) { $0.detail = "nothing happened" }
            let result = try await root.send(AuditVerifyRequest())
            #expect(!result.ok)
            #expect(result.problems.map { "\($0.seq) \($0.kind)" } == ["\(seq) anchor"], "\(result.problems)")
            #expect(result.problems.first?.detail.contains("no anchor") == true, "\(result.problems)")
            #expect(result.anchoredRows == Int(seq) - 1 && result.unanchoredRows == 0)
            await admin.close()
            await root.close()
        }
    }

    /// A database from before anchoring: its rows count as unanchored, and the key file that the
    /// server creates (0600) says anchoring starts at the next row. A restart without that file
    /// refuses, and so does a key that is not the one the rows were anchored with.
    @Test(arguments: TestDatabase.allCases)
    func rowsFromBeforeAnchoringPassAndTheKeyFileIsKeptOutsideTheDatabase(database: TestDatabase) async throws {
        guard let test = try await makeTestDriver(database) else { return }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-anchor-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let old = Store(driver: test.driver)
            try await old.migrate()
            for index in 1...3 {
                try await old.audit(AuditEvent(actor: "cli", method: "test/before-anchoring", target: "\(index)"))
            }
            var configuration = ServerConfiguration()
            configuration.projects.dataDirectory = directory.appendingPathComponent("data").path
            let logger = Logger(label: "devmode.test") { _ in SwiftLogNoOpLogHandler() }
            let server = try await DevModeServer.open(configuration: configuration, store: Store(driver: test.driver), logger: logger)
            let keyPath = directory.appendingPathComponent("data/audit.key").path
            #expect(configuration.auditKeyPath == keyPath)
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int)
            #expect(mode == 0o600, "audit.key has mode \(String(mode, radix: 8))")
            let anchor = try #require(try AuditKeyFile.read(keyPath))
            #expect(anchor.startSeq == 4)
            let settings = try await server.store.read { try $0.connection.execute("SELECT value FROM settings") }
            #expect(!settings.contains { $0["value"].text?.contains(ByteEncoding.hex(anchor.key)) == true }, "the key is not in the database")

            let fixture = try await TenancyFixture.make(server: server)
            let root = try await TestClient.connect(to: server, token: fixture.serverAdmin.key)
            let result = try await root.send(AuditVerifyRequest())
            #expect(result.ok, "\(result.problems)")
            #expect(result.unanchoredRows == 3)
            #expect(result.anchoredRows == result.rowsChecked - 3 && result.anchoredRows > 0)
            #expect(result.anchorStartSeq == 4)
            await root.close()

            // Another data directory (no key file) over the same, anchored database: refused.
            var elsewhere = configuration
            elsewhere.projects.dataDirectory = directory.appendingPathComponent("elsewhere").path
            let missing = await #expect(throws: AuditKeyFile.Failure.self) {
                _ = try await DevModeServer.open(configuration: elsewhere, store: Store(driver: test.driver), logger: logger)
            }
            #expect(missing?.message.contains("is missing") == true, "\(missing?.message ?? "")")
            #expect(!FileManager.default.fileExists(atPath: elsewhere.auditKeyPath), "no new key over an anchored log")
            // A key of its own (another database's): refused too.
            let strangerKey = AuditAnchor(key: Crypto.randomBytes(AuditAnchor.keyLength), startSeq: 1)
            _ = try AuditKeyFile.create(strangerKey, at: elsewhere.auditKeyPath)
            let mismatch = await #expect(throws: AuditKeyFile.Failure.self) {
                _ = try await DevModeServer.open(configuration: elsewhere, store: Store(driver: test.driver), logger: logger)
            }
            #expect(mismatch?.message.contains("does not give row") == true, "\(mismatch?.message ?? "")")
            // The right file again: the server opens.
            _ = try await DevModeServer.open(configuration: configuration, store: Store(driver: test.driver), logger: logger)
        } catch {
            await test.cleanup()
            throw error
        }
        await test.cleanup()
    }

    @Test(arguments: TestDatabase.allCases)
    func auditQueryShowsEachCallerOnlyWhatTheyManage(database: TestDatabase) async throws {
        try await withServer(database) { server, fixture in
            let adminA = try await TestClient.connect(to: server, token: fixture.adminA.key)
            let adminB = try await TestClient.connect(to: server, token: fixture.adminB.key)
            let viewer = try await TestClient.connect(to: server, token: fixture.viewerA.key)
            let member = try await TestClient.connect(to: server, token: fixture.memberA.key)
            // wendy administers workspace alpha, and nothing else.
            let wendy = try await server.directory.createUser(
                tenantId: fixture.tenantA.id, name: "wendy", email: nil, isTenantAdmin: false, by: .cli)
            let wendyKey = try await server.directory.createAPIKey(
                userId: wendy.id, name: "test", expiresInSeconds: nil, scopes: [], by: .cli)
            _ = try await adminA.send(MemberAddRequest(workspaceId: fixture.workspaceA.id, userId: wendy.id, role: .admin))
            let workspaceAdmin = try await TestClient.connect(to: server, token: wendyKey.secret)

            _ = try await adminA.send(WorkspaceUpdateRequest(workspaceId: fixture.workspaceA.id, description: "a"))
            let other = try await adminA.send(WorkspaceCreateRequest(name: "other"))
            _ = try await adminA.send(WorkspaceUpdateRequest(workspaceId: other.id, description: "elsewhere"))
            _ = try await adminB.send(WorkspaceUpdateRequest(workspaceId: fixture.workspaceB.id, description: "b"))
            _ = try await adminB.send(APIKeyCreateRequest(name: "b-key"))
            // Noise: refusals in tenant B and a failed login (which belongs to no tenant).
            await expectError(.conflict) {
                try await adminB.send(MemberRemoveRequest(workspaceId: fixture.workspaceB.id, userId: fixture.adminB.user.id))
            }
            let stranger = TestClient(server: server)
            await expectError(.unauthenticated) { try await stranger.initialize(token: "dmk_nope") }
            await stranger.close()

            // Tenant admins: their own tenant, all of it, nothing else.
            let seenByA = try await adminA.send(AuditQueryRequest(limit: 500)).entries
            #expect(seenByA.contains { $0.method == WorkspaceUpdateRequest.method && $0.workspaceId == fixture.workspaceA.id })
            #expect(seenByA.contains { $0.workspaceId == other.id })
            #expect(seenByA.allSatisfy { $0.tenantId == fixture.tenantA.id }, "\(seenByA.filter { $0.tenantId != fixture.tenantA.id })")
            let seenByB = try await adminB.send(AuditQueryRequest(limit: 500)).entries
            #expect(seenByB.contains { $0.method == WorkspaceUpdateRequest.method && $0.workspaceId == fixture.workspaceB.id })
            #expect(seenByB.contains { $0.outcome == "denied" })
            #expect(seenByB.allSatisfy { $0.tenantId == fixture.tenantB.id }, "\(seenByB.filter { $0.tenantId != fixture.tenantB.id })")
            // Asking for another tenant's workspace, or filtering by another tenant's actor, shows nothing.
            await expectError(.notFound, "tenant A's admin asks for tenant B's workspace") {
                try await adminA.send(AuditQueryRequest(workspaceId: fixture.workspaceB.id))
            }
            #expect(try await adminA.send(AuditQueryRequest(actor: "user:\(fixture.adminB.user.id)")).entries.isEmpty)
            #expect(try await adminA.send(AuditQueryRequest(actor: "anonymous")).entries.isEmpty)

            // Page by page, the filter holds too.
            var pages = 0
            var cursor: String?
            repeat {
                let page = try await adminA.send(AuditQueryRequest(cursor: cursor, limit: 3))
                #expect(page.entries.allSatisfy { $0.tenantId == fixture.tenantA.id })
                cursor = page.nextCursor
                pages += 1
            } while cursor != nil && pages < 100
            #expect(pages > 1)

            // Workspace viewers and members: forbidden; workspace admins: their workspace only.
            await expectError(.forbidden, "a viewer of alpha") {
                try await viewer.send(AuditQueryRequest(workspaceId: fixture.workspaceA.id))
            }
            await expectError(.forbidden, "a viewer naming no workspace") { try await viewer.send(AuditQueryRequest()) }
            await expectError(.forbidden, "a member of alpha") {
                try await member.send(AuditQueryRequest(workspaceId: fixture.workspaceA.id))
            }
            let seenByWendy = try await workspaceAdmin.send(AuditQueryRequest(workspaceId: fixture.workspaceA.id, limit: 500)).entries
            #expect(!seenByWendy.isEmpty)
            #expect(seenByWendy.allSatisfy { $0.workspaceId == fixture.workspaceA.id && $0.tenantId == fixture.tenantA.id })
            await expectError(.forbidden, "a workspace admin naming no workspace") {
                try await workspaceAdmin.send(AuditQueryRequest())
            }
            await expectError(.notFound, "a workspace admin asking for a workspace it is not in") {
                try await workspaceAdmin.send(AuditQueryRequest(workspaceId: other.id))
            }
            for client in [adminA, adminB, viewer, member, workspaceAdmin] { await client.close() }
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func failedAuthenticationsAreAuditedAsDeniedAnonymousWithoutSecrets(database: TestDatabase) async throws {
        try await withServer(database) { server, fixture in
            let storedSecret = try #require(try await server.store.read { try $0.setting("token_secret") })
            let now = Store.systemClock() / 1000
            let claims = SessionToken.Claims(
                sub: fixture.memberA.user.id, tid: fixture.tenantA.id, iat: now - 7200, exp: now - 3600, jti: "tok_old")
            let unknownKey = "dmk_" + ByteEncoding.base64URL(Crypto.randomBytes(32))
            let attempts: [String?] = [
                unknownKey,
                "my-password-123",
                SessionToken.sign(claims, secret: Array("someone else's key".utf8)),
                SessionToken.sign(claims, secret: Array(storedSecret.utf8)),
                nil,
            ]
            for credential in attempts {
                let client = TestClient(server: server)
                await expectError(.unauthenticated) { try await client.initialize(token: credential) }
                await client.close()
            }

            // The first failure has its row at once; the rest are counted into one row (written here
            // as at the end of the interval).
            await server.authenticator.failedSignIns.flush(endedBy: nil)
            let root = try await TestClient.connect(to: server, token: fixture.serverAdmin.key)
            let denied = try await root.send(
                AuditQueryRequest(method: InitializeRequest.method, outcome: "denied", limit: 500)
            ).entries
            #expect(denied.count == 2)
            #expect(failedSignInCount(denied) == attempts.count)
            for entry in denied {
                #expect(entry.actor == "anonymous")
                #expect(entry.tenantId == nil && entry.workspaceId == nil)
                let fields = [entry.actor, entry.method, entry.target, entry.detail].compactMap { $0 }
                for secret in attempts.compactMap({ $0 }) + [storedSecret] {
                    #expect(!fields.contains { $0.contains(secret) }, "audit row \(entry.seq) holds a secret")
                }
            }
            // The rows say why (every reason), without saying it to the client.
            let details = denied.compactMap(\.detail).joined(separator: "\n")
            for reason in ["unknown API key", "malformed session token", "session token with a bad signature", "expired session token", "no credential"] {
                #expect(details.contains(reason), "\(reason) in \(details)")
            }
            // Successful sign-ins are audited too, under the user and tenant, and say how.
            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)
            let signIns = try await root.send(
                AuditQueryRequest(actor: "user:\(fixture.adminA.user.id)", method: InitializeRequest.method)
            ).entries
            #expect(signIns.count == 1 && signIns.first?.outcome == "success" && signIns.first?.tenantId == fixture.tenantA.id)
            // Failed ones belong to no tenant: a tenant admin sees its own tenant's sign-ins, not them.
            let seenByAdmin = try await admin.send(AuditQueryRequest(method: InitializeRequest.method)).entries
            #expect(!seenByAdmin.isEmpty)
            #expect(seenByAdmin.allSatisfy { $0.actor != "anonymous" && $0.outcome == "success" && $0.tenantId == fixture.tenantA.id })
            await root.close()
            await admin.close()
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func aStormOfBadKeysAddsBoundedRowsWithTheRightCount(database: TestDatabase) async throws {
        let clock = TestClock()
        let policy = SignInPolicy(peerBurst: 10, peerInterval: .seconds(1), auditInterval: .seconds(60))
        try await withServer(database, signIn: policy, clock: clock) { server, fixture in
            let before = try await server.store.read { try $0.auditHead() }.lastSeq
            func attempt(_ peer: String) async {
                let client = TestClient(server: server, peer: peer)
                _ = await rpcError { try await client.initialize(token: "dmk_" + ByteEncoding.base64URL(Crypto.randomBytes(32))) }
                await client.close()
            }
            for _ in 0..<200 { await attempt("203.0.113.7") }
            for _ in 0..<3 { await attempt("198.51.100.1") }
            // One row per address at once; the rest wait for the interval to end.
            #expect(try await server.store.read { try $0.auditHead() }.lastSeq == before + 2)
            #expect(await clock.waitForSleepers(1))
            clock.advance(by: .seconds(60))
            var yields = 0
            while server.authenticator.failedSignIns.flushes < 2 && yields < 1_000_000 {
                await Task.yield()
                yields += 1
            }
            #expect(try await server.store.read { try $0.auditHead() }.lastSeq == before + 4)

            let root = try await TestClient.connect(to: server, token: fixture.serverAdmin.key)
            let rows = try await root.send(AuditQueryRequest(actor: "anonymous", limit: 500)).entries
            let fromStorm = rows.filter { $0.target == "memory:203.0.113.7" }
            #expect(fromStorm.count == 2)
            #expect(failedSignInCount(fromStorm) == 200)
            let summary = try #require(fromStorm.first { $0.detail?.contains("more failed sign-ins") == true }?.detail)
            // 10 allowed by the burst (the first has its own row), 190 throttled.
            #expect(summary.hasPrefix("199 more failed sign-ins within 60000 ms: throttled ×190, unknown API key ×9"), "\(summary)")
            #expect(summary.contains("and "), "the key ids named are bounded: \(summary)")
            #expect(failedSignInCount(rows.filter { $0.target == "memory:198.51.100.1" }) == 3)
            #expect(try await root.send(AuditVerifyRequest()).ok)

            // At shutdown, what is still being counted is written.
            for _ in 0..<5 { await attempt("192.0.2.9") }
            await server.authenticator.failedSignIns.close()
            let late = try await root.send(AuditQueryRequest(actor: "anonymous", limit: 500)).entries.filter { $0.target == "memory:192.0.2.9" }
            #expect(late.count == 2 && failedSignInCount(late) == 5)
            await root.close()
        }
    }
}
