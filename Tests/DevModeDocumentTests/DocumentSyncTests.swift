import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import JSONRPC
import Testing

/// Document sync through a real server, as a client sees it.
@Suite("Document sync")
struct DocumentSyncTests {
    static let uri = "file:///home/ada/checkout-api/Sources/main.swift"

    /// A local-mode server and an initialized client, closed after `body`.
    static func withClient(
        capabilities: JSONValue? = [:], _ body: (TestClient, InitializeResult) async throws -> Void
    ) async throws {
        let server = try await TestServer.make(configuration: ServerConfiguration(localMode: true))
        let client = TestClient(server: server, local: true)
        let result = try await client.connection.send(InitializeRequest(capabilities: capabilities))
        client.send(InitializedNotification())
        do {
            try await body(client, result)
        } catch {
            await client.close()
            await server.store.driver.close()
            throw error
        }
        await client.close()
        await server.store.driver.close()
    }

    static func open(_ client: TestClient, _ text: String, version: Int = 1, uri: String = uri) {
        client.send(
            DidOpenTextDocumentNotification(
                textDocument: TextDocumentItem(uri: uri, languageId: "swift", version: version, text: text)))
    }

    static func edit(_ client: TestClient, version: Int, _ changes: TextDocumentContentChangeEvent..., uri: String = uri) {
        client.send(
            DidChangeTextDocumentNotification(
                textDocument: VersionedTextDocumentIdentifier(uri: uri, version: version), contentChanges: changes))
    }

    // MARK: Negotiation

    @Test(arguments: [
        (JSONValue?.some(["general": ["positionEncodings": ["utf-8", "utf-16"]]]), "utf-8"),
        (JSONValue?.some(["general": ["positionEncodings": ["utf-32"]]]), "utf-32"),
        (JSONValue?.some(["general": ["positionEncodings": ["utf-16", "utf-8"]]]), "utf-16"),
        (JSONValue?.some(["general": ["positionEncodings": ["latin-1"]]]), "utf-16"),
        (JSONValue?.some([:]), "utf-16"),
        (JSONValue?.none, "utf-16"),
    ])
    func initializeNegotiatesThePositionEncoding(capabilities: JSONValue?, expected: String) async throws {
        try await Self.withClient(capabilities: capabilities) { _, result in
            #expect(result.capabilities.positionEncoding == expected)
            #expect(result.capabilities.textDocumentSync == TextDocumentSyncOptions(openClose: true, change: 2))
        }
    }

    @Test(arguments: [("utf-8", 5), ("utf-16", 3), ("utf-32", 2)])
    func changesCountCharactersInTheNegotiatedEncoding(encoding: String, characterOfB: Int) async throws {
        try await Self.withClient(capabilities: ["general": ["positionEncodings": [.string(encoding)]]]) { client, result in
            #expect(result.capabilities.positionEncoding == encoding)
            Self.open(client, "a😀b\n")
            let b = Position(line: 0, character: characterOfB)
            Self.edit(client, version: 2, change(b, b, "漢"))
            let text = try await client.send(DocumentGetRequest(uri: Self.uri)).text
            #expect(text == "a😀漢b\n")
        }
    }

    // MARK: Open, change, close

    @Test func openChangeGetAndClose() async throws {
        try await Self.withClient { client, _ in
            Self.open(client, "print(\"hello\")\n")
            var document = try await client.send(DocumentGetRequest(uri: Self.uri))
            #expect(document == DocumentGetResult(uri: Self.uri, languageId: "swift", version: 1, text: "print(\"hello\")\n"))

            // Incremental, several changes in one notification applied in order, then a full replacement.
            Self.edit(
                client, version: 2,
                change(Position(line: 0, character: 7), Position(line: 0, character: 12), "world"),
                change(Position(line: 1, character: 0), Position(line: 1, character: 0), "// 😀\r\n"))
            document = try await client.send(DocumentGetRequest(uri: Self.uri))
            #expect(document.text == "print(\"world\")\n// 😀\r\n")
            #expect(document.version == 2)
            Self.edit(client, version: 3, TextDocumentContentChangeEvent(text: "whole\n"))
            #expect(try await client.send(DocumentGetRequest(uri: Self.uri)).text == "whole\n")

            client.send(DidCloseTextDocumentNotification(textDocument: TextDocumentIdentifier(uri: Self.uri)))
            let error = await expectError(.notFound) { try await client.send(DocumentGetRequest(uri: Self.uri)) }
            #expect(error?.data?["kind"] == "document")
            #expect(error?.data?["id"] == .string(Self.uri))
        }
    }

