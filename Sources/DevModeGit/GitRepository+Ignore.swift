import CGit2

extension GitRepository {
    /// Which of these working-tree paths `.gitignore` (and `.git/info/exclude`) ignores. A folder is
    /// named with a trailing `/`, as git matches folder-only rules.
    public func ignored(_ paths: [String]) async throws -> Set<String> {
        guard !paths.isEmpty else { return [] }
        return try await perform { try Self.ignored(paths, in: $0) }
    }
}
