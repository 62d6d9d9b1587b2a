import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeTestSupport
import JSONRPC
import Testing

/// What the editor reports about completions (shown, accepted whole or in part, rejected) becomes
/// usage events and acceptance rates; reports about completions the caller never received are
/// ignored.
@Suite("Completion telemetry", .timeLimit(.minutes(1)))
struct TelemetryTests {
    static func registry(_ fake: FakeModelServer) -> ModelRegistry {
        ModelRegistry(models: [fimModel("star", endpoint: fake.openAIEndpoint)], defaultModels: ["star"])
    }

    @Test func shownAcceptedPartialAndRejectedBecomeUsageEvents() async throws {
        try await CompletionWorld.run(localMode: false, models: Self.registry) { world in
            let fixture = try await TenancyFixture.make(server: world.server)
            let workspaceId = fixture.workspaceA.id
            _ = world.upstream { number, _ in streamed(["completion\(number) + 1"]) }
            let member = try await world.client(token: fixture.memberA.key)
            let admin = try await world.client(token: fixture.adminA.key)
            let outsider = try await world.client(token: fixture.adminB.key)

            // Four completions for the member: three inline, one through ai/complete.
            var ids: [String] = []
            for index in 0..<3 {
                let uri = "file:///srv/alpha/Sources/File\(index).swift"
                member.open(uri, "let value\(index) = \n")
                let item = try #require(try await member.inline(uri, at: point(0, "let value\(index) = ".utf16.count)).items.first)
                ids.append(item.completionId)
            }
            let scripted = try await member.send(AICompleteRequest(prefix: "let scripted = ", workspaceId: workspaceId))
            ids.append(scripted.completionId)
            #expect(Set(ids).count == 4)
            // One for the admin, in the same workspace.
            let adminsId = try await admin.send(AICompleteRequest(prefix: "let admins = ", workspaceId: workspaceId)).completionId

            for id in ids { member.send(CompletionDidShowNotification(completionId: id)) }
            member.send(CompletionDidAcceptNotification(completionId: ids[0]))
            member.send(CompletionDidAcceptNotification(completionId: ids[1], acceptedLength: 4))
            _ = try await member.send(ExecuteCommandRequest(command: ExecuteCommandRequest.acceptCompletionCommand, arguments: [.string(ids[2])]))
            member.send(CompletionDidRejectNotification(completionIds: [ids[3]]))

            // Reports about completions the sender never received: ignored.
            member.send(CompletionDidShowNotification(completionId: adminsId))
            member.send(CompletionDidAcceptNotification(completionId: adminsId))
            member.send(CompletionDidAcceptNotification(completionId: "cmp_never_given"))
            admin.send(CompletionDidAcceptNotification(completionId: ids[3]))
            outsider.send(CompletionDidShowNotification(completionId: ids[0]))
            outsider.send(CompletionDidRejectNotification(completionIds: ids))
            _ = try await outsider.send(
                ExecuteCommandRequest(command: ExecuteCommandRequest.acceptCompletionCommand, arguments: [.string(ids[0])]))

            // `shutdown` waits for every message sent before it on its session.
            for client in [member, admin, outsider] { _ = try await client.send(ShutdownRequest()) }

            let stats = try await world.stats(workspaceId: workspaceId)
            #expect(stats.requests == 5)
            #expect(stats.shown == 4)
            #expect(stats.accepted == 2)
            #expect(stats.partiallyAccepted == 1)
            #expect(stats.rejected == 1)
            #expect(stats.acceptanceRate == 0.75)

            let events = try await world.usage(tenantId: fixture.tenantA.id).filter { $0.kind != .completion }
            #expect(events.count == 8)
            #expect(events.allSatisfy { $0.userId == fixture.memberA.user.id && $0.model == "star" && $0.workspaceId == workspaceId })
            #expect(Set(events.compactMap(\.subject)) == Set(ids))
            let partial = try #require(events.first { $0.kind == .completionPartiallyAccepted })
            #expect(partial.subject == ids[1])
            #expect(partial.detail == "accepted 4 of \("completion1 + 1".count) characters")
            #expect(events.first { $0.kind == .completionRejected }?.subject == ids[3])
            #expect(Set(events.filter { $0.kind == .completionAccepted }.compactMap(\.subject)) == [ids[0], ids[2]])
            // Nothing was filed under the other tenant.
            #expect(try await world.usage(tenantId: fixture.tenantB.id).isEmpty)
        }
    }

    @Test func theAcceptCommandNeedsACompletionId() async throws {
        try await CompletionWorld.run(models: Self.registry) { world in
            let client = try await world.client()
            await expectError(.invalidParams) {
                try await client.send(ExecuteCommandRequest(command: ExecuteCommandRequest.acceptCompletionCommand))
            }
            await expectError(.invalidParams) { try await client.send(ExecuteCommandRequest(command: "devmode.unknown", arguments: ["x"])) }
        }
    }
}
