import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import JSONRPC
import Testing

/// Paths no other test reached: `ai/complete` (what scripts call) failing with -32030 and going
/// through a chat-only model, and a `textDocument/completion` superseded by a newer one.
@Suite("ai/complete errors, chat-only models, completion-list supersede", .timeLimit(.minutes(1)))
struct ScriptAndSupersedeTests {
    static func registry(_ fake: FakeModelServer) -> ModelRegistry {
        ModelRegistry(
            models: [fimModel("star", endpoint: fake.openAIEndpoint, timeouts: .patient), chatModel("claude", fake)],
            defaultModels: ["star", "claude"])
    }

    @Test func aiCompleteAnswersProviderUnavailableWithTheReasonThenRecovers() async throws {
        try await CompletionWorld.run(models: Self.registry) { world in
            let client = try await world.client()
            world.fake.enqueue(.status(500, body: #"{"error":{"message":"boom"}}"#))
            let error = await expectError(.providerUnavailable) {
                try await client.send(AICompleteRequest(prefix: "let total = ", model: "star"))
            }
            #expect(error?.data?["reason"] == "upstreamError", "\(String(describing: error))")
            #expect(error?.data?["status"] == 500)
            world.fake.enqueue(streamed(["price * quantity"]))
            let next = try await client.send(AICompleteRequest(prefix: "let total = ", model: "star"))
            #expect(next.candidates == ["price * quantity"])
        }
    }

    @Test func aiCompleteThroughAChatOnlyModelUsesTheChatFallback() async throws {
        try await CompletionWorld.run(models: Self.registry) { world in
            let client = try await world.client()
            world.fake.enqueue(
                .anthropicStream(
                    chunks: ["<COMPLETION>", "price * quantity", "</COMPLETION>"],
                    usage: TokenUsage(inputTokens: 80, outputTokens: 6)))
            let result = try await client.send(
                AICompleteRequest(prefix: "let total = ", suffix: "\nprint(total)\n", language: "swift", model: "claude"))
            #expect(result.model == "claude")
            #expect(result.candidates == ["price * quantity"])
            let upstream = try #require(world.fake.requests.last)
            #expect(upstream.path == "/v1/messages")
            let user = upstream.json?["messages"]?[0]?["content"]?.stringValue ?? ""
            #expect(user.contains("let total = \(ChatFallback.holeMarker)"), "user message: \(user)")
        }
    }

    @Test func aNewerCompletionListRequestSupersedesTheOlder() async throws {
        try await CompletionWorld.run(models: Self.registry) { world in
            var arrivals = world.upstream { number, _ in number == 0 ? .hang : streamed(["ubtotal"]) }
            let client = try await world.client()
            let uri = "file:///home/ada/shop/Sources/List.swift"
            client.open(uri, "let s = \n")
            let request = CompletionRequest(textDocument: TextDocumentIdentifier(uri: uri), position: point(0, 8), model: "star")
            let first = Task { try await client.send(request) }
            _ = await arrivals.next()
            let second = try await client.send(request)
            #expect(second.items.first?.textEdit?.newText == "ubtotal")
            let error = await expectError(.contentModified) { try await first.value }
            #expect(error?.message.contains("superseded") == true)
            #expect(await world.fake.waitForClientDisconnect(count: 1), "the superseded upstream call was not closed")
        }
    }
}
