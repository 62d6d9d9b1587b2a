import FoundationEssentials
import NIOHTTP1

/// Anthropic's Messages API, streamed: `POST {endpoint}/v1/messages` (endpoint
/// `https://api.anthropic.com` unless configured) with `x-api-key` and `anthropic-version`.
/// Chat only: fill-in-the-middle and plain completion prompts fail with `unsupported` (the
/// pipeline writes a chat prompt for these models). System turns inside `messages` join the
/// `system` field, since the API takes no `system` role there.
public struct AnthropicProvider: ModelProvider {
    static let defaultEndpoint = "https://api.anthropic.com"
    static let apiVersion = "2023-06-01"

    let transport: HTTPTransport

    public func stream(_ request: ProviderRequest) -> AsyncThrowingStream<ProviderEvent, any Error> {
        do {
            return transport.stream(try call(for: request), decoder: AnthropicStreamDecoder())
        } catch {
            return .failing(error)
        }
    }

    func call(for request: ProviderRequest) throws(ProviderError) -> HTTPCall {
        let model = request.model
        guard case .chat(let system, let messages) = request.prompt else {
            throw .unsupported("the model '\(model.id)' (Anthropic) takes chat prompts only")
        }
        let key = try transport.apiKey(for: model)
        var headers = HTTPTransport.baseHeaders()
        headers.add(name: "anthropic-version", value: Self.apiVersion)
        if let key { headers.add(name: "x-api-key", value: key) }

        let systemParts = (system.map { [$0] } ?? []) + messages.filter { $0.role == .system }.map(\.content)
        var seen = Set<String>()
        let stops = request.stop.filter { !$0.isEmpty && seen.insert($0).inserted }
        let body = MessagesBody(
            model: model.wireModel, max_tokens: request.maxTokens,
            system: systemParts.isEmpty ? nil : systemParts.joined(separator: "\n\n"),
            messages: messages.filter { $0.role != .system }.map { .init(role: $0.role.rawValue, content: $0.content) },
            stop_sequences: stops.isEmpty ? nil : stops, temperature: request.temperature)
        let bytes: [UInt8]
        do {
            bytes = Array(try JSONEncoder().encode(body))
        } catch {
            throw .malformed("cannot encode the request: \(error)")
        }
        return HTTPCall(
            modelID: model.id, url: HTTPTransport.url(model.endpoint ?? Self.defaultEndpoint, "/v1/messages"), headers: headers,
            body: bytes, timeouts: model.timeouts, secret: key)
    }

    struct MessagesBody: Encodable {
        struct Message: Encodable {
            var role: String
            var content: String
        }
        var model: String
        var max_tokens: Int
        var system: String?
        var messages: [Message]
        var stop_sequences: [String]?
        var temperature: Double
        var stream = true
    }
}

/// Reads the Messages stream: `message_start` (input tokens), `content_block_delta` with a
/// `text_delta` (text; other delta kinds are skipped), `message_delta` (stop reason, output
/// tokens), `message_stop` (the end), `ping`, `error`. Unknown event types are ignored, as
/// Anthropic asks. A body that ends before `message_stop` is `truncated`.
struct AnthropicStreamDecoder: ProviderStreamDecoder {
    private(set) var isFinished = false
    private var usage: TokenUsage?
    private var stopReason: String?

    mutating func decode(_ event: SSEEvent) throws(ProviderError) -> [ProviderEvent] {
        let payload: Payload
        do {
            payload = try JSONDecoder().decode(Payload.self, from: Data(event.data.utf8))
        } catch {
            throw .malformed("a stream event is not the JSON expected: \(HTTPErrorMapping.truncate(event.data))")
        }
        switch payload.type ?? event.event {
        case "message_start":
            if let reported = payload.message?.usage {
                usage = TokenUsage(inputTokens: reported.input_tokens ?? 0, outputTokens: reported.output_tokens ?? 0)
            }
        case "content_block_start":
            if payload.content_block?.type == "text", let text = payload.content_block?.text, !text.isEmpty {
                return [.text(text)]
            }
        case "content_block_delta":
            if payload.delta?.type == "text_delta", let text = payload.delta?.text, !text.isEmpty {
                return [.text(text)]
            }
        case "message_delta":
            if let reason = payload.delta?.stop_reason { stopReason = reason }
            if let reported = payload.usage {
                // Counts here are cumulative; input_tokens appears here too on newer API versions.
                var current = usage ?? TokenUsage()
                if let input = reported.input_tokens { current.inputTokens = input }
                if let output = reported.output_tokens { current.outputTokens = output }
                usage = current
            }
        case "message_stop":
            isFinished = true
            return (usage.map { [ProviderEvent.usage($0)] } ?? []) + [.finished(reason: stopReason)]
        case "error":
            throw Self.streamError(type: payload.error?.type, message: payload.error?.message)
        default:
            break  // ping, content_block_stop, and whatever Anthropic adds
        }
        return []
    }

    mutating func endOfStream() throws(ProviderError) -> [ProviderEvent] {
        throw .truncated
    }

    /// An `error` event after the stream began, by Anthropic's error types (the HTTP status each
    /// type has when it comes as a response instead).
    static func streamError(type: String?, message: String?) -> ProviderError {
        let message = HTTPErrorMapping.truncate(message ?? type ?? "error in the stream")
        switch type {
        case "rate_limit_error": return .rateLimited(retryAfterMs: nil, message: message)
        case "overloaded_error": return .upstream(status: 529, message: message)
        case "authentication_error": return .unauthorized(status: 401, message: message)
        case "permission_error": return .unauthorized(status: 403, message: message)
        case "invalid_request_error": return .upstream(status: 400, message: message)
        case "not_found_error": return .upstream(status: 404, message: message)
        case "request_too_large": return .upstream(status: 413, message: message)
        case "api_error": return .upstream(status: 500, message: message)
        default: return .upstream(status: 502, message: message)
        }
    }

    struct Payload: Decodable {
        struct Usage: Decodable {
            var input_tokens: Int?
            var output_tokens: Int?
        }
        struct Message: Decodable { var usage: Usage? }
        struct ContentBlock: Decodable {
            var type: String?
            var text: String?
        }
        struct Delta: Decodable {
            var type: String?
            var text: String?
            var stop_reason: String?
        }
        struct ErrorDetail: Decodable {
            var type: String?
            var message: String?
        }
        var type: String?
        var message: Message?
        var content_block: ContentBlock?
        var delta: Delta?
        var usage: Usage?
        var error: ErrorDetail?
    }
}
