import FoundationEssentials
import Logging
import Synchronization

/// Where the pipeline asks before a model call and reports after it: the quota and usage seam.
/// The server implements it (quotas, usage events); the pipeline calls it for every model call,
/// the local engine's included, and never for a cache hit.
public protocol CompletionMeter: Sendable {
    /// Admits a call (or throws the refusal) and reserves its worst case. The reservation's
    /// `outputTokens` may be lower than `maxOutputTokens` (a budget had room for less): the call is
    /// then made with that limit.
    func reserve(model: ModelConfiguration, estimatedInputTokens: Int, maxOutputTokens: Int) async throws -> MeterReservation
    /// Settles a reservation with what the call used; `outcome` is `ok`, `cancelled` (by the
    /// client, or superseded by a newer request) or the failure's kind (`CompletionPipeline.outcomeName`).
    func settle(_ reservation: MeterReservation, usage: TokenUsage, latencyMs: Int, outcome: String) async
    /// A request answered from the cache (no model call, nothing reserved).
    func servedFromCache(model: ModelConfiguration) async
}

/// What a meter reserved for one call.
public struct MeterReservation: Sendable, Hashable {
    public var id: String
    public var model: String
    public var inputTokens: Int
    public var outputTokens: Int
    public init(id: String, model: String, inputTokens: Int, outputTokens: Int) {
        self.id = id
        self.model = model
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }
}

/// One completion to make.
public struct CompletionJob: Sendable {
    /// A newer job with the same key supersedes this one (its upstream call is cancelled). Usually
    /// the session and the document.
    public var key: String?
    public var model: ModelConfiguration
    /// The file's path (relative to its project when it has one): context header and cache.
    public var path: String
    public var language: String?
    public var prefix: String
    public var suffix: String
    /// Other open documents and related files, for snippets.
    public var related: [ContextSource]
    /// The project's engine, for the `local` model.
    public var engine: LocalCompletionEngine?
    /// Force multi-line or single-line; nil: decided from the cursor.
    public var multiline: Bool?
    public var maxCandidates: Int
    public var meter: any CompletionMeter
    /// Whose cache entries these are (a workspace and engine): a cached completion is never served
    /// across scopes, as it was made from the scope's files and open documents.
    public var cacheScope: String

    public init(
        key: String?, model: ModelConfiguration, path: String, language: String?, prefix: String, suffix: String,
        related: [ContextSource] = [], engine: LocalCompletionEngine? = nil, multiline: Bool? = nil, maxCandidates: Int = 3,
        meter: any CompletionMeter, cacheScope: String = ""
    ) {
        self.cacheScope = cacheScope
        self.key = key
        self.model = model
        self.path = path
        self.language = language
        self.prefix = prefix
        self.suffix = suffix
        self.related = related
        self.engine = engine
        self.multiline = multiline
        self.maxCandidates = maxCandidates
        self.meter = meter
    }
}

public struct CompletionOutcome: Sendable, Hashable {
    public var candidates: [String]
    public var model: String
    public var cached: Bool
    public var usage: TokenUsage
    /// The output limit the model call was made with, when the meter lowered it to fit a budget.
    public var clampedMaxOutputTokens: Int? = nil
}

public enum CompletionFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// A newer request for the same document took over.
    case superseded
    case provider(ProviderError)

    public var description: String {
        switch self {
        case .superseded: "superseded by a newer completion request for the same document"
        case .provider(let error): error.description
        }
    }
}

/// context → cache → model (one call per key at a time: a newer one cancels the older) →
/// post-processing. Knows nothing of sessions or tenants: the job carries what it needs.
public final class CompletionPipeline: Sendable {
    public struct Settings: Sendable, Hashable {
        /// Most prompt tokens a completion sends, whatever the model's context window.
        public var maxPromptTokens: Int
        /// Most output tokens for a single-line completion.
        public var singleLineMaxTokens: Int
        public var cacheCapacity: Int
        public init(maxPromptTokens: Int = 4_096, singleLineMaxTokens: Int = 64, cacheCapacity: Int = 512) {
            self.maxPromptTokens = maxPromptTokens
            self.singleLineMaxTokens = singleLineMaxTokens
            self.cacheCapacity = cacheCapacity
        }
    }

    private struct Running {
        var generation: UInt64
        var task: Task<CompletionOutcome, any Error>
    }

