import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// Encodes messages to JSON bytes (unframed). Keys: `jsonrpc`, `id`, then the payload.
public enum OutgoingMessage {
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

    /// One shared encoder: its settings never change after this, and encoding is safe from any thread.
    private static let sharedEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    private static func encoder() -> JSONEncoder { sharedEncoder }

    /// `{"jsonrpc":"2.0","id":` — responses are assembled by hand around the encoded payload, so the
    /// keys come in this order every time and no Codable envelope is built per reply.
    private static let envelopeStart = Array(#"{"jsonrpc":"2.0","id":"#.utf8)

    private static func appendID(_ id: RequestID?, to bytes: inout [UInt8]) throws {
        switch id {
        case .number(let value)?: bytes.append(contentsOf: String(value).utf8)
        case .string(let value)?: bytes.append(contentsOf: try encoder().encode(value))
        case nil: bytes.append(contentsOf: "null".utf8)
        }
    }

    public static func response(_ result: any ResponseType, id: RequestID) throws -> [UInt8] {
        let payload = try encoder().encode(result)
        var bytes = envelopeStart
        bytes.reserveCapacity(payload.count + 48)
        try appendID(id, to: &bytes)
        bytes.append(contentsOf: #","result":"#.utf8)
        bytes.append(contentsOf: payload)
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    public static func error(_ error: ResponseError, id: RequestID?) -> [UInt8] {
        var plain = error
        let payload: Data
        if let encoded = try? encoder().encode(error) {
            payload = encoded
        } else {
            // Only a non-finite double in `data` can fail; drop the data rather than the reply.
            plain.data = nil
            payload = (try? encoder().encode(plain)) ?? Data(#"{"code":-32603,"message":"Internal error"}"#.utf8)
        }
        var bytes = envelopeStart
        try? appendID(id, to: &bytes)
        bytes.append(contentsOf: #","error":"#.utf8)
        bytes.append(contentsOf: payload)
        bytes.append(UInt8(ascii: "}"))
        return bytes
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
