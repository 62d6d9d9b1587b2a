import DevModeClock
import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// The codes every method's spec entry lists because the connection or the session answers them
/// whatever the method is: each one is sent to every request in the registry, so a method added
/// later is covered too. The params are each method's first example in `protocol/openrpc.json`.
@Suite("Every method's generic error codes")
struct EveryMethodErrorTests {
    static let methods = DevModeMessages.requests.map { $0.method }

    @Test func theRegistryAndTheExamplesCoverEveryRequest() throws {
        #expect(Self.methods.count == 59, "the registry lists \(Self.methods.count) requests; update the count")
        let examples = try SpecExamples.load()
        for method in Self.methods {
            #expect(examples.params[method] != nil, "\(method) has no example params in openrpc.json")
        }
    }

    @Test func everyRequestButInitializeIsRefusedBeforeInitialize() async throws {
        let examples = try SpecExamples.load()
        let server = try await TestServer.make()
        let client = TestClient(server: server)
        var answered = 0
        for method in Self.methods where method != InitializeRequest.method {
            let error = await expectError(.serverNotInitialized, method) {
                try await client.connection.send(method: method, params: examples.params[method] ?? nil)
            }
            #expect(error?.data == nil, "\(method)")
            answered += 1
        }
        #expect(answered == Self.methods.count - 1)
        await client.close()
        await server.close()
    }

    @Test func everyRequestWithParamsThatAreNotAnObjectIsInvalidParams() async throws {
        let server = try await TestServer.make()
        let client = TestClient(server: server)
        for method in Self.methods {
            let error = await expectError(.invalidParams, method) {
                try await client.connection.send(method: method, params: "not an object")
            }
            #expect(error?.message == "Invalid params: params must be an object", "\(method)")
        }
        await client.close()
        await server.close()
    }

    @Test func everyRequestAfterShutdownIsAnInvalidRequest() async throws {
        let examples = try SpecExamples.load()
        let server = try await TestServer.make()
        let fixture = try await TenancyFixture.make(server: server)
        let client = try await TestClient.connect(to: server, token: fixture.adminA.key)
        _ = try await client.send(ShutdownRequest())
        for method in Self.methods {
            let error = await expectError(.invalidRequest, method) {
                try await client.connection.send(method: method, params: examples.params[method] ?? nil)
            }
            #expect(error?.message.contains("shutting down") == true, "\(method): \(error?.message ?? "")")
        }
        await client.close()
        await server.close()
    }

    /// A session whose API key was revoked elsewhere (another process: no cut-off here) finds out at
    /// its next credential re-check: that request, whichever, answers -32010 and the connection
    /// closes. `initialize` with the revoked key is refused the same way.
    @Test func everyRequestOfASessionWhoseKeyWasRevokedIsUnauthenticated() async throws {
        let examples = try SpecExamples.load()
        let clock = TestClock()
        let server = try await TestServer.make(configuration: Self.configuration(clock: clock))
        let fixture = try await TenancyFixture.make(server: server)
        for method in Self.methods {
            let key = try await server.directory.createAPIKey(
                userId: fixture.memberA.user.id, name: "cut-off", expiresInSeconds: nil, scopes: [], by: .cli)
            let member = TestClient(server: server)
            if method != InitializeRequest.method { try await member.initialize(token: key.secret) }
            _ = try await server.directory.revokeAPIKey(id: key.record.id, by: .cli)
            clock.advance(by: Self.recheckInterval + .seconds(1))
            let params: JSONValue? =
                method == InitializeRequest.method
                ? ["initializationOptions": ["token": .string(key.secret)]] : examples.params[method] ?? nil
            let error = await expectError(.unauthenticated, method) {
                try await member.connection.send(method: method, params: params)
            }
            #expect(error?.data == nil, "\(method)")
            await member.close()
        }
        await server.close()
    }

    /// An API key with scopes may call only the areas it names: every method outside them (but the
    /// three always allowed, and `initialize`) answers -32011 naming the scopes and the area.
    @Test func everyRequestOutsideTheKeysScopesIsForbidden() async throws {
        let examples = try SpecExamples.load()
        let server = try await TestServer.make()
        let fixture = try await TenancyFixture.make(server: server)
        let alwaysAllowed: Set<String> = [
            InitializeRequest.method, ShutdownRequest.method, AuthWhoAmIRequest.method, ServerInfoRequest.method,
        ]
        var refused = 0
        for method in Self.methods where !alwaysAllowed.contains(method) {
            let area = String(method.split(separator: "/").first ?? "")
            let other = area == "file" ? "vcs" : "file"
            let key = try await server.directory.createAPIKey(
                userId: fixture.adminA.user.id, name: "scoped", expiresInSeconds: nil, scopes: [other], by: .cli)
            let client = try await TestClient.connect(to: server, token: key.secret)
            let error = await expectError(.forbidden, method) {
                try await client.connection.send(method: method, params: examples.params[method] ?? nil)
            }
            #expect(error?.message.contains("(\(other)) do not include '\(area)'") == true, "\(method): \(error?.message ?? "")")
            await client.close()
            refused += 1
        }
        #expect(refused == Self.methods.count - alwaysAllowed.count)
        await server.close()
    }

