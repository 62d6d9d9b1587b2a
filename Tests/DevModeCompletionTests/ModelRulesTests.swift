import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// Which models a workspace may use: listed without their endpoints, chosen by its admins (and
/// audited), enforced on every completion; a chat-only model completes through the chat fallback.
@Suite("Model rules", .timeLimit(.minutes(1)))
struct ModelRulesTests {
    static let uri = "file:///srv/alpha/Sources/Order.swift"

    static func registry(_ fake: FakeModelServer) -> ModelRegistry {
        ModelRegistry(
            models: [
                fimModel("star", endpoint: fake.openAIEndpoint),
                chatModel("claude", fake),
            ], defaultModels: ["local", "star"])
    }

    /// The tenancy fixture on a server (not local mode) with the registry above.
    static func run(_ body: (CompletionWorld, TenancyFixture) async throws -> Void) async throws {
        try await CompletionWorld.run(localMode: false, models: registry) { world in
            try await body(world, try await TenancyFixture.make(server: world.server))
        }
    }

    @Test func modelListShowsTheDefaultsThenTheWorkspacesChoiceAndNeverEndpoints() async throws {
        try await Self.run { world, fixture in
            let member = try await world.client(token: fixture.memberA.key)
            var list = try await member.send(ModelListRequest(workspaceId: fixture.workspaceA.id))
            #expect(list.workspaceId == fixture.workspaceA.id)
            #expect(list.models.map(\.id) == ["local", "star"])
            #expect(list.defaultCompletionModel == "local")
            // Without a workspace named: the caller's.
            #expect(try await member.send(ModelListRequest()).workspaceId == fixture.workspaceA.id)

            let admin = try await world.client(token: fixture.adminA.key)
            _ = try await admin.send(WorkspaceSetModelsRequest(workspaceId: fixture.workspaceA.id, models: ["claude", "star"]))
            list = try await member.send(ModelListRequest(workspaceId: fixture.workspaceA.id))
            #expect(list.models.map(\.id) == ["claude", "star"])
            #expect(list.models.map(\.provider) == ["anthropic", "openai"])
            #expect(list.models.first?.capabilities == ModelCapabilities(chat: true, fillInTheMiddle: false))
            #expect(list.defaultCompletionModel == "claude")

            let wire = String(decoding: try JSONEncoder().encode(list), as: UTF8.self)
            for secret in ["127.0.0.1", "\(world.fake.port)", "endpoint", "apiKey", Fake.keyVariable, "upstream-star", "claude-fake"] {
                #expect(!wire.contains(secret), "model/list shows \(secret): \(wire)")
            }

            // Another tenant's workspace does not exist for this caller.
            let outsider = try await world.client(token: fixture.adminB.key)
            await expectError(.notFound) { try await outsider.send(ModelListRequest(workspaceId: fixture.workspaceA.id)) }
        }
    }

    @Test func setModelsNeedsAWorkspaceAdminAndIsAudited() async throws {
        try await Self.run { world, fixture in
            let workspaceId = fixture.workspaceA.id
            let member = try await world.client(token: fixture.memberA.key)
            let viewer = try await world.client(token: fixture.viewerA.key)
            let outsider = try await world.client(token: fixture.adminB.key)
            let admin = try await world.client(token: fixture.adminA.key)
            let seq = try await world.server.store.read { try $0.auditHead().lastSeq }

            await expectError(.forbidden) { try await member.send(WorkspaceSetModelsRequest(workspaceId: workspaceId, models: ["star"])) }
            await expectError(.forbidden) { try await viewer.send(WorkspaceSetModelsRequest(workspaceId: workspaceId, models: ["star"])) }
            await expectError(.notFound) { try await outsider.send(WorkspaceSetModelsRequest(workspaceId: workspaceId, models: ["star"])) }
            let unknown = await expectError(.invalidParams) {
                try await admin.send(WorkspaceSetModelsRequest(workspaceId: workspaceId, models: ["star", "gpt-nope"]))
            }
            #expect(unknown?.message.contains("gpt-nope") == true)
            await expectError(.invalidParams) { try await admin.send(WorkspaceSetModelsRequest(workspaceId: workspaceId, models: ["star", "star"])) }
            // Nothing changed so far.
            #expect(try await member.send(ModelListRequest(workspaceId: workspaceId)).models.map(\.id) == ["local", "star"])

            let result = try await admin.send(WorkspaceSetModelsRequest(workspaceId: workspaceId, models: ["star"]))
            #expect(result == WorkspaceModelsResult(workspaceId: workspaceId, models: ["star"]))
            #expect(try await member.send(ModelListRequest(workspaceId: workspaceId)).models.map(\.id) == ["star"])
            // Stored, not only cached: the store has the choice.
            #expect(try await world.server.store.read { try $0.workspaceModels(workspaceId: workspaceId) } == ["star"])

            let rows = try await world.server.store.read { try $0.auditRows(afterSeq: seq, limit: 100) }
                .filter { $0.method == WorkspaceSetModelsRequest.method }
            let done = rows.filter { $0.outcome == .success }
            #expect(done.count == 1)
            #expect(done.first?.actor == "user:\(fixture.adminA.user.id)")
            #expect(done.first?.workspaceId == workspaceId)
            #expect(done.first?.detail == "star")
            let denied = rows.filter { $0.outcome == .denied }
            #expect(Set(denied.map(\.actor)) == Set([fixture.memberA, fixture.viewerA, fixture.adminB].map { "user:\($0.user.id)" }))
            // The outsider's refusal is filed under their own tenant.
            #expect(denied.first { $0.actor == "user:\(fixture.adminB.user.id)" }?.tenantId == fixture.tenantB.id)
        }
    }

