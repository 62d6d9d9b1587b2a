import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import JSONRPC
import Testing

/// Every way a provider fails reaches the client as an error it can act on (-32023 with how long
/// to wait, -32030 with the reason), and the session goes on: the next completion is answered.
@Suite("Provider errors and recovery", .timeLimit(.minutes(1)))
struct ProviderErrorTests {
    enum Expected: Sendable {
        case rateLimited(retryAfterMs: Int)
        case provider(reason: String, data: [String: JSONValue] = [:])
    }

    static let cases: [(name: String, behaviour: FakeModelServer.Behaviour, expected: Expected)] = [
        ("429", .status(429, headers: ["retry-after": "2"], body: #"{"error":{"message":"slow down"}}"#), .rateLimited(retryAfterMs: 2_000)),
        ("500", .status(500, body: #"{"error":{"message":"boom"}}"#), .provider(reason: "upstreamError", data: ["status": 500])),
        (
            "hang", .hang,
            .provider(reason: "timeout", data: ["phase": "firstByte", "limitMs": .int(ModelConfiguration.Timeouts.short.firstByteMs)])
        ),
        ("malformed", .malformed("data: {\"choices\": [ not json\n\n"), .provider(reason: "malformed")),
        ("truncated", .truncated(chunks: ["par", "tial"]), .provider(reason: "truncated")),
    ]

    /// Only the hang is meant to reach a limit (the first byte's). The idle limit is long: on a
    /// loaded machine a 2 s idle limit once fired before the truncated answer's close was read,
    /// and the case answered `timeout` instead of `truncated`.
    static let timeouts = ModelConfiguration.Timeouts(
        connectMs: ModelConfiguration.Timeouts.short.connectMs, firstByteMs: ModelConfiguration.Timeouts.short.firstByteMs,
        idleMs: 60_000, totalMs: 120_000)

    @Test func eachFailureIsReportedAndTheNextRequestSucceeds() async throws {
        let refusing = try RefusingPort()
        let refusedPort = refusing.port
        defer { withExtendedLifetime(refusing) {} }
        let registry = { (fake: FakeModelServer) in
            ModelRegistry(
                models: [
                    fimModel("star", endpoint: fake.openAIEndpoint, timeouts: Self.timeouts),
                    fimModel("gone", endpoint: "http://127.0.0.1:\(refusedPort)/v1"),
                ], defaultModels: ["star", "gone"])
        }
        try await CompletionWorld.run(models: registry) { world in
            let (client, initialized) = try await world.session()
            var round = 0
            /// A fresh document per round, so no answer comes from the cache.
            func document() -> (uri: String, cursor: Position) {
                round += 1
                let uri = "file:///home/ada/shop/Sources/Round\(round).swift"
                client.open(uri, "let value\(round) = \n")
                return (uri, point(0, "let value\(round) = ".utf16.count))
            }

            for (name, behaviour, expected) in Self.cases {
                let (uri, cursor) = document()
                world.fake.enqueue(behaviour, streamed(["answer\(round)"]))
                let error = await rpcError { try await client.inline(uri, at: cursor) }
                switch expected {
                case .rateLimited(let retryAfterMs):
                    #expect(error?.code == .rateLimited, "\(name): \(String(describing: error))")
                    #expect(error?.data?["retryAfterMs"] == .int(retryAfterMs), "\(name)")
                    #expect(error?.data?["source"] == "provider", "\(name)")
                case .provider(let reason, let data):
                    #expect(error?.code == .providerUnavailable, "\(name): \(String(describing: error))")
                    #expect(error?.data?["reason"] == .string(reason), "\(name): \(String(describing: error?.data))")
                    for (key, value) in data { #expect(error?.data?[key] == value, "\(name): data.\(key)") }
                }
                // The same document, asked again: answered.
                let next = try await client.inline(uri, at: cursor)
                #expect(next.items.map(\.insertText) == ["answer\(round)"], "after \(name)")
            }

            // The hang was given up at its limit: its upstream connection closed (and only it: the
            // others ended or were closed by the fake server).
            #expect(await world.fake.waitForClientDisconnect(count: 1))
            #expect(world.fake.clientDisconnects == 1)

            // Connection refused.
            let (uri, cursor) = document()
            let error = await expectError(.providerUnavailable) { try await client.inline(uri, at: cursor, model: "gone") }
            #expect(error?.data?["reason"] == "unreachable", "\(String(describing: error))")
            world.fake.enqueue(streamed(["recovered"]))
            #expect(try await client.inline(uri, at: cursor).items.map(\.insertText) == ["recovered"])

            // Failed calls are filed with their outcome, and no output.
            let events = try await world.usage(tenantId: try #require(initialized.identity?.tenantId)).filter { $0.kind == .completion }
            let outcomes = events.map(\.outcome)
            #expect(outcomes.filter { $0 == "ok" }.count == Self.cases.count + 1)
            for outcome in ["rateLimited", "upstreamError", "timeout", "malformed", "truncated", "unreachable"] {
                #expect(outcomes.contains(outcome), "no usage event with outcome \(outcome): \(outcomes)")
            }
            #expect(events.filter { $0.outcome != "ok" }.allSatisfy { $0.outputTokens == 0 })
            // Refused before the model saw the prompt: no input charged; cut off after: its estimate.
            let refused = events.filter { ["rateLimited", "upstreamError", "unreachable"].contains($0.outcome) }
            #expect(!refused.isEmpty && refused.allSatisfy { $0.inputTokens == 0 && $0.costMicros == 0 })
            #expect(events.filter { ["timeout", "truncated"].contains($0.outcome) }.allSatisfy { $0.inputTokens > 0 })
        }
    }

    /// LSP's `textDocument/completion` goes through the same provider call as the inline one: a
    /// 429 is -32023 with `retryAfterMs`, an upstream failure -32030 with its reason.
    @Test func completionAnswersTheProvidersFailuresAsInlineCompletionDoes() async throws {
        try await CompletionWorld.run(models: { ModelRegistry(models: [fimModel("star", endpoint: $0.openAIEndpoint)], defaultModels: ["star"]) }) {
            world in
            let (client, _) = try await world.session()
            let uri = "file:///home/ada/shop/Sources/Completion.swift"
            client.open(uri, "let total = \n")
            let request = CompletionRequest(textDocument: TextDocumentIdentifier(uri: uri), position: point(0, 12))
            world.fake.enqueue(.status(429, headers: ["retry-after": "3"], body: #"{"error":{"message":"slow down"}}"#))
            let limited = await expectError(.rateLimited) { try await client.send(request) }
            #expect(limited?.data?["retryAfterMs"] == 3_000)
            #expect(limited?.data?["source"] == "provider")
            world.fake.enqueue(.status(500, body: #"{"error":{"message":"boom"}}"#))
            let failed = await expectError(.providerUnavailable) { try await client.send(request) }
            #expect(failed?.data?["reason"] == "upstreamError")
            #expect(failed?.data?["status"] == 500)
            world.fake.enqueue(streamed(["42"]))
            #expect(try await client.send(request).items.contains { $0.textEdit?.newText == "42" }, "the next completion is answered")
        }
    }

    @Test func rateLimitWithoutRetryAfterStillSaysHowLongToWait() async throws {
        try await CompletionWorld.run(models: { ModelRegistry(models: [fimModel("star", endpoint: $0.openAIEndpoint)], defaultModels: ["star"]) }) {
            world in
            let client = try await world.client()
            world.fake.enqueue(.status(429, body: #"{"error":{"message":"slow down"}}"#))
            let error = await expectError(.rateLimited) {
                try await client.send(AICompleteRequest(prefix: "let total = ", language: "swift"))
            }
            #expect(error?.data?["retryAfterMs"]?.intValue.map { $0 > 0 } == true)
        }
    }
}
