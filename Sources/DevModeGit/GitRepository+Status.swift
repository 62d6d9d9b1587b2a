import CGit2

extension GitRepository {
    /// The working tree's state, like `git status --porcelain --untracked-files=all`: staged and
    /// unstaged changes, untracked files (each file, inside untracked directories too), staged
    /// renames (scored as git scores them); ignored files left out. Sorted by path.
    public func status() async throws -> [GitStatusEntry] {
        try await perform { repo in
            var options = git_status_options()
            try check(git_status_options_init(&options, UInt32(GIT_STATUS_OPTIONS_VERSION)), "git_status_options_init")
            options.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR
            options.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED.rawValue
                | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS.rawValue
                | GIT_STATUS_OPT_SORT_CASE_SENSITIVELY.rawValue
                | GIT_STATUS_OPT_EXCLUDE_SUBMODULES.rawValue
            // UPDATE_INDEX: store fresh stat data for files that are unchanged but look touched
            // (checkout, copy, `touch`), as `git status` does; otherwise every later call hashes
            // them all again. When someone else holds index.lock, ask again without it.
            options.flags |= GIT_STATUS_OPT_UPDATE_INDEX.rawValue
            var list: OpaquePointer?
            var code = git_status_list_new(&list, repo, &options)
            if code == GIT_ELOCKED.rawValue {
                git_error_clear()
                options.flags &= ~GIT_STATUS_OPT_UPDATE_INDEX.rawValue
                code = git_status_list_new(&list, repo, &options)
            }
            try check(code, "git_status_list_new")
            defer { git_status_list_free(list) }

            var entries: [GitStatusEntry] = []
            for i in 0..<git_status_list_entrycount(list) {
                guard let entry = git_status_byindex(list, i)?.pointee else { continue }
                let flags = entry.status.rawValue
                let staged = entry.head_to_index?.pointee
                let unstaged = entry.index_to_workdir?.pointee
                let path = String(gitCString: unstaged?.new_file.path ?? staged?.new_file.path)
                if flags & GIT_STATUS_CONFLICTED.rawValue != 0 {
                    entries.append(GitStatusEntry(path: path, index: .conflicted, workdir: .conflicted))
                    continue
                }
                if flags & GIT_STATUS_IGNORED.rawValue != 0 { continue }
                let entryStatus = GitStatusEntry(path: path, index: Self.indexStatus(flags), workdir: Self.workdirStatus(flags))
                if entryStatus.index != nil || entryStatus.workdir != nil { entries.append(entryStatus) }
            }
            // Staged renames, found with git's similarity score rather than libgit2's own (which
            // pairs files git does not, e.g. a small file with half its lines changed).
            if entries.contains(where: { $0.index == .added }) && entries.contains(where: { $0.index == .deleted }) {
                let renames = try Self.stagedRenames(repo)
                if !renames.isEmpty {
                    let sources = Set(renames.values)
                    entries = entries.compactMap { entry in
                        var entry = entry
                        if let old = renames[entry.path], entry.index == .added {
                            entry.index = .renamed
                            entry.oldPath = old
                        } else if sources.contains(entry.path), entry.index == .deleted {
                            entry.index = nil
                            if entry.workdir == nil { return nil }
                        }
                        return entry
                    }
                }
            }
            return entries
        }
    }

    /// HEAD to index renames as `git status` reports them: new path → old path.
    private static func stagedRenames(_ repo: OpaquePointer) throws -> [String: String] {
        guard let head = try headCommit(repo) else { return [:] }
        defer { git_commit_free(head) }
        var tree: OpaquePointer?
        try check(git_commit_tree(&tree, head), "git_commit_tree")
        defer { git_tree_free(tree) }
        var index: OpaquePointer?
        try check(git_repository_index(&index, repo), "git_repository_index")
        defer { git_index_free(index) }
        var diff: OpaquePointer?
        try check(git_diff_tree_to_index(&diff, repo, tree, index, nil), "git_diff_tree_to_index")
        defer { git_diff_free(diff) }
        try findRenames(diff!)
        var renames: [String: String] = [:]
        for i in 0..<git_diff_num_deltas(diff) {
            guard let delta = git_diff_get_delta(diff, i)?.pointee, delta.status == GIT_DELTA_RENAMED else { continue }
            renames[String(gitCString: delta.new_file.path)] = String(gitCString: delta.old_file.path)
        }
        return renames
    }

    private static func indexStatus(_ flags: UInt32) -> GitFileStatus? {
        if flags & GIT_STATUS_INDEX_NEW.rawValue != 0 { return .added }
        if flags & GIT_STATUS_INDEX_DELETED.rawValue != 0 { return .deleted }
        if flags & GIT_STATUS_INDEX_RENAMED.rawValue != 0 { return .renamed }
        if flags & GIT_STATUS_INDEX_TYPECHANGE.rawValue != 0 { return .typechange }
        if flags & GIT_STATUS_INDEX_MODIFIED.rawValue != 0 { return .modified }
        return nil
    }

    private static func workdirStatus(_ flags: UInt32) -> GitFileStatus? {
        if flags & GIT_STATUS_WT_NEW.rawValue != 0 { return .untracked }
        if flags & GIT_STATUS_WT_DELETED.rawValue != 0 { return .deleted }
        if flags & GIT_STATUS_WT_RENAMED.rawValue != 0 { return .renamed }
        if flags & GIT_STATUS_WT_TYPECHANGE.rawValue != 0 { return .typechange }
        if flags & (GIT_STATUS_WT_MODIFIED.rawValue | GIT_STATUS_WT_UNREADABLE.rawValue) != 0 { return .modified }
        return nil
    }
}