    /// With `maxRequestsInFlight` 1 held by a `debug/sleep` on the test clock, every other request
    /// is answered -32021 at once, with the limit in `data`.
    @Test func everyRequestOverTheInFlightLimitIsTooManyRequests() async throws {
        let examples = try SpecExamples.load()
        let clock = TestClock()
        let server = try await TestServer.make(configuration: Self.configuration(clock: clock, maxRequestsInFlight: 1))
        let fixture = try await TenancyFixture.make(server: server)
        let client = try await TestClient.connect(to: server, token: fixture.adminA.key)
        let sleepers = clock.sleepers
        let sleep = Task { try await client.send(DebugSleepRequest(milliseconds: 60_000)) }
        #expect(await clock.waitForSleepers(sleepers + 1))
        for method in Self.methods {
            let error = await expectError(.tooManyRequests, method) {
                try await client.connection.send(method: method, params: examples.params[method] ?? nil)
            }
            #expect(error?.data == ["limit": 1, "setting": "maxRequestsInFlight"], "\(method)")
        }
        clock.advance(by: .seconds(60))
        #expect(try await sleep.value.slept == 60_000)
        await client.close()
        await server.close()
    }

    /// Held behind a barrier (a second `initialize` waiting for a `debug/sleep` on the test clock),
    /// each request is still unanswered when its `$/cancelRequest` arrives: it answers -32800.
    @Test func everyRequestCancelledBeforeItIsAnsweredIsRequestCancelled() async throws {
        let examples = try SpecExamples.load()
        let clock = TestClock()
        let server = try await TestServer.make(configuration: Self.configuration(clock: clock))
        let fixture = try await TenancyFixture.make(server: server)
        let client = try await TestClient.connect(to: server, token: fixture.adminA.key)
        let held = try await Self.holdBehindABarrier(client, clock: clock)
        for method in Self.methods {
            let id = RequestID.string("cancel-\(method)")
            let reply = Task { try await client.connection.send(method: method, params: examples.params[method] ?? nil, id: id) }
            #expect(await Self.waitUntilInFlight(client, held + 1), "\(method) was not read")
            client.send(CancelRequestNotification(id: id))
            let error = await expectError(.requestCancelled, method) { try await reply.value }
            #expect(error?.data == nil, "\(method)")
        }
        clock.advance(by: .seconds(60))
        await client.close()
        await server.close()
    }

    /// Held behind the same barrier, every request is still in flight when the server stops the
    /// connection with no grace left (SIGTERM past `--shutdown-grace`): each answers -32802.
    @Test func everyRequestStillInFlightAtShutdownIsServerCancelled() async throws {
        let examples = try SpecExamples.load()
        let clock = TestClock()
        let server = try await TestServer.make(configuration: Self.configuration(clock: clock))
        let fixture = try await TenancyFixture.make(server: server)
        let client = try await TestClient.connect(to: server, token: fixture.adminA.key)
        let held = try await Self.holdBehindABarrier(client, clock: clock)
        var replies: [(String, Task<JSONValue, any Error>)] = []
        for method in Self.methods {
            replies.append((method, Task { try await client.connection.send(method: method, params: examples.params[method] ?? nil) }))
            #expect(await Self.waitUntilInFlight(client, held + replies.count), "\(method) was not read")
        }
        await client.serverConnection.stop(grace: .zero)
        for (method, reply) in replies {
            let error = await expectError(.serverCancelled, method) { try await reply.value }
            #expect(error?.message == "Server is shutting down", "\(method)")
        }
        await client.close()
        await server.close()
    }

    // MARK: Helpers

    static let recheckInterval = Duration.seconds(5)

    static func configuration(clock: TestClock, maxRequestsInFlight: Int? = nil) -> ServerConfiguration {
        var limits = Limits()
        if let maxRequestsInFlight { limits.maxRequestsInFlight = maxRequestsInFlight }
        return ServerConfiguration(
            limits: limits, enableDebugMethods: true, credentialRecheckInterval: recheckInterval, clock: clock)
    }

    /// Starts a `debug/sleep` on the test clock and a second `initialize` behind it (a barrier: all
    /// later work waits for it); returns how many requests are then in flight on the server side.
    static func holdBehindABarrier(_ client: TestClient, clock: TestClock) async throws -> Int {
        let sleepers = clock.sleepers
        Task { _ = try? await client.send(DebugSleepRequest(milliseconds: 60_000)) }
        #expect(await clock.waitForSleepers(sleepers + 1))
        Task { _ = try? await client.send(InitializeRequest()) }
        #expect(await waitUntilInFlight(client, 2))
        return 2
    }

    /// Yields until the server side has `count` requests in flight (bounded; no clock involved).
    static func waitUntilInFlight(_ client: TestClient, _ count: Int) async -> Bool {
        for _ in 0..<1_000_000 {
            if client.serverConnection.requestsInFlight >= count { return true }
            await Task.yield()
        }
        return false
    }
}
