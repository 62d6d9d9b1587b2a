import DevModeClock
import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// -32603 is the server's own failure, and every method's spec entry lists it: every request runs
/// through the session's credential re-check, so a store that fails there makes each one answer it
/// (vague on purpose: no data, no details), whatever the method. Generated from the registry.
@Suite("Every method answers -32603 when the store fails")
struct EveryMethodInternalErrorTests {
    @Test func everyRequestAnswersInternalErrorWhenTheCredentialRecheckFails() async throws {
        let methods = DevModeMessages.requests.map { $0.method }
        #expect(methods.count == 59, "the registry lists \(methods.count) requests; update the count")
        let examples = try SpecExamples.load()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-fault-\(UUID().uuidString)")
        let driver = ObservingDriver(base: try await TestStore.makeDriver(sqlitePath: directory.path + "/devmode.sqlite3"))
        let clock = TestClock()
        var configuration = ServerConfiguration(enableDebugMethods: true, credentialRecheckInterval: .seconds(5), clock: clock)
        configuration.projects.dataDirectory = directory.path
        let server = try await TestServer.make(configuration: configuration, driver: driver)
        let fixture = try await TenancyFixture.make(server: server)
        let client = try await TestClient.connect(to: server, token: fixture.adminA.key)

        // The next request re-checks the key (`credentialRecheckInterval` has passed), and the
        // store fails that read; the session stays due for a re-check, so every request fails so.
        let keyByID = "FROM api_keys WHERE id = ?"
        driver.arm(keyByID, count: 1_000)
        clock.advance(by: .seconds(6))
        var answered = 0
        for method in methods where method != InitializeRequest.method {
            let error = await expectError(.internalError, method) {
                try await client.connection.send(method: method, params: examples.params[method] ?? nil)
            }
            #expect(error?.message == "Internal error" && error?.data == nil, "\(method): \(error?.message ?? "")")
            answered += 1
        }
        #expect(answered == methods.count - 1)
        #expect(driver.remaining(keyByID) == 1_000 - answered, "a request did not reach the re-check")
        await client.close()

        // `initialize` looks the key up by its hash: a store failure there is -32603 too.
        let keyByHash = "FROM api_keys WHERE hash = ?"
        driver.arm(keyByHash, count: 1)
        let other = TestClient(server: server)
        let error = await expectError(.internalError, "initialize") { try await other.initialize(token: fixture.memberA.key) }
        #expect(error?.data == nil)
        #expect(driver.remaining(keyByHash) == 0)
        await other.close()
        await server.close()
        try? FileManager.default.removeItem(at: directory)
    }
}
