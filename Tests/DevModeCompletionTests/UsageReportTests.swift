import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// `usage/report` and `usage/export` sum the usage rows the calls wrote (requests, tokens, cost,
/// shown, accepted, refusals), for whom the caller may see, and the export parses as CSV.
@Suite("Usage reports", .timeLimit(.minutes(1)))
struct UsageReportTests {
    static let pricing = ModelConfiguration.Pricing(inputPerMillion: 3_000, outputPerMillion: 15_000)

    static func registry(_ fake: FakeModelServer) -> ModelRegistry {
        ModelRegistry(
            models: [fimModel("star", endpoint: fake.openAIEndpoint, pricing: pricing)], defaultModels: ["star", "local"])
    }

    @Test func theReportAndTheExportAgreeWithTheUsageRows() async throws {
        try await CompletionWorld.run(localMode: false, models: Self.registry) { world in
            let fixture = try await TenancyFixture.make(server: world.server)
            let workspaceId = fixture.workspaceA.id
            _ = world.upstream { number, _ in streamed(["value\(number) + 1"], usage: TokenUsage(inputTokens: 11, outputTokens: 3 + number)) }
            let member = try await world.client(token: fixture.memberA.key)
            let admin = try await world.client(token: fixture.adminA.key)

            var ids: [String] = []
            for index in 0..<3 {
                ids.append(try await member.send(AICompleteRequest(prefix: "let m\(index) = ", workspaceId: workspaceId, model: "star")).completionId)
            }
            _ = try await admin.send(AICompleteRequest(prefix: "let a = ", workspaceId: workspaceId, model: "star"))
            _ = try await admin.send(AICompleteRequest(prefix: "let l = ", workspaceId: workspaceId, model: "local"))
            member.send(CompletionDidShowNotification(completionId: ids[0]))
            member.send(CompletionDidShowNotification(completionId: ids[1]))
            member.send(CompletionDidAcceptNotification(completionId: ids[1], acceptedLength: 2))
            // The member's share of the workspace is spent: one refusal.
            _ = try await admin.send(
                QuotaSetRequest(level: "user", workspaceId: workspaceId, userId: fixture.memberA.user.id, metric: "tokens", limit: 0))
            _ = await expectError(.quotaExceeded) {
                try await member.send(AICompleteRequest(prefix: "let m3 = ", workspaceId: workspaceId, model: "star"))
            }
            // `shutdown` waits for every message sent before it on its session.
            _ = try await member.send(ShutdownRequest())
            let events = try await world.usage(tenantId: fixture.tenantA.id)
            let kinds = events.map { "\($0.kind.rawValue) \($0.outcome)" }
            #expect(events.count == 9, "5 calls, 2 shown, 1 accepted, 1 refusal: \(kinds)")

            let reporter = try await world.client(token: fixture.adminA.key)
            let report = try await reporter.send(UsageReportRequest(groupBy: ["user", "model", "day"]))
            #expect(report.tenantId == fixture.tenantA.id && !report.truncated)
            #expect(report.rows == Self.expected(events, user: true, model: true, day: true), "\(report.rows)")
            let mine = try #require(report.rows.first { $0.userId == fixture.memberA.user.id && $0.model == "star" })
            #expect(mine.requests == 3 && mine.refusals == 1 && mine.shown == 2 && mine.accepted == 1 && mine.acceptanceRate == 0.5)
            let membersCalls = events.filter { $0.userId == fixture.memberA.user.id }
            let expectedCost = membersCalls.reduce(0) { $0 + $1.costMicros }
            #expect(mine.inputTokens == 33 && mine.outputTokens == membersCalls.reduce(0) { $0 + $1.outputTokens })
            #expect(mine.costMicros == expectedCost && expectedCost > 0)

            let totals = try await reporter.send(UsageReportRequest())
            #expect(totals.rows == Self.expected(events, user: false, model: false, day: false))
            #expect(totals.rows.first?.requests == 5 && totals.rows.first?.refusals == 1)
            let byWorkspace = try await reporter.send(UsageReportRequest(workspaceId: workspaceId, groupBy: ["workspace"]))
            #expect(byWorkspace.rows.map(\.workspaceId) == [workspaceId])
            #expect(try await reporter.send(UsageReportRequest(model: "local")).rows.first?.requests == 1)
            #expect(try await reporter.send(UsageReportRequest(to: "2000-01-01")).rows.isEmpty)
            #expect(try await reporter.send(UsageReportRequest(from: "2100-01-01T00:00:00Z", groupBy: ["user"])).rows.isEmpty)

            let export = try await reporter.send(UsageExportRequest(groupBy: ["user", "model", "day"]))
            #expect(export.contentType == "text/csv" && export.rows == report.rows.count && !export.truncated)
            let table = try #require(CSV.parse(export.csv), Comment(rawValue: "the export is not valid CSV:\n\(export.csv)"))
            #expect(table.first == [
                "userId", "model", "day", "requests", "inputTokens", "outputTokens", "costMicros", "costUSD", "shown", "accepted",
                "acceptanceRate", "refusals",
            ])
            #expect(table.count == report.rows.count + 1)
            for (line, row) in zip(table.dropFirst(), report.rows) {
                #expect(line[0] == row.userId && line[1] == (row.model ?? "") && line[2] == row.day)
                #expect(line[3] == String(row.requests) && line[4] == String(row.inputTokens) && line[6] == String(row.costMicros))
                #expect(Decimal(string: line[7]) == Decimal(row.costMicros) / 1_000_000)
                #expect(line[10] == (row.acceptanceRate.map { String(format: "%.4f", $0) } ?? "") && line[11] == String(row.refusals))
            }
            #expect(export.csv.contains("\"\(fixture.memberA.user.id)\",\"star\","), "text fields are quoted")
        }
    }

    @Test func aMemberSeesOnlyTheirOwnUsage() async throws {
        try await CompletionWorld.run(localMode: false, models: Self.registry) { world in
            let fixture = try await TenancyFixture.make(server: world.server)
            let workspaceId = fixture.workspaceA.id
            _ = world.upstream { _, _ in streamed(["x + 1"]) }
            let member = try await world.client(token: fixture.memberA.key)
            let admin = try await world.client(token: fixture.adminA.key)
            _ = try await member.send(AICompleteRequest(prefix: "let m = ", workspaceId: workspaceId, model: "star"))
            _ = try await admin.send(AICompleteRequest(prefix: "let a = ", workspaceId: workspaceId, model: "star"))
            let own = try await member.send(UsageReportRequest(groupBy: ["user"]))
            #expect(own.rows.map(\.userId) == [fixture.memberA.user.id] && own.rows.first?.requests == 1)
            #expect(try await member.send(UsageReportRequest(userId: fixture.memberA.user.id)).rows.first?.requests == 1)
            _ = await expectError(.forbidden) { try await member.send(UsageReportRequest(userId: fixture.adminA.user.id)) }
            _ = await expectError(.forbidden) { try await member.send(UsageExportRequest(userId: fixture.adminA.user.id)) }
            #expect(try await admin.send(UsageReportRequest(groupBy: ["user"])).rows.count == 2)
            // Another tenant's, or a workspace the caller is not in: as if there were none.
            let outsider = try await world.client(token: fixture.adminB.key)
            _ = await expectError(.notFound) { try await outsider.send(UsageReportRequest(tenantId: fixture.tenantA.id)) }
            _ = await expectError(.notFound) { try await outsider.send(UsageReportRequest(workspaceId: workspaceId)) }
            _ = await expectError(.notFound) { try await outsider.send(UsageExportRequest(userId: fixture.memberA.user.id)) }
            let root = try await world.client(token: fixture.serverAdmin.key)
            #expect(try await root.send(UsageReportRequest(tenantId: fixture.tenantA.id)).rows.first?.requests == 2)
            for bad in [
                UsageReportRequest(groupBy: ["team"]), UsageReportRequest(groupBy: ["user", "user"]),
                UsageReportRequest(from: "yesterday"), UsageReportRequest(from: "2026-12-07", to: "2026-12-06"),
            ] {
                _ = await expectError(.invalidParams, "\(bad)") { try await member.send(bad) }
            }
            _ = await expectError(.invalidParams) { try await member.send(UsageExportRequest(groupBy: ["week"])) }
        }
    }

    @Test func theCSVQuotesEveryTextFieldAndParsesBack() throws {
        let awkward = "ws \"one\", line\r\nbreak"
        let report = Directory.UsageReport(
            tenantId: "ten_1", groupBy: [.workspace, .model],
            rows: [
                UsageReportRow(workspaceId: awkward, model: "=HYPERLINK(\"x\")", requests: 2, costMicros: 1_234_567, shown: 3, accepted: 2),
                UsageReportRow(workspaceId: nil, model: "plain", requests: 1, costMicros: 5, refusals: 4),
            ], truncated: false)
        let csv = UsageCSV.render(report)
        #expect(csv.hasSuffix("\r\n"))
        let table = try #require(CSV.parse(csv), Comment(rawValue: csv))
        #expect(table.count == 3)
        #expect(table[1][0] == awkward, "a quote, a comma and a line break survive")
        #expect(table[1][1] == "'=HYPERLINK(\"x\")", "a formula is not a formula in a spreadsheet")
        #expect(table[1][6] == "1.234567" && table[1][9] == "0.6667")
        #expect(table[2][0] == "" && table[2][6] == "0.000005" && table[2][9] == "" && table[2][10] == "4")
        #expect(Set(table.map { $0.count }) == [11])
    }

    /// What a report grouped so must say, computed from the rows one by one.
    static func expected(_ events: [UsageEvent], user: Bool, model: Bool, day: Bool) -> [UsageRowInfo] {
        struct Key: Hashable, Comparable {
            var user: String?, model: String?, day: Int64?
            static func < (a: Key, b: Key) -> Bool {
                (a.user ?? "", a.model ?? "", a.day ?? 0) < (b.user ?? "", b.model ?? "", b.day ?? 0)
            }
        }
        var sums: [Key: UsageReportRow] = [:]
        for event in events {
            let key = Key(user: user ? event.userId : nil, model: model ? event.model : nil, day: day ? event.createdAt / 86_400_000 : nil)
            var row = sums[key] ?? UsageReportRow(userId: key.user, model: key.model, day: key.day)
            switch event.kind {
            case .completion where UsageEvent.refusalOutcomes.contains(event.outcome): row.refusals += 1
            case .completion: row.requests += 1
            case .completionShown: row.shown += 1
            case .completionAccepted, .completionPartiallyAccepted: row.accepted += 1
            case .completionRejected: break
            }
            row.inputTokens += event.inputTokens
            row.outputTokens += event.outputTokens
            row.costMicros += event.costMicros
            sums[key] = row
        }
        return sums.keys.sorted().compactMap { sums[$0].map(UsageRowInfo.init(testing:)) }
    }
}

