import JSONRPC

/// devmode's own error codes, in JSON-RPC's server range (-32000 … -32099). `protocol/README.md`
/// has the table; `error.data` carries what a client needs to act on each.
extension ErrorCode {
    /// No or bad credentials.
    public static let unauthenticated = ErrorCode(rawValue: -32010)
    /// The caller's role does not allow this.
    public static let forbidden = ErrorCode(rawValue: -32011)
    /// No such object, or one the caller may not see (the two are indistinguishable on purpose).
    public static let notFound = ErrorCode(rawValue: -32012)
    /// A stale version or an object that already exists; `data.currentVersion` where it applies.
    public static let conflict = ErrorCode(rawValue: -32013)
    /// A quota is spent; `data.limit`, `data.used`.
    public static let quotaExceeded = ErrorCode(rawValue: -32020)
    /// A rate limit; `data.retryAfterMs`.
    public static let rateLimited = ErrorCode(rawValue: -32023)
    /// A model provider failed, timed out or sent garbage.
    public static let providerUnavailable = ErrorCode(rawValue: -32030)
    /// A tool plugin crashed, hung or answered badly.
    public static let pluginFailed = ErrorCode(rawValue: -32040)
}
