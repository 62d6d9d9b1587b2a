/// How failed sign-ins are throttled and audited; every field is a `devmode serve` flag. The time
/// they are measured on is the server's clock (`ServerConfiguration.clock`).
public struct SignInPolicy: Sendable {
    /// Failed sign-ins one peer address may make at once (`--sign-in-peer-burst`, 20). Stdio and
    /// in-process sessions have no address and are throttled by key id only.
    public var peerBurst: Int
    /// Then one more per this interval (`--sign-in-peer-interval-ms`, 1000).
    public var peerInterval: Duration
    /// Failed sign-ins naming one API key id (the key's public 12-character prefix) at once
    /// (`--sign-in-key-burst`, 10).
    public var keyBurst: Int
    /// Then one more per this interval (`--sign-in-key-interval-ms`, 6000).
    public var keyInterval: Duration
    /// Most addresses and key ids the throttle tracks at once.
    public var maxTrackedKeys: Int
    /// Failed sign-ins from one source (peer address, or transport without one) are audited as one
    /// row per interval (`--sign-in-audit-interval-ms`, 60000): the first at once, the rest counted
    /// and written as one row when the interval ends (or at shutdown).
    public var auditInterval: Duration
    /// Most sources counted apart in one interval; failures from more are counted together under
    /// "other peers" (so an attack from many addresses still adds a bounded number of rows).
    public var maxAuditSources: Int
    public init(
        peerBurst: Int = 20, peerInterval: Duration = .seconds(1), keyBurst: Int = 10, keyInterval: Duration = .seconds(6),
        maxTrackedKeys: Int = 100_000, auditInterval: Duration = .seconds(60), maxAuditSources: Int = 1_000
    ) {
        self.peerBurst = peerBurst
        self.peerInterval = peerInterval
        self.keyBurst = keyBurst
        self.keyInterval = keyInterval
        self.maxTrackedKeys = maxTrackedKeys
        self.auditInterval = auditInterval
        self.maxAuditSources = maxAuditSources
    }
}
