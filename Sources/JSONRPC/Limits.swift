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
    /// Most reply bytes held for a peer and not yet taken by the kernel: queued, or handed to the
    /// transport and not yet written (`maxOutboundBytes`). Over it the connection stops reading,
    /// drops what is queued and cancels its document work; the write in progress gets
    /// `outboundGrace` to complete, then the connection is closed: a client that stops reading
    /// cannot grow our memory.
    public var maxOutboundBytes: Int = 64 << 20
    /// How long a peer over `maxOutboundBytes` may take to read the write in progress before it is
    /// disconnected (`outboundGrace`, `--outbound-grace` in seconds).
    public var outboundGrace: Duration = .seconds(5)
    /// Framing and JSON errors in a row (no usable message between them) after which the connection
    /// is closed (`maxFramingErrors`): a peer that does not speak the protocol is answered a few
    /// times, not once per bad byte run.
    public var maxFramingErrors: Int = 10

    public init() {}
}

extension Duration {
    /// The duration in whole milliseconds (rounded down), as settings and logs state it.
    public var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
