import DevModeCrypto
import DevModeStore
import DevModeTestSupport
import Foundation
import Testing

/// The Store's behaviour, the same on both engines.
@Suite("Store")
struct StoreTests {
    /// A migrated Store on a fresh database, or nil when that engine is not available here.
    private func withStore(_ database: TestDatabase, _ body: (Store) async throws -> Void) async throws {
        guard let test = try await makeTestDriver(database) else { return }
        let store = Store(driver: test.driver)
        do {
            try await store.migrate()
            try await body(store)
        } catch {
            await test.cleanup()
            throw error
        }
        await test.cleanup()
    }

    @Test(arguments: TestDatabase.allCases)
    func migratingTwiceChangesNothing(database: TestDatabase) async throws {
        try await withStore(database) { store in
            let again = try await store.migrate()
            #expect(again.isEmpty)
            let versions = try await store.read { try $0.connection.execute("SELECT version FROM schema_migrations") }
            #expect(versions.count == Schema.migrations.count)
            let head = try await store.read { try $0.auditHead() }
            #expect(head.lastSeq == 0)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func tenancyRowsRoundTrip(database: TestDatabase) async throws {
        try await withStore(database) { store in
            let tenant = Tenant(id: "ten_1", name: "Ünïcode tenant ✓", createdAt: 1_700_000_000_123)
            let user = User(
                id: "usr_1", tenantId: tenant.id, name: "ada", email: "ada@example.com", isServerAdmin: false,
                isTenantAdmin: true, createdAt: 1_700_000_000_124)
            let workspace = Workspace(
                id: "wsp_1", tenantId: tenant.id, name: "w", description: nil, createdAt: 5, updatedAt: 6)
            let key = APIKeyRecord(
                id: "key_1", userId: user.id, tenantId: tenant.id, name: "k", prefix: "dmk_abc", hash: "ab12",
                scopes: ["workspace", "file"], createdAt: 7, expiresAt: 99)
            try await store.write { transaction in
                try transaction.insertTenant(tenant)
                try transaction.insertUser(user)
                try transaction.insertWorkspace(workspace)
                try transaction.upsertMembership(Membership(workspaceId: workspace.id, userId: user.id, role: .admin, createdAt: 8))
                try transaction.insertAPIKey(key)
            }
            let read = try await store.read { transaction in
                (
                    try transaction.tenant(id: tenant.id), try transaction.user(id: user.id),
                    try transaction.workspace(id: workspace.id),
                    try transaction.membership(workspaceId: workspace.id, userId: user.id),
                    try transaction.apiKey(hash: "ab12")
                )
            }
            #expect(read.0 == tenant)
            #expect(read.1 == user)
            #expect(read.2 == workspace)
            #expect(read.3?.role == .admin)
            #expect(read.4 == key)

            // Upsert changes the role; revoke is once only; disabling is visible.
            try await store.write { transaction in
                try transaction.upsertMembership(Membership(workspaceId: workspace.id, userId: user.id, role: .viewer, createdAt: 9))
                #expect(try transaction.revokeAPIKey(id: key.id))
                #expect(try !transaction.revokeAPIKey(id: key.id))
                #expect(try transaction.setUserDisabled(id: user.id, true))
                #expect(try !transaction.setUserDisabled(id: "usr_missing", true))
            }
            let after = try await store.read { transaction in
                (try transaction.membership(workspaceId: workspace.id, userId: user.id), try transaction.apiKey(id: key.id),
                    try transaction.user(id: user.id))
            }
            #expect(after.0?.role == .viewer)
            #expect(after.0?.createdAt == 8)
            #expect(after.1?.revokedAt != nil)
            #expect(after.2?.isDisabled == true)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func duplicateNamesAreUniqueViolations(database: TestDatabase) async throws {
        try await withStore(database) { store in
            try await store.write { try $0.insertTenant(Tenant(id: "ten_1", name: "same", createdAt: 1)) }
            await #expect {
                try await store.write { try $0.insertTenant(Tenant(id: "ten_2", name: "same", createdAt: 1)) }
            } throws: { error in
                (error as? SQLError)?.kind == .uniqueViolation
            }
            // The failed transaction left nothing behind.
            #expect(try await store.read { try $0.tenants().map(\.id) } == ["ten_1"])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func concurrentAuditAppendsFormOneUnbrokenChain(database: TestDatabase) async throws {
        try await withStore(database) { store in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<60 {
                    group.addTask {
                        try await store.audit(AuditEvent(actor: "user:\(index % 3)", method: "test/append", target: "\(index)"))
                    }
                }
                try await group.waitForAll()
            }
            let verification = try await store.verifyAudit(pageSize: 7)
            #expect(verification.ok, "\(verification.problems)")
            #expect(verification.rowsChecked == 60)
            #expect(verification.lastSeq == 60)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func verifyNamesAnEditedAndADeletedRow(database: TestDatabase) async throws {
        try await withStore(database) { store in
            for index in 1...10 {
                try await store.audit(AuditEvent(actor: "cli", method: "test/append", target: "t\(index)"))
            }
            #expect(try await store.verifyAudit().ok)
            try await store.write { transaction in
                try transaction.connection.execute("UPDATE audit_log SET target = 'forged' WHERE seq = 3")
                try transaction.connection.execute("DELETE FROM audit_log WHERE seq = 7")
            }
            let verification = try await store.verifyAudit()
            #expect(!verification.ok)
            #expect(verification.problems.map(\.seq) == [3, 7])
            #expect(verification.problems.map(\.kind) == [.altered, .missing])
        }
    }

    private static func anchor(startSeq: Int64 = 1) -> AuditAnchor {
        AuditAnchor(key: Crypto.randomBytes(AuditAnchor.keyLength), startSeq: startSeq)
    }

    /// The hole the anchors close: rewrite a row and every row after it, hashes and head recomputed,
    /// and the hash chain alone (the old `verifyAudit`) sees nothing.
    @Test(arguments: TestDatabase.allCases)
    func aRewrittenTailWithRecomputedHashesIsNamedByItsAnchor(database: TestDatabase) async throws {
        try await withStore(database) { store in
            store.anchorAudit(with: Self.anchor())
            for index in 1...8 {
                try await store.audit(AuditEvent(actor: "cli", method: "test/append", target: "t\(index)"))
            }
            let clean = try await store.verifyAudit()
            #expect(clean.ok && clean.anchoredRows == 8 && clean.unanchoredRows == 0 && clean.anchorStartSeq == 1)

            let rewritten = try await AuditForgery.rewrite(store, from: 4) { $0.target = "forged" }
            #expect(rewritten == 5)
            let verification = try await store.verifyAudit(pageSize: 3)
            #expect(!verification.ok)
            #expect(verification.problems.map { "\($0.seq) \($0.kind)" } == ["4 anchor"], "\(verification.problems)")
            #expect(verification.problems.first?.detail.contains("rows 4…8") == true, "\(verification.problems)")

            // Without the key only the chain is checked, and it holds: the rewrite is invisible to it.
            let anchor = store.auditAnchor
            store.anchorAudit(with: nil)
            let chainOnly = try await store.verifyAudit()
            #expect(!chainOnly.problems.contains { $0.kind == .altered || $0.kind == .missing || $0.kind == .anchor })
            #expect(chainOnly.problems.map { "\($0.seq) \($0.kind)" } == ["1 unverifiable"], "anchors without a key are not a pass")
            store.anchorAudit(with: anchor)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func rewrittenRowsWithTheirAnchorsBlankedAreNotPassedOffAsOld(database: TestDatabase) async throws {
        try await withStore(database) { store in
            for index in 1...3 {
                try await store.audit(AuditEvent(actor: "cli", method: "test/old", target: "o\(index)"))
            }
            store.anchorAudit(with: Self.anchor(startSeq: 4))
            for index in 4...9 {
                try await store.audit(AuditEvent(actor: "cli", method: "test/new", target: "n\(index)"))
            }
            #expect(try await store.verifyAudit().ok)
            try await AuditForgery.rewrite(store, from: 6, blankAnchors: true) { $0.outcome = .denied }
            let verification = try await store.verifyAudit()
            #expect(verification.problems.map { "\($0.seq) \($0.kind)" } == ["6 anchor"], "\(verification.problems)")
            #expect(verification.problems.first?.detail.contains("no anchor") == true, "\(verification.problems)")
            #expect(verification.anchoredRows == 2 && verification.unanchoredRows == 3)
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func rowsFromBeforeAnchoringAreCountedNotFailed(database: TestDatabase) async throws {
        try await withStore(database) { store in
            for index in 1...4 {
                try await store.audit(AuditEvent(actor: "cli", method: "test/old", target: "o\(index)"))
            }
            store.anchorAudit(with: Self.anchor(startSeq: 5))
            for index in 5...7 {
                try await store.audit(AuditEvent(actor: "cli", method: "test/new", target: "n\(index)"))
            }
            let verification = try await store.verifyAudit()
            #expect(verification.ok, "\(verification.problems)")
            #expect(verification.rowsChecked == 7)
            #expect(verification.unanchoredRows == 4)
            #expect(verification.anchoredRows == 3)
            #expect(verification.anchorStartSeq == 5)
            // A row anchored with another key is caught as well.
            store.anchorAudit(with: Self.anchor(startSeq: 5))
            let otherKey = try await store.verifyAudit()
            #expect(otherKey.problems.map { "\($0.seq) \($0.kind)" } == ["5 anchor"], "\(otherKey.problems)")
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func verifyCatchesARowRewrittenWithItsOwnHashAndADeletedTail(database: TestDatabase) async throws {
        try await withStore(database) { store in
            for index in 1...6 {
                try await store.audit(AuditEvent(actor: "cli", method: "test/append", target: "t\(index)"))
            }
            // A careful forger recomputes the edited row's hash; the next row still links to the original.
            let row = try await store.read { try $0.auditRows(afterSeq: 1, limit: 1) }.first!
            var forged = row
            forged.outcome = .denied
            forged.hash = AuditChain.hash(forged)
            let forgedHash = forged.hash
            try await store.write { transaction in
                try transaction.connection.execute(
                    "UPDATE audit_log SET outcome = 'denied', hash = ? WHERE seq = 2", .text(forgedHash))
                try transaction.connection.execute("DELETE FROM audit_log WHERE seq = 6")
            }
            let verification = try await store.verifyAudit()
            #expect(verification.problems.map(\.seq) == [2, 6])
            #expect(verification.problems.map(\.kind) == [.altered, .missing])
        }
    }

    @Test(arguments: TestDatabase.allCases)
    func auditQueryFiltersAndPages(database: TestDatabase) async throws {
        try await withStore(database) { store in
            for index in 1...25 {
                try await store.audit(
                    AuditEvent(
                        actor: index % 2 == 0 ? "user:even" : "user:odd", tenantId: "ten_a",
                        workspaceId: index % 5 == 0 ? "wsp_five" : nil, method: index <= 20 ? "a/b" : "c/d",
                        outcome: index == 13 ? .denied : .success))
            }
            let evens = try await store.read { try $0.queryAudit(AuditFilter(actor: "user:even", limit: 100)) }
            #expect(evens.count == 12)
            #expect(evens.map(\.seq) == evens.map(\.seq).sorted(by: >))
            let denied = try await store.read { try $0.queryAudit(AuditFilter(outcome: .denied)) }
            #expect(denied.map(\.seq) == [13])
            let five = try await store.read { try $0.queryAudit(AuditFilter(workspaceId: "wsp_five", method: "a/b")) }
            #expect(five.map(\.seq) == [20, 15, 10, 5])
            // Pages of 10, newest first, with no row twice and none left out.
            var seen: [Int64] = []
            var cursor: Int64?
            repeat {
                let filter = AuditFilter(beforeSeq: cursor, limit: 10)
                let page = try await store.read { try $0.queryAudit(filter) }
                seen += page.map(\.seq)
                cursor = page.count == 10 ? page.last?.seq : nil
            } while cursor != nil
            #expect(seen == Array((1...25).reversed()))
        }
    }
}
