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
///
/// A struct around a private enum, so the module can add a kind of failure without breaking a
/// caller's exhaustive `switch`: callers build errors with the static constructors and read them
/// through `reason` and the query properties (`status`, `retryAfterMs`, `phase`, `limitMs`,
/// `variable`, `message`), each nil where the kind does not carry it.
public struct ProviderError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Kind: Sendable, Hashable {
        case unauthorized(status: Int, message: String)
        case rateLimited(retryAfterMs: Int?, message: String)
        case upstream(status: Int, message: String)
        case timeout(phase: String, limitMs: Int)
        case malformed(String)
        case truncated
        case unreachable(String)
        case unsupported(String)
        case missingCredential(variable: String)
    }

    private let kind: Kind

    private init(_ kind: Kind) { self.kind = kind }

    /// 401/403: the key is missing, wrong or lacks access.
    public static func unauthorized(status: Int, message: String) -> ProviderError {
        ProviderError(.unauthorized(status: status, message: message))
    }
    /// 429: the provider's own rate limit; `retryAfterMs` from `retry-after` (or `retry-after-ms`).
    public static func rateLimited(retryAfterMs: Int?, message: String) -> ProviderError {
        ProviderError(.rateLimited(retryAfterMs: retryAfterMs, message: message))
    }
    /// Any other non-2xx answer (5xx above all).
    public static func upstream(status: Int, message: String) -> ProviderError {
        ProviderError(.upstream(status: status, message: message))
    }
    /// A time limit passed: `phase` is `connect`, `firstByte`, `idle` or `total`.
    public static func timeout(phase: String, limitMs: Int) -> ProviderError {
        ProviderError(.timeout(phase: phase, limitMs: limitMs))
    }
    /// The body was not what the API promises (bad SSE framing, bad JSON, an error event).
    public static func malformed(_ reason: String) -> ProviderError { ProviderError(.malformed(reason)) }
    /// The stream ended before the provider said it was done.
    public static var truncated: ProviderError { ProviderError(.truncated) }
    /// The connection could not be made (refused, DNS, TLS).
    public static func unreachable(_ reason: String) -> ProviderError { ProviderError(.unreachable(reason)) }
    /// The model cannot take this kind of prompt (e.g. fill-in-the-middle on a chat-only model).
    public static func unsupported(_ reason: String) -> ProviderError { ProviderError(.unsupported(reason)) }
    /// The environment variable that should hold the key is not set.
    public static func missingCredential(variable: String) -> ProviderError {
        ProviderError(.missingCredential(variable: variable))
    }

    /// The kind of failure, for usage events and `error.data.reason`: `unauthorized`,
    /// `rateLimited`, `upstreamError`, `timeout`, `malformed`, `truncated`, `unreachable`,
    /// `unsupported` or `missingCredential` (more may come).
    public var reason: String {
        switch kind {
        case .unauthorized: "unauthorized"
        case .rateLimited: "rateLimited"
        case .upstream: "upstreamError"
        case .timeout: "timeout"
        case .malformed: "malformed"
        case .truncated: "truncated"
        case .unreachable: "unreachable"
        case .unsupported: "unsupported"
        case .missingCredential: "missingCredential"
        }
    }

    /// The HTTP status the provider answered (`unauthorized`, `upstreamError`; 429 for `rateLimited`).
    public var status: Int? {
        switch kind {
        case .unauthorized(let status, _), .upstream(let status, _): status
        case .rateLimited: 429
        default: nil
        }
    }

    /// How long the provider asked us to wait (`rateLimited`, when it said).
    public var retryAfterMs: Int? {
        if case .rateLimited(let retryAfterMs, _) = kind { return retryAfterMs }
        return nil
    }

    /// The limit that passed (`timeout`): `connect`, `firstByte`, `idle` or `total`.
    public var phase: String? {
        if case .timeout(let phase, _) = kind { return phase }
        return nil
    }

    /// The value of that limit in milliseconds (`timeout`).
    public var limitMs: Int? {
        if case .timeout(_, let limitMs) = kind { return limitMs }
        return nil
    }

    /// The environment variable that should hold the key (`missingCredential`).
    public var variable: String? {
        if case .missingCredential(let variable) = kind { return variable }
        return nil
    }

    /// The provider's message or the failure's own detail; nil for `truncated`, `timeout` and
    /// `missingCredential`, which say everything in their kind and fields.
    public var message: String? {
        switch kind {
        case .unauthorized(_, let message), .rateLimited(_, let message), .upstream(_, let message): message
        case .malformed(let reason), .unreachable(let reason), .unsupported(let reason): reason
        case .timeout, .truncated, .missingCredential: nil
        }
    }

    /// Whether the model may have started on the prompt (cut off by a limit, or its stream went
    /// bad): such a call is charged its estimated input.
    public var modelMayHaveStarted: Bool {
        switch kind {
        case .timeout, .truncated, .malformed: true
        default: false
        }
    }

    /// The same error with `transform` applied to the provider's message (redaction).
    func mappingMessage(_ transform: (String) -> String) -> ProviderError {
        switch kind {
        case .unauthorized(let status, let message): .unauthorized(status: status, message: transform(message))
        case .rateLimited(let retryAfterMs, let message): .rateLimited(retryAfterMs: retryAfterMs, message: transform(message))
        case .upstream(let status, let message): .upstream(status: status, message: transform(message))
        case .malformed(let message): .malformed(transform(message))
        default: self
        }
    }

    public var description: String {
        switch kind {
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
