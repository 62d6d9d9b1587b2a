/// A JSON-RPC error code. JSON-RPC's and LSP's codes are here; an application adds its own
/// (in `-32000 ... -32099`) as static members in an extension.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(Int.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { String(rawValue) }

    // JSON-RPC 2.0
    public static let parseError = ErrorCode(rawValue: -32700)
    public static let invalidRequest = ErrorCode(rawValue: -32600)
    public static let methodNotFound = ErrorCode(rawValue: -32601)
    public static let invalidParams = ErrorCode(rawValue: -32602)
    public static let internalError = ErrorCode(rawValue: -32603)

    // LSP
    public static let serverNotInitialized = ErrorCode(rawValue: -32002)
    public static let unknownErrorCode = ErrorCode(rawValue: -32001)
    public static let requestCancelled = ErrorCode(rawValue: -32800)
    public static let contentModified = ErrorCode(rawValue: -32801)
    public static let serverCancelled = ErrorCode(rawValue: -32802)
    public static let requestFailed = ErrorCode(rawValue: -32803)

    /// The connection has more requests in flight than its limit allows (`Limits.maxRequestsInFlight`).
    public static let tooManyRequests = ErrorCode(rawValue: -32021)
    /// A message, batch or other payload is over a size limit.
    public static let payloadTooLarge = ErrorCode(rawValue: -32022)
    /// A connection refused at accept: the server is at `maxConnections` or the peer's address at
    /// `maxConnectionsPerPeer`. Sent with id null, then the connection is closed.
    public static let tooManyConnections = ErrorCode(rawValue: -32050)
    /// A connection closed by a time limit: no `initialize` within `initializeTimeoutMs`, a message
    /// that took longer than `messageTimeoutMs` to arrive, or an idle session past `idleTimeoutMs`.
    /// Sent with id null, then the connection is closed.
    public static let connectionTimedOut = ErrorCode(rawValue: -32051)
}
