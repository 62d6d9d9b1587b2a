import DevModeAI
import DevModeClock
import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// Budgets on completions: a spent budget refuses before the model is called, a budget with a
/// little room lowers the call's output limit, and whatever way a call ends (answered, failed,
/// timed out, cancelled, superseded) its reservation is gone afterwards.
@Suite("Budgets on completions", .timeLimit(.minutes(1)))
struct QuotaTests {
    static let uri = "file:///home/ada/shop/Sources/Totals.swift"
    static let text = "let total = \nprint(total)\n"
    static let cursor = point(0, 12)

    static func registry(timeouts: ModelConfiguration.Timeouts) -> (FakeModelServer) -> ModelRegistry {
        { fake in
            ModelRegistry(
                models: [fimModel("star", endpoint: fake.openAIEndpoint, timeouts: timeouts)], defaultModels: ["star", "local"])
        }
    }

    /// What the model reports: 5 prompt tokens, and all the output the call allowed.
    static func answer(_ request: RecordedRequest) -> FakeModelServer.Behaviour {
        .stream(chunks: ["price * quantity"], usage: TokenUsage(inputTokens: 5, outputTokens: request.json?["max_tokens"]?.intValue ?? 0))
    }

    /// The local session's workspace budget in tokens.
    static func setBudget(_ client: TestClient, limit: Int?, level: String = "workspace", keyId: String? = nil) async throws
        -> String
    {
        let workspaceId = try await client.send(QuotaGetRequest()).workspaceId
        _ = try await client.send(
            QuotaSetRequest(
                level: level, workspaceId: level == "key" ? nil : workspaceId, keyId: keyId, metric: "tokens", period: "day",
                limit: limit))
        return workspaceId
    }

