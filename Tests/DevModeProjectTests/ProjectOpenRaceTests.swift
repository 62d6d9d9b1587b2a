import DevModeGit
import DevModeProtocol
import DevModeStore
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing
@testable import DevModeServer

/// `project/open` of one folder by two callers at once. The second one's insert hits the unique
/// name of its workspace, and it retries by looking the folder up. The old retry returned the
/// project it found without the rights check that the first lookup makes: a caller with no right to
/// that project's workspace was handed it (another tenant's project, its id and its folder).
/// The race is made at a known point: the store driver hides the first lookup of the folder, as if
/// the other open had not committed yet.
@Suite("project/open race")
struct ProjectOpenRaceTests {
    static let rootLookup = "FROM projects WHERE root = ?"

    @Test func theRetryAfterAUniqueViolationChecksTheCallersRights() async throws {
        let base = try #require(try await makeTestDriver(TestStore.engine))
        let driver = ObservingDriver(base: base.driver)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-open-race-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let other = folder + "-other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(atPath: folder)
            try? FileManager.default.removeItem(atPath: other)
        }
        try await ProjectWorld.run(driver: driver) { world in
            let server = world.server
            let fixture = world.fixture
            func principal(_ person: TenancyFixture.Person) async throws -> Principal {
                .caller(try await server.authenticator.authenticate(person.key, transport: "memory"))
            }
            let signature = GitSignature(name: "test", email: "test@devmode.invalid", time: Date())
            let adminB = try await principal(fixture.adminB)
            let memberA = try await principal(fixture.memberA)

            // Tenant B's admin opened the folder in workspace B, as "shared"; workspace A has a
            // project of that name too (another folder).
            let existing = try await server.projects.openLocal(
                root: folder, name: "shared", workspaceId: fixture.workspaceB.id, by: adminB, signature: signature)
            _ = try await server.projects.openLocal(
                root: other, name: "shared", workspaceId: fixture.workspaceA.id, by: try await principal(fixture.adminA),
                signature: signature)

            // A member of workspace A only opens the same folder into A as "shared": its lookup of the
            // folder misses (the race), its insert hits A's unique name, its retry finds B's project,
            // which it may not see. It is told the name is taken, and nothing of B's project.
            driver.arm(Self.rootLookup, count: 1, hide: true)
            let refused = await expectError(.conflict, "a member of workspace A only, retrying onto workspace B's project") {
                try await server.projects.openLocal(
                    root: folder, name: "shared", workspaceId: fixture.workspaceA.id, by: memberA, signature: signature)
            }
            #expect(driver.remaining(Self.rootLookup) == 0, "the first lookup was not made")
            #expect(refused?.data == nil, "\(String(describing: refused?.data))")
            #expect(refused?.message.contains("name") == true, "\(refused?.message ?? "")")
            #expect(refused?.message.contains(existing.id) == false)
            #expect(refused?.message.contains(folder) == false)

            // The same race for a caller who may see the project: the retry gives that project.
            driver.arm(Self.rootLookup, count: 1, hide: true)
            let again = try await server.projects.openLocal(
                root: folder, name: "shared", workspaceId: fixture.workspaceB.id, by: adminB, signature: signature)
            #expect(driver.remaining(Self.rootLookup) == 0)
            #expect(again.id == existing.id)
            #expect(again.workspaceId == fixture.workspaceB.id)
        }
        await base.cleanup()
    }
}
