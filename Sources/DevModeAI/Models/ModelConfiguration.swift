import FoundationEssentials

/// One model the server may call: which provider speaks to it, where, with which credential, what
/// it can do, how much context it takes and what it costs. Read from the model registry file.
public struct ModelConfiguration: Codable, Sendable, Hashable {
    public enum Provider: String, Codable, Sendable, Hashable {
        /// OpenAI-compatible HTTP: `/v1/completions` (with `suffix`) and `/v1/chat/completions`,
        /// streamed as SSE (OpenAI, vLLM, llama.cpp's server, Ollama, LiteLLM).
        case openai
        /// Anthropic's Messages API, streamed.
        case anthropic
        /// The embedded engine: learns from the project's files, needs no network.
        case local
    }

    public struct Capabilities: Codable, Sendable, Hashable {
        public var chat: Bool
        public var fillInTheMiddle: Bool
        public init(chat: Bool = false, fillInTheMiddle: Bool = false) {
            self.chat = chat
            self.fillInTheMiddle = fillInTheMiddle
        }
    }

    /// Price in US dollars per million tokens.
    public struct Pricing: Codable, Sendable, Hashable {
        public var inputPerMillion: Double
        public var outputPerMillion: Double
        public init(inputPerMillion: Double = 0, outputPerMillion: Double = 0) {
            self.inputPerMillion = inputPerMillion
            self.outputPerMillion = outputPerMillion
        }

        /// The cost of `usage` in millionths of a dollar, rounded up.
        public func costMicros(_ usage: TokenUsage) -> Int {
            let micros = Double(usage.inputTokens) * inputPerMillion + Double(usage.outputTokens) * outputPerMillion
            return Int(micros.rounded(.up))
        }
    }

    /// Time limits of one call, in milliseconds.
    public struct Timeouts: Codable, Sendable, Hashable {
        /// Establishing the connection.
        public var connectMs: Int
        /// From sending the request to the response's first byte (headers).
        public var firstByteMs: Int
        /// Longest silence between two chunks of a streamed body.
        public var idleMs: Int
        /// The whole call.
        public var totalMs: Int
        public init(connectMs: Int = 2_000, firstByteMs: Int = 15_000, idleMs: Int = 15_000, totalMs: Int = 120_000) {
            self.connectMs = connectMs
            self.firstByteMs = firstByteMs
            self.idleMs = idleMs
            self.totalMs = totalMs
        }
    }

    /// The name clients use (`model/list`, `workspace/setModels`, a request's `model`).
    public var id: String
    public var provider: Provider
    /// Base URL. OpenAI-compatible: up to and including `/v1` (`http://127.0.0.1:11434/v1`);
    /// Anthropic: `https://api.anthropic.com` by default. Unused by `local`.
    public var endpoint: String?
    /// The model name sent upstream; `id` when absent.
    public var upstreamModel: String?
    /// The environment variable that holds the API key (never the key itself).
    public var apiKeyEnv: String?
    public var capabilities: Capabilities
    /// Tokens the model takes in (prompt and completion together).
    public var contextWindow: Int
    /// Most tokens one completion may produce.
    public var maxOutputTokens: Int
    public var pricing: Pricing
    /// How fill-in-the-middle prompts are written: a model family's sentinel tokens, or OpenAI's
    /// `suffix` field. Absent: guessed from the model name, else the `suffix` field.
    public var fimTemplate: FIMTemplate?
    public var timeouts: Timeouts

    public init(
        id: String, provider: Provider, endpoint: String? = nil, upstreamModel: String? = nil, apiKeyEnv: String? = nil,
        capabilities: Capabilities, contextWindow: Int = 8_192, maxOutputTokens: Int = 256, pricing: Pricing = Pricing(),
        fimTemplate: FIMTemplate? = nil, timeouts: Timeouts = Timeouts()
    ) {
        self.id = id
        self.provider = provider
        self.endpoint = endpoint
        self.upstreamModel = upstreamModel
        self.apiKeyEnv = apiKeyEnv
        self.capabilities = capabilities
        self.contextWindow = contextWindow
        self.maxOutputTokens = maxOutputTokens
        self.pricing = pricing
        self.fimTemplate = fimTemplate
        self.timeouts = timeouts
    }

