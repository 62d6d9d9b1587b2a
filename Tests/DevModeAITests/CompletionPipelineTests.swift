import DevModeAI
import Foundation
import Synchronization
import Testing

/// A provider scripted in memory: it records each request and answers with the next behaviour.
private final class ScriptedProvider: ModelProvider, Sendable {
    enum Behaviour: Sendable {
        case text(String, usage: TokenUsage?)
        case fail(ProviderError)
        /// Never answers; records when its consumer goes away.
        case hang
    }

    private let state = Mutex<(script: [Behaviour], requests: [ProviderRequest], cancelled: Int)>(([], [], 0))

    init(_ script: Behaviour...) { state.withLock { $0.script = script } }

    var requests: [ProviderRequest] { state.withLock { $0.requests } }
    var cancelled: Int { state.withLock { $0.cancelled } }

    func stream(_ request: ProviderRequest) -> AsyncThrowingStream<ProviderEvent, any Error> {
        let behaviour = state.withLock { state -> Behaviour in
            state.requests.append(request)
            return state.script.isEmpty ? .text("", usage: nil) : state.script.removeFirst()
        }
        return AsyncThrowingStream { continuation in
            switch behaviour {
            case .text(let text, let usage):
                continuation.yield(.text(text))
                if let usage { continuation.yield(.usage(usage)) }
                continuation.yield(.finished(reason: "stop"))
                continuation.finish()
            case .fail(let error):
                continuation.finish(throwing: error)
            case .hang:
                continuation.onTermination = { _ in self.state.withLock { $0.cancelled += 1 } }
            }
        }
    }
}

/// Records what the pipeline reserved and settled.
private final class RecordingMeter: CompletionMeter, Sendable {
    let events = Mutex<[String]>([])

    func reserve(model: ModelConfiguration, estimatedInputTokens: Int, maxOutputTokens: Int) async throws -> MeterReservation {
        events.withLock { $0.append("reserve \(model.id) out≤\(maxOutputTokens)") }
        return MeterReservation(id: "r", model: model.id, inputTokens: estimatedInputTokens, outputTokens: maxOutputTokens)
    }

    func settle(_ reservation: MeterReservation, usage: TokenUsage, latencyMs: Int, outcome: String) async {
        events.withLock { $0.append("settle \(outcome) \(usage.inputTokens)/\(usage.outputTokens)") }
    }

    func servedFromCache(model: ModelConfiguration) async {
        events.withLock { $0.append("cached \(model.id)") }
    }
}

@Suite("Completion pipeline")
struct CompletionPipelineTests {
    static let fim = ModelConfiguration(
        id: "coder", provider: .openai, endpoint: "http://127.0.0.1:9/v1",
        capabilities: .init(chat: false, fillInTheMiddle: true), contextWindow: 4_096, maxOutputTokens: 128,
        fimTemplate: .starcoder)
    static let chatOnly = ModelConfiguration(
        id: "chatty", provider: .anthropic, capabilities: .init(chat: true, fillInTheMiddle: false), contextWindow: 8_192,
        maxOutputTokens: 256)

    static func job(
        _ model: ModelConfiguration = fim, key: String? = "doc", prefix: String, suffix: String = "\n", meter: any CompletionMeter,
        scope: String = "w1"
    ) -> CompletionJob {
        CompletionJob(
            key: key, model: model, path: "Sources/App/main.swift", language: "swift", prefix: prefix, suffix: suffix,
            meter: meter, cacheScope: scope)
    }

    @Test func aSingleLineFillInTheMiddleStopsAtTheNewlineAndIsMetered() async throws {
        let provider = ScriptedProvider(.text("total + 1\nprint(total)", usage: TokenUsage(inputTokens: 40, outputTokens: 6)))
        let pipeline = CompletionPipeline { _ in provider }
        let meter = RecordingMeter()
        let outcome = try await pipeline.complete(Self.job(prefix: "let total = 1\nlet next = ", meter: meter))
        #expect(outcome.candidates == ["total + 1"])
        #expect(outcome.usage == TokenUsage(inputTokens: 40, outputTokens: 6))
        let request = try #require(provider.requests.first)
        guard case .fillInTheMiddle(let prefix, let suffix) = request.prompt else {
            Issue.record("expected a fill-in-the-middle prompt, got \(request.prompt)")
            return
        }
        #expect(prefix.hasSuffix("let total = 1\nlet next = "))
        #expect(suffix == "\n")
        #expect(request.stop.first == "\n")
        #expect(request.maxTokens <= 64)
        #expect(meter.events.withLock { $0 } == ["reserve coder out≤\(request.maxTokens)", "settle ok 40/6"])
    }