    /// The workspace budget once no call holds any of it (a cancelled call settles just after its
    /// answer went out).
    static func settled(_ client: TestClient, metric: String = "tokens") async throws -> QuotaInfo {
        for _ in 0..<2_000 {
            let quotas = try await client.send(QuotaGetRequest()).quotas
            let budget = try #require(quotas.first { $0.level == "workspace" && $0.metric == metric })
            if budget.reserved == 0 { return budget }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("the workspace budget still holds a reservation")
        return try #require(try await client.send(QuotaGetRequest()).quotas.first { $0.level == "workspace" && $0.metric == metric })
    }

    @Test func aBudgetWithRoomForPartOfTheOutputLowersTheCallsLimit() async throws {
        try await CompletionWorld.run(models: Self.registry(timeouts: .short)) { world in
            var arrivals = world.upstream { _, request in Self.answer(request) }
            let client = try await world.client()
            let workspaceId = try await Self.setBudget(client, limit: 60)
            let result = try await client.send(
                AICompleteRequest(prefix: "let total = ", workspaceId: workspaceId, model: "star", multiline: true))
            let upstream = try #require(await arrivals.next())
            let sent = try #require(upstream.json?["max_tokens"]?.intValue)
            let clamped = try #require(result.clampedMaxOutputTokens, "the model's 256 did not fit: the result must say so")
            #expect(sent == clamped)
            #expect(clamped >= QuotaService.Settings().minimumOutputTokens && clamped < 256, "lowered to \(clamped)")
            let budget = try await Self.settled(client)
            #expect(budget.used == 5 + clamped && budget.used <= 60, "\(budget)")

            // What is left is less than a prompt and the smallest useful output: refused, unchanged.
            let error = await expectError(.quotaExceeded) {
                try await client.send(AICompleteRequest(prefix: "let tax = ", workspaceId: workspaceId, model: "star"))
            }
            #expect(error?.data?["level"] == "workspace" && error?.data?["limit"] == .int(60))
            #expect(error?.data?["used"] == .int(budget.used) && error?.data?["reserved"] == .int(0))
            #expect(world.fake.requests.count == 1, "a refused call never reaches the model")
            #expect(try await Self.settled(client).used == budget.used)
        }
    }

    @Test func aSpentBudgetRefusesEveryCompletionMethodButTheFreeLocalModel() async throws {
        try await CompletionWorld.run(models: Self.registry(timeouts: .short)) { world in
            _ = world.upstream { _, request in Self.answer(request) }
            let client = try await world.client()
            let workspaceId = try await Self.setBudget(client, limit: 0)
            client.open(Self.uri, Self.text)
            for method in [AICompleteRequest.method, InlineCompletionRequest.method, CompletionRequest.method] {
                let error = await expectError(.quotaExceeded, method) {
                    switch method {
                    case AICompleteRequest.method:
                        _ = try await client.send(AICompleteRequest(prefix: "let total = ", workspaceId: workspaceId, model: "star"))
                    case InlineCompletionRequest.method:
                        _ = try await client.send(
                            InlineCompletionRequest(
                                textDocument: TextDocumentIdentifier(uri: Self.uri), position: Self.cursor, model: "star"))
                    default:
                        _ = try await client.send(
                            CompletionRequest(textDocument: TextDocumentIdentifier(uri: Self.uri), position: Self.cursor, model: "star"))
                    }
                }
                #expect(error?.data?["level"] == "workspace" && error?.data?["remaining"] == .int(0), "\(method)")
                #expect(error?.data?["resetAt"]?.stringValue?.hasSuffix("T00:00:00.000Z") == true, "a day budget resets at midnight UTC")
            }
            #expect(world.fake.requests.isEmpty)
            let local = try await client.send(AICompleteRequest(prefix: "let total = ", workspaceId: workspaceId, model: "local"))
            #expect(local.model == "local")
        }
    }

    @Test func anAPIKeysOwnCapRefusesWhateverTheWorkspaceAllows() async throws {
        try await CompletionWorld.run(localMode: false, models: Self.registry(timeouts: .short)) { world in
            _ = world.upstream { _, request in Self.answer(request) }
            let fixture = try await TenancyFixture.make(server: world.server)
            let admin = try await world.client(token: fixture.adminA.key)
            let member = try await world.client(token: fixture.memberA.key)
            _ = try await admin.send(WorkspaceSetModelsRequest(workspaceId: fixture.workspaceA.id, models: ["star"]))
            _ = try await admin.send(
                QuotaSetRequest(level: "key", keyId: fixture.memberA.keyId, metric: "tokens", period: "none", limit: 10))
            let error = await expectError(.quotaExceeded) {
                try await member.send(AICompleteRequest(prefix: "let total = ", workspaceId: fixture.workspaceA.id))
            }
            #expect(error?.data?["level"] == "key" && error?.data?["keyId"] == .string(fixture.memberA.keyId))
            #expect(error?.data?["resetAt"] == .null)
            // The member sees their key's cap among what applies to them.
            let quotas = try await member.send(QuotaGetRequest(workspaceId: fixture.workspaceA.id)).quotas
            #expect(quotas.map(\.level) == ["key"])
            // The admin's own calls are not held to the member's key.
            _ = try await admin.send(AICompleteRequest(prefix: "let total = ", workspaceId: fixture.workspaceA.id))
        }
    }

    @Test func aFailedCallReleasesItsReservationAndCostsNothing() async throws {
        try await CompletionWorld.run(models: Self.registry(timeouts: .short)) { world in
            _ = world.upstream { _, _ in .status(500, body: #"{"error":{"message":"overloaded"}}"#) }
            let client = try await world.client()
            let workspaceId = try await Self.setBudget(client, limit: 1_000)
            await expectError(.providerUnavailable) {
                try await client.send(AICompleteRequest(prefix: "let total = ", workspaceId: workspaceId, model: "star"))
            }
            let budget = try await Self.settled(client)
            #expect(budget.used == 0 && budget.remaining == 1_000, "\(budget)")
        }
    }

    @Test func aTimedOutCallReleasesItsReservation() async throws {
        let clock = TestClock()
        let timeouts = ModelConfiguration.Timeouts(connectMs: 10_000, firstByteMs: 2_000, idleMs: 2_000, totalMs: 20_000)
        try await CompletionWorld.run(models: Self.registry(timeouts: timeouts), configure: { $0.clock = clock }) { world in
            var arrivals = world.upstream { _, _ in .hang }
            let client = try await world.client()
            let workspaceId = try await Self.setBudget(client, limit: 1_000)
            let call = Task {
                try await client.send(AICompleteRequest(prefix: "let total = ", workspaceId: workspaceId, model: "star"))
            }
            _ = await arrivals.next()
            #expect(try await client.send(QuotaGetRequest()).quotas.first?.reserved ?? 0 > 0, "held while the call runs")
            #expect(await clock.waitForSleepers())
            clock.advance(by: .milliseconds(2_000))
            let error = await expectError(.providerUnavailable) { try await call.value }
            #expect(error?.data?["reason"] == "timeout")
            let budget = try await Self.settled(client)
            // The model may have started on the prompt: its estimate is charged, the output is not.
            #expect(budget.used < 64 && budget.remaining == 1_000 - budget.used, "\(budget)")
        }
    }

    @Test func cancelledAndSupersededCallsReleaseTheirReservations() async throws {
        try await CompletionWorld.run(models: Self.registry(timeouts: .patient)) { world in
            var arrivals = world.upstream { number, request in number < 3 ? .hang : Self.answer(request) }
            let client = try await world.client()
            _ = try await Self.setBudget(client, limit: 1_000)
            client.open(Self.uri, Self.text)

            // Superseded: a newer request for the same document takes over.
            let first = Task { try await client.inline(Self.uri, at: Self.cursor, model: "star") }
            _ = await arrivals.next()
            let second = Task { try await client.inline(Self.uri, at: Self.cursor, model: "star") }
            _ = await arrivals.next()
            await expectError(.contentModified) { try await first.value }
            #expect(try await client.send(QuotaGetRequest()).quotas.first?.reserved ?? 0 > 0, "the newer call holds its worst case")
            // Cancelled: `$/cancelRequest` for the newer one.
            let raw = RawSession(server: world.server, local: true)
            #expect(try await raw.call(InitializeRequest(), id: 1)["result"] != nil)
            try await raw.notify(InitializedNotification())
            try await raw.notify(
                DidOpenTextDocumentNotification(
                    textDocument: TextDocumentItem(uri: Self.uri, languageId: "swift", version: 1, text: Self.text)))
            try await raw.request(
                InlineCompletionRequest(textDocument: TextDocumentIdentifier(uri: Self.uri), position: Self.cursor, model: "star"), id: 2)
            _ = await arrivals.next()
            try await raw.cancel(id: 2)
            let reply = try await raw.reply(to: 2)
            #expect(reply["error"]?["code"] == .int(ErrorCode.requestCancelled.rawValue), "reply: \(reply)")
            await raw.close()
            second.cancel()
            _ = try? await second.value
            let budget = try await Self.settled(client)
            #expect(budget.remaining == 1_000 - budget.used && budget.used <= 3 * 100, "\(budget)")

            let third = try await client.inline(Self.uri, at: Self.cursor, model: "star")
            #expect(third.items.map(\.insertText) == ["price * quantity"])
            let after = try await Self.settled(client)
            #expect(after.used > budget.used)
        }
    }

    @Test func onlyTenantAdminsSetBudgetsAndAnyMemberReadsTheirOwn() async throws {
        try await CompletionWorld.run(localMode: false, models: Self.registry(timeouts: .short)) { world in
            let fixture = try await TenancyFixture.make(server: world.server)
            let admin = try await world.client(token: fixture.adminA.key)
            let member = try await world.client(token: fixture.memberA.key)
            let viewer = try await world.client(token: fixture.viewerA.key)
            let workspaceId = fixture.workspaceA.id
            // Even the workspace's owner may not: budgets are what the tenant pays for.
            _ = try await world.server.directory.setMember(
                workspaceId: workspaceId, userId: fixture.memberA.user.id, role: .owner, adding: false, by: .cli)
            let set = QuotaSetRequest(level: "workspace", workspaceId: workspaceId, metric: "cost", period: "month", limit: 5_000_000)
            await expectError(.forbidden) { try await member.send(set) }
            await expectError(.forbidden) { try await viewer.send(set) }
            let made = try await admin.send(set)
            #expect(made.quota?.limit == 5_000_000 && made.quota?.metric == "cost" && !made.removed)

            let seen = try await viewer.send(QuotaGetRequest(workspaceId: workspaceId))
            #expect(seen.userId == fixture.viewerA.user.id && seen.quotas.map(\.level) == ["workspace"])
            await expectError(.forbidden) {
                try await member.send(QuotaGetRequest(workspaceId: workspaceId, userId: fixture.viewerA.user.id))
            }
            #expect(try await admin.send(QuotaGetRequest(workspaceId: workspaceId, userId: fixture.viewerA.user.id)).quotas.count == 1)

            // A user's share: set by the admin, seen by that user only among their own.
            _ = try await admin.send(
                QuotaSetRequest(
                    level: "user", workspaceId: workspaceId, userId: fixture.viewerA.user.id, metric: "tokens", limit: 1_000))
            #expect(try await viewer.send(QuotaGetRequest(workspaceId: workspaceId)).quotas.map(\.level) == ["workspace", "user"])
            #expect(try await member.send(QuotaGetRequest(workspaceId: workspaceId)).quotas.map(\.level) == ["workspace"])

            let bad = await expectError(.invalidParams) {
                try await admin.send(QuotaSetRequest(level: "planet", metric: "tokens", limit: 1))
            }
            #expect(bad?.data?["field"] == "level")
            await expectError(.invalidParams) {
                try await admin.send(QuotaSetRequest(level: "workspace", workspaceId: workspaceId, metric: "tokens", limit: -1))
            }
            await expectError(.notFound) {
                try await admin.send(QuotaSetRequest(level: "workspace", workspaceId: fixture.workspaceB.id, metric: "tokens", limit: 1))
            }
            let removed = try await admin.send(QuotaSetRequest(level: "workspace", workspaceId: workspaceId, metric: "cost", limit: nil))
            #expect(removed.removed && removed.quota == nil)

            // Audited, refusals included.
            let rows = try await world.server.store.read { try $0.auditRows(afterSeq: 0, limit: 10_000) }
                .filter { $0.method == QuotaSetRequest.method }
            #expect(rows.filter { $0.outcome == .success }.count == 3)
            // The two forbidden and the foreign workspace; params refused before any rights check are not.
            #expect(rows.filter { $0.outcome == .denied }.count == 3)
        }
    }

    @Test func aRateLimitRefusesWithItsExactWaitAndCountsLocalOnlyWhenToldTo() async throws {
        try await CompletionWorld.run(models: Self.registry(timeouts: .short)) { world in
            _ = world.upstream { _, request in Self.answer(request) }
            let client = try await world.client()
            let workspaceId = try await client.send(QuotaGetRequest()).workspaceId
            let set = try await client.send(
                QuotaSetRequest(level: "user", workspaceId: workspaceId, metric: "requestsPerMinute", limit: 1, burst: 1))
            #expect(set.rateLimit?.limit == 1 && set.rateLimit?.userId == nil && set.quota == nil)
            _ = try await client.send(AICompleteRequest(prefix: "let a = ", workspaceId: workspaceId, model: "star"))
            let error = await expectError(.rateLimited) {
                try await client.send(AICompleteRequest(prefix: "let b = ", workspaceId: workspaceId, model: "star"))
            }
            #expect(error?.data?["source"] == "devmode" && error?.data?["level"] == "user", "\(String(describing: error))")
            #expect(error?.data?["metric"] == "requestsPerMinute" && error?.data?["limit"] == .int(1))
            let wait = try #require(error?.data?["retryAfterMs"]?.intValue)
            #expect(wait > 0 && wait <= 60_000, "one a minute: \(wait) ms")
            #expect(world.fake.requests.count == 1, "a refused call never reaches the model")
            let seen = try await client.send(QuotaGetRequest()).rateLimits
            #expect(seen.map(\.metric) == ["requestsPerMinute"] && seen.first?.used == 1 && seen.first?.freeAt != nil)

            // `local` is free and not limited, unless the limit says so.
            _ = try await client.send(AICompleteRequest(prefix: "let c = ", workspaceId: workspaceId, model: "local"))
            _ = try await client.send(AICompleteRequest(prefix: "let d = ", workspaceId: workspaceId, model: "local"))
            _ = try await client.send(
                QuotaSetRequest(
                    level: "user", workspaceId: workspaceId, metric: "requestsPerMinute", limit: 1, burst: 1, includeLocal: true))
            await expectError(.rateLimited) {
                try await client.send(AICompleteRequest(prefix: "let e = ", workspaceId: workspaceId, model: "local"))
            }
        }
    }

    @Test func aConcurrencyLimitRefusesWhileItsCallsAreInFlight() async throws {
        try await CompletionWorld.run(models: Self.registry(timeouts: .patient)) { world in
            var arrivals = world.upstream { number, request in number == 0 ? .hang : Self.answer(request) }
            let client = try await world.client()
            let workspaceId = try await client.send(QuotaGetRequest()).workspaceId
            _ = try await client.send(QuotaSetRequest(level: "workspace", workspaceId: workspaceId, metric: "concurrentRequests", limit: 1))
            let first = Task { try await client.send(AICompleteRequest(prefix: "let a = ", workspaceId: workspaceId, model: "star")) }
            _ = await arrivals.next()
            let error = await expectError(.rateLimited) {
                try await client.send(AICompleteRequest(prefix: "let b = ", workspaceId: workspaceId, model: "star"))
            }
            #expect(error?.data?["metric"] == "concurrentRequests" && error?.data?["used"] == .int(1))
            #expect(error?.data?["retryAfterMs"] == nil, "no wait can be named: retry when a call ends")
            first.cancel()
            _ = try? await first.value
            // Once the call in flight ended, the next is admitted.
            var admitted = false
            for _ in 0..<2_000 where !admitted {
                do {
                    _ = try await client.send(AICompleteRequest(prefix: "let c = ", workspaceId: workspaceId, model: "star"))
                    admitted = true
                } catch let error as ResponseError where error.code == .rateLimited {
                    try await Task.sleep(for: .milliseconds(5))
                }
            }
            #expect(admitted)
        }
    }

    /// A priced model and a free one on the fake server, and `local`.
    static func pricedRegistry(_ fake: FakeModelServer) -> ModelRegistry {
        ModelRegistry(
            models: [
                fimModel("star", endpoint: fake.openAIEndpoint, pricing: .init(inputPerMillion: 3, outputPerMillion: 15)),
                fimModel("cheap", endpoint: fake.openAIEndpoint),
            ], defaultModels: ["star", "cheap", "local"])
    }

    @Test func theFallbackModelAnswersOnceABudgetRefusesAndIsMeteredItself() async throws {
        try await CompletionWorld.run(models: Self.pricedRegistry) { world in
            _ = world.upstream { _, request in Self.answer(request) }
            let client = try await world.client()
            let workspaceId = try await client.send(QuotaGetRequest()).workspaceId
            // Money is spent (the free `cheap` model costs nothing); tokens are not.
            _ = try await client.send(QuotaSetRequest(level: "workspace", workspaceId: workspaceId, metric: "cost", limit: 0))
            _ = try await client.send(QuotaSetRequest(level: "workspace", workspaceId: workspaceId, metric: "tokens", limit: 10_000))
            await expectError(.quotaExceeded) {
                try await client.send(AICompleteRequest(prefix: "let a = ", workspaceId: workspaceId, model: "star"))
            }
            let set = try await client.send(
                WorkspaceSetModelsRequest(workspaceId: workspaceId, models: ["star", "cheap", "local"], fallbackModel: "cheap"))
            #expect(set.fallbackModel == "cheap")
            await expectError(.invalidParams) {
                try await client.send(WorkspaceSetModelsRequest(workspaceId: workspaceId, models: ["star"], fallbackModel: "cheap"))
            }

            let answered = try await client.send(AICompleteRequest(prefix: "let b = ", workspaceId: workspaceId, model: "star"))
            #expect(answered.model == "cheap")
            #expect(answered.fallback == CompletionFallback(requestedModel: "star", reason: "quotaExceeded", level: "workspace"))
            #expect(world.fake.requests.last?.json?["model"] == "upstream-cheap")
            // Metered: the fallback's tokens are charged to the tokens budget, its usage row is written.
            let tokens = try #require(try await Self.settled(client, metric: "tokens"))
            #expect(tokens.used == 5 + (world.fake.requests.last?.json?["max_tokens"]?.intValue ?? -1))
            let rows = try await world.usage(tenantId: try #require(try await client.send(AuthWhoAmIRequest()).tenantId))
            #expect(rows.filter { $0.kind == .completion && $0.model == "cheap" && $0.outcome == "ok" }.count == 1)

            // A budget of its own refuses the fallback too: no way around it.
            _ = try await client.send(QuotaSetRequest(level: "workspace", workspaceId: workspaceId, metric: "tokens", limit: 0))
            let error = await expectError(.quotaExceeded) {
                try await client.send(AICompleteRequest(prefix: "let c = ", workspaceId: workspaceId, model: "star"))
            }
            #expect(error?.data?["metric"] == "tokens", "the fallback's refusal: \(String(describing: error))")
        }
    }
}
