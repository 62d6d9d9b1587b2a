import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// Where a reply to an unusable message goes.
public enum ReplyTarget: Sendable, Hashable {
    /// Reply with this id.
    case id(RequestID)
    /// Reply with `"id": null` (the message's id could not be read).
    case null
    /// Do not reply: the message was a notification.
    case none
}

/// One decoded message, straight into its registered type.
public enum IncomingMessage: Sendable {
    case request(any RequestType, id: RequestID)
    case notification(any NotificationType)
    case response(id: RequestID, result: Result<any ResponseType, ResponseError>)
    /// A message that could not be used; `reply` says whether the peer is told.
    case invalid(ResponseError, reply: ReplyTarget)
}

/// What a whole payload (one framed body) decoded to.
public enum DecodedPayload: Sendable {
    case single(IncomingMessage)
    case batch([IncomingMessage])
    /// The payload as a whole is unusable: answer this error with id null.
    case failure(ResponseError)
}

/// Looked up while decoding: the registry for requests and notifications, and the expected result
/// type of each request this side sent (responses are decoded straight into it).
public final class MessageDecodingContext: Sendable {
    public let registry: MessageRegistry
    let responseType: @Sendable (RequestID) -> (any ResponseType.Type)?

    public init(
        registry: MessageRegistry,
        responseType: @escaping @Sendable (RequestID) -> (any ResponseType.Type)? = { _ in nil }
    ) {
        self.registry = registry
        self.responseType = responseType
    }

    static let userInfoKey = CodingUserInfoKey(rawValue: "devmode.jsonrpc.context")!
    /// The batch indices (0 for a single message) whose `"id"` is a number but not an integer.
    static let nonIntegerIDsKey = CodingUserInfoKey(rawValue: "devmode.jsonrpc.nonIntegerIDs")!
}

enum MessageKeys: String, CodingKey {
    case jsonrpc, id, method, params, result, error
}

/// Decodes one message. Never throws for a problem in the message: it becomes `.invalid`, so a
/// batch keeps its other members and a request with a readable id still gets its reply.
struct IncomingMessageBox: Decodable {
    let message: IncomingMessage

    init(from decoder: any Decoder) throws {
        guard let context = decoder.userInfo[MessageDecodingContext.userInfoKey] as? MessageDecodingContext else {
            preconditionFailure("decode messages with JSONRPCDecoder")
        }
        let nonIntegerIDs = decoder.userInfo[MessageDecodingContext.nonIntegerIDsKey] as? Set<Int> ?? []
        if nonIntegerIDs.contains(decoder.codingPath.last?.intValue ?? 0) {
            // `1.0` would read as the integer 1 and be answered under an id the peer never sent.
            message = .invalid(.invalidRequest("\"id\" must be a string or an integer"), reply: .null)
            return
        }
        message = Self.decode(decoder, context: context)
    }

    private static func decode(_ decoder: any Decoder, context: MessageDecodingContext) -> IncomingMessage {
        guard let container = try? decoder.container(keyedBy: MessageKeys.self) else {
            return .invalid(.invalidRequest("a message is a JSON object"), reply: .null)
        }
        // The id first, so that every later problem can be answered under it.
        var id: RequestID?
        let hasID = container.contains(.id)
        if hasID, (try? container.decodeNil(forKey: .id)) != true {
            guard let value = try? container.decode(RequestID.self, forKey: .id) else {
                return .invalid(.invalidRequest("\"id\" must be a string or an integer"), reply: .null)
            }
            id = value
        }
        let reply: ReplyTarget = id.map { .id($0) } ?? (hasID ? .null : .none)
        guard (try? container.decode(String.self, forKey: .jsonrpc)) == "2.0" else {
            return .invalid(.invalidRequest("\"jsonrpc\" must be \"2.0\""), reply: hasID ? reply : .null)
        }

        if container.contains(.method) {
            guard let method = try? container.decode(String.self, forKey: .method) else {
                return .invalid(.invalidRequest("\"method\" must be a string"), reply: hasID ? reply : .null)
            }
            if hasID && id == nil {
                return .invalid(.invalidRequest("a request's \"id\" must not be null"), reply: .null)
            }
            if let id {
                guard let type = context.registry.requests[method] else {
                    return .invalid(.methodNotFound(method), reply: .id(id))
                }
                do {
                    return .request(try decodeRequest(type, from: container), id: id)
                } catch {
                    return .invalid(invalidParams(error), reply: .id(id))
                }
            }
            guard let type = context.registry.notifications[method] else {
                // Unknown notifications are dropped, as JSON-RPC and LSP ask (`$/…` ones above all).
                return .invalid(.methodNotFound(method), reply: .none)
            }
            do {
                return .notification(try decodeNotification(type, from: container))
            } catch {
                return .invalid(invalidParams(error), reply: .none)
            }
        }

        if container.contains(.result) || container.contains(.error) {
            guard let id else {
                // A response we cannot match (JSON-RPC sends one with id null for our own bad message).
                let error = (try? container.decode(ResponseError.self, forKey: .error))
                    ?? .invalidRequest("a response without an id")
                return .invalid(error, reply: .none)
            }
            if container.contains(.error) {
                let error = (try? container.decode(ResponseError.self, forKey: .error))
                    ?? ResponseError(code: .internalError, message: "the peer sent an unreadable error")
                return .response(id: id, result: .failure(error))
            }
            let type = context.responseType(id) ?? JSONValue.self
            do {
                return .response(id: id, result: .success(try decodeResult(type, from: container)))
            } catch {
                return .response(id: id, result: .failure(invalidParams(error)))
            }
        }
        return .invalid(.invalidRequest("a message needs \"method\", \"result\" or \"error\""), reply: hasID ? reply : .null)
    }

