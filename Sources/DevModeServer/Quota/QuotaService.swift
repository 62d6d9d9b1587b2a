import DevModeAI
import DevModeProtocol
import DevModeStore
import FoundationEssentials
import JSONRPC
import Logging

/// Budgets for model calls. Before a call it reserves the worst case (estimated prompt plus the
/// output limit, priced) at every level that applies, in one transaction; when a budget has room
/// for the prompt and a useful part of the output, the call's output limit is lowered to fit
/// instead of refused. After the call it settles what was used, together with the call's usage
/// row. A store that cannot be reached refuses the call: nothing is admitted unmetered.
public final class QuotaService: Sendable {
    public struct Settings: Sendable, Hashable {
        /// How long a reservation holds its room; a process that dies mid-call stops holding it
        /// after this (`quotaLeaseMs`). Longer than any call's time limit.
        public var lease: Duration
        /// The smallest output limit a call is lowered to before it is refused instead
        /// (`quotaMinimumOutputTokens`); a call whose own limit is smaller needs all of it.
        public var minimumOutputTokens: Int

        public init(lease: Duration = .seconds(300), minimumOutputTokens: Int = 16) {
            self.lease = lease
            self.minimumOutputTokens = minimumOutputTokens
        }
    }

    /// Who a call is made for: the levels whose budgets apply to it.
    struct Subject: Sendable, Hashable {
        var tenantId: String
        var workspaceId: String
        var userId: String
        var keyId: String?

        var owners: [BudgetOwner] {
            var owners: [BudgetOwner] = [
                .tenant(tenantId), .workspace(workspaceId, tenantId: tenantId),
                .user(userId, workspaceId: workspaceId, tenantId: tenantId),
            ]
            if let keyId { owners.append(.key(keyId, tenantId: tenantId)) }
            return owners
        }
    }

    let settings: Settings
    private let store: Store
    private let logger: Logger

    init(settings: Settings, store: Store, logger: Logger) {
        self.settings = settings
        self.store = store
        self.logger = logger
    }

    /// Reserves a call of `model` with `inputTokens` of prompt and up to `maxOutputTokens` of
    /// output for `subject`, under `reservationId` (the id of the usage row its settlement writes).
    /// Returns the output limit the call may use (at most `maxOutputTokens`). Throws -32020 when a
    /// budget has no room.
    func reserve(
        _ subject: Subject, model: ModelConfiguration, inputTokens: Int, maxOutputTokens: Int, reservationId: String
    ) async throws -> Int {
        let settings = self.settings
        let leaseMs = Int64(settings.lease.components.seconds * 1000 + settings.lease.components.attoseconds / 1_000_000_000_000_000)
        do {
            return try await store.write { transaction in
                let budgets = try transaction.prepareBudgets(owners: subject.owners)
                guard !budgets.isEmpty else { return maxOutputTokens }
                let output = try Self.fit(
                    budgets, pricing: model.pricing, inputTokens: inputTokens, maxOutputTokens: maxOutputTokens,
                    minimumOutputTokens: settings.minimumOutputTokens)
                let usage = TokenUsage(inputTokens: inputTokens, outputTokens: output)
                try transaction.hold(
                    reservationId: reservationId,
                    budgets.map { BudgetHold(budgetId: $0.id, amount: Self.amount(usage, of: $0.metric, pricing: model.pricing)) },
                    leaseUntil: transaction.now + leaseMs)
                return output
            }
        } catch let refusal as BudgetRefusal {
            throw ResponseError.quotaExceeded(refusal)
        } catch let error as ResponseError {
            throw error
        } catch {
            // Fail closed: the request answers -32603 (the router's answer to any other error).
            logger.error("budgets could not be checked: the model call is refused", metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// Settles the call `event.id` reserved under (and writes `event`, its usage row). Idempotent.
    func settle(_ event: UsageEvent) async throws {
        try await store.write { try $0.settle(event) }
    }

    /// What a call with `usage` costs a budget in `metric`.
    static func amount(_ usage: TokenUsage, of metric: BudgetMetric, pricing: ModelConfiguration.Pricing) -> Int64 {
        switch metric {
        case .tokens: return Int64(usage.inputTokens + usage.outputTokens)
        case .cost: return Int64(pricing.costMicros(usage))
        }
    }

    /// The most output (at most `maxOutputTokens`) that every budget in `budgets` has room for
    /// after the prompt; throws the refusal of the tightest budget when that is less than the
    /// useful minimum.
    static func fit(
        _ budgets: [Budget], pricing: ModelConfiguration.Pricing, inputTokens: Int, maxOutputTokens: Int,
        minimumOutputTokens: Int
    ) throws -> Int {
        var output = maxOutputTokens
        var tightest: Budget?
        for budget in budgets {
            let room = budget.limit - budget.used - budget.reserved
            let fits: Int
            switch budget.metric {
            case .tokens:
                fits = Int(clamping: room - Int64(inputTokens))
            case .cost:
                let left = room - Int64(pricing.costMicros(TokenUsage(inputTokens: inputTokens)))
                if pricing.outputPerMillion <= 0 {
                    fits = left >= 0 ? maxOutputTokens : -1
                } else {
                    // costMicros rounds up: step down until the priced call fits.
                    var n = max(-1, Int((Double(left) / pricing.outputPerMillion).rounded(.down)))
                    while n >= 0 && Int64(pricing.costMicros(TokenUsage(inputTokens: inputTokens, outputTokens: n))) > room {
                        n -= 1
                    }
                    fits = n
                }
            }
            if fits < output {
                output = max(fits, -1)
                tightest = budget
            }
        }
        if let tightest, output < min(minimumOutputTokens, maxOutputTokens) {
            let wanted = amount(
                TokenUsage(inputTokens: inputTokens, outputTokens: min(minimumOutputTokens, maxOutputTokens)), of: tightest.metric,
                pricing: pricing)
            throw BudgetRefusal(budget: tightest, needed: wanted)
        }
        return output
    }
}

extension ResponseError {
    /// -32020: a budget has no room for the call; `data` says which and what is left.
    static func quotaExceeded(_ refusal: BudgetRefusal) -> ResponseError {
        let budget = refusal.budget
        var data: [String: JSONValue] = [
            "level": .string(budget.owner.level.rawValue), "metric": .string(budget.metric.rawValue),
            "period": .string(budget.period.rawValue), "limit": .int(Int(budget.limit)), "used": .int(Int(budget.used)),
            "reserved": .int(Int(budget.reserved)), "remaining": .int(Int(budget.remaining)), "needed": .int(Int(refusal.needed)),
        ]
        data["resetAt"] = budget.resetAt.map { .string(Timestamp.iso($0)) } ?? .null
        if let workspaceId = budget.owner.workspaceId { data["workspaceId"] = .string(workspaceId) }
        if let userId = budget.owner.userId { data["userId"] = .string(userId) }
        if let keyId = budget.owner.keyId { data["keyId"] = .string(keyId) }
        let unit = budget.metric == .tokens ? "tokens" : "micro-dollars"
        return ResponseError(
            code: .quotaExceeded,
            message:
                "Quota exceeded: the \(budget.owner.level.rawValue) budget has \(budget.remaining) \(unit) left of \(budget.limit), the call needs \(refusal.needed)",
            data: .object(data))
    }
}
