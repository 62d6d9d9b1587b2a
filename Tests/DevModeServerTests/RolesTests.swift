import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeTestSupport
import JSONRPC
import Testing

/// The role rules of `Directory`: who may manage members and workspaces, the last owner, tenant
/// admins, and local mode.
@Suite("Roles")
struct RolesTests {
    /// A user of the tenant with no workspace, and a connected session for them.
    private func person(_ server: DevModeServer, _ tenant: Tenant, _ name: String) async throws -> (User, TestClient) {
        let user = try await server.directory.createUser(
            tenantId: tenant.id, name: name, email: nil, isTenantAdmin: false, by: .cli)
        let key = try await server.directory.createAPIKey(userId: user.id, name: "test", expiresInSeconds: nil, scopes: [], by: .cli)
        return (user, try await TestClient.connect(to: server, token: key.secret))
    }

    @Test func memberManagementFollowsTheRoleRules() async throws {
        try await withScratchServer { scratch in
            let server = scratch.server
            let fixture = try await TenancyFixture.make(server: server)
            let (olga, olgaClient) = try await person(server, fixture.tenantA, "olga")
            let (adam, adamClient) = try await person(server, fixture.tenantA, "adam")
            let (mia, miaClient) = try await person(server, fixture.tenantA, "mia")
            let (nick, nickClient) = try await person(server, fixture.tenantA, "nick")
            // alice is tenant A's admin and not a member of gamma; mallory is an ordinary user of tenant A.
            let alice = try await TestClient.connect(to: server, token: fixture.adminA.key)
            let mallory = try await TestClient.connect(to: server, token: fixture.memberA.key)
            let clients = ["olga": olgaClient, "adam": adamClient, "mia": miaClient, "nick": nickClient, "alice": alice, "mallory": mallory]

            // Any user may create a workspace and becomes its owner.
            let gamma = try await olgaClient.send(WorkspaceCreateRequest(name: "gamma"))
            #expect(gamma.role == .owner)
            let ws = JSONValue.string(gamma.id)
            func member(_ user: User, _ role: WorkspaceRole? = nil) -> JSONValue {
                var params: [String: JSONValue] = ["workspaceId": ws, "userId": .string(user.id)]
                if let role { params["role"] = .string(role.rawValue) }
                return .object(params)
            }

            let steps: [(who: String, method: String, params: JSONValue, expected: ErrorCode?, rule: String)] = [
                ("olga", "member/add", member(adam, .admin), nil, "an owner adds an admin"),
                ("olga", "member/add", member(mia, .member), nil, "an owner adds a member"),
                ("mia", "member/add", member(nick, .viewer), .forbidden, "a member cannot add members"),
                ("adam", "member/add", member(nick, .owner), .forbidden, "an admin cannot grant owner"),
                ("adam", "member/add", member(nick, .viewer), nil, "an admin can add members"),
                ("adam", "member/add", member(nick, .viewer), .conflict, "adding a member twice is a conflict"),
                ("adam", "member/setRole", member(nick, .owner), .forbidden, "an admin cannot promote to owner"),
                ("adam", "member/setRole", member(mia, .viewer), nil, "an admin changes roles below owner"),
                ("adam", "member/remove", member(olga), .forbidden, "an admin cannot remove an owner"),
                ("olga", "member/setRole", member(olga, .admin), .conflict, "the last owner cannot be demoted"),
                ("olga", "member/remove", member(olga), .conflict, "the last owner cannot be removed"),
                ("olga", "member/setRole", member(nick, .owner), nil, "an owner grants owner"),
                ("olga", "member/setRole", member(olga, .admin), nil, "with a second owner, an owner may step down"),
                ("nick", "member/remove", member(nick), .conflict, "the new last owner cannot leave either"),
                ("mia", "workspace/update", ["workspaceId": ws, "description": "mine now"], .forbidden, "a viewer cannot change the workspace"),
                ("adam", "workspace/update", ["workspaceId": ws, "description": "by adam"], nil, "an admin changes the workspace"),
                ("adam", "workspace/delete", ["workspaceId": ws], .forbidden, "only an owner deletes a workspace"),
                ("mallory", "workspace/get", ["workspaceId": ws], .notFound, "a non-member sees nothing"),
                ("mallory", "member/add", member(mia, .owner), .notFound, "a non-member cannot add anyone"),
                ("alice", "member/list", ["workspaceId": ws], nil, "a tenant admin sees a workspace it is not in"),
                ("alice", "member/setRole", member(olga, .owner), nil, "a tenant admin grants owner without being a member"),
                ("alice", "member/remove", member(nick), nil, "a tenant admin removes an owner (another one is left)"),
            ]
            for (index, step) in steps.enumerated() {
                let client = try #require(clients[step.who])
                let error = await rpcError { try await client.connection.send(method: step.method, params: step.params) }
                #expect(
                    error?.code == step.expected,
                    """
                    step \(index + 1), \(step.rule): \(step.who) \(step.method) expected \(step.expected.map { "\($0.rawValue)" } ?? "success"), \
                    got \(error.map { "\($0.code.rawValue) \($0.message)" } ?? "success")
                    """)
            }

            let members = try await alice.send(MemberListRequest(workspaceId: gamma.id)).members
            let roles = Dictionary(uniqueKeysWithValues: members.map { ($0.userId, $0.role) })
            #expect(roles == [olga.id: .owner, adam.id: .admin, mia.id: .viewer])
            #expect(try await alice.send(WorkspaceGetRequest(workspaceId: gamma.id)).description == "by adam")

            // A tenant admin deletes a workspace it is not a member of.
            let delta = try await olgaClient.send(WorkspaceCreateRequest(name: "delta"))
            #expect(try await alice.send(WorkspaceDeleteRequest(workspaceId: delta.id)).deleted)
            #expect(try await !olgaClient.send(WorkspaceListRequest()).workspaces.map(\.id).contains(delta.id))
            await expectError(.notFound) { try await olgaClient.send(WorkspaceGetRequest(workspaceId: delta.id)) }

            for client in clients.values { await client.close() }
        }
    }

    @Test func onlyTenantAdminsCreateAndListUsers() async throws {
        try await withScratchServer { scratch in
            let server = scratch.server
            let fixture = try await TenancyFixture.make(server: server)
            let member = try await TestClient.connect(to: server, token: fixture.memberA.key)
            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)

            await expectError(.forbidden, "user/create by a non-admin") { try await member.send(UserCreateRequest(name: "sneaky")) }
            await expectError(.forbidden, "user/list by a non-admin") { try await member.send(UserListRequest()) }
            await expectError(.forbidden, "user/list naming its own tenant") {
                try await member.send(UserListRequest(tenantId: fixture.tenantA.id))
            }
            await expectError(.forbidden, "user/disable by a non-admin") {
                try await member.send(UserDisableRequest(userId: fixture.viewerA.user.id))
            }
            await expectError(.forbidden, "apiKey/create for another user by a non-admin") {
                try await member.send(APIKeyCreateRequest(name: "theirs", userId: fixture.viewerA.user.id))
            }
            // Their own key they may make.
            #expect(try await member.send(APIKeyCreateRequest(name: "mine")).apiKey.userId == fixture.memberA.user.id)

            // The tenant admin may do all of it; the user refused above was never created.
            let created = try await admin.send(UserCreateRequest(name: "newcomer"))
            let names = try await admin.send(UserListRequest()).users.map(\.name)
            #expect(names.contains(created.name))
            #expect(!names.contains("sneaky"))
            await member.close()
            await admin.close()
        }
    }

    @Test func workspaceListShowsOrdinaryUsersOnlyTheirWorkspaces() async throws {
        try await withScratchServer { scratch in
            let server = scratch.server
            let fixture = try await TenancyFixture.make(server: server)
            let member = try await TestClient.connect(to: server, token: fixture.memberA.key)
            let viewer = try await TestClient.connect(to: server, token: fixture.viewerA.key)
            let admin = try await TestClient.connect(to: server, token: fixture.adminA.key)
            let (_, loner) = try await person(server, fixture.tenantA, "loner")

            // The member creates a workspace of their own: the viewer is not in it, the tenant admin sees it.
            let gamma = try await member.send(WorkspaceCreateRequest(name: "gamma"))
            let ofMember = try await member.send(WorkspaceListRequest()).workspaces
            #expect(ofMember.map(\.id) == [fixture.workspaceA.id, gamma.id])
            #expect(ofMember.map(\.role) == [.member, .owner])
            let ofViewer = try await viewer.send(WorkspaceListRequest()).workspaces
            #expect(ofViewer.map(\.id) == [fixture.workspaceA.id])
            #expect(ofViewer.map(\.role) == [.viewer])
            #expect(try await loner.send(WorkspaceListRequest()).workspaces.isEmpty)
            let ofAdmin = try await admin.send(WorkspaceListRequest()).workspaces
            #expect(ofAdmin.map(\.id) == [fixture.workspaceA.id, gamma.id])
            #expect(ofAdmin.map(\.role) == [.owner, nil], "the tenant admin owns alpha and is not a member of gamma")
            await expectError(.notFound, "the viewer asks for a workspace it is not in") {
                try await viewer.send(WorkspaceGetRequest(workspaceId: gamma.id))
            }
            for client in [member, viewer, admin, loner] { await client.close() }
        }
    }

    @Test func tenantAdminsDoNotManageServerAdmins() async throws {
        try await withScratchServer { scratch in
            let server = scratch.server
            let fixture = try await TenancyFixture.make(server: server)
            // A tenant admin of the tenant the server admin belongs to.
            let operators = try await server.directory.tenant(id: fixture.serverAdmin.user.tenantId, for: .cli)
            let opsAdmin = try await server.directory.createUser(
                tenantId: operators.id, name: "ops", email: nil, isTenantAdmin: true, by: .cli)
            let opsKey = try await server.directory.createAPIKey(userId: opsAdmin.id, name: "test", expiresInSeconds: nil, scopes: [], by: .cli)
            let ops = try await TestClient.connect(to: server, token: opsKey.secret)
            let root = fixture.serverAdmin.user.id

            // It manages its tenant's ordinary users…
            let intern = try await ops.send(UserCreateRequest(name: "intern"))
            _ = try await ops.send(APIKeyCreateRequest(name: "for-intern", userId: intern.id))
            #expect(try await ops.send(UserDisableRequest(userId: intern.id)).disabled)
            // …but minting a key for the server admin, or disabling them, would be a way up.
            await expectError(.forbidden, "a key for the server admin") {
                try await ops.send(APIKeyCreateRequest(name: "way-up", userId: root))
            }
            await expectError(.forbidden, "disabling the server admin") { try await ops.send(UserDisableRequest(userId: root)) }
            await expectError(.forbidden, "revoking the server admin's key") {
                try await ops.send(APIKeyRevokeRequest(apiKeyId: fixture.serverAdmin.keyId))
            }
            // The server admin is untouched and still signs in.
            let rootSession = try await TestClient.connect(to: server, token: fixture.serverAdmin.key)
            #expect(try await rootSession.send(AuthWhoAmIRequest()).isServerAdmin)
            await ops.close()
            await rootSession.close()
        }
    }

    @Test func localModeActsAsTheSameLocalUserAcrossRestarts() async throws {
        let configuration = ServerConfiguration(localMode: true)
        try await withScratchServer(configuration: configuration) { first in
            let client = TestClient(server: first.server, local: true)
            let initialized = try await client.initialize(token: nil)
            let identity = try #require(initialized.identity)
            #expect(identity.credential == "local")
            #expect(identity.userName == "local")
            #expect(try await client.send(AuthWhoAmIRequest()) == identity)
            let workspaces = try await client.send(WorkspaceListRequest()).workspaces
            #expect(workspaces.map(\.name) == ["default"])
            #expect(workspaces.first?.role == .owner)
            await client.close()

            // Opened again on the same database: the same tenant, user and workspace, provisioned once.
            let second = try await ScratchServer.open(configuration: configuration, directory: first.directory)
            do {
                let again = try await TestClient.connect(to: second.server, token: nil, local: true)
                let identityAgain = try await again.send(AuthWhoAmIRequest())
                #expect(identityAgain.userId == identity.userId)
                #expect(identityAgain.tenantId == identity.tenantId)
                #expect(try await again.send(WorkspaceListRequest()).workspaces.map(\.id) == workspaces.map(\.id))
                #expect(try await again.send(TenantListRequest()).tenants.count == 1)
                await again.close()
            } catch {
                await second.close(remove: false)
                throw error
            }
            await second.close(remove: false)
        }
    }
}