    @Test func completionsUseOnlyEnabledModels() async throws {
        try await Self.run { world, fixture in
            let workspaceId = fixture.workspaceA.id
            let admin = try await world.client(token: fixture.adminA.key)
            _ = try await admin.send(WorkspaceSetModelsRequest(workspaceId: workspaceId, models: ["star"]))
            let member = try await world.client(token: fixture.memberA.key)
            member.open(Self.uri, "let total = \n")
            let cursor = point(0, 12)

            let notEnabled = await expectError(.forbidden) { try await member.inline(Self.uri, at: cursor, model: "local") }
            #expect(notEnabled?.message.contains("not enabled") == true)
            await expectError(.forbidden) { try await member.send(AICompleteRequest(prefix: "let x = ", workspaceId: workspaceId, model: "claude")) }
            await expectError(.invalidParams) { try await member.inline(Self.uri, at: cursor, model: "gpt-nope") }
            await expectError(.invalidParams) { try await member.send(AICompleteRequest(prefix: "let x = ", model: "gpt-nope")) }
            #expect(world.fake.requests.isEmpty)

            // The enabled model, named or by default.
            world.fake.enqueue(streamed(["price * quantity"]), streamed(["42"]))
            #expect(try await member.inline(Self.uri, at: cursor, model: "star").items.map(\.insertText) == ["price * quantity"])
            let answer = try await member.send(AICompleteRequest(prefix: "let answer = ", workspaceId: workspaceId))
            #expect(answer.model == "star")
            #expect(answer.candidates == ["42"])

            // A workspace with no model enabled cannot complete at all.
            _ = try await admin.send(WorkspaceSetModelsRequest(workspaceId: workspaceId, models: []))
            member.edit(Self.uri, version: 2, range(point(0, 0), point(0, 0)), "// no models\n")
            await expectError(.forbidden) { try await member.inline(Self.uri, at: point(1, 12)) }
            #expect(world.fake.requests.count == 2)
        }
    }

    @Test func aChatOnlyModelCompletesThroughTheChatFallback() async throws {
        try await Self.run { world, fixture in
            let admin = try await world.client(token: fixture.adminA.key)
            _ = try await admin.send(WorkspaceSetModelsRequest(workspaceId: fixture.workspaceA.id, models: ["claude"]))
            let member = try await world.client(token: fixture.memberA.key)
            member.open(Self.uri, "func total(price: Int, quantity: Int) -> Int {\n    let total = \n    return total\n}\n")
            // Chat models wrap code: tags, a fence, a language name.
            world.fake.enqueue(
                .anthropicStream(
                    chunks: ["<COMPLETION>", "```swift\n", "price * quantity", "\n```", "</COMPLETION>"],
                    usage: TokenUsage(inputTokens: 230, outputTokens: 14)))

            let list = try await member.inline(Self.uri, at: point(1, 16))
            #expect(list.items.map(\.insertText) == ["price * quantity"])
            #expect(list.items.first?.range == range(point(1, 16), point(1, 16)))

            let request = try #require(world.fake.requests.first)
            #expect(request.path == "/v1/messages")
            #expect(request.header("x-api-key") == Fake.apiKey)
            let body = try #require(request.json)
            #expect(body["model"] == "claude-fake")
            #expect(body["stream"] == .bool(true))
            let user = try #require(body["messages"]?[0]?["content"]?.stringValue)
            #expect(user.contains("    let total = \(ChatFallback.holeMarker)\n    return total"), "user message: \(user)")

            let events = try await world.usage(tenantId: fixture.tenantA.id).filter { $0.kind == .completion }
            #expect(events.map(\.model) == ["claude"])
            #expect(events.first?.inputTokens == 230)
            #expect(events.first?.outputTokens == 14)
            #expect(events.first?.userId == fixture.memberA.user.id)
        }
    }
}
