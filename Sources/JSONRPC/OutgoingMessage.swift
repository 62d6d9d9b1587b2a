import Foundation

/// Encodes messages to JSON bytes (unframed). Keys: `jsonrpc`, `id`, then the payload.
public enum OutgoingMessage {
    private struct Response<R: Encodable>: Encodable {
        let id: RequestID
        let result: R
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: MessageKeys.self)
            try container.encode("2.0", forKey: .jsonrpc)
            try container.encode(id, forKey: .id)
            try container.encode(result, forKey: .result)
        }
    }

    private struct ErrorResponse: Encodable {
        let id: RequestID?
        let error: ResponseError
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: MessageKeys.self)
            try container.encode("2.0", forKey: .jsonrpc)
            if let id {
                try container.encode(id, forKey: .id)
            } else {
                try container.encodeNil(forKey: .id)
            }
            try container.encode(error, forKey: .error)
        }
    }

    private struct Request<P: Encodable>: Encodable {
        let id: RequestID?
        let method: String
        let params: P
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: MessageKeys.self)
            try container.encode("2.0", forKey: .jsonrpc)
            if let id { try container.encode(id, forKey: .id) }
            try container.encode(method, forKey: .method)
            if let optional = params as? JSONValue?, optional == nil { return }
            try container.encode(params, forKey: .params)
        }
    }

    private static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }

    public static func response(_ result: any ResponseType, id: RequestID) throws -> [UInt8] {
        try encode(result, id: id)
    }

    private static func encode<R: ResponseType>(_ result: R, id: RequestID) throws -> [UInt8] {
        Array(try encoder().encode(Response(id: id, result: result)))
    }

    public static func error(_ error: ResponseError, id: RequestID?) -> [UInt8] {
        if let bytes = try? encoder().encode(ErrorResponse(id: id, error: error)) {
            return Array(bytes)
        }
        // Only a non-finite double in `data` can fail; drop the data rather than the reply.
        var plain = error
        plain.data = nil
        return Array((try? encoder().encode(ErrorResponse(id: id, error: plain))) ?? Data())
    }

    public static func request<R: RequestType>(_ request: R, id: RequestID) throws -> [UInt8] {
        Array(try encoder().encode(Request(id: id, method: R.method, params: request)))
    }

    /// A request by method name; `params` omitted when nil.
    public static func request(method: String, params: JSONValue?, id: RequestID) throws -> [UInt8] {
        if let params {
            return Array(try encoder().encode(Request(id: id, method: method, params: params)))
        }
        return Array(try encoder().encode(Request<JSONValue?>(id: id, method: method, params: nil)))
    }

    public static func notification<N: NotificationType>(_ notification: N) throws -> [UInt8] {
        Array(try encoder().encode(Request(id: nil, method: N.method, params: notification)))
    }

    /// `[a,b,c]` from already encoded members.
    public static func batch(_ members: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(ascii: "[")]
        bytes.reserveCapacity(members.reduce(2) { $0 + $1.count + 1 })
        for (index, member) in members.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: member)
        }
        bytes.append(UInt8(ascii: "]"))
        return bytes
    }
}
