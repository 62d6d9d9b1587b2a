/// One model call or completion telemetry event, for usage reports, cost and acceptance rates.
public struct UsageEvent: Sendable, Hashable, Codable {
    /// What happened.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// A completion was asked for (a model call, or a cache hit: `outcome` says).
        case completion
        /// The client showed a completion to the user.
        case completionShown = "completion.shown"
        /// The user accepted a completion whole.
        case completionAccepted = "completion.accepted"
        /// The user accepted part of a completion.
        case completionPartiallyAccepted = "completion.partiallyAccepted"
        /// The user dismissed a completion.
        case completionRejected = "completion.rejected"
    }

    public var id: String
    public var tenantId: String
    public var workspaceId: String?
    public var userId: String?
    public var kind: Kind
    public var model: String?
    /// The completion (or later, chat message) the event is about.
    public var subject: String?
    public var inputTokens: Int
    public var outputTokens: Int
    /// Millionths of a US dollar.
    public var costMicros: Int
    public var latencyMs: Int?
    /// `ok`, `cached`, `cancelled`, `superseded`, or the failure's kind (`rateLimited`, `timeout`, …).
    public var outcome: String
    /// A short note (accepted length for a partial accept); never a secret, never code.
    public var detail: String?
    public var createdAt: Int64

    public init(
        id: String = Identifier.make("use"), tenantId: String, workspaceId: String?, userId: String?, kind: Kind,
        model: String?, subject: String?, inputTokens: Int = 0, outputTokens: Int = 0, costMicros: Int = 0,
        latencyMs: Int? = nil, outcome: String = "ok", detail: String? = nil, createdAt: Int64 = 0
    ) {
        self.id = id
        self.tenantId = tenantId
        self.workspaceId = workspaceId
        self.userId = userId
        self.kind = kind
        self.model = model
        self.subject = subject
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.costMicros = costMicros
        self.latencyMs = latencyMs
        self.outcome = outcome
        self.detail = detail
        self.createdAt = createdAt
    }
}

/// Completion counts over a period, for acceptance rates.
public struct CompletionStats: Sendable, Hashable, Codable {
    public var requests: Int
    public var shown: Int
    public var accepted: Int
    public var partiallyAccepted: Int
    public var rejected: Int
    public var inputTokens: Int
    public var outputTokens: Int
    public var costMicros: Int

    /// Accepted (whole or in part) per shown; nil when nothing was shown.
    public var acceptanceRate: Double? {
        shown == 0 ? nil : Double(accepted + partiallyAccepted) / Double(shown)
    }
}

extension StoreTransaction {
    // MARK: Models per workspace

    /// The models a workspace chose, in order; nil when it never chose.
    public func workspaceModels(workspaceId: String) throws -> [String]? {
        guard let row = try connection.execute("SELECT models FROM workspaces WHERE id = ?", .text(workspaceId)).first,
            let text = row["models"].text
        else { return nil }
        return text.split(separator: "\n").map(String.init)
    }

    /// The model that answers a workspace's completions once a budget refuses the one asked for.
    public func workspaceFallbackModel(workspaceId: String) throws -> String? {
        try connection.execute("SELECT fallback_model FROM workspaces WHERE id = ?", .text(workspaceId)).first?["fallback_model"].text
    }

    public func setWorkspaceFallbackModel(workspaceId: String, _ model: String?) throws {
        try connection.execute(
            "UPDATE workspaces SET fallback_model = ? WHERE id = ?", .optionalText(model), .text(workspaceId))
    }

    /// Sets (or, with nil, clears) a workspace's models. Ids must not contain newlines.
    public func setWorkspaceModels(workspaceId: String, _ models: [String]?) throws {
        precondition(models?.allSatisfy { !$0.contains("\n") } ?? true, "model ids never contain newlines")
        let value: SQLValue = models.map { .text($0.joined(separator: "\n")) } ?? .null
        try connection.execute("UPDATE workspaces SET models = ? WHERE id = ?", value, .text(workspaceId))
    }

    // MARK: Usage events

    private static let usageColumns =
        "id, tenant_id, workspace_id, user_id, kind, model, subject, input_tokens, output_tokens, cost_micros, latency_ms, outcome, detail, created_at"

