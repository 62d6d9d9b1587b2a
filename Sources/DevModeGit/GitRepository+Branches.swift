import CGit2
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

extension GitRepository {
    /// Local branches, sorted by name. An unborn HEAD's branch is not listed (it has no commit).
    public func branches() async throws -> [GitBranch] {
        try await perform { repo in
            var iterator: OpaquePointer?
            try check(git_branch_iterator_new(&iterator, repo, GIT_BRANCH_LOCAL), "git_branch_iterator_new")
            defer { git_branch_iterator_free(iterator) }
            var branches: [GitBranch] = []
            while true {
                var reference: OpaquePointer?
                var type = GIT_BRANCH_LOCAL
                let code = git_branch_next(&reference, &type, iterator)
                if code == GIT_ITEROVER.rawValue { break }
                try check(code, "git_branch_next")
                defer { git_reference_free(reference) }
                branches.append(try Self.branch(reference!))
            }
            return branches.sorted { $0.name < $1.name }
        }
    }

    /// The branch HEAD is on (also when it has no commit yet); nil when HEAD is detached.
    public func currentBranch() async throws -> String? {
        try await perform { repo in
            var head: OpaquePointer?
            try check(git_reference_lookup(&head, repo, "HEAD"), "git_reference_lookup")
            defer { git_reference_free(head) }
            guard git_reference_type(head) == GIT_REFERENCE_SYMBOLIC,
                  let target = git_reference_symbolic_target(head) else { return nil }
            let name = String(cString: target)
            let prefix = "refs/heads/"
            return name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : nil
        }
    }

    /// Creates branch `name` at `revision`'s commit. Fails with `isAlreadyExists` when the branch
    /// exists, `isInvalidSpec` for a name git refuses, `isUnbornHead` before the first commit.
    public func createBranch(_ name: String, at revision: String = "HEAD") async throws -> GitBranch {
        try await perform { repo in
            let commit = try Self.resolve(repo, revision, to: GIT_OBJECT_COMMIT)
            defer { git_object_free(commit) }
            var reference: OpaquePointer?
            try check(git_branch_create(&reference, repo, name, commit, 0), "git_branch_create")
            defer { git_reference_free(reference) }
            return try Self.branch(reference!)
        }
    }

    /// Switches HEAD to `branch` and updates the working tree and index, like `git switch`.
    /// Uncommitted changes that the switch does not touch are carried over. Changes it would
    /// overwrite (modified files that differ between the branches, untracked files in the way)
    /// make it refuse with `isConflict`, naming the paths, and nothing changes; with `force` they
    /// are overwritten. Untracked files are never deleted.
    public func checkout(branch: String, force: Bool = false) async throws {
        try await perform { repo in
            var reference: OpaquePointer?
            try check(git_branch_lookup(&reference, repo, branch, GIT_BRANCH_LOCAL), "git_branch_lookup")
            defer { git_reference_free(reference) }
            var commit: OpaquePointer?
            try check(git_reference_peel(&commit, reference, GIT_OBJECT_COMMIT), "git_reference_peel")
            defer { git_object_free(commit) }

            var options = git_checkout_options()
            try check(git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION)), "git_checkout_options_init")
            options.checkout_strategy = force ? GIT_CHECKOUT_FORCE.rawValue : GIT_CHECKOUT_SAFE.rawValue
            let conflicts = ConflictCollector()
            let code = withExtendedLifetime(conflicts) { () -> Int32 in
                options.notify_flags = GIT_CHECKOUT_NOTIFY_CONFLICT.rawValue
                options.notify_payload = Unmanaged.passUnretained(conflicts).toOpaque()
                options.notify_cb = { _, path, _, _, _, payload in
                    if let path, let payload {
                        Unmanaged<ConflictCollector>.fromOpaque(payload).takeUnretainedValue().paths.append(String(cString: path))
                    }
                    return 0
                }
                return git_checkout_tree(repo, commit, &options)
            }
            if code < 0 {
                let error = GitError.last("git_checkout_tree", code: code)
                guard !conflicts.paths.isEmpty else { throw error }
                throw GitError(
                    function: error.function,
                    message: "\(error.message): uncommitted changes would be overwritten in \(conflicts.paths.joined(separator: ", "))",
                    code: error.code, klass: error.klass)
            }
            try check(git_repository_set_head(repo, git_reference_name(reference)), "git_repository_set_head")
        }
    }

    /// Writes `path` as it is at `revision` into the working tree, leaving the index and HEAD
    /// alone, like `git restore --source=revision --worktree path`. A file that does not exist at
    /// `revision` is deleted from the working tree, tracked or not. A directory is restored as a
    /// whole (tracked files absent at `revision` deleted); untracked files inside it are kept.
    public func restore(path: String, revision: String) async throws {
        let workdir = self.workdir
        try await perform { repo in
            let path = Self.normalise(path)
            guard !path.isEmpty else {
                throw GitError.refusal("GitRepository.restore", "an empty path names no file", reason: .unsupported,
                                       code: GIT_EINVALID.rawValue)
            }
            let commit = try Self.resolve(repo, revision, to: GIT_OBJECT_COMMIT)
            defer { git_object_free(commit) }
            var options = git_checkout_options()
            try check(git_checkout_options_init(&options, UInt32(GIT_CHECKOUT_OPTIONS_VERSION)), "git_checkout_options_init")
            // FORCE: overwrite local changes (that is the point); the pathspec keeps it to `path`.
            // REMOVE_UNTRACKED, for a single file only: a file absent at the revision goes even
            // when it was never committed, but a directory's new files are nobody's to delete.
            var info = stat()
            let isDirectory = lstat(workdir + "/" + path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
            options.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue
                | GIT_CHECKOUT_DONT_UPDATE_INDEX.rawValue
                | GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH.rawValue
                | (isDirectory ? 0 : GIT_CHECKOUT_REMOVE_UNTRACKED.rawValue)
            try withStrArray([path]) { pathspec in
                options.paths = pathspec
                try check(git_checkout_tree(repo, commit, &options), "git_checkout_tree")
            }
        }
    }

    static func branch(_ reference: OpaquePointer) throws -> GitBranch {
        var name: UnsafePointer<CChar>?
        try check(git_branch_name(&name, reference), "git_branch_name")
        let isHead = git_branch_is_head(reference)
        try check(isHead, "git_branch_is_head")
        var target = git_reference_target(reference)?.pointee
        if target == nil {
            var resolved: OpaquePointer?
            try check(git_reference_resolve(&resolved, reference), "git_reference_resolve")
            target = git_reference_target(resolved)?.pointee
            git_reference_free(resolved)
        }
        return GitBranch(name: String(gitCString: name), isHead: isHead == 1, target: target?.hex ?? "")
    }
}

/// Paths libgit2 reports as conflicting during a checkout; lives on the stack of one call.
private final class ConflictCollector {
    var paths: [String] = []
}
