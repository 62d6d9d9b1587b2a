import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// Encodes messages to JSON bytes (unframed), deterministically: the same value gives the same
/// bytes every time, so clients, logs and snapshot tests can compare replies byte for byte.
///
/// Key order: the envelope is `jsonrpc`, `id`, then `method` and `params`, or `result`, or
/// `error`; an error object is `code`, `message`, then `data`; inside params, results and `data`
/// every object's keys are sorted (the encoder's `.sortedKeys`). The envelope and the error object are
/// assembled by hand around the encoded payload; no Codable envelope is built per message.
public enum OutgoingMessage {
    /// One shared encoder: its settings never change after this, and encoding is safe from any
    /// thread. `.sortedKeys`, because the encoder otherwise writes a keyed container's members in
    /// an order that varies from one call to the next (and a `[String: …]` in dictionary order).
    private static let sharedEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    private static func encoder() -> JSONEncoder { sharedEncoder }

    /// Most UTF-8 bytes of an error's `message` that are sent: a message that quotes a peer's
    /// input at length is cut here, whatever built it.
    public static let maxErrorMessageBytes = 1024

    /// `{"jsonrpc":"2.0","id":`
    private static let envelopeStart = Array(#"{"jsonrpc":"2.0","id":"#.utf8)
    /// `{"jsonrpc":"2.0",` for a notification, which has no id.
    private static let notificationStart = Array(#"{"jsonrpc":"2.0","#.utf8)

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
        var bytes = envelopeStart
        try? appendID(id, to: &bytes)
        bytes.append(contentsOf: #","error":"#.utf8)
        bytes.append(contentsOf: errorObject(error))
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// `{"code":…,"message":…,"data":…}`, `data` left out when nil.
    public static func errorObject(_ error: ResponseError) -> [UInt8] {
        var bytes = Array(#"{"code":"#.utf8)
        bytes.append(contentsOf: String(error.code.rawValue).utf8)
        bytes.append(contentsOf: #","message":"#.utf8)
        let message = ResponseError.quoted(error.message, limit: maxErrorMessageBytes)
        bytes.append(contentsOf: (try? encoder().encode(message)) ?? Data(#""Internal error""#.utf8))
        // Only a non-finite double in `data` can fail to encode; drop the data rather than the reply.
        if let data = error.data, let encoded = try? encoder().encode(data) {
            bytes.append(contentsOf: #","data":"#.utf8)
            bytes.append(contentsOf: encoded)
        }
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    public static func request<R: RequestType>(_ request: R, id: RequestID) throws -> [UInt8] {
        try envelope(id: id, method: R.method, params: try encoder().encode(request))
    }

    /// A request by method name; `params` omitted when nil.
    public static func request(method: String, params: JSONValue?, id: RequestID) throws -> [UInt8] {
        try envelope(id: id, method: method, params: try params.map { try encoder().encode($0) })
    }

    public static func notification<N: NotificationType>(_ notification: N) throws -> [UInt8] {
        try envelope(id: nil, method: N.method, params: try encoder().encode(notification))
    }

    /// `{"jsonrpc":"2.0","id":…,"method":…,"params":…}`; no `id` for a notification.
    private static func envelope(id: RequestID?, method: String, params: Data?) throws -> [UInt8] {
        var bytes: [UInt8]
        if let id {
            bytes = envelopeStart
            try appendID(id, to: &bytes)
            bytes.append(UInt8(ascii: ","))
        } else {
            bytes = notificationStart
        }
        bytes.reserveCapacity(bytes.count + method.utf8.count + (params?.count ?? 0) + 24)
        bytes.append(contentsOf: #""method":"#.utf8)
        bytes.append(contentsOf: try encoder().encode(method))
        if let params {
            bytes.append(contentsOf: #","params":"#.utf8)
            bytes.append(contentsOf: params)
        }
        bytes.append(UInt8(ascii: "}"))
        return bytes
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
