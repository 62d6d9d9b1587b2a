import DevModeClock
import DevModeProtocol
import DevModeStore
import DevModeTestSupport
import Foundation
import JSONRPC
import Logging
import ServiceLifecycle
import Testing
@testable import DevModeServer

/// The server's time-based rules on a `TestClock`: nothing here waits on the wall clock; each
/// rule holds until the test moves the clock past its interval, and changes then.
@Suite("Time behind the clock")
struct ClockTests {
    static let secret = Array("devmode test secret, 32 bytes or more".utf8)

    // MARK: Credential re-check

    @Test func aKeyRevokedElsewhereWorksUntilTheRecheckIntervalPassesThenTheSessionIsCutOff() async throws {
        let clock = TestClock()
        let configuration = ServerConfiguration(tokenSecret: Self.secret, credentialRecheckInterval: .seconds(5), clock: clock)
        try await withScratchServer(configuration: configuration) { scratch in
            let fixture = try await TenancyFixture.make(server: scratch.server)
            let member = try await TestClient.connect(to: scratch.server, token: fixture.memberA.key)
            _ = try await member.send(WorkspaceListRequest())

            // Revoked in the database behind this server's back (as another process would): this
            // server is not told, so only the re-check can notice.
            let keyId = fixture.memberA.keyId
            #expect(try await scratch.server.store.write { try $0.revokeAPIKey(id: keyId) })

            // Within the interval the session's credential is not re-read: it keeps working.
            clock.advance(by: .seconds(5))
            #expect(try await member.send(AuthWhoAmIRequest()).userId == fixture.memberA.user.id)

            // Past it, the next request re-checks, is refused, and the session is cut off.
            clock.advance(by: .milliseconds(1))
            let error = await rpcError { try await member.send(WorkspaceListRequest()) }
            #expect(error?.code == .unauthenticated, "\(String(describing: error))")
            #expect(error?.message.contains("revoked") == true)
            await expectRefusedOrClosed("the request after the cut-off") { try await member.send(AuthWhoAmIRequest()) }
            await member.close()
        }
    }

    // MARK: Workspace model choices

    @Test func aWorkspacesModelChoiceChangedElsewhereIsSeenWhenTheCacheLifetimePasses() async throws {
        let clock = TestClock()
        try await withScratchServer(configuration: ServerConfiguration(clock: clock)) { scratch in
            let fixture = try await TenancyFixture.make(server: scratch.server)
            let workspaceId = fixture.workspaceA.id
            let ai = scratch.server.ai
            #expect(try await ai.models(workspaceId: workspaceId).map(\.id) == ["local"])

            // Another process disables every model of the workspace.
            try await scratch.server.store.write { try $0.setWorkspaceModels(workspaceId: workspaceId, []) }
            clock.advance(by: AIService.choiceLifetime - .milliseconds(1))
            #expect(try await ai.models(workspaceId: workspaceId).map(\.id) == ["local"], "served from the cache")
            clock.advance(by: .milliseconds(1))
            #expect(try await ai.models(workspaceId: workspaceId).isEmpty, "re-read once the lifetime passed")
        }
    }

    // MARK: Usage flushing

    static func event(_ fixture: TenancyFixture, _ subject: String) -> UsageEvent {
        UsageEvent(
            tenantId: fixture.tenantA.id, workspaceId: fixture.workspaceA.id, userId: fixture.memberA.user.id, kind: .completion,
            model: "local", subject: subject, latencyMs: 1, outcome: "ok")
    }

    static func written(_ server: DevModeServer, _ fixture: TenancyFixture) async throws -> [String] {
        let tenantId = fixture.tenantA.id
        return try await server.store.read { try $0.usageEvents(tenantId: tenantId) }.compactMap(\.subject)
    }

    @Test func theUsageRecorderFlushesEveryIntervalOnItsClockAndOnGracefulShutdown() async throws {
        let clock = TestClock()
        try await withScratchServer(configuration: ServerConfiguration(clock: clock)) { scratch in
            let fixture = try await TenancyFixture.make(server: scratch.server)
            let server = scratch.server
            let recorder = UsageRecorder(store: server.store, logger: server.logger, clock: clock, interval: .seconds(1))
            let group = ServiceGroup(
                configuration: .init(services: [.init(service: recorder)], logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }))
            let running = Task { try await group.run() }

            #expect(await clock.waitForSleepers(1))
            recorder.record(Self.event(fixture, "cmp_one"))
            clock.advance(by: .milliseconds(999))
            #expect(try await Self.written(server, fixture).isEmpty, "not before the interval")
            #expect(recorder.pending == 1)
            clock.advance(by: .milliseconds(1))
            // The loop flushes, then sleeps again: once it sleeps, the event is written.
            #expect(await clock.waitForSleepers(1))
            while recorder.pending > 0 { await Task.yield() }
            #expect(try await Self.written(server, fixture) == ["cmp_one"])

            // Recorded after the last flush, written by the graceful shutdown without moving time.
            recorder.record(Self.event(fixture, "cmp_two"))
            await group.triggerGracefulShutdown()
            try await running.value
            #expect(try await Self.written(server, fixture).sorted() == ["cmp_one", "cmp_two"])
        }
    }

    // MARK: devmode serve's lifecycle

    @Test func serveMigratesOnceAndClosesTheStoreWhenTheServicesFail() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-serve-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let driver = ObservingDriver(base: try await StoreLocation.openDriver(dataDirectory: scratch.path, databaseURL: nil))
        struct Broken: Error {}
        var configuration = ServerConfiguration()
        configuration.projects.dataDirectory = scratch.path
        await #expect(throws: Broken.self) {
            try await DevModeServer.serve(
                driver: driver, configuration: configuration, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            ) { _ in
                [.init(service: FailingService(error: Broken()))]
            }
        }
        #expect(driver.migrations == 1, "the store was migrated \(driver.migrations) times")
        #expect(driver.closed, "the store was left open after the service group threw")

        // The admin path (StoreLocation.open) migrates too, once, on a store opened unmigrated.
        let again = ObservingDriver(base: try await StoreLocation.openDriver(dataDirectory: scratch.path, databaseURL: nil))
        _ = try await Store(driver: again).migrate()
        #expect(again.migrations == 1)
        await again.close()
    }

    @Test func serveClosesTheStoreAfterACleanShutdown() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-serve-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let driver = ObservingDriver(base: try await StoreLocation.openDriver(dataDirectory: scratch.path, databaseURL: nil))
        var configuration = ServerConfiguration()
        configuration.projects.dataDirectory = scratch.path
        try await DevModeServer.serve(
            driver: driver, configuration: configuration, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        ) { _ in
            // Ends at once and shuts the group down, as the stdio service does at `exit`.
            [.init(service: FailingService(error: nil), successTerminationBehavior: .gracefullyShutdownGroup)]
        }
        #expect(driver.migrations == 1)
        #expect(driver.closed)
    }
}

/// A service that fails (or, with no error, ends) at once.
struct FailingService: Service {
    let error: (any Error)?
    func run() async throws {
        if let error { throw error }
    }
}