    private enum CodingKeys: String, CodingKey {
        case id, provider, endpoint, upstreamModel = "model", apiKeyEnv, capabilities, contextWindow, maxOutputTokens
        case pricing, fimTemplate, timeouts
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        provider = try c.decode(Provider.self, forKey: .provider)
        endpoint = try c.decodeIfPresent(String.self, forKey: .endpoint)
        upstreamModel = try c.decodeIfPresent(String.self, forKey: .upstreamModel)
        apiKeyEnv = try c.decodeIfPresent(String.self, forKey: .apiKeyEnv)
        capabilities =
            try c.decodeIfPresent(Capabilities.self, forKey: .capabilities)
            ?? Capabilities(chat: provider != .local, fillInTheMiddle: provider != .anthropic)
        contextWindow = try c.decodeIfPresent(Int.self, forKey: .contextWindow) ?? 8_192
        maxOutputTokens = try c.decodeIfPresent(Int.self, forKey: .maxOutputTokens) ?? 256
        pricing = try c.decodeIfPresent(Pricing.self, forKey: .pricing) ?? Pricing()
        fimTemplate = try c.decodeIfPresent(FIMTemplate.self, forKey: .fimTemplate)
        timeouts = try c.decodeIfPresent(Timeouts.self, forKey: .timeouts) ?? Timeouts()
    }

    /// The model name sent upstream.
    public var wireModel: String { upstreamModel ?? id }

    /// The embedded engine, always in the registry.
    public static let local = ModelConfiguration(
        id: "local", provider: .local, capabilities: Capabilities(chat: false, fillInTheMiddle: true),
        contextWindow: 16_384, maxOutputTokens: 64)
}

/// Every model the server knows, from the registry file, plus `local`. Which of them a workspace may
/// use is the workspace's setting (`workspace/setModels`); a workspace that never set any uses
/// `defaultModels`.
public struct ModelRegistry: Codable, Sendable, Hashable {
    public var models: [ModelConfiguration]
    /// The models of a workspace that has not chosen (`workspace/setModels`).
    public var defaultModels: [String]

    public enum LoadError: Error, Sendable, CustomStringConvertible {
        case unreadable(path: String, reason: String)
        case invalid(path: String, reason: String)

        public var description: String {
            switch self {
            case .unreadable(let path, let reason): "cannot read the model registry '\(path)': \(reason)"
            case .invalid(let path, let reason): "the model registry '\(path)' is invalid: \(reason)"
            }
        }
    }

    public init(models: [ModelConfiguration] = [], defaultModels: [String] = ["local"]) {
        var all = models
        if !all.contains(where: { $0.id == ModelConfiguration.local.id }) { all.append(.local) }
        self.models = all
        self.defaultModels = defaultModels
    }

    private enum CodingKeys: String, CodingKey { case models, defaultModels }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            models: try c.decodeIfPresent([ModelConfiguration].self, forKey: .models) ?? [],
            defaultModels: try c.decodeIfPresent([String].self, forKey: .defaultModels) ?? ["local"])
    }

    /// Parses and checks a registry: ids unique and well-formed, endpoints present where needed,
    /// default models known.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> ModelRegistry {
        let registry: ModelRegistry
        do {
            registry = try JSONDecoder().decode(ModelRegistry.self, from: data)
        } catch {
            throw LoadError.invalid(path: path, reason: "\(error)")
        }
        try registry.validate(path: path)
        return registry
    }

    public static func load(path: String) throws -> ModelRegistry {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw LoadError.unreadable(path: path, reason: "\(error)")
        }
        return try decode(data, path: path)
    }

    func validate(path: String) throws {
        var seen = Set<String>()
        for model in models {
            guard !model.id.isEmpty, model.id.utf8.count <= 128, !model.id.contains(where: { $0.isWhitespace || $0.isNewline })
            else { throw LoadError.invalid(path: path, reason: "model id '\(model.id)' must be 1–128 characters without spaces") }
            guard seen.insert(model.id).inserted else {
                throw LoadError.invalid(path: path, reason: "model id '\(model.id)' appears twice")
            }
            if model.provider == .openai, model.endpoint == nil {
                throw LoadError.invalid(path: path, reason: "model '\(model.id)' (openai) needs an endpoint")
            }
            if model.provider == .local, model.id != ModelConfiguration.local.id {
                throw LoadError.invalid(path: path, reason: "model '\(model.id)': only 'local' uses the local provider")
            }
            guard model.contextWindow > 0, model.maxOutputTokens > 0, model.maxOutputTokens < model.contextWindow else {
                throw LoadError.invalid(
                    path: path, reason: "model '\(model.id)': need 0 < maxOutputTokens < contextWindow")
            }
            guard model.capabilities.chat || model.capabilities.fillInTheMiddle else {
                throw LoadError.invalid(path: path, reason: "model '\(model.id)' can neither chat nor fill in the middle")
            }
        }
        for id in defaultModels where !seen.contains(id) {
            throw LoadError.invalid(path: path, reason: "default model '\(id)' is not in the registry")
        }
    }

    public func model(_ id: String) -> ModelConfiguration? { models.first { $0.id == id } }
}
