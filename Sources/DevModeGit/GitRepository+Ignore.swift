import CGit2

extension GitRepository {
    /// Which of these working-tree paths `.gitignore` (and `.git/info/exclude`) ignores. A folder is
    /// named with a trailing `/`, as git matches folder-only rules.
    public func ignored(_ paths: [String]) async throws -> Set<String> {
        guard !paths.isEmpty else { return [] }
        return try await perform { handle in
            var ignored = Set<String>()
            for path in paths {
                var flag: Int32 = 0
                try check(git_ignore_path_is_ignored(&flag, handle, path), "git_ignore_path_is_ignored")
                if flag != 0 { ignored.insert(path) }
            }
            return ignored
        }
    }

    /// `ignored(_:)` for a caller on a thread of its own (a search pool's): it waits for the
    /// repository's queue. Never call it from Swift's cooperative pool.
    public func ignoredBlocking(_ paths: [String]) throws -> Set<String> {
        guard !paths.isEmpty else { return [] }
        return try performBlocking { handle in
            var ignored = Set<String>()
            for path in paths {
                var flag: Int32 = 0
                try check(git_ignore_path_is_ignored(&flag, handle, path), "git_ignore_path_is_ignored")
                if flag != 0 { ignored.insert(path) }
            }
            return ignored
        }
    }
}
