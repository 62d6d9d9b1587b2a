import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeTestSupport
import JSONRPC
import Testing

/// Fill-in-the-middle end to end: a document opened and edited, an inline completion at a cursor
/// in the middle of a line, the model streamed over real HTTP, the answer post-processed, usage
/// filed with the stream's tokens and the model's price.
@Suite("Streamed fill-in-the-middle", .timeLimit(.minutes(1)))
struct StreamingTests {
    static let uri = "file:///home/ada/shop/Sources/Cart.swift"
    static let text = """
        struct Cart {
            var items: [Item]
            func total(rates: Rates) -> Int {
                let sum = items.reduce(0) { $0 + $1.price }
                return sum
            }
        }

        """
    /// The line the edit inserts; the cursor goes after `apply(`.
    static let edited = "        let taxed = apply(, to: sum)\n"
    static let cursor = point(4, "        let taxed = apply(".utf16.count)
    static let prefix = """
        struct Cart {
            var items: [Item]
            func total(rates: Rates) -> Int {
                let sum = items.reduce(0) { $0 + $1.price }
                let taxed = apply(
        """
    static let suffix = """
        , to: sum)
                return sum
            }
        }

        """
    /// Priced so the cost is easy to check: 3 $ per million input tokens, 15 $ per million output.
    static let pricing = ModelConfiguration.Pricing(inputPerMillion: 3, outputPerMillion: 15)

    static func registry(_ fake: FakeModelServer) -> ModelRegistry {
        ModelRegistry(models: [
            fimModel("star", endpoint: fake.openAIEndpoint, template: .starcoder, pricing: pricing),
            fimModel("plain", endpoint: fake.openAIEndpoint, template: .suffixField, pricing: pricing),
        ])
    }

    /// Opens the document, inserts the edited line, enables the models; the session's identity.
    static func prepare(_ client: TestClient, _ result: InitializeResult) async throws -> (tenantId: String, workspaceId: String) {
        let workspaceId = try await client.defaultWorkspace()
        // Nothing but the local model until the workspace enables the others.
        await expectError(.forbidden) { try await client.send(AICompleteRequest(prefix: "let x = ", model: "star")) }
        let enabled = try await client.send(WorkspaceSetModelsRequest(workspaceId: workspaceId, models: ["star", "plain"]))
        #expect(enabled.models == ["star", "plain"])
        client.open(uri, text)
        client.edit(uri, version: 2, range(point(4, 0), point(4, 0)), edited)
        #expect(try await client.send(DocumentGetRequest(uri: uri)).text == prefix + suffix)
        return (result.identity?.tenantId ?? "", workspaceId)
    }

    @Test func starcoderTemplateStreamsPostProcessesAndFilesUsage() async throws {
        try await CompletionWorld.run(models: Self.registry) { world in
            let (client, result) = try await world.session()
            let (tenantId, workspaceId) = try await Self.prepare(client, result)
            // The model goes on past the hole: the rest of the line (which the document already
            // has) and a second line. Post-processing keeps what belongs at the cursor.
            world.fake.enqueue(
                .stream(
                    chunks: ["rates", ".tax", "Rate, to: sum)\n", "        return taxed\n"],
                    usage: TokenUsage(inputTokens: 812, outputTokens: 9)))

            let list = try await client.inline(Self.uri, at: Self.cursor)
            #expect(list.items.count == 1)
            let item = try #require(list.items.first)
            #expect(item.insertText == "rates.taxRate")
            #expect(item.range == range(Self.cursor, Self.cursor))
            #expect(item.command?.command == ExecuteCommandRequest.acceptCompletionCommand)
            #expect(item.command?.arguments == [.string(item.completionId)])

            let request = try #require(world.fake.requests.last)
            #expect(world.fake.requests.count == 1)
            #expect(request.method == "POST")
            #expect(request.path == "/v1/completions")
            #expect(request.header("authorization") == "Bearer \(Fake.apiKey)")
            let body = try #require(request.json)
            #expect(body["stream"] == .bool(true))
            #expect(body["model"] == "upstream-star")
            #expect(body["suffix"] == nil, "the starcoder template carries the suffix in the prompt")
            let prompt = try #require(body["prompt"]?.stringValue)
            #expect(prompt.startsInBytes("<fim_prefix>"))
            #expect(prompt.endsInBytes(Self.prefix + "<fim_suffix>" + Self.suffix + "<fim_middle>"), "prompt: \(prompt)")
            // Single line: the newline stops it, with the template's end-of-text.
            let stops = body["stop"].flatMap { value -> [String]? in
                guard case .array(let items) = value else { return nil }
                return items.compactMap(\.stringValue)
            }
            #expect(stops?.first == "\n")
            #expect(stops?.contains("<|endoftext|>") == true)

            let events = try await world.usage(tenantId: tenantId).filter { $0.kind == .completion }
            #expect(events.count == 1)
            let event = try #require(events.first)
            #expect(event.model == "star")
            #expect(event.subject == item.completionId)
            #expect(event.workspaceId == workspaceId)
            #expect(event.userId == result.identity?.userId)
            #expect(event.inputTokens == 812)
            #expect(event.outputTokens == 9)
            #expect(event.costMicros == 812 * 3 + 9 * 15)
            #expect(event.outcome == "ok")
            let stats = try await world.stats(workspaceId: workspaceId)
            #expect(stats.requests == 1)
            #expect(stats.costMicros == 812 * 3 + 9 * 15)
        }
    }

    @Test func suffixFieldTemplateSendsTheSuffixInItsOwnField() async throws {
        try await CompletionWorld.run(models: Self.registry) { world in
            let (client, result) = try await world.session()
            let (tenantId, _) = try await Self.prepare(client, result)
            world.fake.enqueue(.stream(chunks: ["rates.v", "at"], usage: TokenUsage(inputTokens: 40, outputTokens: 3)))

            let list = try await client.inline(Self.uri, at: Self.cursor, model: "plain")
            #expect(list.items.map(\.insertText) == ["rates.vat"])
            #expect(list.items.first?.range == range(Self.cursor, Self.cursor))

            let body = try #require(world.fake.requests.last?.json)
            #expect(world.fake.requests.last?.path == "/v1/completions")
            #expect(body["stream"] == .bool(true))
            #expect(body["model"] == "upstream-plain")
            let prompt = try #require(body["prompt"]?.stringValue)
            #expect(prompt.endsInBytes(Self.prefix), "prompt: \(prompt)")
            #expect(!prompt.contains("<fim_"))
            #expect(body["suffix"]?.stringValue == Self.suffix)

            let event = try #require(try await world.usage(tenantId: tenantId).first { $0.kind == .completion })
            #expect(event.model == "plain")
            #expect(event.inputTokens == 40)
            #expect(event.outputTokens == 3)
            #expect(event.costMicros == 40 * 3 + 3 * 15)
        }
    }
}
