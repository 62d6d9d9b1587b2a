import JSONRPC

/// A model as `model/list` shows it (never its endpoint or credential).
public struct ModelInfo: Codable, Sendable, Hashable {
    public var id: String
    /// `openai`, `anthropic` or `local`.
    public var provider: String
    public var capabilities: ModelCapabilities
    public var contextWindow: Int
    public var maxOutputTokens: Int
    public var pricing: ModelPricing
    public init(
        id: String, provider: String, capabilities: ModelCapabilities, contextWindow: Int, maxOutputTokens: Int,
        pricing: ModelPricing
    ) {
        self.id = id
        self.provider = provider
        self.capabilities = capabilities
        self.contextWindow = contextWindow
        self.maxOutputTokens = maxOutputTokens
        self.pricing = pricing
    }
}

public struct ModelCapabilities: Codable, Sendable, Hashable {
    public var chat: Bool
    public var fillInTheMiddle: Bool
    public init(chat: Bool, fillInTheMiddle: Bool) {
        self.chat = chat
        self.fillInTheMiddle = fillInTheMiddle
    }
}

/// US dollars per million tokens.
public struct ModelPricing: Codable, Sendable, Hashable {
    public var inputPerMillion: Double
    public var outputPerMillion: Double
    public init(inputPerMillion: Double, outputPerMillion: Double) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
    }
}

/// Tokens one completion used.
/// Why the workspace's fallback model answered a completion.
public struct CompletionFallback: Codable, Sendable, Hashable {
    /// The model asked for (or chosen), which a budget refused.
    public var requestedModel: String
    /// `quotaExceeded`.
    public var reason: String
    /// The level of the budget that refused it (`tenant`, `workspace`, `user`, `key`).
    public var level: String?
    public init(requestedModel: String, reason: String, level: String?) {
        self.requestedModel = requestedModel
        self.reason = reason
        self.level = level
    }
}

public struct CompletionUsage: Codable, Sendable, Hashable {
    public var inputTokens: Int
    public var outputTokens: Int
    public init(inputTokens: Int, outputTokens: Int) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }
}

/// LSP's Command.
public struct LSPCommand: Codable, Sendable, Hashable {
    public var title: String
    public var command: String
    public var arguments: [JSONValue]?
    public init(title: String, command: String, arguments: [JSONValue]? = nil) {
        self.title = title
        self.command = command
        self.arguments = arguments
    }
}
