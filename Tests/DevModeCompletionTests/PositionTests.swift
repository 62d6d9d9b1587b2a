import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import JSONRPC
import Testing

/// Cursors after emoji, a ZWJ family, CJK and a combining mark, counted in the session's position
/// encoding: the prompt is cut exactly at the cursor, and the items' ranges are given back in the
/// same units.
@Suite("Completion positions", .timeLimit(.minutes(1)))
struct PositionTests {
    static let uri = "file:///home/ada/i18n/Sources/Greeting.swift"
    /// Before the cursor on its line: 😀 (1 scalar, 2 UTF-16 units, 4 bytes), 👩‍👩‍👧 (5 scalars
    /// joined by ZWJ, 8 units, 18 bytes), CJK (1 unit, 3 bytes each), e + U+0301 (2 scalars), then
    /// the identifier being typed, `gre`.
    static let linePrefix = "    print(\"😀 👩‍👩‍👧 漢字 cafe\u{301}\", gre"
    static let lineRest = ")"
    static let text = "func hello(greeting: String) {\n" + linePrefix + lineRest + "\n}\n"
    /// Where `gre` starts.
    static let wordPrefix = "    print(\"😀 👩‍👩‍👧 漢字 cafe\u{301}\", "

    static func units(_ text: String, _ encoding: String) -> Int {
        switch encoding {
        case "utf-8": text.utf8.count
        case "utf-32": text.unicodeScalars.count
        default: text.utf16.count
        }
    }

    @Test(arguments: ["utf-16", "utf-8", "utf-32"])
    func cursorAfterWideCharactersInTheNegotiatedEncoding(encoding: String) async throws {
        // The suffix-field template: the prompt is the prefix as is, the suffix in its own field.
        let registry = { (fake: FakeModelServer) in
            ModelRegistry(models: [fimModel("plain", endpoint: fake.openAIEndpoint, template: .suffixField)], defaultModels: ["plain"])
        }
        try await CompletionWorld.run(models: registry) { world in
            let (client, initialized) = try await world.session(capabilities: ["general": ["positionEncodings": [.string(encoding)]]])
            #expect(initialized.capabilities.positionEncoding == encoding)
            client.open(Self.uri, Self.text)
            let cursor = point(1, Self.units(Self.linePrefix, encoding))
            // Sanity: the three encodings really differ on this line.
            #expect(Set(["utf-8", "utf-16", "utf-32"].map { Self.units(Self.linePrefix, $0) }).count == 3)

            world.fake.enqueue(streamed(["eting"]), streamed(["eting"]))
            let inline = try await client.inline(Self.uri, at: cursor)
            #expect(inline.items.first?.range == range(cursor, cursor))

            let body = try #require(world.fake.requests.first?.json)
            let prompt = try #require(body["prompt"]?.stringValue)
            #expect(prompt.endsInBytes("func hello(greeting: String) {\n" + Self.linePrefix), "prompt: \(prompt)")
            let suffix = try #require(body["suffix"]?.stringValue)
            #expect(suffix.startsInBytes(Self.lineRest + "\n}"), "suffix: \(suffix)")

            // A completion list replaces the identifier being typed: its range starts at `gre`.
            let list = try await client.send(
                CompletionRequest(textDocument: TextDocumentIdentifier(uri: Self.uri), position: cursor))
            let edit = try #require(list.items.first?.textEdit)
            #expect(edit.range == range(point(1, Self.units(Self.wordPrefix, encoding)), cursor))
            #expect(edit.newText == "greeting")
        }
    }

    /// A cursor inside a character's encoding (between the two UTF-16 units of 😀, inside its UTF-8
    /// bytes) moves to the character's start, and the range says where the server put it.
    @Test(arguments: [("utf-16", 1), ("utf-8", 2)])
    func cursorInsideACharacterSnapsToItsStart(encoding: String, inside: Int) async throws {
        let registry = { (fake: FakeModelServer) in
            ModelRegistry(models: [fimModel("plain", endpoint: fake.openAIEndpoint, template: .suffixField)], defaultModels: ["plain"])
        }
        try await CompletionWorld.run(models: registry) { world in
            let (client, _) = try await world.session(capabilities: ["general": ["positionEncodings": [.string(encoding)]]])
            client.open(Self.uri, "let a = \"x😀y\" + \n")
            let start = Self.units("let a = \"x", encoding)
            world.fake.enqueue(streamed(["1"]))
            let list = try await client.inline(Self.uri, at: point(0, start + inside))
            let item = try #require(list.items.first)
            let body = try #require(world.fake.requests.first?.json)
            #expect(body["prompt"]?.stringValue?.endsInBytes("let a = \"x") == true)
            #expect(body["suffix"]?.stringValue?.startsInBytes("😀y\"") == true)
            #expect(item.range == range(point(0, start), point(0, start)))
        }
    }
}