    private static func decodeRequest<T: RequestType>(
        _ type: T.Type, from container: KeyedDecodingContainer<MessageKeys>
    ) throws -> any RequestType {
        try decodeParams(type, from: container)
    }

    private static func decodeNotification<T: NotificationType>(
        _ type: T.Type, from container: KeyedDecodingContainer<MessageKeys>
    ) throws -> any NotificationType {
        try decodeParams(type, from: container)
    }

    private static func decodeResult<T: ResponseType>(
        _ type: T.Type, from container: KeyedDecodingContainer<MessageKeys>
    ) throws -> any ResponseType {
        let isNull = try !container.contains(.result) || container.decodeNil(forKey: .result)
        if isNull {
            // `null` results (VoidResponse) and optional results decode from null.
            return try JSONDecoder().decode(T.self, from: Data("null".utf8))
        }
        return try container.decode(T.self, forKey: .result)
    }

    private static func decodeParams<T: Decodable>(
        _ type: T.Type, from container: KeyedDecodingContainer<MessageKeys>
    ) throws -> T {
        if container.contains(.params), !(try container.decodeNil(forKey: .params)) {
            // By-position params (an array) are not supported: every method takes an object.
            guard (try? container.nestedContainer(keyedBy: MessageKeys.self, forKey: .params)) != nil else {
                throw DecodingError.typeMismatch(
                    [String: JSONValue].self,
                    .init(codingPath: [MessageKeys.params], debugDescription: "params must be an object"))
            }
            return try container.decode(T.self, forKey: .params)
        }
        // Absent params read as `{}`: a method whose params are all optional needs none.
        return try JSONDecoder().decode(T.self, from: Data("{}".utf8))
    }

    /// Names the field that was wrong, relative to `params`.
    static func invalidParams(_ error: any Error) -> ResponseError {
        guard let error = error as? DecodingError else {
            // Foundation reports a fraction or an out-of-range number for an integer field with an
            // error of its own that names no field; say what it means, without its internal names.
            if String(describing: error).contains("numberIsNotRepresentable") {
                return .invalidParams("a number is a fraction or out of range where an integer is expected")
            }
            return .invalidParams("the params could not be read")
        }
        func path(_ codingPath: [any CodingKey]) -> String {
            var keys = codingPath
            if let index = keys.firstIndex(where: { $0.stringValue == MessageKeys.params.stringValue }) {
                keys.removeFirst(index + 1)
            } else if let index = keys.firstIndex(where: { $0.stringValue == MessageKeys.result.stringValue }) {
                keys.removeFirst(index + 1)
            }
            var text = ""
            for key in keys {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return .invalidParams("missing field '\(field)'", field: field)
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            if field.isEmpty {
                return .invalidParams("params must be an object")
            }
            return .invalidParams("field '\(field)' must be \(describe(type))", field: field)
        case .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return .invalidParams("field '\(field)' must be \(describe(type)), not null", field: field)
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            return .invalidParams(
                field.isEmpty ? context.debugDescription : "field '\(field)': \(context.debugDescription)",
                field: field.isEmpty ? nil : field)
        @unknown default:
            return .invalidParams("unreadable params")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "a boolean"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }
}

/// Decodes framed payloads. One per connection: it is used from the connection's reader only.
public struct JSONRPCDecoder {
    private let decoder: JSONDecoder
    private let limits: Limits

    public init(context: MessageDecodingContext, limits: Limits) {
        decoder = JSONDecoder()
        decoder.userInfo[MessageDecodingContext.userInfoKey] = context
        self.limits = limits
    }

    /// Decodes one payload. It is checked as strict JSON first (the framing parser has already
    /// done so for what it hands out; this pass is for callers that did not use it, and finds the
    /// ids that are numbers but not integers).
    public func decode(_ payload: Data) -> DecodedPayload {
        let scan = JSONScanner.scanning(payload, limits: limits)
        if let failure = scan.failure {
            return .failure(failure)
        }
        let text = scan.prefixLength > 0 ? payload.dropFirst(scan.prefixLength) : payload
        decoder.userInfo[MessageDecodingContext.nonIntegerIDsKey] = Set(scan.nonIntegerIDMembers)
        do {
            if scan.isBatch {
                return .batch(try decoder.decode([IncomingMessageBox].self, from: text).map(\.message))
            }
            return .single(try decoder.decode(IncomingMessageBox.self, from: text).message)
        } catch {
            return .failure(.parseError("not valid JSON (or not UTF-8)"))
        }
    }
}

enum JSONScan {
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }
}
