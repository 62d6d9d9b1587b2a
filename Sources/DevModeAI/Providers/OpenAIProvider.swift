import FoundationEssentials
import NIOHTTP1

/// OpenAI-compatible HTTP (OpenAI, vLLM, llama.cpp's server, Ollama, LiteLLM), always streamed.
///
/// - `.fillInTheMiddle` → `POST {endpoint}/completions`, `prompt` rendered with the model's FIM
///   template; the `suffix` field only for `.suffixField`; `stop` = the request's stops, then the
///   template's, deduplicated, at most 4 (OpenAI's limit; the pipeline cuts at the rest).
/// - `.completion` → the same without `suffix`.
/// - `.chat` → `POST {endpoint}/chat/completions`.
///
/// Every call asks for `stream_options.include_usage`. A stream ends at `data: [DONE]`; when the
/// body ends without it but a `finish_reason` came, the answer is accepted (llama.cpp and some
/// proxies leave `[DONE]` out; the text is complete, only usage may be missing). Without either
/// it is `truncated`.
public struct OpenAIProvider: ModelProvider {
    /// The most stop sequences OpenAI accepts.
    static let maxStopSequences = 4

    let transport: HTTPTransport

    public func stream(_ request: ProviderRequest) -> AsyncThrowingStream<ProviderEvent, any Error> {
        do {
            return transport.stream(try call(for: request), decoder: OpenAIStreamDecoder())
        } catch {
            return .failing(error)
        }
    }

    func call(for request: ProviderRequest) throws(ProviderError) -> HTTPCall {
        let model = request.model
        guard let endpoint = model.endpoint else {
            throw .unreachable("the model '\(model.id)' has no endpoint configured")
        }
        let key = try transport.apiKey(for: model)
        var headers = HTTPTransport.baseHeaders()
        if let key { headers.add(name: "authorization", value: "Bearer \(key)") }

        let path: String
        let body: any Encodable
        switch request.prompt {
        case .fillInTheMiddle(let prefix, let suffix):
            let template = model.effectiveFIMTemplate
            path = "/completions"
            body = CompletionBody(
                model: model.wireModel, prompt: template.render(prefix: prefix, suffix: suffix),
                suffix: template == .suffixField ? suffix : nil, request: request,
                stop: Self.stops(request.stop + template.stopSequences))
        case .completion(let prompt):
            path = "/completions"
            body = CompletionBody(model: model.wireModel, prompt: prompt, suffix: nil, request: request, stop: Self.stops(request.stop))
        case .chat(let system, let messages):
            path = "/chat/completions"
            let all = (system.map { [ChatMessage(role: .system, content: $0)] } ?? []) + messages
            body = ChatBody(
                model: model.wireModel, messages: all.map { .init(role: $0.role.rawValue, content: $0.content) }, request: request,
                stop: Self.stops(request.stop))
        }
        let bytes: [UInt8]
        do {
            bytes = Array(try JSONEncoder().encode(body))
        } catch {
            throw .malformed("cannot encode the request: \(error)")
        }
        return HTTPCall(
            modelID: model.id, url: HTTPTransport.url(endpoint, path), headers: headers, body: bytes, timeouts: model.timeouts,
            secret: key)
    }

    /// Distinct, non-empty, at most four; nil (no field) when there are none.
    static func stops(_ candidates: [String]) -> [String]? {
        var seen = Set<String>()
        let stops = candidates.filter { !$0.isEmpty && seen.insert($0).inserted }.prefix(maxStopSequences)
        return stops.isEmpty ? nil : Array(stops)
    }

    struct StreamOptions: Encodable {
        var include_usage = true
    }

    struct CompletionBody: Encodable {
        var model: String
        var prompt: String
        var suffix: String?
        var max_tokens: Int
        var temperature: Double
        var stop: [String]?
        var stream = true
        var stream_options = StreamOptions()

        init(model: String, prompt: String, suffix: String?, request: ProviderRequest, stop: [String]?) {
            self.model = model
            self.prompt = prompt
            self.suffix = suffix
            max_tokens = request.maxTokens
            temperature = request.temperature
            self.stop = stop
        }
    }

    struct ChatBody: Encodable {
        struct Message: Encodable {
            var role: String
            var content: String
        }
        var model: String
        var messages: [Message]
        var max_tokens: Int
        var temperature: Double
        var stop: [String]?
        var stream = true
        var stream_options = StreamOptions()

