import DevModeServer
import DevModeStore
import DevModeStoreSQLite
import Foundation

/// A real server over a fresh database: SQLite in a temporary directory, or PostgreSQL when the
/// suites run with DEVMODE_TEST_STORE=postgres (`TestStore`).
public enum TestServer {
    /// Hosted projects go to a fresh temporary data directory unless the configuration names one.
    public static func make(
        configuration: ServerConfiguration = ServerConfiguration(enableDebugMethods: true),
        driver: (any SQLDriver)? = nil
    ) async throws -> DevModeServer {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-test-\(UUID().uuidString)")
        let store: Store
        if let driver {
            store = Store(driver: driver)
        } else {
            store = Store(driver: try await TestStore.makeDriver(sqlitePath: directory.path + "/devmode.sqlite3"))
        }
        var configuration = configuration
        if configuration.projects.dataDirectory == StoreLocation.defaultDataDirectory {
            configuration.projects.dataDirectory = directory.path
        }
        return try await DevModeServer.open(configuration: configuration, store: store)
    }
}

/// Two tenants, with an admin, a member and a viewer in the first, and an admin in the second;
/// a workspace in each; an API key for everyone. For rights and isolation tests.
public struct TenancyFixture: Sendable {
    public struct Person: Sendable {
        public let user: User
        public let key: String
        public let keyId: String
    }

    public let server: DevModeServer
    public let serverAdmin: Person
    public let tenantA: Tenant
    public let tenantB: Tenant
    public let adminA: Person
    public let memberA: Person
    public let viewerA: Person
    public let adminB: Person
    public let workspaceA: Workspace
    public let workspaceB: Workspace

    public static func make(server: DevModeServer) async throws -> TenancyFixture {
        let directory = server.directory
        func person(_ tenant: Tenant, _ name: String, tenantAdmin: Bool, serverAdmin: Bool = false) async throws -> Person {
            let user = try await directory.createUser(
                tenantId: tenant.id, name: name, email: nil, isTenantAdmin: tenantAdmin, isServerAdmin: serverAdmin, by: .cli)
            let key = try await directory.createAPIKey(userId: user.id, name: "test", expiresInSeconds: nil, scopes: [], by: .cli)
            return Person(user: user, key: key.secret, keyId: key.record.id)
        }
        let operators = try await directory.createTenant(name: "operators", by: .cli)
        let serverAdmin = try await person(operators, "root", tenantAdmin: true, serverAdmin: true)
        let tenantA = try await directory.createTenant(name: "tenant-a", by: .cli)
        let tenantB = try await directory.createTenant(name: "tenant-b", by: .cli)
        let adminA = try await person(tenantA, "alice", tenantAdmin: true)
        let memberA = try await person(tenantA, "mallory", tenantAdmin: false)
        let viewerA = try await person(tenantA, "victor", tenantAdmin: false)
        let adminB = try await person(tenantB, "bob", tenantAdmin: true)
        let (workspaceA, _) = try await directory.createWorkspace(
            tenantId: tenantA.id, name: "alpha", description: nil, ownerId: adminA.user.id, by: .cli)
        _ = try await directory.setMember(workspaceId: workspaceA.id, userId: memberA.user.id, role: .member, adding: true, by: .cli)
        _ = try await directory.setMember(workspaceId: workspaceA.id, userId: viewerA.user.id, role: .viewer, adding: true, by: .cli)
        let (workspaceB, _) = try await directory.createWorkspace(
            tenantId: tenantB.id, name: "beta", description: nil, ownerId: adminB.user.id, by: .cli)
        return TenancyFixture(
            server: server, serverAdmin: serverAdmin, tenantA: tenantA, tenantB: tenantB, adminA: adminA, memberA: memberA,
            viewerA: viewerA, adminB: adminB, workspaceA: workspaceA, workspaceB: workspaceB)
    }
}
