import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import JSONRPC
import Testing

/// Other open documents feed a remote model's prompt as snippets, but only documents of the
/// workspace the completion is in: a workspace that keeps to the local model never has its code
/// sent to a model another workspace enabled.
@Suite("Context boundaries", .timeLimit(.minutes(1)))
struct ContextBoundaryTests {
    static let shared = """
        func loadLedger(_ name: String) -> Ledger {
            let ledger = Ledger.open(name)
            ledger.verify()
            return ledger
        }

        """

    @Test func snippetsComeOnlyFromTheCompletionsOwnWorkspace() async throws {
        let registry = { (fake: FakeModelServer) in
            ModelRegistry(models: [fimModel("star", endpoint: fake.openAIEndpoint)], defaultModels: ["local"])
        }
        try await CompletionWorld.run(models: registry) { world in
            let client = try await world.client()
            let open = try await client.defaultWorkspace()
            _ = try await client.send(WorkspaceSetModelsRequest(workspaceId: open, models: ["star"]))
            let vault = try await client.send(WorkspaceCreateRequest(name: "vault")).id
            _ = try await client.send(WorkspaceSetModelsRequest(workspaceId: vault, models: ["local"]))
            let app = try await client.send(ProjectCreateRequest(workspaceId: open, name: "app")).id
            let secrets = try await client.send(ProjectCreateRequest(workspaceId: vault, name: "secrets")).id

            // Both neighbours look much like the code at the cursor; one is in the vault.
            client.open("devmode://\(vault)/\(secrets)/Vault.swift", Self.shared + "let vaultMasterKey = \"k-314159\"\n")
            client.open("devmode://\(open)/\(app)/Helpers.swift", Self.shared + "let helperMarker = 1\n")
            let uri = "devmode://\(open)/\(app)/Main.swift"
            client.open(uri, "func loadLedger(_ name: String) -> Ledger {\n    let ledger = Ledger.open(name)\n    ledger.\n")
            world.fake.enqueue(streamed(["verify()"]))
            let list = try await client.inline(uri, at: point(2, 11))
            #expect(list.items.map(\.insertText) == ["verify()"])

            let prompt = try #require(world.fake.requests.first?.json?["prompt"]?.stringValue)
            #expect(prompt.contains("helperMarker"), "the same workspace's neighbour is a snippet: \(prompt)")
            #expect(!prompt.contains("vaultMasterKey"), "another workspace's document was sent to its model: \(prompt)")
        }
    }
}
