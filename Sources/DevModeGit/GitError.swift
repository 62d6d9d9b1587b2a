import CGit2

/// A failed libgit2 call (or a refusal of ours), naming the C function and carrying libgit2's
/// own message and error class, read on the thread that failed.
public struct GitError: Error, CustomStringConvertible, Sendable, Hashable {
    /// The libgit2 function that failed, e.g. `git_repository_open`; for refusals of this module
    /// (nothing to commit, closed repository) the Swift operation, e.g. `GitRepository.commit`.
    public let function: String
    /// libgit2's message from `git_error_last()`, or ours for refusals.
    public let message: String
    /// The libgit2 return code (`git_error_code`, e.g. `GIT_ENOTFOUND` = -3).
    public let code: Int32
    /// The libgit2 error class (`git_error_t`, e.g. `GIT_ERROR_REPOSITORY` = 6).
    public let klass: Int32
    private let reason: Reason

    /// Why this module raised the error itself; a private enum so new reasons break no caller.
    enum Reason: Hashable, Sendable {
        case libgit2
        case closed
        case nothingToCommit
        case emptyMessage
        case unsupported
    }

    init(function: String, message: String, code: Int32, klass: Int32, reason: Reason = .libgit2) {
        self.function = function
        self.message = message
        self.code = code
        self.klass = klass
        self.reason = reason
    }

    public var description: String {
        "\(function) failed: \(message) (code \(code), class \(klass))"
    }

    /// The object, reference, revision or path does not exist (`GIT_ENOTFOUND`).
    public var isNotFound: Bool { code == GIT_ENOTFOUND.rawValue }
    /// The operation would lose or clash with changes: checkout over uncommitted changes
    /// (`GIT_ECONFLICT`), unresolved merge conflicts (`GIT_EUNMERGED`, `GIT_EMERGECONFLICT`), an
    /// uncommitted index, or a reference that moved meanwhile (`GIT_EMODIFIED`).
    public var isConflict: Bool {
        [GIT_ECONFLICT, GIT_EUNMERGED, GIT_EMERGECONFLICT, GIT_EUNCOMMITTED, GIT_EMODIFIED].contains { $0.rawValue == code }
    }
    /// HEAD names a branch that has no commit yet (`GIT_EUNBORNBRANCH`).
    public var isUnbornHead: Bool { code == GIT_EUNBORNBRANCH.rawValue }
    /// Something by that name already exists (`GIT_EEXISTS`): a branch, a repository.
    public var isAlreadyExists: Bool { code == GIT_EEXISTS.rawValue }
    /// A revision or name that is not valid syntax (`GIT_EINVALIDSPEC`).
    public var isInvalidSpec: Bool { code == GIT_EINVALIDSPEC.rawValue }
    /// A lock file is held by someone else (`GIT_ELOCKED`): retry later.
    public var isLocked: Bool { code == GIT_ELOCKED.rawValue }
    /// `commit` found no change against HEAD and `allowEmpty` was false.
    public var isNothingToCommit: Bool { reason == .nothingToCommit }
    /// The repository was closed before this call.
    public var isClosed: Bool { reason == .closed }

    /// Reads libgit2's thread-local last error. Call it right after the failing call, on the same
    /// thread, before any other libgit2 call can overwrite it.
    static func last(_ function: String, code: Int32) -> GitError {
        guard let error = git_error_last(), let text = error.pointee.message else {
            return GitError(function: function, message: "libgit2 returned \(code) without an error message",
                            code: code, klass: 0)
        }
        return GitError(function: function, message: String(cString: text), code: code, klass: error.pointee.klass)
    }

    static func refusal(_ function: String, _ message: String, reason: Reason, code: Int32 = GIT_ERROR.rawValue) -> GitError {
        GitError(function: function, message: message, code: code, klass: Int32(GIT_ERROR_NONE.rawValue), reason: reason)
    }

    static let closed = GitError.refusal("GitRepository", "the repository has been closed", reason: .closed)
}

/// Throws the libgit2 error of `function` when `code` reports a failure (a negative return).
@inline(__always)
func check(_ code: Int32, _ function: @autoclosure () -> String) throws {
    if code < 0 { throw GitError.last(function(), code: code) }
}
