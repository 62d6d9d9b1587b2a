import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import JSONRPC
import Testing

/// A completion the client no longer wants stops the model call: cancelling it, or asking again
/// for the same document, closes the upstream connection. And a completion waiting for the model
/// never holds up edits of its document.
@Suite("Cancellation and supersede", .timeLimit(.minutes(1)))
struct CancellationTests {
    static let uri = "file:///home/ada/shop/Sources/Totals.swift"
    static let text = "let total = \nprint(total)\n"
    static let cursor = point(0, 12)

    /// One model, enabled by default, whose limits never run out during a test.
    static func registry(_ fake: FakeModelServer) -> ModelRegistry {
        ModelRegistry(models: [fimModel("star", endpoint: fake.openAIEndpoint, timeouts: .patient)], defaultModels: ["star"])
    }

    static func inline(at position: Position = cursor) -> InlineCompletionRequest {
        InlineCompletionRequest(textDocument: TextDocumentIdentifier(uri: uri), position: position)
    }

    @Test func cancelAnswersRequestCancelledAndClosesTheUpstreamConnection() async throws {
        try await CompletionWorld.run(models: Self.registry) { world in
            var arrivals = world.upstream { number, _ in number == 0 ? .hang : streamed(["price * quantity"]) }
            let raw = RawSession(server: world.server, local: true)
            #expect(try await raw.call(InitializeRequest(), id: 1)["result"] != nil)
            try await raw.notify(InitializedNotification())
            try await raw.notify(
                DidOpenTextDocumentNotification(
                    textDocument: TextDocumentItem(uri: Self.uri, languageId: "swift", version: 1, text: Self.text)))

            try await raw.request(Self.inline(), id: 2)
            let upstream = await arrivals.next()
            #expect(upstream?.path == "/v1/completions")
            #expect(world.fake.clientDisconnects == 0)
            try await raw.cancel(id: 2)
            let reply = try await raw.reply(to: 2)
            #expect(reply["error"]?["code"] == .int(ErrorCode.requestCancelled.rawValue), "reply: \(reply)")
            #expect(await world.fake.waitForClientDisconnect(count: 1), "the upstream call was not closed")

            // The session goes on: the next completion is answered.
            let next = try await raw.call(Self.inline(), id: 3)
            #expect(next["result"]?["items"]?[0]?["insertText"] == "price * quantity", "reply: \(next)")
            await raw.close()
        }
    }

    @Test func aNewerRequestSupersedesTheOlderAndClosesItsUpstreamCall() async throws {
        try await CompletionWorld.run(models: Self.registry) { world in
            var arrivals = world.upstream { number, _ in number == 0 ? .hang : streamed(["ubtotal + tax"]) }
            let (client, initialized) = try await world.session()
            client.open(Self.uri, Self.text)
            let first = Task { try await client.inline(Self.uri, at: Self.cursor) }
            let upstream = await arrivals.next()
            #expect(upstream?.json?["prompt"]?.stringValue?.contains("let total = <fim_suffix>") == true)

            // The user types on; the client asks again for the same document.
            client.edit(Self.uri, version: 2, range(Self.cursor, Self.cursor), "s")
            let second = try await client.inline(Self.uri, at: point(0, 13))
            #expect(second.items.map(\.insertText) == ["ubtotal + tax"])
            #expect(second.items.first?.range == range(point(0, 13), point(0, 13)))

            let error = await expectError(.contentModified) { try await first.value }
            #expect(error?.message.contains("superseded") == true)
            #expect(await world.fake.waitForClientDisconnect(count: 1), "the superseded upstream call was not closed")
            #expect(world.fake.requests.count == 2)

            // The superseded call is not filed as a completion that was answered.
            let tenantId = try #require(initialized.identity?.tenantId)
            let events = try await world.usage(tenantId: tenantId).filter { $0.kind == .completion }
            #expect(events.count == 2)
            #expect(events.filter { $0.outcome == "ok" }.count == 1)
            let dropped = events.first { $0.outcome != "ok" }
            #expect(["cancelled", "superseded"].contains(dropped?.outcome), "outcomes: \(events.map(\.outcome))")
            #expect(dropped?.outputTokens == 0)
        }
    }

    @Test func requestsForOtherDocumentsDoNotSupersedeEachOther() async throws {
        try await CompletionWorld.run(models: Self.registry) { world in
            var arrivals = world.upstream { _, request in
                request.json?["prompt"]?.stringValue?.contains("slow") == true ? .hang : streamed(["42"])
            }
            let client = try await world.client()
            let slow = "file:///home/ada/shop/Sources/slow.swift"
            client.open(slow, "let slow = \n")
            client.open(Self.uri, Self.text)
            let pending = Task { try await client.inline(slow, at: Self.cursor) }
            _ = await arrivals.next()
            #expect(try await client.inline(Self.uri, at: Self.cursor).items.map(\.insertText) == ["42"])
            #expect(world.fake.clientDisconnects == 0, "a completion of another document was closed")
            pending.cancel()
            await #expect(throws: CancellationError.self) { try await pending.value }
            #expect(await world.fake.waitForClientDisconnect(count: 1))
        }
    }

    /// The completion takes its snapshot and lets go of the document: an edit sent while the model
    /// is still thinking applies at once, and a read after it sees the edit.
    @Test func editsDoNotWaitForTheModel() async throws {
        // Ten seconds to the first byte: were the edit to wait for the completion, the test would
        // see the completion time out first instead of hanging until its time limit.
        let timeouts = ModelConfiguration.Timeouts(connectMs: 10_000, firstByteMs: 10_000, idleMs: 10_000, totalMs: 20_000)
        let registry = { (fake: FakeModelServer) in
            ModelRegistry(models: [fimModel("star", endpoint: fake.openAIEndpoint, timeouts: timeouts)], defaultModels: ["star"])
        }
        try await CompletionWorld.run(models: registry) { world in
            var arrivals = world.upstream { _, _ in .hang }
            let client = try await world.client()
            client.open(Self.uri, Self.text)
            let pending = Task { try await client.inline(Self.uri, at: Self.cursor) }
            _ = await arrivals.next()

            client.edit(Self.uri, version: 2, range(point(0, 0), point(0, 0)), "// edited\n")
            let document = try await client.send(DocumentGetRequest(uri: Self.uri))
            #expect(document.text == "// edited\n" + Self.text)
            #expect(document.version == 2)

            // The completion is still waiting for the model (had the edit waited for it, it would
            // have been answered before the read, and cancelling it now would change nothing).
            pending.cancel()
            await #expect(throws: CancellationError.self) { try await pending.value }
            #expect(await world.fake.waitForClientDisconnect(count: 1))
        }
    }
}
