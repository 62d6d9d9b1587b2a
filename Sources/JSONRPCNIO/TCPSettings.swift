/// The TCP listener's caps and time limits. Each is a `devmode serve` flag with the default below
/// (README's settings table, protocol/README.md "Connections"). A nil timeout is off.
public struct TCPSettings: Sendable, Equatable {
    /// Most connections open at once (`maxConnections`). One more is refused: `-32050` with id
    /// null, then closed.
    public var maxConnections: Int = 1000
    /// Most connections open at once from one peer address, any port (`maxConnectionsPerPeer`).
    public var maxConnectionsPerPeer: Int = 100
    /// How long a connection has to complete `initialize` (`initializeTimeoutMs`).
    public var initializeTimeout: Duration? = .seconds(10)
    /// How long a message may take from its first byte to its last (`messageTimeoutMs`): a header,
    /// body or line that trickles in (slowloris) is dropped with its connection.
    public var messageTimeout: Duration? = .seconds(30)
    /// How long an authenticated connection may stay quiet, nothing received and nothing in flight,
    /// before it is closed (`idleTimeoutMs`). Off by default: an editor may sit idle for hours.
    public var idleTimeout: Duration? = nil
    /// After a time limit's notice is queued, how long the peer has to read it before the socket is
    /// closed regardless (not a setting).
    public var closeGrace: Duration = .seconds(2)

    public init() {}
}
