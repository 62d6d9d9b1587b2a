import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeTestSupport
import JSONRPC
import Testing

/// Tenant isolation, generated from the method registry: every request that names an object by id
/// declares it (`ObjectScopedRequest`), and this suite sends each one at another tenant's object.
/// A method added later is covered by its declaration, or fails `everyRequestDeclaresItsScope`.
@Suite("Isolation between tenants")
struct IsolationTests {
    static let scopedTypes: [any ObjectScopedRequest.Type] = DevModeMessages.requests.compactMap {
        $0 as? any ObjectScopedRequest.Type
    }

    /// Writes a workspace viewer is refused: those on the workspace and on what lives in it.
    static let roleWrites = scopedTypes.filter { $0.isWrite && [.workspace, .project].contains($0.objectKind) }

    /// Reads whose answer may legitimately change: refusals are audited; every completion gets a fresh id.
    static let volatileReads: Set<String> = [AuditQueryRequest.method, AICompleteRequest.method]

    @Test func everyRequestDeclaresItsScope() {
        #expect(DevModeMessages.requests.count >= 50, "the registry lists \(DevModeMessages.requests.count) requests")
        for type in DevModeMessages.requests {
            let method = type.method
            let scoped = type is any ObjectScopedRequest.Type
            let unscoped = DevModeMessages.unscopedRequests[method] != nil
            #expect(
                scoped || unscoped,
                """
                '\(method)' is neither an ObjectScopedRequest nor listed in DevModeMessages.unscopedRequests: \
                declare the object it names (objectIDField, objectKind, isWrite) or why it names none
                """)
            #expect(!(scoped && unscoped), "'\(method)' is an ObjectScopedRequest and also listed as unscoped")
        }
        let registered = Set(DevModeMessages.requests.map { $0.method })
        for method in DevModeMessages.unscopedRequests.keys.sorted() {
            #expect(registered.contains(method), "DevModeMessages.unscopedRequests lists '\(method)', which is not a request")
        }
        #expect(!Self.scopedTypes.isEmpty)
        #expect(Self.roleWrites.contains { $0.objectKind == .workspace })
    }

    @Test func anotherTenantsObjectsAnswerExactlyLikeMissingOnes() async throws {
        try await withScratchServer { scratch in
            let scenario = try await IsolationScenario.make(scratch)
            let before = try await scenario.reads(of: .b)

            // adminA administers tenant A (not the server): tenant B's objects must not exist for it.
            let probes = await scenario.probeTenantB()
            #expect(probes.count == Self.scopedTypes.count, "every object-scoped request is probed")
            for probe in probes {
                let method = probe.type.method
                let kind = probe.type.objectKind
                #expect(probe.foreign?.code == .notFound, "\(method) on tenant B's \(kind): expected -32012, got \(describe(probe.foreign))")
                #expect(probe.absent?.code == .notFound, "\(method) on a missing \(kind): expected -32012, got \(describe(probe.absent))")
                // Same code, same message and data apart from the id: the answer says nothing about existence.
                #expect(
                    redacting(probe.foreignID, in: probe.foreign.map { .string($0.message) })
                        == redacting(probe.absentID, in: probe.absent.map { .string($0.message) }),
                    "\(method): '\(probe.foreign?.message ?? "-")' vs '\(probe.absent?.message ?? "-")'")
                #expect(
                    redacting(probe.foreignID, in: probe.foreign?.data) == redacting(probe.absentID, in: probe.absent?.data),
                    "\(method): error data differs between a foreign and a missing \(kind)")
            }

            // The same reads on tenant A's own objects are served, so the refusals above are the tenant
            // boundary at work and not malformed params (reads only: writes would change things).
            _ = try await scenario.reads(of: .a)

            // Tenant B is intact: every read of its objects answers as before, its admin's key still works.
            #expect(try await scenario.reads(of: .b) == before)
            let adminB = scenario.adminB
            let fixture = scenario.fixture
            #expect(try await adminB.send(WorkspaceListRequest()).workspaces.map(\.id) == [fixture.workspaceB.id])
            let usersB = try await adminB.send(UserListRequest()).users
            #expect(usersB.map(\.id) == [fixture.adminB.user.id] && usersB.allSatisfy { !$0.disabled })
            let keysB = try await adminB.send(APIKeyListRequest()).apiKeys
            #expect(keysB.map(\.id) == [fixture.adminB.keyId] && keysB.allSatisfy { $0.revokedAt == nil })
            let adminBAgain = try await TestClient.connect(to: scratch.server, token: fixture.adminB.key)
            #expect(try await adminBAgain.send(AuthWhoAmIRequest()).userId == fixture.adminB.user.id)
            await adminBAgain.close()
            await scenario.close()
        }
    }

    @Test func aViewerCannotChangeItsWorkspaceOrWhatIsInIt() async throws {
        try await withScratchServer { scratch in
            let scenario = try await IsolationScenario.make(scratch)
            let before = try await scenario.reads(of: .a)
            let writes = try await scenario.viewerWrites()
            #expect(writes.count == Self.roleWrites.count && !writes.isEmpty, "every workspace and project write is tried")
            for (type, _, error) in writes {
                #expect(error?.code == .forbidden, "\(type.method) as a viewer: expected -32011, got \(describe(error))")
            }
            // The viewer still reads, and nothing it tried changed anything.
            _ = try await scenario.viewerA.send(WorkspaceGetRequest(workspaceId: scenario.fixture.workspaceA.id))
            #expect(try await scenario.reads(of: .a) == before)
            #expect(try await scenario.adminA.send(MemberListRequest(workspaceId: scenario.fixture.workspaceA.id)).members.count == 3)
            await scenario.close()
        }
    }

    @Test func everyRefusedWriteLeavesADeniedAuditRow() async throws {
        try await withScratchServer { scratch in
            let scenario = try await IsolationScenario.make(scratch)
            let fixture = scenario.fixture
            let probes = await scenario.probeTenantB().filter { $0.type.isWrite }
            let viewerWrites = try await scenario.viewerWrites()

            func denied(_ actor: User) async throws -> [AuditEntryInfo] {
                try await scenario.root.send(AuditQueryRequest(actor: "user:\(actor.id)", outcome: "denied", limit: 500)).entries
            }
            // A row names the object in its target (possibly as `id:detail`), workspace or tenant, or
            // (for another tenant's objects, which the row is not filed under) in its detail.
            func names(_ entry: AuditEntryInfo, _ id: String) -> Bool {
                entry.workspaceId == id || entry.tenantId == id || entry.target == id || entry.target?.hasPrefix(id + ":") == true
                    || entry.detail?.contains("named: \(id))") == true
            }
            let deniedA = try await denied(fixture.adminA.user)
            var missing: [String] = []
            for probe in probes where !deniedA.contains(where: { $0.method == probe.type.method && names($0, probe.foreignID) }) {
                missing.append("\(probe.type.method) by tenant A's admin on tenant B's \(probe.type.objectKind)")
            }
            let deniedViewer = try await denied(fixture.viewerA.user)
            for (type, id, _) in viewerWrites where !deniedViewer.contains(where: { $0.method == type.method && names($0, id) }) {
                missing.append("\(type.method) by a viewer")
            }
            #expect(missing.isEmpty, "refused writes that left no denied audit row:\n\(missing.joined(separator: "\n"))")
            #expect(try await scenario.root.send(AuditVerifyRequest()).ok)
            await scenario.close()
        }
    }
}

