import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import JSONRPC
import Testing

/// Completion requests with bad input get a clear error, and the session goes on serving.
@Suite("Completion: bad input", .timeLimit(.minutes(1)))
struct CompletionBadInputTests {
    static let uri = "file:///home/ada/bad/Main.swift"

    @Test func badDocumentsPositionsURIsAndCountsAreRefusedAndTheSessionGoesOn() async throws {
        try await CompletionWorld.run(models: { _ in ModelRegistry() }) { world in
            let client = try await world.client()
            client.open(Self.uri, "let totalAmount = 1\nlet a = totalAmount + 1\nlet b = totalAm\n")

            // A document the session never opened.
            let missing = await expectError(.notFound) { try await client.inline("file:///home/ada/bad/Other.swift", at: point(0, 0)) }
            #expect(missing?.data?["kind"] == "document")
            // A position past the last line, or negative.
            await expectError(.invalidParams) { try await client.inline(Self.uri, at: point(40, 0)) }
            await expectError(.invalidParams) { try await client.inline(Self.uri, at: point(-1, 0)) }
            await expectError(.invalidParams) {
                try await client.send(CompletionRequest(textDocument: TextDocumentIdentifier(uri: Self.uri), position: point(9, 0)))
            }
            // A devmode:// URI without a project and path, and one naming no project.
            let short = "devmode://wsp_aaaaaaaaaaaaaaaa/Main.swift"
            client.open(short, "let x = 1\n")
            await expectError(.invalidParams) { try await client.inline(short, at: point(0, 8)) }
            let unknown = "devmode://wsp_aaaaaaaaaaaaaaaa/prj_aaaaaaaaaaaaaaaa/Main.swift"
            client.open(unknown, "let x = 1\n")
            await expectError(.notFound) { try await client.inline(unknown, at: point(0, 8)) }
            // ai/complete: candidates out of range, an unknown model, a project that does not exist.
            await expectError(.invalidParams) { try await client.send(AICompleteRequest(prefix: "let x = ", maxCandidates: 0)) }
            await expectError(.invalidParams) { try await client.send(AICompleteRequest(prefix: "let x = ", maxCandidates: 11)) }
            await expectError(.invalidParams) { try await client.send(AICompleteRequest(prefix: "let x = ", model: "no-such-model")) }
            await expectError(.notFound) {
                try await client.send(AICompleteRequest(prefix: "let x = ", projectId: "prj_aaaaaaaaaaaaaaaa"))
            }

            // Still serving: the cursor at the end of `totalAm` completes from the document itself.
            let list = try await client.inline(Self.uri, at: point(2, 15))
            #expect(list.items.first?.insertText.hasPrefix("ount") == true, "got \(list.items.map(\.insertText))")
        }
    }
}
