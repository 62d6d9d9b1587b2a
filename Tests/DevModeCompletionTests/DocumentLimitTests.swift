import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import JSONRPC
import Testing

/// A session holds at most `maxOpenDocuments` documents of at most `maxDocumentBytes` each; what
/// is over is ignored (notifications get no reply), and the session goes on.
@Suite("Document limits", .timeLimit(.minutes(1)))
struct DocumentLimitTests {
    static func run(_ body: (CompletionWorld) async throws -> Void) async throws {
        try await CompletionWorld.run(
            models: { _ in ModelRegistry() },
            configure: { configuration in
                configuration.maxOpenDocuments = 2
                configuration.maxDocumentBytes = 64
            }, body)
    }

    static func uri(_ name: String) -> String { "file:///home/ada/limits/\(name).swift" }

    @Test func aDidOpenBeyondMaxOpenDocumentsIsIgnored() async throws {
        try await Self.run { world in
            let client = try await world.client()
            // Each read waits for the open of its document: the opens happen in this order.
            client.open(Self.uri("one"), "let one = 1\n")
            #expect(try await client.send(DocumentGetRequest(uri: Self.uri("one"))).text == "let one = 1\n")
            client.open(Self.uri("two"), "let two = 2\n")
            #expect(try await client.send(DocumentGetRequest(uri: Self.uri("two"))).text == "let two = 2\n")
            client.open(Self.uri("three"), "let three = 3\n")
            await expectError(.notFound) { try await client.send(DocumentGetRequest(uri: Self.uri("three"))) }
            await expectError(.notFound) { try await client.inline(Self.uri("three"), at: point(0, 0)) }

            // Opening an open document again replaces it, at the limit too.
            client.open(Self.uri("two"), "let two = 22\n", version: 2)
            #expect(try await client.send(DocumentGetRequest(uri: Self.uri("two"))).text == "let two = 22\n")

            // Closing one makes room.
            client.send(DidCloseTextDocumentNotification(textDocument: TextDocumentIdentifier(uri: Self.uri("one"))))
            client.open(Self.uri("three"), "let three = 3\n")
            #expect(try await client.send(DocumentGetRequest(uri: Self.uri("three"))).text == "let three = 3\n")

            // The limit is per session.
            let other = try await world.client()
            other.open(Self.uri("one"), "mine\n")
            #expect(try await other.send(DocumentGetRequest(uri: Self.uri("one"))).text == "mine\n")
        }
    }

    /// Opens of different documents run side by side; however they interleave, no more than the
    /// limit get in.
    @Test func concurrentOpensNeverExceedTheLimit() async throws {
        try await Self.run { world in
            for _ in 0..<20 {
                let client = try await world.client()
                let uris = (0..<12).map { Self.uri("burst\($0)") }
                for uri in uris { client.open(uri, "let x = 1\n") }
                var open = 0
                for uri in uris where await rpcError({ try await client.send(DocumentGetRequest(uri: uri)) }) == nil { open += 1 }
                #expect(open == 2)
                await client.close()
            }
        }
    }

    @Test func aDocumentOverMaxDocumentBytesIsIgnored() async throws {
        try await Self.run { world in
            let client = try await world.client()
            let fits = String(repeating: "x", count: 63) + "\n"
            let tooLarge = String(repeating: "x", count: 64) + "\n"
            client.open(Self.uri("fits"), fits)
            client.open(Self.uri("large"), tooLarge)
            #expect(try await client.send(DocumentGetRequest(uri: Self.uri("fits"))).text == fits)
            await expectError(.notFound) { try await client.send(DocumentGetRequest(uri: Self.uri("large"))) }
            // Multi-byte text counts in bytes: 22 × 漢 is 66 bytes.
            client.open(Self.uri("wide"), String(repeating: "漢", count: 22))
            await expectError(.notFound) { try await client.send(DocumentGetRequest(uri: Self.uri("wide"))) }

            // A document that grows past the limit is closed.
            client.edit(Self.uri("fits"), version: 2, range(point(0, 0), point(0, 0)), "y")
            await expectError(.notFound) { try await client.send(DocumentGetRequest(uri: Self.uri("fits"))) }

            // ai/complete holds its prefix and suffix to the same limit.
            let error = await expectError(.payloadTooLarge) {
                try await client.send(AICompleteRequest(prefix: String(repeating: "a", count: 40), suffix: String(repeating: "b", count: 25)))
            }
            #expect(error?.data?["setting"] == "maxDocumentBytes")
            #expect(try await client.send(AICompleteRequest(prefix: "let a = 1\nlet b = ")).model == "local")
        }
    }
}
