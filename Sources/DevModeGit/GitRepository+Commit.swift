import CGit2
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

extension GitRepository {
    /// Stages `paths` (or, when nil, everything: additions, modifications and deletions, ignored
    /// files left out), writes the index's tree and commits it on HEAD, like `git add <paths>` then
    /// `git commit -m`. Works on an unborn HEAD (the first commit creates the branch).
    ///
    /// Only the given paths' index entries are touched: a file is re-hashed, a path missing from
    /// the working tree is unstaged as a deletion, a directory is staged recursively. Changes staged
    /// earlier by someone else are committed too, as `git commit` would.
    ///
    /// After a `git merge` that stopped for conflicts, the commit gets MERGE_HEAD as further parents
    /// and the merge state is cleared, as with `git commit`.
    ///
    /// The message gets git's whitespace clean-up (`git commit -m`'s default). Throws `GitError`
    /// with `isNothingToCommit` when the tree equals HEAD's, unless `allowEmpty`; `isConflict`
    /// when HEAD moved while committing; the failing call's error otherwise.
    public func commit(
        message: String, author: GitSignature, committer: GitSignature,
        paths: [String]? = nil, allowEmpty: Bool = false
    ) async throws -> GitCommitInfo {
        let workdir = self.workdir
        return try await perform { repo in
            var index: OpaquePointer?
            try check(git_repository_index(&index, repo), "git_repository_index")
            defer { git_index_free(index) }
            // Pick up what other processes (the git CLI) staged; reread only when the file changed.
            try check(git_index_read(index, 0), "git_index_read")
            do {
                if let paths {
                    for path in paths.map(Self.normalise) where !path.isEmpty {
                        try Self.stage(path, in: index!, workdir: workdir)
                    }
                } else {
                    try check(git_index_add_all(index, nil, GIT_INDEX_ADD_DEFAULT.rawValue, nil, nil), "git_index_add_all")
                    try check(git_index_update_all(index, nil, nil, nil), "git_index_update_all")
                }
            } catch {
                // The repository keeps one index object: drop what this call half-staged in memory
                // so the next operation sees the index as it is on disk. (The error is already read.)
                _ = git_index_read(index, 1)
                git_error_clear()
                throw error
            }

            var treeID = git_oid()
            try check(git_index_write_tree(&treeID, index), "git_index_write_tree")
            // Written after the tree, so the index keeps its tree cache: the next commit rebuilds only
            // the trees that changed, as `git commit` does, instead of re-checking every object.
            try check(git_index_write(index), "git_index_write")

            let parent = try Self.headCommit(repo)
            defer { git_commit_free(parent) }
            // A merge left half-done by someone else (`git merge` with conflicts, now resolved)
            // becomes a merge commit, as `git commit` would make it.
            let state = git_repository_state(repo)
            let mergeHeads = state == Int32(GIT_REPOSITORY_STATE_MERGE.rawValue) ? try Self.mergeHeads(repo) : []
            defer { for head in mergeHeads { git_commit_free(head) } }

            // A merge commit is worth making even when its tree is the first parent's.
            if !allowEmpty && mergeHeads.isEmpty {
                let unchanged: Bool
                if let parent {
                    unchanged = git_oid_equal(&treeID, git_commit_tree_id(parent)) == 1
                } else {
                    unchanged = git_index_entrycount(index) == 0
                }
                if unchanged {
                    throw GitError.refusal("GitRepository.commit", "nothing to commit: the tree is the same as HEAD's",
                                           reason: .nothingToCommit)
                }
            }

            var tree: OpaquePointer?
            try check(git_tree_lookup(&tree, repo, &treeID), "git_tree_lookup")
            defer { git_tree_free(tree) }

            let cleaned = try Self.prettify(message)
            let authorSignature = try Self.makeSignature(author)
            defer { git_signature_free(authorSignature) }
            let committerSignature = try Self.makeSignature(committer)
            defer { git_signature_free(committerSignature) }

            var parents: [OpaquePointer?] = (parent.map { [$0] } ?? []) + mergeHeads.map { $0 }
            var commitID = git_oid()
            try check(git_commit_create(&commitID, repo, "HEAD", authorSignature, committerSignature, nil,
                                        cleaned, tree, parents.count, &parents), "git_commit_create")
            if [GIT_REPOSITORY_STATE_MERGE, GIT_REPOSITORY_STATE_REVERT, GIT_REPOSITORY_STATE_CHERRYPICK]
                .contains(where: { Int32($0.rawValue) == state }) {
                try check(git_repository_state_cleanup(repo), "git_repository_state_cleanup")
            }

            var created: OpaquePointer?
            try check(git_commit_lookup(&created, repo, &commitID), "git_commit_lookup")
            defer { git_commit_free(created) }
            return Self.commitInfo(created!)
        }
    }

