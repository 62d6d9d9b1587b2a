import JSONRPC

/// Everything the server's behaviour depends on. The CLI fills it from flags; tests build it directly.
public struct ServerConfiguration: Sendable {
    public var version: String
    /// Per-connection limits (message size, nesting, batch length, requests in flight, …).
    public var limits: Limits
    /// Serves `debug/sleep` and `debug/print` (tests and benchmarks only).
    public var enableDebugMethods: Bool
    /// How long requests in flight may run after SIGTERM/SIGINT before they are cancelled.
    public var shutdownGrace: Duration

    public init(
        version: String = DevModeVersion.current, limits: Limits = Limits(), enableDebugMethods: Bool = false,
        shutdownGrace: Duration = .seconds(5)
    ) {
        self.version = version
        self.limits = limits
        self.enableDebugMethods = enableDebugMethods
        self.shutdownGrace = shutdownGrace
    }
}

public enum DevModeVersion {
    public static let current = "0.1.0"
}