    public let settings: Settings
    public let cache: CompletionCache
    private let providers: @Sendable (ModelConfiguration) -> any ModelProvider
    private struct RunningState {
        var next: UInt64 = 0
        var byKey: [String: Running] = [:]
        /// Generations replaced by a newer job with the same key, until their caller has seen it.
        var superseded: Set<UInt64> = []
    }
    private let running = Mutex(RunningState())
    private let logger: Logger

    /// `providers` gives the provider for a remote model (`.openai`, `.anthropic`).
    public init(
        settings: Settings = Settings(), logger: Logger = Logger(label: "devmode.completion"),
        providers: @escaping @Sendable (ModelConfiguration) -> any ModelProvider
    ) {
        self.settings = settings
        self.cache = CompletionCache(capacity: settings.cacheCapacity)
        self.providers = providers
        self.logger = logger
    }

    /// Completes `job`. Throws `CompletionFailure`, the meter's refusal, or `CancellationError`.
    public func complete(_ job: CompletionJob) async throws -> CompletionOutcome {
        let cacheKey = Self.cachePrefix(job.prefix)
        if let hit = cache.lookup(model: job.model.id, path: job.cacheScope + "\u{0}" + job.path, prefix: cacheKey, suffix: job.suffix), !hit.isEmpty {
            // The user typed on: whatever was still being asked for this document is stale.
            if let key = job.key { supersede(key) }
            await job.meter.servedFromCache(model: job.model)
            return CompletionOutcome(
                candidates: Array(hit.prefix(job.maxCandidates)), model: job.model.id, cached: true, usage: TokenUsage())
        }
        guard let key = job.key else { return try await run(job, cacheKey: cacheKey) }
        // One call per key: start this one, cancel the one it replaces.
        let task = Task { try await self.run(job, cacheKey: cacheKey) }
        let (generation, replaced) = running.withLock { state -> (UInt64, Task<CompletionOutcome, any Error>?) in
            state.next += 1
            let replaced = state.byKey[key]
            if let replaced { state.superseded.insert(replaced.generation) }
            state.byKey[key] = Running(generation: state.next, task: task)
            return (state.next, replaced?.task)
        }
        replaced?.cancel()
        defer {
            running.withLock { state in
                if state.byKey[key]?.generation == generation { state.byKey[key] = nil }
                state.superseded.remove(generation)
            }
        }
        do {
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        } catch is CancellationError {
            // Cancelled by the caller, or by a newer job with the same key.
            let superseded = running.withLock { $0.superseded.contains(generation) }
            throw superseded && !Task.isCancelled ? CompletionFailure.superseded : CancellationError()
        }
    }

    /// Cancels the job running under `key`, if any (its caller sees `superseded`).
    private func supersede(_ key: String) {
        let replaced = running.withLock { state -> Task<CompletionOutcome, any Error>? in
            guard let replaced = state.byKey.removeValue(forKey: key) else { return nil }
            state.superseded.insert(replaced.generation)
            return replaced.task
        }
        replaced?.cancel()
    }

