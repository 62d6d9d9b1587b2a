import CGit2
import Dispatch
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// A git repository with a working tree, opened through libgit2 in this process.
///
/// Every operation runs on the repository's own serial `DispatchQueue`, never on the Swift
/// cooperative pool: libgit2 calls block on disk, and a `git_repository` must not be used from two
/// threads at once. `close()` frees the libgit2 repository at a known point (later calls throw);
/// dropping the last reference frees it too.
///
/// `@unchecked Sendable`: the only mutable state is `handle`, and it is read and written only by
/// blocks running on `queue`, which is serial (and in `deinit`, when no block can be running,
/// since every queued block holds a strong reference to `self`).
public final class GitRepository: @unchecked Sendable {
    /// The working tree's absolute path, without a trailing slash.
    public let workdir: String

    private var handle: OpaquePointer?
    private let queue: DispatchQueue

    private init(handle: OpaquePointer, workdir: String, queue: DispatchQueue) {
        self.handle = handle
        self.workdir = workdir
        self.queue = queue
    }

    deinit {
        // Nothing else can reach the handle once deinit runs, so freeing it here is safe. A cache of
        // open repositories (the server's) may be dropped without closing each: not an error.
        if let handle { git_repository_free(handle) }
    }

    /// Creates a repository (and any missing directories) at `path` with HEAD on the unborn
    /// branch `initialBranch`. Fails with `isAlreadyExists` where a repository already is.
    public static func create(at path: String, initialBranch: String = "main") async throws -> GitRepository {
        try await load(path) { out in
            var options = git_repository_init_options()
            try check(git_repository_init_options_init(&options, UInt32(GIT_REPOSITORY_INIT_OPTIONS_VERSION)),
                      "git_repository_init_options_init")
            options.flags = GIT_REPOSITORY_INIT_MKPATH.rawValue | GIT_REPOSITORY_INIT_NO_REINIT.rawValue
            try initialBranch.withCString { branch in
                options.initial_head = branch
                try check(git_repository_init_ext(&out, path, &options), "git_repository_init_ext")
            }
        }
    }

    /// Opens the repository whose working tree (or `.git` directory) is `path`. Parent directories
    /// are not searched: a folder inside some other repository is not that repository.
    public static func open(at path: String) async throws -> GitRepository {
        try await load(path) { out in
            try check(git_repository_open(&out, path), "git_repository_open")
        }
    }

    private static func load(_ path: String, _ body: @escaping @Sendable (inout OpaquePointer?) throws -> Void) async throws -> GitRepository {
        let queue = DispatchQueue(label: "devmode.git.repository")
        let opened: UnsafeTransfer<(OpaquePointer, String)> = try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result {
                    try LibGit2.initialise()
                    var repo: OpaquePointer?
                    try body(&repo)
                    guard let repo else {
                        throw GitError.refusal("git_repository_open", "libgit2 returned no repository for \(path)", reason: .unsupported)
                    }
                    guard let dir = git_repository_workdir(repo) else {
                        git_repository_free(repo)
                        throw GitError.refusal("git_repository_workdir", "\(path) is a bare repository; a working tree is needed",
                                               reason: .unsupported, code: GIT_EBAREREPO.rawValue)
                    }
                    var workdir = String(cString: dir)
                    while workdir.count > 1 && workdir.hasSuffix("/") { workdir.removeLast() }
                    return UnsafeTransfer(value: (repo, workdir))
                })
            }
        }
        return GitRepository(handle: opened.value.0, workdir: opened.value.1, queue: queue)
    }

    /// Frees the libgit2 repository after the operations already queued; later calls throw
    /// `GitError` with `isClosed`.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                if let handle = self.handle { git_repository_free(handle) }
                self.handle = nil
                continuation.resume()
            }
        }
    }

    /// Runs `body` on the repository's queue with the live handle. libgit2 errors are read inside
    /// `body`, on the queue's thread, where libgit2 set them.
    func perform<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                guard let handle = self.handle else {
                    continuation.resume(throwing: GitError.closed)
                    return
                }
                continuation.resume(with: Result { try body(handle) })
            }
        }
    }

    /// `perform`, waiting on the calling thread: for callers that are already on a thread of their
    /// own (a search pool's), never on Swift's cooperative pool nor on this repository's queue.
    func performBlocking<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        try queue.sync {
            guard let handle = self.handle else { throw GitError.closed }
            return try body(handle)
        }
    }
}

// MARK: - Blobs

extension GitRepository {
    /// The git blob id (hex) of these bytes, without writing anything: a file's version.
    public static func blobID(of bytes: [UInt8]) throws -> String {
        try LibGit2.initialise()
        var oid = git_oid()
        try bytes.withUnsafeBytes { buffer in
            try check(git_odb_hash(&oid, buffer.baseAddress, buffer.count, GIT_OBJECT_BLOB), "git_odb_hash")
        }
        return oid.hex
    }

    /// The content of the blob `id` (full or abbreviated hex), as stored (no filters applied).
    public func readBlob(id: String) async throws -> [UInt8] {
        try await perform { repo in
            let (oid, length) = try git_oid.parse(id)
            var blob: OpaquePointer?
            var oidCopy = oid
            try check(git_blob_lookup_prefix(&blob, repo, &oidCopy, length), "git_blob_lookup_prefix")
            defer { git_blob_free(blob) }
            return Self.content(ofBlob: blob!)
        }
    }