private func describe(_ error: ResponseError?) -> String {
    error.map { "\($0.code.rawValue) \($0.message)" } ?? "success"
}

/// Two tenants (the fixture), a project in each workspace when the registry names projects, and
/// sessions for tenant A's admin, tenant B's admin, tenant A's viewer and the server admin.
struct IsolationScenario {
    enum Side { case a, b }

    struct Probe {
        let type: any ObjectScopedRequest.Type
        let foreignID: String
        let foreign: ResponseError?
        let absentID: String
        let absent: ResponseError?
    }

    let fixture: TenancyFixture
    let adminA: TestClient
    let adminB: TestClient
    let viewerA: TestClient
    let root: TestClient
    let projectA: String?
    let projectB: String?

    static func make(_ scratch: ScratchServer) async throws -> IsolationScenario {
        let server = scratch.server
        let fixture = try await TenancyFixture.make(server: server)
        let adminA = try await TestClient.connect(to: server, token: fixture.adminA.key)
        let adminB = try await TestClient.connect(to: server, token: fixture.adminB.key)
        // Objects of the kinds the fixture has none of, made through RPC by their own tenant.
        var projectA: String?
        var projectB: String?
        if IsolationTests.scopedTypes.contains(where: { $0.objectKind == .project }) {
            projectA = try await adminA.send(ProjectCreateRequest(workspaceId: fixture.workspaceA.id, name: "a-project")).id
            projectB = try await adminB.send(ProjectCreateRequest(workspaceId: fixture.workspaceB.id, name: "b-project")).id
        }
        return IsolationScenario(
            fixture: fixture, adminA: adminA, adminB: adminB,
            viewerA: try await TestClient.connect(to: server, token: fixture.viewerA.key),
            root: try await TestClient.connect(to: server, token: fixture.serverAdmin.key), projectA: projectA,
            projectB: projectB)
    }

