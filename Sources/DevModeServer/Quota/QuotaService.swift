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
    private let crossingListeners = LockedState<[@Sendable ([ThresholdCrossing]) -> Void]>([])

    init(settings: Settings, store: Store, logger: Logger) {
        self.settings = settings
        self.store = store
        self.logger = logger
    }

    /// What a reservation holds, for its settlement.
    struct Held: Sendable {
        /// Budgets or rate limits hold part of it: its settlement must be written with them.
        var holdsAnything: Bool
        var rateHolds: [RateHold]
        /// The output limit the call may use (at most what it asked for).
        var outputTokens: Int
    }

    /// Reserves a call of `model` with `inputTokens` of prompt and up to `maxOutputTokens` of
    /// output for `subject`, under `reservationId` (the id of the usage row its settlement writes),
    /// in every budget and rate limit that applies. Throws -32020 when a budget has no room, -32023
    /// when a rate limit refuses. The free `local` model spends no budget; a rate limit counts it
    /// only when it says so (`includesLocal`).
    func reserve(
        _ subject: Subject, model: ModelConfiguration, inputTokens: Int, maxOutputTokens: Int, reservationId: String
    ) async throws -> Held {
        let settings = self.settings
        let leaseMs = Int64(settings.lease.components.seconds * 1000 + settings.lease.components.attoseconds / 1_000_000_000_000_000)
        let free = model.provider == .local
        do {
            // A read first: a call that nothing limits needs no write before it.
            let applies = try await store.read { transaction -> Bool in
                let limits = try transaction.rateLimits(
                    tenantId: subject.tenantId, workspaceId: subject.workspaceId, userId: subject.userId)
                if limits.contains(where: { !free || $0.includesLocal }) { return true }
                if free { return false }
                return !(try transaction.currentBudgets(owners: subject.owners)).isEmpty
            }
            guard applies else { return Held(holdsAnything: false, rateHolds: [], outputTokens: maxOutputTokens) }
            return try await store.write { transaction in
                var output = maxOutputTokens
                var budgets: [Budget] = []
                if !free {
                    budgets = try transaction.prepareBudgets(owners: subject.owners)
                    if !budgets.isEmpty {
                        output = try Self.fit(
                            budgets, pricing: model.pricing, inputTokens: inputTokens, maxOutputTokens: maxOutputTokens,
                            minimumOutputTokens: settings.minimumOutputTokens)
                    }
                }
                let limits = try transaction.rateLimits(
                    tenantId: subject.tenantId, workspaceId: subject.workspaceId, userId: subject.userId
                ).filter { !free || $0.includesLocal }
                let rateHolds = try transaction.admit(
                    reservationId: reservationId, limits: limits, userId: subject.userId, tokens: Int64(inputTokens + output),
                    leaseUntil: transaction.now + leaseMs)
                let usage = TokenUsage(inputTokens: inputTokens, outputTokens: output)
                try transaction.hold(
                    reservationId: reservationId,
                    budgets.map { BudgetHold(budgetId: $0.id, amount: Self.amount(usage, of: $0.metric, pricing: model.pricing)) },
                    leaseUntil: transaction.now + leaseMs)
                return Held(holdsAnything: true, rateHolds: rateHolds, outputTokens: output)
            }
        } catch let refusal as BudgetRefusal {
            throw ResponseError.quotaExceeded(refusal)
        } catch let refusal as RateRefusal {
            throw ResponseError.rateLimited(refusal)
        } catch let error as ResponseError {
            throw error
        } catch {
            // Fail closed: the request answers -32603 (the router's answer to any other error).
            logger.error("budgets could not be checked: the model call is refused", metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// Settles the call `event.id` reserved under (and writes `event`, its usage row) with its rate
    /// holds, in one transaction. Idempotent.
    /// Tells every listener of the budget thresholds a settlement reached, once it committed.
    func settle(_ event: UsageEvent, rateHolds: [RateHold]) async throws {
        let crossings = try await store.write { transaction -> [ThresholdCrossing] in
            guard let crossings = try transaction.settlement(event) else { return [] }
            try transaction.settleRate(
                reservationId: event.id, holds: rateHolds, usedTokens: Int64(event.inputTokens + event.outputTokens))
            return crossings
        }
        tell(crossings)
    }

    /// Tells the listeners of thresholds that settlements reached (this service's, and the usage
    /// recorder's retries of settlements the store did not take at first).
    func tell(_ crossings: [ThresholdCrossing]) {
        guard !crossings.isEmpty else { return }
        for listener in crossingListeners.withLock({ $0 }) { listener(crossings) }
    }

    /// `listener` is told of every budget threshold a settlement of this process reaches (the
    /// server sends `quota/didChange`).
    func onThresholdCrossed(_ listener: @escaping @Sendable ([ThresholdCrossing]) -> Void) {
        crossingListeners.withLock { $0.append(listener) }
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

extension ResponseError {
    /// -32023: a rate limit refused the call; `data.retryAfterMs` is the exact wait (absent for
    /// concurrent requests: retry when a call in flight ends).
    static func rateLimited(_ refusal: RateRefusal) -> ResponseError {
        let limit = refusal.limit
        var data: [String: JSONValue] = [
            "source": "devmode", "level": .string(limit.owner.level.rawValue), "metric": .string(limit.metric.rawValue),
            "limit": .int(Int(limit.limit)), "burst": .int(Int(limit.burst)), "used": .int(Int(refusal.used)),
            "needed": .int(Int(refusal.needed)),
        ]
        if let wait = refusal.retryAfterMs { data["retryAfterMs"] = .int(Int(wait)) }
        if let workspaceId = limit.owner.workspaceId { data["workspaceId"] = .string(workspaceId) }
        if let userId = limit.owner.userId ?? refusal.userId { data["userId"] = .string(userId) }
        let what: String
        switch limit.metric {
        case .requestsPerMinute: what = "\(limit.limit) requests a minute"
        case .tokensPerMinute: what = "\(limit.limit) tokens a minute"
        case .concurrentRequests: what = "\(limit.limit) calls at once"
        }
        let wait = refusal.retryAfterMs.map { ", retry in \($0) ms" } ?? ", retry when a call in flight ends"
        return ResponseError(
            code: .rateLimited, message: "Rate limited: the \(limit.owner.level.rawValue) limit of \(what)\(wait)",
            data: .object(data))
    }
}
