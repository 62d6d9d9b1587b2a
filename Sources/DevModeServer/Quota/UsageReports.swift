import DevModeProtocol
import DevModeStore
import FoundationEssentials
import JSONRPC

/// Usage reports: who may see whose usage, and the report's rows as a client sees them. A tenant
/// admin (for their tenant) and a server admin (for any) see everyone's usage; anyone else sees
/// their own calls only, in the workspaces they can see.
extension Directory {
    /// A report at most this long; `truncated` says when more groups matched.
    static let usageReportRows = 10_000

    /// A report's rows as the store sums them, with what the caller asked for, checked.
    public struct UsageReport: Sendable {
        public var tenantId: String
        public var groupBy: [UsageGrouping]
        public var rows: [UsageReportRow]
        public var truncated: Bool

        public init(tenantId: String, groupBy: [UsageGrouping], rows: [UsageReportRow], truncated: Bool) {
            self.tenantId = tenantId
            self.groupBy = groupBy
            self.rows = rows
            self.truncated = truncated
        }
    }

    public func usageReport(_ request: UsageReportRequest, for actor: Principal) async throws -> UsageReport {
        guard let tenantId = request.tenantId ?? actor.caller?.tenantId else {
            throw ResponseError.invalidParams("tenantId is required", field: "tenantId")
        }
        var grouping: [UsageGrouping] = []
        for name in request.groupBy ?? [] {
            guard let one = UsageGrouping(rawValue: name) else {
                throw ResponseError.invalidParams("groupBy takes workspace, user, model and day, not '\(name)'", field: "groupBy")
            }
            guard !grouping.contains(one) else {
                throw ResponseError.invalidParams("groupBy names '\(name)' twice", field: "groupBy")
            }
            grouping.append(one)
        }
        let groupBy = grouping
        let from = try request.from.map { try Self.reportTime($0, field: "from") }
        let to = try request.to.map { try Self.reportTime($0, field: "to") }
        if let from, let to, to < from {
            throw ResponseError.invalidParams("to is before from", field: "to")
        }
        return try await store.read { transaction in
            _ = try Self.tenant(tenantId, for: actor, admin: false, in: transaction)
            let seesEveryone = actor.isServerWide || actor.caller?.isTenantAdmin == true
            var userId = request.userId
            if let caller = actor.caller, !seesEveryone {
                guard userId == nil || userId == caller.userId else {
                    throw ResponseError.forbidden("only a tenant admin may see other users' usage")
                }
                userId = caller.userId
            } else if let named = userId {
                let user = try Self.user(named, for: actor, admin: false, in: transaction)
                guard user.tenantId == tenantId else { throw ResponseError.notFound("user", named) }
            }
            if let workspaceId = request.workspaceId {
                let (workspace, _) = try Self.workspace(workspaceId, for: actor, atLeast: .viewer, in: transaction)
                guard workspace.tenantId == tenantId else { throw ResponseError.notFound("workspace", workspaceId) }
            }
            var rows = try transaction.usageReport(
                UsageReportQuery(
                    tenantId: tenantId, workspaceId: request.workspaceId, userId: userId, model: request.model, from: from,
                    to: to, groupBy: groupBy, limit: Self.usageReportRows))
            let truncated = rows.count > Self.usageReportRows
            if truncated { rows.removeLast(rows.count - Self.usageReportRows) }
            return UsageReport(tenantId: tenantId, groupBy: groupBy, rows: rows, truncated: truncated)
        }
    }

    /// An ISO 8601 time, or a `YYYY-MM-DD` day (its UTC midnight), in ms.
    static func reportTime(_ text: String, field: String) throws -> Int64 {
        let isDay = text.utf8.count == 10 && text.utf8.enumerated().allSatisfy { index, byte in
            index == 4 || index == 7 ? byte == UInt8(ascii: "-") : (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        guard let time = Timestamp.milliseconds(isDay ? text + "T00:00:00Z" : text) else {
            throw ResponseError.invalidParams("\(field) must be an ISO 8601 time or a YYYY-MM-DD day", field: field)
        }
        return time
    }
}

/// A usage report as CSV (RFC 4180): a header row, then one line per row, CRLF line ends. The
/// group columns come first, in the report's order; text fields are always quoted (a quote inside
/// doubled), numbers never; an absent value is an empty field. A text field that a spreadsheet
/// would take for a formula (`=`, `+`, `-`, `@` first) is prefixed with `'`.
public enum UsageCSV {
    public static func render(_ report: Directory.UsageReport) -> String {
        let groupColumns: [(String, (UsageRowInfo) -> String?)] = report.groupBy.map { grouping in
            switch grouping {
            case .workspace: return ("workspaceId", { $0.workspaceId })
            case .user: return ("userId", { $0.userId })
            case .model: return ("model", { $0.model })
            case .day: return ("day", { $0.day })
            }
        }
        let header = groupColumns.map(\.0) + [
            "requests", "inputTokens", "outputTokens", "costMicros", "costUSD", "shown", "accepted", "acceptanceRate", "refusals",
        ]
        var lines = [header.map(quoted).joined(separator: ",")]
        for row in report.rows.map(UsageRowInfo.init) {
            var fields = groupColumns.map { $0.1(row).map(quoted) ?? "" }
            fields += [
                String(row.requests), String(row.inputTokens), String(row.outputTokens), String(row.costMicros),
                dollars(row.costMicros), String(row.shown), String(row.accepted),
                row.acceptanceRate.map { String(format4($0)) } ?? "", String(row.refusals),
            ]
            lines.append(fields.joined(separator: ","))
        }
        return lines.map { $0 + "\r\n" }.joined()
    }

    static func quoted(_ text: String) -> String {
        var text = text
        if let first = text.first, "=+-@".contains(first) { text = "'" + text }
        return "\"" + text.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }

    /// Micro-dollars as dollars with six decimals, exactly (no floating point).
    static func dollars(_ micros: Int) -> String {
        let sign = micros < 0 ? "-" : ""
        let magnitude = micros.magnitude
        let fraction = String(magnitude % 1_000_000)
        return sign + String(magnitude / 1_000_000) + "." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    /// A rate with four decimals.
    private static func format4(_ value: Double) -> String {
        let scaled = Int((value * 10_000).rounded())
        let fraction = String(scaled % 10_000)
        return String(scaled / 10_000) + "." + String(repeating: "0", count: 4 - fraction.count) + fraction
    }
}