    private func run(_ job: CompletionJob, cacheKey: String) async throws -> CompletionOutcome {
        let multiline = job.multiline ?? PostProcessor.wantsMultiline(prefix: job.prefix, suffix: job.suffix, language: job.language)
        let options = PostProcessOptions(
            stop: job.model.provider == .local ? [] : job.model.effectiveFIMTemplate.stopSequences, multiline: multiline,
            language: job.language)
        let started = ContinuousClock.now
        var raw: [String]
        var usage = TokenUsage()
        let reservation: MeterReservation
        var clamped: Int?
        switch job.model.provider {
        case .local:
            reservation = try await job.meter.reserve(model: job.model, estimatedInputTokens: 0, maxOutputTokens: 0)
            if Task.isCancelled {
                await job.meter.settle(reservation, usage: TokenUsage(), latencyMs: Self.ms(since: started), outcome: "cancelled")
                throw CancellationError()
            }
            let candidates = (job.engine ?? LocalCompletionEngine()).complete(
                prefix: job.prefix, suffix: job.suffix, language: job.language, maxCharacters: multiline ? 400 : 200)
            raw = candidates.map(\.text)
        case .openai, .anthropic:
            let budget = min(settings.maxPromptTokens, job.model.contextWindow - job.model.maxOutputTokens)
            let context = ContextBuilder.build(
                prefix: job.prefix, suffix: job.suffix, path: job.path, language: job.language, related: job.related,
                budgetTokens: max(budget, 64))
            let maxTokens = multiline ? job.model.maxOutputTokens : min(job.model.maxOutputTokens, settings.singleLineMaxTokens)
            let prompt: ProviderRequest.Prompt
            var stop = options.stop
            if job.model.capabilities.fillInTheMiddle {
                prompt = .fillInTheMiddle(prefix: context.prefix, suffix: context.suffix)
                if !multiline { stop.insert("\n", at: 0) }
            } else {
                let chat = ChatFallback.prompt(prefix: context.prefix, suffix: context.suffix, path: job.path, language: job.language)
                prompt = .chat(system: chat.system, messages: chat.messages)
            }
            let estimatedInput = Self.estimatedTokens(prompt, context: context)
            reservation = try await job.meter.reserve(
                model: job.model, estimatedInputTokens: estimatedInput, maxOutputTokens: maxTokens)
            if reservation.outputTokens < maxTokens { clamped = reservation.outputTokens }
            do {
                let request = ProviderRequest(
                    model: job.model, prompt: prompt, maxTokens: min(maxTokens, reservation.outputTokens), temperature: 0.1,
                    stop: stop)
                let answer = try await providers(job.model).collect(request)
                var text = answer.text
                if case .chat = prompt { text = ChatFallback.extractCompletion(
                        from: text, prefix: context.rawPrefixTail, suffix: context.suffix, language: job.language) }
                raw = [text]
                usage = answer.usage ?? TokenUsage(
                    inputTokens: estimatedInput, outputTokens: TokenEstimate.count(answer.text))
            } catch {
                let outcome: String
                switch error {
                case is CancellationError: outcome = "cancelled"
                case let error as ProviderError: outcome = Self.outcomeName(error)
                default: outcome = "failed"
                }
                // A call the model may have started on (cut off, or its stream went bad) is settled at
                // its estimated input; one refused before the model saw it costs nothing.
                let charged: Bool
                if let error = error as? ProviderError {
                    charged = error.modelMayHaveStarted
                } else {
                    charged = error is CancellationError
                }
                await job.meter.settle(
                    reservation, usage: TokenUsage(inputTokens: charged ? estimatedInput : 0),
                    latencyMs: Self.ms(since: started), outcome: outcome)
                if let error = error as? ProviderError { throw CompletionFailure.provider(error) }
                throw error
            }
        }
        await job.meter.settle(reservation, usage: usage, latencyMs: Self.ms(since: started), outcome: "ok")
        var candidates: [String] = []
        for text in raw {
            guard let processed = PostProcessor.process(text, prefix: job.prefix, suffix: job.suffix, options: options),
                !candidates.contains(processed)
            else { continue }
            candidates.append(processed)
            if candidates.count == job.maxCandidates { break }
        }
        if !candidates.isEmpty {
            cache.store(
                model: job.model.id, path: job.cacheScope + "\u{0}" + job.path, prefix: cacheKey, suffix: job.suffix,
                candidates: candidates)
        }
        return CompletionOutcome(
            candidates: candidates, model: job.model.id, cached: false, usage: usage,
            clampedMaxOutputTokens: clamped)
    }

    /// The part of the prefix the cache keys on: the last 64 lines (typing on the current line keeps
    /// the earlier lines, so type-ahead finds the entry).
    static func cachePrefix(_ prefix: String) -> String {
        let utf8 = prefix.utf8
        var newlines = 0
        var index = utf8.endIndex
        while index > utf8.startIndex {
            let before = utf8.index(before: index)
            if utf8[before] == UInt8(ascii: "\n") {
                newlines += 1
                if newlines > 64 { return String(prefix[index...]) }
            }
            index = before
        }
        return prefix
    }

    /// The tokens a prompt is expected to take, what its reservation holds: the text's estimate
    /// plus the template's special tokens (a fill-in-the-middle prompt's sentinels; a chat's role
    /// markers per message).
    static func estimatedTokens(_ prompt: ProviderRequest.Prompt, context: CompletionContext) -> Int {
        switch prompt {
        case .fillInTheMiddle, .completion:
            return context.estimatedTokens + 4
        case .chat(let system, let messages):
            return messages.reduce(TokenEstimate.count(system ?? "") + 4) { $0 + TokenEstimate.count($1.content) + 4 }
        }
    }

    /// The name of a failure, for usage events and `error.data.reason`.
    public static func outcomeName(_ error: ProviderError) -> String {
        error.reason
    }

    static func ms(since start: ContinuousClock.Instant) -> Int {
        let elapsed = ContinuousClock.now - start
        return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }
}