    /// The commits in MERGE_HEAD; free each with `git_commit_free`.
    private static func mergeHeads(_ repo: OpaquePointer) throws -> [OpaquePointer] {
        final class Collector { var ids: [git_oid] = [] }
        let collector = Collector()
        let code = withExtendedLifetime(collector) {
            git_repository_mergehead_foreach(repo, { oid, payload in
                if let oid, let payload { Unmanaged<Collector>.fromOpaque(payload).takeUnretainedValue().ids.append(oid.pointee) }
                return 0
            }, Unmanaged.passUnretained(collector).toOpaque())
        }
        try check(code, "git_repository_mergehead_foreach")
        var commits: [OpaquePointer] = []
        do {
            for var id in collector.ids {
                var commit: OpaquePointer?
                try check(git_commit_lookup(&commit, repo, &id), "git_commit_lookup")
                commits.append(commit!)
            }
        } catch {
            for commit in commits { git_commit_free(commit) }
            throw error
        }
        return commits
    }

    /// Brings the index entry (or entries, for a directory) at `path` in line with the working tree.
    private static func stage(_ path: String, in index: OpaquePointer, workdir: String) throws {
        var info = stat()
        let exists = lstat(workdir + "/" + path, &info) == 0
        if exists && (info.st_mode & S_IFMT) == S_IFDIR {
            try withStrArray([path]) { pathspec in
                let flags = GIT_INDEX_ADD_DISABLE_PATHSPEC_MATCH.rawValue
                try check(git_index_add_all(index, &pathspec, flags, nil, nil), "git_index_add_all")
                try check(git_index_update_all(index, &pathspec, nil, nil), "git_index_update_all")
            }
        } else if exists {
            try check(git_index_add_bypath(index, path), "git_index_add_bypath")
        } else {
            try check(git_index_remove_bypath(index, path), "git_index_remove_bypath")
            // A directory deleted from the working tree: its entries go too.
            try check(git_index_remove_directory(index, path, 0), "git_index_remove_directory")
        }
    }

    /// git's clean-up for `git commit -m`: trailing spaces and surplus blank lines removed, one
    /// final newline; comments kept.
    private static func prettify(_ message: String) throws -> String {
        var buffer = git_buf()
        defer { git_buf_dispose(&buffer) }
        try check(git_message_prettify(&buffer, message, 0, CChar(UInt8(ascii: "#"))), "git_message_prettify")
        let cleaned = String(decoding: buffer.bytes, as: UTF8.self)
        if cleaned.isEmpty {
            throw GitError.refusal("git_message_prettify", "the commit message is empty", reason: .emptyMessage,
                                   code: GIT_EINVALID.rawValue)
        }
        return cleaned
    }

    /// A `git_signature` for `signature`; free it with `git_signature_free`.
    private static func makeSignature(_ signature: GitSignature) throws -> UnsafeMutablePointer<git_signature> {
        var out: UnsafeMutablePointer<git_signature>?
        let seconds = git_time_t(signature.time.timeIntervalSince1970.rounded(.down))
        try check(git_signature_new(&out, signature.name, signature.email, seconds, Int32(signature.offsetMinutes)),
                  "git_signature_new")
        return out!
    }
}