extension UsageRowInfo {
    init(testing row: UsageReportRow) {
        self.init(
            workspaceId: row.workspaceId, userId: row.userId, model: row.model,
            day: row.day.map { String(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double($0) * 86_400)).prefix(10)) },
            requests: row.requests, inputTokens: row.inputTokens, outputTokens: row.outputTokens, costMicros: row.costMicros,
            shown: row.shown, accepted: row.accepted, acceptanceRate: row.acceptanceRate, refusals: row.refusals)
    }
}

/// A strict RFC 4180 reader: nil when the text is not CSV (a stray quote, an unterminated field, a
/// record that does not end in CRLF).
enum CSV {
    static func parse(_ text: String) -> [[String]]? {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var quoted = false
        var wasQuoted = false
        var characters = Array(text.unicodeScalars)[...]
        while let c = characters.popFirst() {
            if quoted {
                if c == "\"" {
                    if characters.first == "\"" {
                        characters.removeFirst()
                        field.unicodeScalars.append("\"")
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"":
                guard field.isEmpty, !wasQuoted else { return nil }
                quoted = true
                wasQuoted = true
            case ",":
                record.append(field)
                field = ""
                wasQuoted = false
            case "\r":
                guard characters.popFirst() == "\n" else { return nil }
                record.append(field)
                records.append(record)
                record = []
                field = ""
                wasQuoted = false
            default:
                guard !wasQuoted else { return nil }
                field.unicodeScalars.append(c)
            }
        }
        guard !quoted, record.isEmpty, field.isEmpty else { return nil }
        return records
    }
}
