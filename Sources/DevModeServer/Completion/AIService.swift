import DevModeAI
import DevModeClock
import DevModeProtocol
import DevModeStore
import FoundationEssentials
import JSONRPC
import Logging

/// The server's AI side: the model registry and which models each workspace may use, the
/// completion pipeline, the local engines, usage recording and the completions handed out.
public final class AIService: Sendable {
    public let registry: ModelRegistry
    let pipeline: CompletionPipeline
    let engines: LocalEngines
    public let usage: UsageRecorder
    /// Budgets: every model call reserves before and settles after.
    public let quotas: QuotaService
    let ledger = CompletionLedger()
    /// The HTTP clients, made at the first call to a remote model: a server that only uses the
    /// local engine never starts AsyncHTTPClient (its threads and code stay out of memory).
    private let clients: LockedState<ModelClients?>
    private let store: Store
    /// Workspaces' model choices, re-read after a few seconds (another process may change them).
    private let choices = LockedState<[String: (models: [String]?, fallback: String?, at: ContinuousClock.Instant)]>([:])
    static let choiceLifetime: Duration = .seconds(5)
    /// What the model-choice cache's lifetime is measured on.
    private let clock: any ServerClock

    init(configuration: ServerConfiguration, store: Store, logger: Logger) {
        registry = configuration.models
        let clients = LockedState<ModelClients?>(nil)
        self.clients = clients
        let environment = configuration.environment
        let override = configuration.providerOverride
        let clock = configuration.clock
        self.clock = clock
        pipeline = CompletionPipeline(settings: configuration.completion, logger: logger) { model in
            if let override { return override(model) }
            let made = clients.withLock { made in
                if let made { return made }
                let new = ModelClients(environment: environment, logger: logger, clock: clock)
                made = new
                return new
            }
            return made.provider(for: model)
        }
        engines = LocalEngines(settings: configuration.localEngine, logger: logger, clock: clock)
        let quotas = QuotaService(settings: configuration.quota, store: store, logger: logger)
        self.quotas = quotas
        usage = UsageRecorder(store: store, logger: logger, clock: clock, thresholdsReached: { quotas.tell($0) })
        self.store = store
    }

    func close() async {
        engines.close()
        await usage.close()
        await clients.withLock { $0 }?.shutdown()
    }

    // MARK: Models per workspace

    /// The models `workspaceId` may use, in its order of preference.
    func models(workspaceId: String) async throws -> [ModelConfiguration] {
        let chosen = try await choice(workspaceId: workspaceId).models
        return (chosen ?? registry.defaultModels).compactMap { registry.model($0) }
    }

    /// The model that answers once a budget refuses the one asked for; nil: none.
    func fallbackModel(workspaceId: String) async throws -> ModelConfiguration? {
        try await choice(workspaceId: workspaceId).fallback.flatMap { registry.model($0) }
    }

    private func choice(workspaceId: String) async throws -> (models: [String]?, fallback: String?) {
        let cached = choices.withLock { $0[workspaceId] }
        let now = clock.now
        if let cached, now - cached.at < Self.choiceLifetime { return (cached.models, cached.fallback) }
        let read = try await store.read {
            (try $0.workspaceModels(workspaceId: workspaceId), try $0.workspaceFallbackModel(workspaceId: workspaceId))
        }
        choices.withLock { $0[workspaceId] = (read.0, read.1, now) }
        return read
    }

    func setModels(workspaceId: String, _ models: [String], fallback: String?) {
        let now = clock.now
        choices.withLock { $0[workspaceId] = (models, fallback, now) }
    }

    /// The model a completion uses: the one asked for (it must be enabled), else the session's
    /// default, else the workspace's first model that can complete.
    func completionModel(requested: String?, sessionDefault: String?, workspaceId: String) async throws
        -> ModelConfiguration
    {
        let enabled = try await models(workspaceId: workspaceId)
        if let requested {
            guard registry.model(requested) != nil else {
                throw ResponseError.invalidParams("no model '\(requested)' in the model registry (see model/list)", field: "model")
            }
            guard let model = enabled.first(where: { $0.id == requested }) else {
                throw ResponseError.forbidden("model '\(requested)' is not enabled for this workspace (see model/list)")
            }
            return model
        }
        if let sessionDefault, let model = enabled.first(where: { $0.id == sessionDefault }) { return model }
        if let model = enabled.first(where: { $0.capabilities.fillInTheMiddle || $0.capabilities.chat }) { return model }
        throw ResponseError.forbidden("this workspace has no model enabled for completion (workspace/setModels)")
    }

    // MARK: Completion

