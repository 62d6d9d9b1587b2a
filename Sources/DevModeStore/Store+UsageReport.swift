/// What a usage report groups its rows by.
public enum UsageGrouping: String, Sendable, Hashable, Codable, CaseIterable {
    case workspace, user, model, day

    /// The SQL expression of the group (days are UTC: whole days since 1970).
    var expression: String {
        switch self {
        case .workspace: return "workspace_id"
        case .user: return "user_id"
        case .model: return "model"
        case .day: return "(created_at / \(BudgetPeriod.dayMs))"
        }
    }
}

/// Which usage rows a report sums.
public struct UsageReportQuery: Sendable, Hashable {
    public var tenantId: String
    public var workspaceId: String?
    public var userId: String?
    public var model: String?
    /// From this time (ms, inclusive); nil: from the first row.
    public var from: Int64?
    /// Until this time (ms, exclusive); nil: up to now.
    public var to: Int64?
    /// In this order; empty: one row for everything.
    public var groupBy: [UsageGrouping]
    /// At most this many rows (one more tells the caller there were more).
    public var limit: Int

    public init(
        tenantId: String, workspaceId: String? = nil, userId: String? = nil, model: String? = nil, from: Int64? = nil,
        to: Int64? = nil, groupBy: [UsageGrouping] = [], limit: Int
    ) {
        self.tenantId = tenantId
        self.workspaceId = workspaceId
        self.userId = userId
        self.model = model
        self.from = from
        self.to = to
        self.groupBy = groupBy
        self.limit = limit
    }
}

/// One row of a usage report: a group's key (the values of the columns it is grouped by) and sums.
public struct UsageReportRow: Sendable, Hashable, Codable {
    public var workspaceId: String?
    public var userId: String?
    public var model: String?
    /// Whole UTC days since 1970.
    public var day: Int64?
    /// Completion requests answered or failed (cache hits included, refusals not).
    public var requests: Int
    public var inputTokens: Int
    public var outputTokens: Int
    public var costMicros: Int
    public var shown: Int
    /// Accepted whole or in part.
    public var accepted: Int
    /// Refused by a budget (-32020) or a rate limit (-32023).
    public var refusals: Int

    public init(
        workspaceId: String? = nil, userId: String? = nil, model: String? = nil, day: Int64? = nil, requests: Int = 0,
        inputTokens: Int = 0, outputTokens: Int = 0, costMicros: Int = 0, shown: Int = 0, accepted: Int = 0, refusals: Int = 0
    ) {
        self.workspaceId = workspaceId
        self.userId = userId
        self.model = model
        self.day = day
        self.requests = requests
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.costMicros = costMicros
        self.shown = shown
        self.accepted = accepted
        self.refusals = refusals
    }

    /// Accepted per shown; nil when nothing was shown.
    public var acceptanceRate: Double? { shown == 0 ? nil : Double(accepted) / Double(shown) }
}

extension UsageEvent {
    /// The outcomes of a completion that a budget or rate limit refused before any model call.
    public static let refusalOutcomes = ["quotaExceeded", "rateLimited"]
}

extension StoreTransaction {
    /// Sums the usage rows `query` selects, one row per group, ordered by the groups' keys. Returns
    /// at most `query.limit + 1` rows: one more than the limit says the report was cut.
    public func usageReport(_ query: UsageReportQuery) throws -> [UsageReportRow] {
        let refusals = UsageEvent.refusalOutcomes.map { "'\($0)'" }.joined(separator: ", ")
        let completion = "kind = '\(UsageEvent.Kind.completion.rawValue)'"
        let accepted = [UsageEvent.Kind.completionAccepted, .completionPartiallyAccepted].map { "'\($0.rawValue)'" }
            .joined(separator: ", ")
        var columns = query.groupBy.map { "\($0.expression) AS g_\($0.rawValue)" }
        columns += [
            "SUM(CASE WHEN \(completion) AND outcome NOT IN (\(refusals)) THEN 1 ELSE 0 END) AS requests",
            "COALESCE(SUM(input_tokens), 0) AS input", "COALESCE(SUM(output_tokens), 0) AS output",
            "COALESCE(SUM(cost_micros), 0) AS cost",
            "SUM(CASE WHEN kind = '\(UsageEvent.Kind.completionShown.rawValue)' THEN 1 ELSE 0 END) AS shown",
            "SUM(CASE WHEN kind IN (\(accepted)) THEN 1 ELSE 0 END) AS accepted",
            "SUM(CASE WHEN \(completion) AND outcome IN (\(refusals)) THEN 1 ELSE 0 END) AS refusals",
        ]
        var sql = "SELECT \(columns.joined(separator: ", ")) FROM usage_events WHERE tenant_id = ?"
        var values: [SQLValue] = [.text(query.tenantId)]
        for (column, value) in [("workspace_id", query.workspaceId), ("user_id", query.userId), ("model", query.model)] {
            guard let value else { continue }
            sql += " AND \(column) = ?"
            values.append(.text(value))
        }
        if let from = query.from {
            sql += " AND created_at >= ?"
            values.append(.integer(from))
        }
        if let to = query.to {
            sql += " AND created_at < ?"
            values.append(.integer(to))
        }
        if !query.groupBy.isEmpty {
            let keys = query.groupBy.map(\.expression).joined(separator: ", ")
            sql += " GROUP BY \(keys) ORDER BY \(keys)"
        }
        sql += " LIMIT ?"
        values.append(.integer(Int64(query.limit + 1)))
        return try connection.execute(sql, values).compactMap { row in
            let requests = Int(row["requests"].int64 ?? 0)
            let shown = Int(row["shown"].int64 ?? 0)
            let refused = Int(row["refusals"].int64 ?? 0)
            let accepted = Int(row["accepted"].int64 ?? 0)
            // Without groups, an empty selection still sums to one row, of nulls: no row.
            if query.groupBy.isEmpty && row["requests"].int64 == nil { return nil }
            return UsageReportRow(
                workspaceId: query.groupBy.contains(.workspace) ? row["g_workspace"].text : nil,
                userId: query.groupBy.contains(.user) ? row["g_user"].text : nil,
                model: query.groupBy.contains(.model) ? row["g_model"].text : nil,
                day: query.groupBy.contains(.day) ? row["g_day"].int64 : nil, requests: requests,
                inputTokens: Int(row["input"].int64 ?? 0), outputTokens: Int(row["output"].int64 ?? 0),
                costMicros: Int(row["cost"].int64 ?? 0), shown: shown, accepted: accepted, refusals: refused)
        }
    }
}