    /// Appends usage events; an event without a time gets the transaction's.
    public func insertUsage(_ events: [UsageEvent]) throws {
        for event in events {
            try insertUsage(event, once: false)
        }
    }

    /// Appends one usage event. With `once`, an event whose id is already there is left alone, and
    /// the answer says whether this call wrote it.
    @discardableResult
    func insertUsage(_ event: UsageEvent, once: Bool) throws -> Bool {
        let values: [SQLValue] = [
            .text(event.id), .text(event.tenantId), .optionalText(event.workspaceId), .optionalText(event.userId),
            .text(event.kind.rawValue), .optionalText(event.model), .optionalText(event.subject),
            .integer(Int64(event.inputTokens)), .integer(Int64(event.outputTokens)),
            .integer(Int64(event.costMicros)), .optionalInteger(event.latencyMs.map { Int64($0) }),
            .text(event.outcome), .optionalText(event.detail), .integer(event.createdAt == 0 ? now : event.createdAt),
        ]
        let insert = "INSERT INTO usage_events (\(Self.usageColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        guard once else {
            try connection.execute(insert, values)
            return true
        }
        return !(try connection.execute(insert + " ON CONFLICT (id) DO NOTHING RETURNING id", values)).isEmpty
    }

    /// A tenant's usage events, oldest first (optionally one workspace's, from `since` ms).
    public func usageEvents(tenantId: String, workspaceId: String? = nil, since: Int64 = 0, limit: Int = 10_000) throws
        -> [UsageEvent]
    {
        var sql = "SELECT \(Self.usageColumns) FROM usage_events WHERE tenant_id = ? AND created_at >= ?"
        var values: [SQLValue] = [.text(tenantId), .integer(since)]
        if let workspaceId {
            sql += " AND workspace_id = ?"
            values.append(.text(workspaceId))
        }
        sql += " ORDER BY created_at, id LIMIT ?"
        values.append(.integer(Int64(limit)))
        return try connection.execute(sql, values).map(UsageEvent.init(row:))
    }

    /// Completion counts of a workspace from `since` (ms).
    public func completionStats(workspaceId: String, since: Int64 = 0) throws -> CompletionStats {
        let rows = try connection.execute(
            """
            SELECT kind, COUNT(*) AS n, COALESCE(SUM(input_tokens), 0) AS input, COALESCE(SUM(output_tokens), 0) AS output,
                COALESCE(SUM(cost_micros), 0) AS cost
            FROM usage_events WHERE workspace_id = ? AND created_at >= ? GROUP BY kind
            """, .text(workspaceId), .integer(since))
        var stats = CompletionStats(
            requests: 0, shown: 0, accepted: 0, partiallyAccepted: 0, rejected: 0, inputTokens: 0, outputTokens: 0,
            costMicros: 0)
        for row in rows {
            let count = Int(row["n"].int64 ?? 0)
            switch UsageEvent.Kind(rawValue: row["kind"].text ?? "") {
            case .completion:
                stats.requests += count
                stats.inputTokens += Int(row["input"].int64 ?? 0)
                stats.outputTokens += Int(row["output"].int64 ?? 0)
                stats.costMicros += Int(row["cost"].int64 ?? 0)
            case .completionShown: stats.shown += count
            case .completionAccepted: stats.accepted += count
            case .completionPartiallyAccepted: stats.partiallyAccepted += count
            case .completionRejected: stats.rejected += count
            case nil: break
            }
        }
        return stats
    }
}

extension UsageEvent {
    init(row: SQLRow) {
        self.init(
            id: row["id"].text ?? "", tenantId: row["tenant_id"].text ?? "", workspaceId: row["workspace_id"].text,
            userId: row["user_id"].text, kind: Kind(rawValue: row["kind"].text ?? "") ?? .completion,
            model: row["model"].text, subject: row["subject"].text, inputTokens: Int(row["input_tokens"].int64 ?? 0),
            outputTokens: Int(row["output_tokens"].int64 ?? 0), costMicros: Int(row["cost_micros"].int64 ?? 0),
            latencyMs: row["latency_ms"].int64.map { Int($0) }, outcome: row["outcome"].text ?? "",
            detail: row["detail"].text, createdAt: row["created_at"].int64 ?? 0)
    }
}