    /// The file's content at `revision` (any revspec: `HEAD`, a branch, a commit id, `HEAD~2`),
    /// or nil when the path is no file there (absent, or a directory).
    public func fileAtRevision(_ revision: String, path: String) async throws -> [UInt8]? {
        try await perform { repo in
            let tree = try Self.tree(repo, revision)
            defer { git_tree_free(tree) }
            guard let entry = try Self.entry(tree, path) else { return nil }
            defer { git_tree_entry_free(entry) }
            guard git_tree_entry_type(entry) == GIT_OBJECT_BLOB else { return nil }
            var blob: OpaquePointer?
            try check(git_blob_lookup(&blob, repo, git_tree_entry_id(entry)), "git_blob_lookup")
            defer { git_blob_free(blob) }
            return Self.content(ofBlob: blob!)
        }
    }

    static func content(ofBlob blob: OpaquePointer) -> [UInt8] {
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let raw = git_blob_rawcontent(blob) else { return [] }
        return Array(UnsafeRawBufferPointer(start: raw, count: size))
    }
}

// MARK: - Revisions and trees (called on the queue)

extension GitRepository {
    /// The object `revision` names, peeled to `type`. An unborn HEAD becomes `GIT_EUNBORNBRANCH`
    /// instead of libgit2's plain "not found", so callers can tell "no commits yet".
    static func resolve(_ repo: OpaquePointer, _ revision: String, to type: git_object_t) throws -> OpaquePointer {
        var object: OpaquePointer?
        let code = git_revparse_single(&object, repo, revision)
        if code < 0 {
            let error = GitError.last("git_revparse_single", code: code)
            if error.isNotFound, revision.hasPrefix("HEAD"), git_repository_head_unborn(repo) == 1 {
                throw GitError(function: "git_revparse_single",
                               message: "HEAD has no commits yet (\(error.message))",
                               code: GIT_EUNBORNBRANCH.rawValue, klass: error.klass)
            }
            throw error
        }
        defer { git_object_free(object) }
        var peeled: OpaquePointer?
        try check(git_object_peel(&peeled, object, type), "git_object_peel")
        return peeled!
    }

    /// The tree of `revision`; free it with `git_tree_free`.
    static func tree(_ repo: OpaquePointer, _ revision: String) throws -> OpaquePointer {
        try resolve(repo, revision, to: GIT_OBJECT_TREE)
    }

    /// The entry at `path` in `tree`, nil when absent; free it with `git_tree_entry_free`.
    static func entry(_ tree: OpaquePointer, _ path: String) throws -> OpaquePointer? {
        var entry: OpaquePointer?
        let trimmed = normalise(path)
        if trimmed.isEmpty { return nil }
        let code = git_tree_entry_bypath(&entry, tree, trimmed)
        if code == GIT_ENOTFOUND.rawValue { return nil }
        try check(code, "git_tree_entry_bypath")
        return entry
    }

    /// A repository-relative path as git stores it: no leading `./` or `/`, no trailing `/`.
    static func normalise(_ path: String) -> String {
        var path = Substring(path)
        while path.hasPrefix("./") { path = path.dropFirst(2) }
        while path.hasPrefix("/") { path = path.dropFirst() }
        while path.hasSuffix("/") { path = path.dropLast() }
        return String(path)
    }

    /// HEAD's commit, or nil when HEAD is unborn; free it with `git_commit_free`.
    static func headCommit(_ repo: OpaquePointer) throws -> OpaquePointer? {
        var head: OpaquePointer?
        let code = git_repository_head(&head, repo)
        if code == GIT_EUNBORNBRANCH.rawValue || code == GIT_ENOTFOUND.rawValue {
            git_error_clear()
            return nil
        }
        try check(code, "git_repository_head")
        defer { git_reference_free(head) }
        var commit: OpaquePointer?
        try check(git_reference_peel(&commit, head, GIT_OBJECT_COMMIT), "git_reference_peel")
        return commit
    }

    static func commitInfo(_ commit: OpaquePointer) -> GitCommitInfo {
        let parents = (0..<git_commit_parentcount(commit)).map { git_commit_parent_id(commit, $0).pointee.hex }
        return GitCommitInfo(
            id: git_commit_id(commit).pointee.hex,
            parents: parents,
            message: String(gitCString: git_commit_message(commit)),
            summary: String(gitCString: git_commit_summary(commit)),
            author: signature(git_commit_author(commit)),
            committer: signature(git_commit_committer(commit)))
    }

    static func signature(_ signature: UnsafePointer<git_signature>?) -> GitSignature {
        guard let signature = signature?.pointee else { return GitSignature(name: "", email: "", time: Date(timeIntervalSince1970: 0)) }
        return GitSignature(
            name: String(gitCString: signature.name),
            email: String(gitCString: signature.email),
            time: Date(timeIntervalSince1970: Double(signature.when.time)),
            offsetMinutes: Int(signature.when.offset))
    }
}
