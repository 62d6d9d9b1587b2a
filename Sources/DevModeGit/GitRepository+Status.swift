import CGit2

extension GitRepository {
    /// The working tree's state, like `git status --porcelain --untracked-files=all`: staged and
    /// unstaged changes, untracked files (each file, inside untracked directories too), staged
    /// renames; ignored files left out. Sorted by path.
    public func status() async throws -> [GitStatusEntry] {
        try await perform { repo in
            var options = git_status_options()
            try check(git_status_options_init(&options, UInt32(GIT_STATUS_OPTIONS_VERSION)), "git_status_options_init")
            options.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR
            options.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED.rawValue
                | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS.rawValue
                | GIT_STATUS_OPT_RENAMES_HEAD_TO_INDEX.rawValue
                | GIT_STATUS_OPT_SORT_CASE_SENSITIVELY.rawValue
                | GIT_STATUS_OPT_EXCLUDE_SUBMODULES.rawValue
            var list: OpaquePointer?
            try check(git_status_list_new(&list, repo, &options), "git_status_list_new")
            defer { git_status_list_free(list) }

            var entries: [GitStatusEntry] = []
            for i in 0..<git_status_list_entrycount(list) {
                guard let entry = git_status_byindex(list, i)?.pointee else { continue }
                let flags = entry.status.rawValue
                let staged = entry.head_to_index?.pointee
                let unstaged = entry.index_to_workdir?.pointee
                let path = String(gitCString: unstaged?.new_file.path ?? staged?.new_file.path)
                var oldPath: String?
                if let staged, flags & GIT_STATUS_INDEX_RENAMED.rawValue != 0 {
                    oldPath = String(gitCString: staged.old_file.path)
                }
                if flags & GIT_STATUS_CONFLICTED.rawValue != 0 {
                    entries.append(GitStatusEntry(path: path, index: .conflicted, workdir: .conflicted))
                    continue
                }
                if flags & GIT_STATUS_IGNORED.rawValue != 0 { continue }
                let entryStatus = GitStatusEntry(
                    path: path, oldPath: oldPath,
                    index: Self.indexStatus(flags), workdir: Self.workdirStatus(flags))
                if entryStatus.index != nil || entryStatus.workdir != nil { entries.append(entryStatus) }
            }
            return entries
        }
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