    @Test func badNotificationsAreIgnoredAndTheSessionGoesOn() async throws {
        try await Self.withClient { client, _ in
            // A change to a document that is not open, and a close of one: ignored.
            Self.edit(client, version: 2, TextDocumentContentChangeEvent(text: "x"), uri: "file:///nowhere.swift")
            client.send(DidCloseTextDocumentNotification(textDocument: TextDocumentIdentifier(uri: "file:///nowhere.swift")))
            await expectError(.notFound) { try await client.send(DocumentGetRequest(uri: "file:///nowhere.swift")) }

            // A version that goes backwards, or repeats, is ignored.
            Self.open(client, "v5", version: 5)
            Self.edit(client, version: 4, TextDocumentContentChangeEvent(text: "v4"))
            Self.edit(client, version: 5, TextDocumentContentChangeEvent(text: "v5 again"))
            var document = try await client.send(DocumentGetRequest(uri: Self.uri))
            #expect(document.text == "v5")
            #expect(document.version == 5)
            Self.edit(client, version: 6, TextDocumentContentChangeEvent(text: "v6"))
            document = try await client.send(DocumentGetRequest(uri: Self.uri))
            #expect(document.text == "v6")
            #expect(document.version == 6)

            // Opening it again replaces it.
            Self.open(client, "reopened", version: 1)
            #expect(try await client.send(DocumentGetRequest(uri: Self.uri)).text == "reopened")
            #expect(try await client.send(ServerInfoRequest()).name == "devmode")
        }
    }

    @Test func documentsAreTheSessionsOwn() async throws {
        let server = try await TestServer.make(configuration: ServerConfiguration(localMode: true))
        let first = try await TestClient.connect(to: server, token: nil, local: true)
        let second = try await TestClient.connect(to: server, token: nil, local: true)
        Self.open(first, "mine")
        #expect(try await first.send(DocumentGetRequest(uri: Self.uri)).text == "mine")
        await expectError(.notFound) { try await second.send(DocumentGetRequest(uri: Self.uri)) }
        await first.close()
        await second.close()
        await server.store.driver.close()
    }

    // MARK: Ordering

    /// Notifications on one document apply in the order they were sent, however fast they come.
    @Test func twoHundredRapidChangesThenGetGiveTheExactText() async throws {
        try await Self.withClient { client, _ in
            Self.open(client, "")
            // The same edits applied here, in order (TextDocument's own tests check the edits themselves).
            var expected = TextDocument("")
            for index in 0..<200 {
                // Alternately append a line (at a line past the last: clamped to the end) and rewrite the
                // start of the first line (two UTF-16 units: an emoji, or two characters, clamped to the line).
                let edit =
                    index.isMultiple(of: 2)
                    ? change(Position(line: 10_000, character: 0), Position(line: 10_000, character: 0), "😀 \(index) 漢字\n")
                    : change(Position(line: 0, character: 0), Position(line: 0, character: 2), "\(index % 10)")
                Self.edit(client, version: index + 2, edit)
                expected.apply(edit, encoding: .utf16)
            }
            let document = try await client.send(DocumentGetRequest(uri: Self.uri))
            #expect(document.text == expected.text)
            #expect(document.text.hasSuffix("😀 198 漢字\n"))
            #expect(document.text.split(separator: "\n", omittingEmptySubsequences: false).count == 101)
            #expect(document.version == 201)
        }
    }

    /// Changes to different documents interleaved: each document sees its own in order.
    @Test func interleavedDocumentsEachKeepTheirOrder() async throws {
        try await Self.withClient { client, _ in
            let uris = (0..<4).map { "file:///doc\($0).txt" }
            for uri in uris { Self.open(client, "", uri: uri) }
            for index in 0..<50 {
                for uri in uris {
                    let end = Position(line: 0, character: 1_000)
                    Self.edit(client, version: index + 2, change(end, end, "\(index),"), uri: uri)
                }
            }
            let expected = (0..<50).map { "\($0)," }.joined()
            for uri in uris {
                let text = try await client.send(DocumentGetRequest(uri: uri)).text
                #expect(text == expected)
            }
        }
    }
}
