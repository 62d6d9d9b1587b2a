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

/// The factories of the project's errors, next to their codes: every layer that answers one of
/// these (server services, the CLI, tests) builds it the same way, with the same message prefix
/// and the `error.data` a client acts on.
extension ResponseError {
    /// -32010: no or bad credentials, or a session cut off.
    public static func unauthenticated(_ message: String) -> ResponseError {
        ResponseError(code: .unauthenticated, message: "Unauthenticated: \(message)")
    }

    /// -32011: the caller's role (or key scope) does not allow this.
    public static func forbidden(_ message: String) -> ResponseError {
        ResponseError(code: .forbidden, message: "Forbidden: \(message)")
    }

    /// -32012: no `kind` with this id, or one the caller may not see; `data.kind`, `data.id`.
    public static func notFound(_ kind: String, _ id: String) -> ResponseError {
        ResponseError(code: .notFound, message: "Not found: no \(kind) '\(id)'", data: ["kind": .string(kind), "id": .string(id)])
    }

    /// -32013: the object exists already or is in the way; `data` as the case needs.
    public static func conflict(_ message: String, data: JSONValue? = nil) -> ResponseError {
        ResponseError(code: .conflict, message: "Conflict: \(message)", data: data)
    }

    /// -32013 for a file: a stale or missing expected version; `data.currentVersion` (null when
    /// the file does not exist).
    public static func fileConflict(_ message: String, currentVersion: String?) -> ResponseError {
        ResponseError(
            code: .conflict, message: "Conflict: \(message)",
            data: ["currentVersion": currentVersion.map { .string($0) } ?? .null])
    }
}