    struct Request: Sendable {
        var key: String?
        var caller: Caller
        var workspaceId: String
        var engineKey: String?
        var path: String
        var language: String?
        var prefix: String
        var suffix: String
        var related: [ContextSource]
        var model: ModelConfiguration
        var multiline: Bool?
        var maxCandidates: Int
    }

    struct Completed: Sendable {
        var items: [(id: String, text: String)]
        var model: String
        var cached: Bool
        var usage: TokenUsage
        /// The output limit the call was made with, when a budget lowered it.
        var clampedMaxOutputTokens: Int?
        /// Set when the workspace's fallback model answered instead of the one asked for.
        var fallback: Fallback? = nil
    }

    /// Runs a completion through the pipeline; the items get ids for telemetry. When a budget
    /// refuses the model and the workspace names a fallback model, the fallback answers (its call
    /// reserved and settled in its own right: a budget that refuses it too refuses the request).
    func complete(_ request: Request) async throws -> Completed {
        do {
            return try await completeOnce(request)
        } catch let refusal as ResponseError where refusal.code == .quotaExceeded {
            guard let fallback = try await fallbackModel(workspaceId: request.workspaceId), fallback.id != request.model.id else {
                throw refusal
            }
            var instead = request
            instead.model = fallback
            var completed = try await completeOnce(instead)
            completed.fallback = Fallback(requestedModel: request.model.id, refusal: refusal)
            return completed
        }
    }

    /// Why another model than the one asked for answered.
    struct Fallback: Sendable {
        var requestedModel: String
        /// The budget's -32020 for the model asked for.
        var refusal: ResponseError
    }

    private func completeOnce(_ request: Request) async throws -> Completed {
        let engine: LocalCompletionEngine?
        if request.model.provider == .local, let key = request.engineKey {
            engine = await engines.ready(key)
        } else {
            engine = nil
        }
        let meter = UsageMeter(
            recorder: usage, quotas: quotas,
            subject: QuotaService.Subject(
                tenantId: request.caller.tenantId, workspaceId: request.workspaceId, userId: request.caller.userId,
                keyId: request.caller.apiKeyId),
            model: request.model)
        let job = CompletionJob(
            key: request.key, model: request.model, path: request.path, language: request.language, prefix: request.prefix,
            suffix: request.suffix, related: request.related, engine: engine, multiline: request.multiline,
            maxCandidates: request.maxCandidates, meter: meter,
            cacheScope: request.workspaceId + "\u{0}" + (request.engineKey ?? ""))
        let outcome: CompletionOutcome
        do {
            outcome = try await pipeline.complete(job)
        } catch let failure as CompletionFailure {
            throw ResponseError.completionFailed(failure)
        }
        var items: [(String, String)] = []
        for (index, text) in outcome.candidates.enumerated() {
            // The first item carries the call's id (its usage event's subject).
            let id = index == 0 ? meter.subject : Identifier.make("cmp")
            ledger.add(
                id,
                CompletionLedger.Record(
                    tenantId: request.caller.tenantId, workspaceId: request.workspaceId, userId: request.caller.userId,
                    model: outcome.model, length: text.count))
            items.append((id, text))
        }
        return Completed(
            items: items, model: outcome.model, cached: outcome.cached, usage: outcome.usage,
            clampedMaxOutputTokens: outcome.clampedMaxOutputTokens)
    }

    // MARK: Telemetry

    enum Telemetry: Sendable {
        case shown
        case accepted(length: Int?)
        case rejected
    }

    /// Files a telemetry event about a completion the caller received; anything else is ignored
    /// (telemetry is notifications: there is nobody to answer).
    @discardableResult
    func telemetry(_ event: Telemetry, completionId: String, caller: Caller) -> Bool {
        guard let record = ledger.record(completionId, userId: caller.userId), record.tenantId == caller.tenantId else {
            return false
        }
        let kind: UsageEvent.Kind
        var detail: String?
        switch event {
        case .shown: kind = .completionShown
        case .rejected: kind = .completionRejected
        case .accepted(let length):
            if let length, length >= 0, length < record.length {
                kind = .completionPartiallyAccepted
                detail = "accepted \(length) of \(record.length) characters"
            } else {
                kind = .completionAccepted
            }
        }
        usage.record(
            UsageEvent(
                tenantId: record.tenantId, workspaceId: record.workspaceId, userId: record.userId, kind: kind,
                model: record.model, subject: completionId, detail: detail))
        return true
    }
}

