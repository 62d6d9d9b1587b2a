import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// Soft limits: a settlement that takes a budget to or past one of its thresholds sends
/// `quota/didChange` to the sessions the budget applies to, once per threshold, and to no one else.
@Suite("Budget thresholds", .timeLimit(.minutes(1)))
struct SoftLimitTests {
    /// Every call costs 100 tokens (5 of prompt, 95 of output; a multi-line call may have 256) unless
    /// its output limit was lowered.
    static func answer(_ request: RecordedRequest) -> FakeModelServer.Behaviour {
        .stream(
            chunks: ["price * quantity"],
            usage: TokenUsage(inputTokens: 5, outputTokens: min(95, request.json?["max_tokens"]?.intValue ?? 0)))
    }

    static let notices: [any NotificationType.Type] = [QuotaDidChangeNotification.self]

    /// The next `count` notices `client` was sent, as "level threshold".
    static func next(_ count: Int, _ client: TestClient) async throws -> [QuotaDidChangeNotification] {
        var found: [QuotaDidChangeNotification] = []
        for _ in 0..<count {
            // Waiting is bounded only so that a notice never sent fails the test instead of hanging it.
            let notice = await withTaskGroup(of: QuotaDidChangeNotification?.self) { group in
                group.addTask { await client.nextNotification(ofType: QuotaDidChangeNotification.self) }
                group.addTask {
                    try? await Task.sleep(for: .seconds(20))
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            found.append(try #require(notice, "no quota/didChange came (after \(found.count) of \(count))"))
        }
        return found
    }

    static func summary(_ notices: [QuotaDidChangeNotification]) -> [String] {
        notices.map { "\($0.quota.level) \($0.threshold)" }
    }

    @Test func eachThresholdIsToldOnceToTheSessionsTheBudgetAppliesTo() async throws {
        try await CompletionWorld.run(localMode: false, models: QuotaTests.registry(timeouts: .short)) { world in
            _ = world.upstream { _, request in Self.answer(request) }
            let fixture = try await TenancyFixture.make(server: world.server)
            let workspaceId = fixture.workspaceA.id
            let member = try await world.client(token: fixture.memberA.key, clientNotifications: Self.notices)
            let admin = try await world.client(token: fixture.adminA.key, clientNotifications: Self.notices)
            // The member's second session makes no call until the workspace is at 90%.
            let idle = try await world.client(token: fixture.memberA.key, clientNotifications: Self.notices)
            let other = try await world.client(token: fixture.adminB.key, clientNotifications: Self.notices)
            let calls = LockedState(0)
            func call(_ client: TestClient, in workspace: String = workspaceId) async throws {
                // A prefix of its own each time: a cached answer would call no model and spend nothing.
                let number = calls.withLock { $0 += 1; return $0 }
                _ = try await client.send(AICompleteRequest(prefix: "let total\(number) = ", workspaceId: workspace, model: "star", multiline: true))
            }

            let set = try await admin.send(
                QuotaSetRequest(level: "workspace", workspaceId: workspaceId, metric: "tokens", period: "none", limit: 1_000))
            #expect(set.quota?.thresholds == [80, 95], "a budget given no thresholds has the defaults")
            try await call(admin)
            try await call(other, in: fixture.workspaceB.id)
            for _ in 0..<7 { try await call(member) }
            // 800 of 1000: 80%, told to both sessions that called in the workspace.
            let eighty = try await Self.next(1, member)
            #expect(Self.summary(eighty) == ["workspace 80"])
            #expect(eighty.first?.quota.used == 800 && eighty.first?.quota.remaining == 200, "\(eighty)")
            #expect(eighty.first?.quota.workspaceId == workspaceId && eighty.first?.quota.thresholds == [80, 95])
            #expect(Self.summary(try await Self.next(1, admin)) == ["workspace 80"])

            try await call(idle)  // 900: no threshold
            try await call(member)  // the rest: its output limit is lowered to fit, and 95% is reached
            let ninetyFive = try await Self.next(1, member)
            #expect(Self.summary(ninetyFive) == ["workspace 95"])
            let used = try #require(ninetyFive.first?.quota.used)
            #expect(used >= 950 && used <= 1_000 && ninetyFive.first?.quota.remaining == 1_000 - used)
            #expect(Self.summary(try await Self.next(1, admin)) == ["workspace 95"])
            #expect(Self.summary(try await Self.next(1, idle)) == ["workspace 95"])

            // A user's share is told to that user's sessions in the workspace, not to the admin's.
            _ = try await admin.send(
                QuotaSetRequest(level: "workspace", workspaceId: workspaceId, metric: "tokens", period: "none", limit: 10_000))
            let share = try await admin.send(
                QuotaSetRequest(
                    level: "user", workspaceId: workspaceId, userId: fixture.memberA.user.id, metric: "tokens", period: "none",
                    limit: 250, thresholds: [40]))
            #expect(share.quota?.thresholds == [40])
            try await call(member)
            let forty = try await Self.next(1, member)
            #expect(Self.summary(forty) == ["user 40"] && forty.first?.quota.userId == fixture.memberA.user.id)
            #expect(Self.summary(try await Self.next(1, idle)) == ["user 40"])

            // No thresholds: nothing is told, however far it goes.
            let silent = try await admin.send(
                QuotaSetRequest(
                    level: "user", workspaceId: workspaceId, userId: fixture.memberA.user.id, metric: "tokens", period: "none",
                    limit: 250, thresholds: []))
            #expect(silent.quota?.thresholds == [] && silent.quota?.used == 100, "changing thresholds keeps what was used")
            try await call(member)  // 200 of 250: 80%
            _ = try await QuotaTests.settled(member)

            // Last, a tenant budget every session of the tenant that called in a workspace is told of.
            _ = try await admin.send(
                QuotaSetRequest(level: "tenant", metric: "tokens", period: "none", limit: 10_000, thresholds: [1]))
            try await call(admin)
            #expect(Self.summary(try await Self.next(1, member)) == ["tenant 1"], "the member was told nothing in between")
            #expect(Self.summary(try await Self.next(1, admin)) == ["tenant 1"], "the admin was not told of the user's share")
            #expect(Self.summary(try await Self.next(1, idle)) == ["tenant 1"])

            // Tenant B's session, which called in its own workspace all along, hears only of its own.
            _ = try await other.send(QuotaSetRequest(level: "tenant", metric: "tokens", period: "none", limit: 400, thresholds: [50]))
            try await call(other, in: fixture.workspaceB.id)
            try await call(other, in: fixture.workspaceB.id)
            let own = try await Self.next(1, other)
            #expect(Self.summary(own) == ["tenant 50"] && own.first?.quota.tenantId == fixture.tenantB.id)
        }
    }

    /// A settlement the store refused at first is retried by the usage recorder; the threshold
    /// it reaches then is told all the same.
    @Test func aRetriedSettlementTellsItsThresholdToo() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-soft-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let driver = ObservingDriver(base: try await TestStore.makeDriver(sqlitePath: scratch.path + "/devmode.sqlite3"))
        try await CompletionWorld.run(models: QuotaTests.registry(timeouts: .short), driver: driver) { world in
            _ = world.upstream { _, request in Self.answer(request) }
            let client = try await world.client(clientNotifications: Self.notices)
            let workspaceId = try await client.send(QuotaGetRequest()).workspaceId
            _ = try await client.send(
                QuotaSetRequest(
                    level: "workspace", workspaceId: workspaceId, metric: "tokens", period: "none", limit: 1_000, thresholds: [10]))
            // The settlement's usage row is refused once: the call is answered, its settlement waits.
            driver.arm("ON CONFLICT (id) DO NOTHING RETURNING id", count: 1)
            _ = try await client.send(AICompleteRequest(prefix: "let total = ", workspaceId: workspaceId, model: "star", multiline: true))
            #expect(driver.remaining("ON CONFLICT (id) DO NOTHING RETURNING id") == 0)
            await world.server.ai.usage.flush()
            let notice = try await Self.next(1, client)
            #expect(Self.summary(notice) == ["workspace 10"] && notice.first?.quota.used == 100 && notice.first?.quota.reserved == 0)
        }
    }

    @Test func thresholdsAreValidatedAndShownByQuotaGet() async throws {
        try await CompletionWorld.run(models: QuotaTests.registry(timeouts: .short)) { world in
            let client = try await world.client()
            let workspaceId = try await client.send(QuotaGetRequest()).workspaceId
            for (thresholds, why) in [
                ([0], "0%"), ([101], "over 100%"), (Array(1...11), "more than 10"),
            ] {
                await expectError(.invalidParams, why) {
                    try await client.send(
                        QuotaSetRequest(
                            level: "workspace", workspaceId: workspaceId, metric: "tokens", limit: 100, thresholds: thresholds))
                }
            }
            await expectError(.invalidParams, "a rate limit has no thresholds") {
                try await client.send(
                    QuotaSetRequest(
                        level: "workspace", workspaceId: workspaceId, metric: "requestsPerMinute", limit: 10, thresholds: [50]))
            }
            let set = try await client.send(
                QuotaSetRequest(level: "workspace", workspaceId: workspaceId, metric: "tokens", limit: 100, thresholds: [90, 50, 90]))
            #expect(set.quota?.thresholds == [50, 90], "kept ascending, each once")
            let kept = try await client.send(
                QuotaSetRequest(level: "workspace", workspaceId: workspaceId, metric: "tokens", limit: 200))
            #expect(kept.quota?.thresholds == [50, 90], "a change without thresholds keeps the budget's own")
            let got = try await client.send(QuotaGetRequest()).quotas.first { $0.level == "workspace" && $0.metric == "tokens" }
            #expect(got?.thresholds == [50, 90] && got?.limit == 200)
        }
    }
}
