/// The `error` member of a JSON-RPC response. Thrown by handlers; the connection sends it as is.
public struct ResponseError: Error, Hashable, Sendable, Codable {
    public var code: ErrorCode
    public var message: String
    public var data: JSONValue?

    public init(code: ErrorCode, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public static func parseError(_ message: String) -> ResponseError {
        ResponseError(code: .parseError, message: "Parse error: \(message)")
    }

    public static func invalidRequest(_ message: String, data: JSONValue? = nil) -> ResponseError {
        ResponseError(code: .invalidRequest, message: "Invalid request: \(message)", data: data)
    }

    /// The method name is cut to `quotedTextLimit` bytes in the message and in `data.method`: a
    /// peer's 10 MB method name is never echoed back.
    public static func methodNotFound(_ method: String) -> ResponseError {
        let name = quoted(method)
        return ResponseError(code: .methodNotFound, message: "Method not found: \(name)", data: ["method": .string(name)])
    }

    public static func invalidParams(_ message: String, field: String? = nil) -> ResponseError {
        ResponseError(
            code: .invalidParams, message: "Invalid params: \(message)",
            data: field.map { ["field": .string(quoted($0))] })
    }

    /// Most UTF-8 bytes of a peer's text (a method name, an id, a field path) an error quotes.
    public static let quotedTextLimit = 256

    /// `text` cut to at most `limit` bytes of UTF-8 (between Unicode scalars), with "…" after a cut:
    /// what an error message may quote of a peer's input.
    public static func quoted(_ text: String, limit: Int = quotedTextLimit) -> String {
        guard text.utf8.count > limit else { return text }
        var end = text.startIndex
        var bytes = 0
        for index in text.unicodeScalars.indices {
            let size = text.unicodeScalars[index].utf8.count
            if bytes + size > limit { break }
            bytes += size
            end = text.unicodeScalars.index(after: index)
        }
        return String(text.unicodeScalars[..<end]) + "…"
    }

    /// Deliberately vague: details go to the server log, never to the peer.
    public static let internalError = ResponseError(code: .internalError, message: "Internal error")

    public static let cancelled = ResponseError(code: .requestCancelled, message: "Request cancelled")

    public static func serverNotInitialized() -> ResponseError {
        ResponseError(code: .serverNotInitialized, message: "Server not initialized: send 'initialize' first")
    }

    public static func tooManyRequests(limit: Int) -> ResponseError {
        ResponseError(
            code: .tooManyRequests,
            message: "Too many requests in flight on this connection (limit \(limit))",
            data: ["limit": .int(limit), "setting": "maxRequestsInFlight"])
    }

    public static func payloadTooLarge(_ what: String, limit: Int, setting: String) -> ResponseError {
        ResponseError(
            code: .payloadTooLarge, message: "\(what) is over the limit of \(limit)",
            data: ["limit": .int(limit), "setting": .string(setting)])
    }

    public static func tooManyConnections(_ what: String, limit: Int, setting: String) -> ResponseError {
        ResponseError(
            code: .tooManyConnections, message: "Too many connections: \(what) (limit \(limit)); the connection is closed",
            data: ["limit": .int(limit), "setting": .string(setting)])
    }

    /// `limitMs`: the time limit that ran out, in milliseconds; `setting`: its name.
    public static func connectionTimedOut(_ what: String, limitMs: Int, setting: String) -> ResponseError {
        ResponseError(
            code: .connectionTimedOut, message: "Connection timed out: \(what) (limit \(limitMs) ms); the connection is closed",
            data: ["limitMs": .int(limitMs), "setting": .string(setting)])
    }
}
