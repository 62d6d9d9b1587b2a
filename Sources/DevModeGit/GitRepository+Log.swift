import CGit2

extension GitRepository {
    /// Commits reachable from `revision`, newest first, like `git log`: one lazy revision walk in
    /// git's default (commit date) order, each commit looked up once. `revision` may be a range (`A..B`). With `path` (a file or directory), only
    /// commits that changed it, like `git log -- path`: a commit is kept when the path's tree entry
    /// differs from its parent's (for a merge: from every parent's, so merges that just brought in
    /// one side are not listed). `skip` and `limit` count the commits that are listed.
    /// An unborn HEAD has no commits: the answer is empty.
    public func log(revision: String = "HEAD", path: String? = nil, skip: Int = 0, limit: Int = 50) async throws -> [GitCommitInfo] {
        try await perform { repo in
            guard limit > 0 else { return [] }
            if revision == "HEAD", git_repository_head_unborn(repo) == 1 { return [] }

            var walk: OpaquePointer?
            try check(git_revwalk_new(&walk, repo), "git_revwalk_new")
            defer { git_revwalk_free(walk) }
            // No sorting flag on purpose: libgit2's "unsorted" walk is git's default order (a list
            // kept by commit date, newest popped first, parents inserted as they are reached) and
            // it is lazy. GIT_SORT_TIME or TOPOLOGICAL make libgit2 walk the whole history before
            // returning the first commit.
            try check(git_revwalk_sorting(walk, GIT_SORT_NONE.rawValue), "git_revwalk_sorting")
            try Self.push(revision, to: walk!, repo: repo)

            let filter = path.map(Self.normalise).flatMap { $0.isEmpty ? nil : PathFilter(repo: repo, path: $0) }
            var commits: [GitCommitInfo] = []
            var skipped = 0
            var oid = git_oid()
            while commits.count < limit {
                let code = git_revwalk_next(&oid, walk)
                if code == GIT_ITEROVER.rawValue { break }
                try check(code, "git_revwalk_next")

                var commit: OpaquePointer?
                try check(git_commit_lookup(&commit, repo, &oid), "git_commit_lookup")
                defer { git_commit_free(commit) }
                if let filter, try !filter.changes(commit!) { continue }
                if skipped < skip {
                    skipped += 1
                    continue
                }
                commits.append(Self.commitInfo(commit!))
            }
            return commits
        }
    }

    /// Starts the walk at `revision`; for `A..B`, at B with A's history hidden.
    private static func push(_ revision: String, to walk: OpaquePointer, repo: OpaquePointer) throws {
        if !revision.contains("..") {
            let commit = try resolve(repo, revision, to: GIT_OBJECT_COMMIT)
            defer { git_object_free(commit) }
            try check(git_revwalk_push(walk, git_object_id(commit)), "git_revwalk_push")
            return
        }
        var spec = git_revspec()
        try check(git_revparse(&spec, repo, revision), "git_revparse")
        defer {
            git_object_free(spec.from)
            git_object_free(spec.to)
        }
        if spec.flags & GIT_REVSPEC_MERGE_BASE.rawValue != 0 {
            throw GitError.refusal("git_revparse", "symmetric ranges (A...B) are not supported in log: \(revision)",
                                   reason: .unsupported, code: GIT_EINVALIDSPEC.rawValue)
        }
        for (object, hide) in [(spec.to, false), (spec.from, true)] {
            guard let object else { continue }
            var commit: OpaquePointer?
            try check(git_object_peel(&commit, object, GIT_OBJECT_COMMIT), "git_object_peel")
            defer { git_object_free(commit) }
            if hide {
                try check(git_revwalk_hide(walk, git_object_id(commit)), "git_revwalk_hide")
            } else {
                try check(git_revwalk_push(walk, git_object_id(commit)), "git_revwalk_push")
            }
        }
    }
}

/// Decides whether a commit changed one path, by comparing tree entries' ids and modes (no diff). Each commit's
/// entry is looked up once: in a walk a commit is usually asked about first as a parent.
private final class PathFilter {
    private let repo: OpaquePointer
    private let path: String
    /// commit id → the path's entry (id and mode) in that commit's tree (nil: absent).
    private var entries: [ObjectKey: Entry?] = [:]

    struct Entry: Hashable {
        let id: ObjectKey
        let mode: UInt32
    }

    init(repo: OpaquePointer, path: String) {
        self.repo = repo
        self.path = path
    }

    func changes(_ commit: OpaquePointer) throws -> Bool {
        let own = try entry(of: commit)
        let parents = git_commit_parentcount(commit)
        if parents == 0 { return own != nil }
        for i in 0..<parents {
            guard let parentID = git_commit_parent_id(commit, i) else { continue }
            if try entry(ofCommit: parentID.pointee) == own { return false }
        }
        return true
    }

    private func entry(ofCommit id: git_oid) throws -> Entry? {
        if let known = entries[ObjectKey(id)] { return known }
        var commit: OpaquePointer?
        var oid = id
        try check(git_commit_lookup(&commit, repo, &oid), "git_commit_lookup")
        defer { git_commit_free(commit) }
        return try entry(of: commit!)
    }

    private func entry(of commit: OpaquePointer) throws -> Entry? {
        let key = ObjectKey(git_commit_id(commit).pointee)
        if let known = entries[key] { return known }
        // Bounded memory on long walks: forget everything now and then; only recent commits'
        // entries are asked for again.
        if entries.count > 100_000 { entries.removeAll(keepingCapacity: true) }
        var tree: OpaquePointer?
        try check(git_commit_tree(&tree, commit), "git_commit_tree")
        defer { git_tree_free(tree) }
        var found: Entry?
        if let entry = try GitRepository.entry(tree!, path) {
            found = Entry(id: ObjectKey(git_tree_entry_id(entry).pointee), mode: git_tree_entry_filemode(entry).rawValue)
            git_tree_entry_free(entry)
        }
        entries[key] = .some(found)
        return found
    }
}