/// The quota and usage seam of one completion: `reserve` holds the call's worst case in every
/// budget that applies (`QuotaService`), `settle` writes what it used, with its cost, together with
/// the budgets' change. A settlement the store does not take goes to the usage recorder, which
/// retries it (idempotently) until it does.
final class UsageMeter: CompletionMeter {
    let recorder: UsageRecorder
    let quotas: QuotaService
    let subjectOf: QuotaService.Subject
    let model: ModelConfiguration
    /// The completion's id: the subject of its usage event and of the telemetry about it.
    let subject = Identifier.make("cmp")
    /// What each reservation holds, until it is settled.
    private let held = LockedState<[String: QuotaService.Held]>([:])

    init(recorder: UsageRecorder, quotas: QuotaService, subject: QuotaService.Subject, model: ModelConfiguration) {
        self.recorder = recorder
        self.quotas = quotas
        self.subjectOf = subject
        self.model = model
    }

    func reserve(model: ModelConfiguration, estimatedInputTokens: Int, maxOutputTokens: Int) async throws -> MeterReservation {
        // The reservation's id is the id of the usage row its settlement writes.
        let id = Identifier.make("use")
        let held: QuotaService.Held
        do {
            held = try await quotas.reserve(
                subjectOf, model: model, inputTokens: estimatedInputTokens, maxOutputTokens: maxOutputTokens, reservationId: id)
        } catch let refusal as ResponseError where refusal.code == .quotaExceeded || refusal.code == .rateLimited {
            // A refusal is a row of its own (usage reports count them); nothing was billed, so it may
            // wait in the buffer.
            let level = refusal.data?["level"]?.stringValue
            recorder.record(
                UsageEvent(
                    id: id, tenantId: subjectOf.tenantId, workspaceId: subjectOf.workspaceId, userId: subjectOf.userId,
                    kind: .completion, model: model.id, subject: subject,
                    outcome: refusal.code == .quotaExceeded ? "quotaExceeded" : "rateLimited",
                    detail: level.map { "\($0) \(refusal.data?["metric"]?.stringValue ?? "")" }))
            throw refusal
        }
        self.held.withLock { $0[id] = held }
        return MeterReservation(id: id, model: model.id, inputTokens: estimatedInputTokens, outputTokens: held.outputTokens)
    }

    func settle(_ reservation: MeterReservation, usage: TokenUsage, latencyMs: Int, outcome: String) async {
        let event = UsageEvent(
            id: reservation.id, tenantId: subjectOf.tenantId, workspaceId: subjectOf.workspaceId, userId: subjectOf.userId,
            kind: .completion, model: model.id, subject: subject, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens,
            costMicros: model.pricing.costMicros(usage), latencyMs: latencyMs, outcome: outcome)
        let held = self.held.withLock { $0.removeValue(forKey: reservation.id) }
        // A call of the free model that nothing limited is not billed: its row may wait in the buffer.
        if model.provider == .local && held?.holdsAnything != true {
            recorder.record(event)
            return
        }
        do {
            try await quotas.settle(event, rateHolds: held?.rateHolds ?? [])
        } catch {
            recorder.settleLater(event, error: error)
        }
    }

    func servedFromCache(model: ModelConfiguration) async {
        recorder.record(
            UsageEvent(
                tenantId: subjectOf.tenantId, workspaceId: subjectOf.workspaceId, userId: subjectOf.userId, kind: .completion,
                model: model.id, subject: subject, latencyMs: 0, outcome: "cached"))
    }
}

extension ResponseError {
    /// A failed completion, as a client can act on it.
    static func completionFailed(_ failure: CompletionFailure) -> ResponseError {
        switch failure {
        case .superseded:
            return ResponseError(code: .contentModified, message: failure.description)
        case .provider(let error):
            var data: [String: JSONValue] = ["reason": .string(CompletionPipeline.outcomeName(error))]
            if error.reason == "rateLimited" {
                data["source"] = "provider"
                // Always there: a client needs a number to wait; 1 s when the provider named none.
                data["retryAfterMs"] = .int(error.retryAfterMs ?? 1_000)
                return ResponseError(code: .rateLimited, message: error.description, data: .object(data))
            }
            // What the kind carries (the query properties are nil where it carries nothing), so a
            // kind the provider module adds later reaches the client without a change here.
            if let status = error.status { data["status"] = .int(status) }
            if let phase = error.phase { data["phase"] = .string(phase) }
            if let limitMs = error.limitMs { data["limitMs"] = .int(limitMs) }
            if let variable = error.variable { data["variable"] = .string(variable) }
            return ResponseError(code: .providerUnavailable, message: error.description, data: .object(data))
        }
    }
}
