import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import JSONRPC
import Testing

/// What exists already is a conflict (-32013): a taken name, or a key for a disabled user. The
/// refused change leaves nothing behind.
@Suite("Taken names and other conflicts of the directory")
struct TakenNameTests {
    @Test func takenNamesAreConflicts() async throws {
        try await withScratchServer { scratch in
            let fixture = try await TenancyFixture.make(server: scratch.server)
            let root = try await TestClient.connect(to: scratch.server, token: fixture.serverAdmin.key)
            let admin = try await TestClient.connect(to: scratch.server, token: fixture.adminA.key)

            let tenant = await expectError(.conflict, "a taken tenant name") { try await root.send(TenantCreateRequest(name: "tenant-b")) }
            #expect(tenant?.message == "Conflict: that name is already taken")
            #expect(try await root.send(TenantListRequest()).tenants.filter { $0.name == "tenant-b" }.count == 1)

            let user = await expectError(.conflict, "a taken user name") { try await admin.send(UserCreateRequest(name: "mallory")) }
            #expect(user?.message == "Conflict: that name is already taken")

            let workspace = await expectError(.conflict, "a taken workspace name") {
                try await admin.send(WorkspaceCreateRequest(name: "alpha"))
            }
            #expect(workspace?.message == "Conflict: that name is already taken")

            let other = try await admin.send(WorkspaceCreateRequest(name: "gamma"))
            let renamed = await expectError(.conflict, "a rename onto a taken workspace name") {
                try await admin.send(WorkspaceUpdateRequest(workspaceId: other.id, name: "alpha"))
            }
            #expect(renamed?.message == "Conflict: that name is already taken")
            #expect(try await admin.send(WorkspaceGetRequest(workspaceId: other.id)).name == "gamma")
            await admin.close()
            await root.close()
        }
    }

    @Test func aKeyForADisabledUserIsAConflict() async throws {
        try await withScratchServer { scratch in
            let fixture = try await TenancyFixture.make(server: scratch.server)
            let admin = try await TestClient.connect(to: scratch.server, token: fixture.adminA.key)
            _ = try await admin.send(UserDisableRequest(userId: fixture.viewerA.user.id))
            let error = await expectError(.conflict, "a key for a disabled user") {
                try await admin.send(APIKeyCreateRequest(name: "late", userId: fixture.viewerA.user.id))
            }
            #expect(error?.message == "Conflict: the user is disabled")
            #expect(try await admin.send(APIKeyListRequest(userId: fixture.viewerA.user.id)).apiKeys.allSatisfy { $0.name != "late" })
            await admin.close()
        }
    }

    /// Without `--enable-debug-methods` the debug methods do not exist: -32601 naming the method.
    @Test func debugMethodsAreNotFoundWithoutTheFlag() async throws {
        try await withScratchServer(configuration: ServerConfiguration(enableDebugMethods: false)) { scratch in
            let fixture = try await TenancyFixture.make(server: scratch.server)
            let client = try await TestClient.connect(to: scratch.server, token: fixture.serverAdmin.key)
            let print = await expectError(.methodNotFound, "debug/print") { try await client.send(DebugPrintRequest(text: "hello")) }
            #expect(print?.data == ["method": "debug/print"])
            let sleep = await expectError(.methodNotFound, "debug/sleep") { try await client.send(DebugSleepRequest(milliseconds: 1)) }
            #expect(sleep?.data == ["method": "debug/sleep"])
            await client.close()
        }
    }
}