    func object(_ kind: ObjectKind, of side: Side) throws -> String {
        switch (kind, side) {
        case (.tenant, .a): return fixture.tenantA.id
        case (.tenant, .b): return fixture.tenantB.id
        case (.user, .a): return fixture.adminA.user.id
        case (.user, .b): return fixture.adminB.user.id
        case (.workspace, .a): return fixture.workspaceA.id
        case (.workspace, .b): return fixture.workspaceB.id
        case (.apiKey, .a): return fixture.adminA.keyId
        case (.apiKey, .b): return fixture.adminB.keyId
        case (.project, .a): return try #require(projectA)
        case (.project, .b): return try #require(projectB)
        }
    }

    /// What each side's admin reads of each of its objects, by every read the registry declares
    /// (each must succeed).
    func reads(of side: Side) async throws -> [String: JSONValue] {
        let client = side == .a ? adminA : adminB
        var answers: [String: JSONValue] = [:]
        for type in IsolationTests.scopedTypes where !type.isWrite && !IsolationTests.volatileReads.contains(type.method) {
            let id = try object(type.objectKind, of: side)
            do {
                answers[type.method] = try await client.connection.send(method: type.method, params: params(type, id: id))
            } catch {
                Issue.record("\(type.method) on tenant \(side)'s own \(type.objectKind) failed for its admin: \(error)")
            }
        }
        return answers
    }

    /// Every object-scoped request, as tenant A's admin, on tenant B's object and on a missing one.
    func probeTenantB() async -> [Probe] {
        var probes: [Probe] = []
        for type in IsolationTests.scopedTypes {
            guard let foreign = try? object(type.objectKind, of: .b) else { continue }
            let absent = missingID(like: foreign)
            let foreignError = await rpcError { try await adminA.connection.send(method: type.method, params: params(type, id: foreign)) }
            let absentError = await rpcError { try await adminA.connection.send(method: type.method, params: params(type, id: absent)) }
            probes.append(Probe(type: type, foreignID: foreign, foreign: foreignError, absentID: absent, absent: absentError))
        }
        return probes
    }

    /// Every write on tenant A's workspace or its projects, as the workspace's viewer.
    func viewerWrites() async throws -> [(type: any ObjectScopedRequest.Type, id: String, error: ResponseError?)] {
        var results: [(type: any ObjectScopedRequest.Type, id: String, error: ResponseError?)] = []
        for type in IsolationTests.roleWrites {
            let id = try object(type.objectKind, of: .a)
            let error = await rpcError { try await viewerA.connection.send(method: type.method, params: params(type, id: id)) }
            results.append((type, id, error))
        }
        return results
    }

    func close() async {
        for client in [adminA, adminB, viewerA, root] { await client.close() }
    }
}
