import FoundationEssentials

/// One turn of a chat prompt.
public struct ChatMessage: Codable, Sendable, Hashable {
    public enum Role: String, Codable, Sendable, Hashable { case system, user, assistant }
    public var role: Role
    public var content: String
    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }
}

/// Tokens a call consumed, as the provider reported them (or as estimated when it did not).
public struct TokenUsage: Codable, Sendable, Hashable {
    public var inputTokens: Int
    public var outputTokens: Int
    public init(inputTokens: Int = 0, outputTokens: Int = 0) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }
}

/// What to ask a model.
public struct ProviderRequest: Sendable, Hashable {
    public enum Prompt: Sendable, Hashable {
        /// Fill in the text between `prefix` and `suffix`. The provider writes it the model's way
        /// (its family's sentinel tokens, or OpenAI's `suffix` field). Models with the
        /// fill-in-the-middle capability only.
        case fillInTheMiddle(prefix: String, suffix: String)
        /// Continue `prompt` as is (`/v1/completions`).
        case completion(String)
        /// A chat (`/v1/chat/completions`, Anthropic Messages). Models with the chat capability only.
        case chat(system: String?, messages: [ChatMessage])
    }

    public var model: ModelConfiguration
    public var prompt: Prompt
    public var maxTokens: Int
    public var temperature: Double
    /// Where the model should stop (sent upstream where the API takes them; the pipeline cuts too).
    public var stop: [String]

    public init(model: ModelConfiguration, prompt: Prompt, maxTokens: Int, temperature: Double = 0.2, stop: [String] = []) {
        self.model = model
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.stop = stop
    }
}

/// What a streamed call yields, in order: text deltas, then (when the provider reports it) usage,
/// then `finished`. A stream that ends without `finished` was cut short and throws `truncated`.
public enum ProviderEvent: Sendable, Hashable {
    case text(String)
    case usage(TokenUsage)
    /// The model stopped; the provider's reason (`stop`, `length`, `end_turn`, …) when it gave one.
    case finished(reason: String?)
}

/// Why a call failed, in terms a client can act on. The server maps these to protocol errors.
public enum ProviderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// 401/403: the key is missing, wrong or lacks access.
    case unauthorized(status: Int, message: String)
    /// 429: the provider's own rate limit; `retryAfterMs` from `retry-after` (or `retry-after-ms`).
    case rateLimited(retryAfterMs: Int?, message: String)
    /// Any other non-2xx answer (5xx above all).
    case upstream(status: Int, message: String)
    /// A time limit passed: `phase` is `connect`, `firstByte`, `idle` or `total`.
    case timeout(phase: String, limitMs: Int)
    /// The body was not what the API promises (bad SSE framing, bad JSON, an error event).
    case malformed(String)
    /// The stream ended before the provider said it was done.
    case truncated
    /// The connection could not be made (refused, DNS, TLS).
    case unreachable(String)
    /// The model cannot take this kind of prompt (e.g. fill-in-the-middle on a chat-only model).
    case unsupported(String)
    /// The environment variable that should hold the key is not set.
    case missingCredential(variable: String)

    public var description: String {
        switch self {
        case .unauthorized(let status, let message): "the provider refused the credential (HTTP \(status)): \(message)"
        case .rateLimited(let retryAfterMs, let message):
            "the provider is rate limiting (HTTP 429\(retryAfterMs.map { ", retry after \($0) ms" } ?? "")): \(message)"
        case .upstream(let status, let message): "the provider failed (HTTP \(status)): \(message)"
        case .timeout(let phase, let limitMs): "the provider did not answer in time (\(phase), \(limitMs) ms)"
        case .malformed(let reason): "the provider sent a malformed answer: \(reason)"
        case .truncated: "the provider's stream ended before it was complete"
        case .unreachable(let reason): "the provider cannot be reached: \(reason)"
        case .unsupported(let reason): reason
        case .missingCredential(let variable): "the provider's API key is not set (environment variable \(variable))"
        }
    }
}

/// Speaks to one kind of model API. Knows nothing of tenants, quotas or sessions.
///
/// Cancelling the task that iterates the stream (or dropping the stream) cancels the upstream HTTP
/// request and closes its connection.
public protocol ModelProvider: Sendable {
    func stream(_ request: ProviderRequest) -> AsyncThrowingStream<ProviderEvent, any Error>
}

extension ModelProvider {
    /// Runs a call to the end: the text, usage and finish reason. Throws `CancellationError` when
    /// the task is cancelled (an `AsyncThrowingStream` just ends then, as if the answer were whole).
    public func collect(_ request: ProviderRequest) async throws -> (text: String, usage: TokenUsage?, finishReason: String?) {
        var text = ""
        var usage: TokenUsage?
        var reason: String?
        for try await event in stream(request) {
            switch event {
            case .text(let delta): text += delta
            case .usage(let reported): usage = reported
            case .finished(let finish): reason = finish
            }
        }
        try Task.checkCancellation()
        return (text, usage, reason)
    }
}