        init(model: String, messages: [Message], request: ProviderRequest, stop: [String]?) {
            self.model = model
            self.messages = messages
            max_tokens = request.maxTokens
            temperature = request.temperature
            self.stop = stop
        }
    }
}

/// Reads `data: {chunk}` events of both endpoints: `choices[0].text` (completions) or
/// `choices[0].delta.content` (chat), `finish_reason`, `usage`; `[DONE]` ends. Usage and the
/// finish reason are held back and sent at the end, so the events keep their promised order even
/// when a server repeats usage in every chunk.
struct OpenAIStreamDecoder: ProviderStreamDecoder {
    private(set) var isFinished = false
    private var finishReason: String?
    private var sawFinishReason = false
    private var usage: TokenUsage?

    mutating func decode(_ event: SSEEvent) throws(ProviderError) -> [ProviderEvent] {
        let data = event.data.trimmedWhitespace
        if data == "[DONE]" {
            isFinished = true
            return closingEvents()
        }
        if data.isEmpty { return [] }
        let chunk: Chunk
        do {
            chunk = try JSONDecoder().decode(Chunk.self, from: Data(data.utf8))
        } catch {
            throw .malformed("a stream chunk is not the JSON expected: \(HTTPErrorMapping.truncate(data))")
        }
        if let error = chunk.error {
            throw Self.streamError(error)
        }
        if event.event == "error" {
            throw .upstream(status: 502, message: HTTPErrorMapping.truncate(data))
        }
        var events: [ProviderEvent] = []
        if let choice = chunk.choices?.first(where: { ($0.index ?? 0) == 0 }) {
            if let text = choice.text ?? choice.delta?.content, !text.isEmpty { events.append(.text(text)) }
            if let reason = choice.finish_reason {
                finishReason = reason
                sawFinishReason = true
            }
        }
        if let reported = chunk.usage {
            usage = TokenUsage(inputTokens: reported.prompt_tokens ?? 0, outputTokens: reported.completion_tokens ?? 0)
        }
        return events
    }

    mutating func endOfStream() throws(ProviderError) -> [ProviderEvent] {
        guard sawFinishReason else { throw .truncated }
        isFinished = true
        return closingEvents()
    }

    private func closingEvents() -> [ProviderEvent] {
        (usage.map { [ProviderEvent.usage($0)] } ?? []) + [.finished(reason: finishReason)]
    }

    /// An `error` object inside a 200 stream: its numeric `code` when it has an HTTP status's
    /// shape (vLLM sends one), else 502 (the upstream failed after it had started answering).
    static func streamError(_ error: Chunk.StreamError) -> ProviderError {
        let message = HTTPErrorMapping.truncate(error.message ?? error.type ?? "error in the stream")
        let status = error.code.flatMap { (400...599).contains($0) ? $0 : nil } ?? 502
        switch status {
        case 401, 403: return .unauthorized(status: status, message: message)
        case 429: return .rateLimited(retryAfterMs: nil, message: message)
        default: return .upstream(status: status, message: message)
        }
    }

    struct Chunk: Decodable {
        struct Choice: Decodable {
            struct Delta: Decodable { var content: String? }
            var index: Int?
            var text: String?
            var delta: Delta?
            var finish_reason: String?
        }
        struct Usage: Decodable {
            var prompt_tokens: Int?
            var completion_tokens: Int?
        }
        struct StreamError: Decodable {
            var message: String?
            var type: String?
            var code: Int?

            init(message: String) {
                self.message = message
            }

            private enum CodingKeys: String, CodingKey { case message, type, code }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                message = try? c.decodeIfPresent(String.self, forKey: .message)
                type = try? c.decodeIfPresent(String.self, forKey: .type)
                // `code` is a number (vLLM), a string (OpenAI: "rate_limit_exceeded") or null.
                code = (try? c.decodeIfPresent(Int.self, forKey: .code)) ?? nil
            }
        }
        var choices: [Choice]?
        var usage: Usage?
        var error: StreamError?

        private enum CodingKeys: String, CodingKey { case choices, usage, error }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            choices = try c.decodeIfPresent([Choice].self, forKey: .choices)
            usage = try c.decodeIfPresent(Usage.self, forKey: .usage)
            if let text = try? c.decodeIfPresent(String.self, forKey: .error) {
                error = StreamError(message: text)
            } else {
                error = try c.decodeIfPresent(StreamError.self, forKey: .error)
            }
        }
    }
}
