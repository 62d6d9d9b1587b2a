import CGit2

extension GitRepository {
    /// The changes from commit (or tree) `from` to `to`, like `git diff from to -- paths`, with
    /// renames detected as git does by default. `paths` are literal paths; a directory covers
    /// everything under it.
    public func diff(from: String, to: String, paths: [String]? = nil, contextLines: Int = 3) async throws -> GitDiff {
        try await perform { repo in
            let old = try Self.tree(repo, from)
            defer { git_tree_free(old) }
            let new = try Self.tree(repo, to)
            defer { git_tree_free(new) }
            return try Self.withDiffOptions(paths: paths, contextLines: contextLines, flags: 0) { options in
                var diff: OpaquePointer?
                try check(git_diff_tree_to_tree(&diff, repo, old, new, &options), "git_diff_tree_to_tree")
                defer { git_diff_free(diff) }
                return try Self.render(diff!)
            }
        }
    }

    /// The working tree (staged and unstaged changes together) against HEAD, like `git diff HEAD`,
    /// plus untracked files as additions (ignored files left out). On an unborn HEAD every file
    /// is an addition.
    public func diffWorkingTree(paths: [String]? = nil, contextLines: Int = 3) async throws -> GitDiff {
        try await perform { repo in
            let head = try Self.headCommit(repo)
            defer { git_commit_free(head) }
            var tree: OpaquePointer?
            if let head { try check(git_commit_tree(&tree, head), "git_commit_tree") }
            defer { git_tree_free(tree) }
            let flags = GIT_DIFF_INCLUDE_UNTRACKED.rawValue
                | GIT_DIFF_RECURSE_UNTRACKED_DIRS.rawValue
                | GIT_DIFF_SHOW_UNTRACKED_CONTENT.rawValue
            return try Self.withDiffOptions(paths: paths, contextLines: contextLines, flags: flags) { options in
                var diff: OpaquePointer?
                try check(git_diff_tree_to_workdir_with_index(&diff, repo, tree, &options),
                          "git_diff_tree_to_workdir_with_index")
                defer { git_diff_free(diff) }
                return try Self.render(diff!)
            }
        }
    }

    private static func withDiffOptions<R>(
        paths: [String]?, contextLines: Int, flags: UInt32, _ body: (inout git_diff_options) throws -> R
    ) throws -> R {
        var options = git_diff_options()
        try check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), "git_diff_options_init")
        options.context_lines = UInt32(clamping: max(0, contextLines))
        options.flags = flags
        guard let paths else { return try body(&options) }
        options.flags |= GIT_DIFF_DISABLE_PATHSPEC_MATCH.rawValue
        return try withStrArray(paths.map(normalise)) { pathspec in
            options.pathspec = pathspec
            return try body(&options)
        }
    }

    /// Detects renames, then turns each delta into its patch text and structure.
    private static func render(_ diff: OpaquePointer) throws -> GitDiff {
        var find = git_diff_find_options()
        try check(git_diff_find_options_init(&find, UInt32(GIT_DIFF_FIND_OPTIONS_VERSION)), "git_diff_find_options_init")
        find.flags = GIT_DIFF_FIND_RENAMES.rawValue
        try check(git_diff_find_similar(diff, &find), "git_diff_find_similar")

        var text: [UInt8] = []
        var files: [GitDiffFile] = []
        for i in 0..<git_diff_num_deltas(diff) {
            var patch: OpaquePointer?
            try check(git_patch_from_diff(&patch, diff, i), "git_patch_from_diff")
            defer { git_patch_free(patch) }
            // The patch's delta knows whether the content is binary (loaded to make the patch).
            guard let delta = (patch.map { git_patch_get_delta($0) } ?? git_diff_get_delta(diff, i))?.pointee else { continue }
            var file = GitDiffFile(
                oldPath: String(gitCString: delta.old_file.path),
                newPath: String(gitCString: delta.new_file.path),
                status: statusName(delta.status),
                isBinary: delta.flags & GIT_DIFF_FLAG_BINARY.rawValue != 0,
                additions: 0, deletions: 0, hunks: [])
            if let patch {
                var buffer = git_buf()
                defer { git_buf_dispose(&buffer) }
                try check(git_patch_to_buf(&buffer, patch), "git_patch_to_buf")
                text += buffer.bytes
                var context = 0, additions = 0, deletions = 0
                try check(git_patch_line_stats(&context, &additions, &deletions, patch), "git_patch_line_stats")
                file.additions = additions
                file.deletions = deletions
                file.hunks = try hunks(of: patch)
            }
            files.append(file)
        }
        return GitDiff(patch: String(decoding: text, as: UTF8.self), files: files)
    }

    private static func hunks(of patch: OpaquePointer) throws -> [GitDiffHunk] {
        var hunks: [GitDiffHunk] = []
        for h in 0..<git_patch_num_hunks(patch) {
            var hunkPointer: UnsafePointer<git_diff_hunk>?
            var lineCount = 0
            try check(git_patch_get_hunk(&hunkPointer, &lineCount, patch, h), "git_patch_get_hunk")
            let hunk = hunkPointer!.pointee
            let header = withUnsafeBytes(of: hunk.header) { bytes in
                String(decoding: bytes.prefix(min(hunk.header_len, bytes.count)), as: UTF8.self)
            }
            var lines: [GitDiffLine] = []
            lines.reserveCapacity(lineCount)
            for l in 0..<lineCount {
                var linePointer: UnsafePointer<git_diff_line>?
                try check(git_patch_get_line_in_hunk(&linePointer, patch, h, l), "git_patch_get_line_in_hunk")
                let line = linePointer!.pointee
                let origin = UInt8(bitPattern: line.origin)
                switch origin {
                case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: " "):
                    var count = line.content_len
                    if count > 0, line.content.map({ UInt8(bitPattern: $0[count - 1]) }) == UInt8(ascii: "\n") { count -= 1 }
                    lines.append(GitDiffLine(
                        origin: String(UnicodeScalar(origin)),
                        content: String(gitBytes: line.content, count: count),
                        oldLine: line.old_lineno >= 0 ? Int(line.old_lineno) : nil,
                        newLine: line.new_lineno >= 0 ? Int(line.new_lineno) : nil))
                case UInt8(ascii: "="), UInt8(ascii: ">"), UInt8(ascii: "<"):
                    // "\ No newline at end of file" follows the line it is about.
                    if !lines.isEmpty { lines[lines.count - 1].missingNewline = true }
                default:
                    break
                }
            }
            hunks.append(GitDiffHunk(
                header: header.hasSuffix("\n") ? String(header.dropLast()) : header,
                oldStart: Int(hunk.old_start), oldLines: Int(hunk.old_lines),
                newStart: Int(hunk.new_start), newLines: Int(hunk.new_lines),
                lines: lines))
        }
        return hunks
    }

    private static func statusName(_ status: git_delta_t) -> String {
        switch status {
        case GIT_DELTA_ADDED, GIT_DELTA_UNTRACKED: return "added"
        case GIT_DELTA_DELETED: return "deleted"
        case GIT_DELTA_RENAMED: return "renamed"
        case GIT_DELTA_COPIED: return "copied"
        case GIT_DELTA_TYPECHANGE: return "typechange"
        case GIT_DELTA_CONFLICTED: return "conflicted"
        case GIT_DELTA_UNMODIFIED: return "unmodified"
        case GIT_DELTA_IGNORED: return "ignored"
        default: return "modified"
        }
    }
}