    @Test func typingAheadIntoACompletionIsServedFromTheCacheWithinItsScopeOnly() async throws {
        let provider = ScriptedProvider(.text("Name(for: user)", usage: nil), .text("Other()", usage: nil))
        let pipeline = CompletionPipeline { _ in provider }
        let meter = RecordingMeter()
        _ = try await pipeline.complete(Self.job(prefix: "let name = display", meter: meter))
        let typedOn = try await pipeline.complete(Self.job(prefix: "let name = displayNa", meter: meter))
        #expect(typedOn.cached)
        #expect(typedOn.candidates == ["me(for: user)"])
        #expect(provider.requests.count == 1)
        // Another workspace never sees the entry.
        let elsewhere = try await pipeline.complete(Self.job(prefix: "let name = displayNa", meter: meter, scope: "w2"))
        #expect(!elsewhere.cached)
        #expect(provider.requests.count == 2)
        #expect(meter.events.withLock { $0 }.contains("cached coder"))
    }

    @Test func aNewerRequestForTheSameDocumentSupersedesTheOlderOneUpstream() async throws {
        let provider = ScriptedProvider(.hang, .text("42", usage: nil))
        let pipeline = CompletionPipeline { _ in provider }
        let meter = RecordingMeter()
        let older = Task { try await pipeline.complete(Self.job(prefix: "let answer = ", meter: meter)) }
        while provider.requests.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        let newer = try await pipeline.complete(Self.job(prefix: "let answer: Int = ", meter: meter))
        #expect(newer.candidates == ["42"])
        await #expect(throws: CompletionFailure.superseded) { try await older.value }
        #expect(provider.cancelled == 1)
        #expect(meter.events.withLock { $0 }.contains { $0.hasPrefix("settle cancelled") })
    }

    @Test func requestsForOtherDocumentsRunSideBySide() async throws {
        let provider = ScriptedProvider(.hang, .text("1", usage: nil))
        let pipeline = CompletionPipeline { _ in provider }
        let meter = RecordingMeter()
        let first = Task { try await pipeline.complete(Self.job(key: "a", prefix: "let a = ", meter: meter)) }
        while provider.requests.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        _ = try await pipeline.complete(Self.job(key: "b", prefix: "let b = ", meter: meter))
        #expect(provider.cancelled == 0)
        first.cancel()
        await #expect(throws: CancellationError.self) { try await first.value }
        #expect(provider.cancelled == 1)
    }

    @Test func providerFailuresAreSettledAndReported() async throws {
        let provider = ScriptedProvider(.fail(.rateLimited(retryAfterMs: 2_000, message: "slow down")))
        let pipeline = CompletionPipeline { _ in provider }
        let meter = RecordingMeter()
        await #expect(throws: CompletionFailure.provider(.rateLimited(retryAfterMs: 2_000, message: "slow down"))) {
            try await pipeline.complete(Self.job(prefix: "let x = ", meter: meter))
        }
        #expect(meter.events.withLock { $0 }.last?.hasPrefix("settle rateLimited") == true)
    }

    @Test func aChatOnlyModelCompletesThroughAChatPrompt() async throws {
        let provider = ScriptedProvider(.text("```swift\nitems.count\n```", usage: nil))
        let pipeline = CompletionPipeline { _ in provider }
        let outcome = try await pipeline.complete(
            Self.job(Self.chatOnly, prefix: "func size(_ items: [Int]) -> Int {\n    return ", suffix: "\n}\n", meter: RecordingMeter()))
        #expect(outcome.candidates == ["items.count"])
        guard case .chat(let system, let messages)? = provider.requests.first?.prompt else {
            Issue.record("expected a chat prompt")
            return
        }
        #expect(system?.isEmpty == false)
        #expect(messages.last?.content.contains("return ") == true)
    }

    @Test func theLocalModelNeedsNoProvider() async throws {
        let engine = LocalCompletionEngine()
        engine.update(path: "a.swift", text: "let greeting = makeGreeting(for: user)\nlet farewell = makeFarewell(for: user)\n")
        let pipeline = CompletionPipeline { _ in ScriptedProvider(.fail(.unsupported("no HTTP for local"))) }
        var job = Self.job(.local, prefix: "let hello = makeGre", meter: RecordingMeter())
        job.engine = engine
        let outcome = try await pipeline.complete(job)
        #expect(outcome.candidates.first?.hasPrefix("eting(for: user)") == true)
    }
}
