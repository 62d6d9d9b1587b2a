/// Every limit a connection enforces. Each has a default and a documented setting name
/// (see `protocol/README.md`); going over one answers an error and, where it can, keeps the connection.
public struct Limits: Sendable, Equatable {
    /// Largest message body in bytes (`maxMessageBytes`). Over it: the body is skipped without being
    /// buffered and the peer gets `-32022` with id null; the connection stays.
    public var maxMessageBytes: Int = 16 << 20
    /// Longest header line in bytes, CRLF included (`maxHeaderLineBytes`).
    public var maxHeaderLineBytes: Int = 8 << 10
    /// Largest header block in bytes (`maxHeaderBlockBytes`).
    public var maxHeaderBlockBytes: Int = 64 << 10
    /// Deepest nesting of arrays and objects in one message (`maxNestingDepth`).
    public var maxNestingDepth: Int = 128
    /// Most messages in one batch (`maxBatchLength`).
    public var maxBatchLength: Int = 1000
    /// Most requests from the peer being worked on at once (`maxRequestsInFlight`).
    public var maxRequestsInFlight: Int = 100
    /// Most bytes waiting to be written to a peer that does not read (`maxOutboundBytes`).
    /// Over it the connection is closed: a client that stops reading cannot grow our memory.
    public var maxOutboundBytes: Int = 64 << 20

    public init() {}
}
