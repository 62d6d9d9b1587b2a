import CGit2
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

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
            return try Self.withDiffOptions(repo, paths: paths, contextLines: contextLines, flags: 0) { options in
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
            return try Self.withDiffOptions(repo, paths: paths, contextLines: contextLines, flags: flags) { options in
                // Refresh the index's stat data as `git diff` does (see `status()`), unless locked.
                options.flags |= GIT_DIFF_UPDATE_INDEX.rawValue
                var diff: OpaquePointer?
                var code = git_diff_tree_to_workdir_with_index(&diff, repo, tree, &options)
                if code == GIT_ELOCKED.rawValue {
                    git_error_clear()
                    options.flags &= ~GIT_DIFF_UPDATE_INDEX.rawValue
                    code = git_diff_tree_to_workdir_with_index(&diff, repo, tree, &options)
                }
                try check(code, "git_diff_tree_to_workdir_with_index")
                defer { git_diff_free(diff) }
                return try Self.render(diff!)
            }
        }
    }

    private static func withDiffOptions<R>(
        _ repo: OpaquePointer, paths: [String]?, contextLines: Int, flags: UInt32, _ body: (inout git_diff_options) throws -> R
    ) throws -> R {
        var options = git_diff_options()
        try check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), "git_diff_options_init")
        options.context_lines = UInt32(clamping: max(0, contextLines))
        options.flags = flags
        if let abbreviation = abbreviationLength(repo) { options.id_abbrev = abbreviation }
        guard let paths else { return try body(&options) }
        options.flags |= GIT_DIFF_DISABLE_PATHSPEC_MATCH.rawValue
        return try withStrArray(paths.map(normalise)) { pathspec in
            options.pathspec = pathspec
            return try body(&options)
        }
    }

    /// The length git abbreviates ids to on a diff's `index` line when `core.abbrev` is unset or
    /// `auto` (git's default): 7 hex digits, one more for every factor of 4 of packed objects past
    /// 2^14 (repo_find_unique_abbrev in git's object-name.c). libgit2 always uses 7, so a big
    /// cloned repository would otherwise print shorter ids than `git diff`. nil: leave it to
    /// libgit2, which reads a numeric `core.abbrev` itself.
    private static func abbreviationLength(_ repo: OpaquePointer) -> UInt16? {
        var config: OpaquePointer?
        if git_repository_config_snapshot(&config, repo) == 0 {
            defer { git_config_free(config) }
            var value: UnsafePointer<CChar>?
            if git_config_get_string(&value, config, "core.abbrev") == 0, let value {
                switch String(cString: value).lowercased() {
                case "auto": break
                case "no", "false", "off": return 40
                default: return nil
                }
            } else {
                git_error_clear()
            }
        } else {
            git_error_clear()
        }
        // git counts only packed objects here (repo_approximate_object_count): the last fan-out
        // entry of each pack index.
        let packs = String(cString: git_repository_commondir(repo)) + "objects/pack/"
        var count: UInt64 = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: packs)) ?? [] where name.hasSuffix(".idx") {
            let fd = Glibc.open(packs + name, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { Glibc.close(fd) }
            var bytes = [UInt8](repeating: 0, count: 8 + 256 * 4)
            let got = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard got >= 256 * 4 else { continue }
            bytes.removeLast(bytes.count - got)
            // Version 2 starts with "\377tOc" and a version number; version 1 starts with the fan-out.
            let fanout = bytes.starts(with: [0xff, 0x74, 0x4f, 0x63]) ? 8 : 0
            guard bytes.count >= fanout + 256 * 4 else { continue }
            let last = fanout + 255 * 4
            count += bytes[last..<(last + 4)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
        var highestBit = 0
        var rest = count
        while rest > 1 {
            rest >>= 1
            highestBit += 1
        }
        return UInt16(max(7, (highestBit + 2) / 2))
    }

    /// Detects renames (scored as git scores them), then turns each delta into its patch text and structure.
    private static func render(_ diff: OpaquePointer) throws -> GitDiff {
        try findRenames(diff)

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
                let hunkCount = git_patch_num_hunks(patch)
                text += hunkCount == 0 && !file.isBinary ? withoutFileLines(buffer.bytes) : buffer.bytes
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

    /// Marks renames in `diff` as `git diff` finds them by default: renames only (no copies), at
    /// least 50% similar by git's own score.
    static func findRenames(_ diff: OpaquePointer) throws {
        var find = git_diff_find_options()
        try check(git_diff_find_options_init(&find, UInt32(GIT_DIFF_FIND_OPTIONS_VERSION)), "git_diff_find_options_init")
        find.flags = GIT_DIFF_FIND_RENAMES.rawValue
        find.rename_threshold = 50
        var metric = GitSimilaritySignature.metric
        try withUnsafeMutablePointer(to: &metric) { metric in
            find.metric = metric
            try check(git_diff_find_similar(diff, &find), "git_diff_find_similar")
        }
    }

    /// git writes the `--- a/x` and `+++ b/x` lines only before a first hunk; libgit2 also writes
    /// them for a text change without hunks (an empty file added or deleted). Drops them there.
    private static func withoutFileLines(_ patch: [UInt8]) -> [UInt8] {
        guard patch.last == UInt8(ascii: "\n") else { return patch }
        let newlines = patch.indices.filter { patch[$0] == UInt8(ascii: "\n") }
        guard newlines.count >= 3 else { return patch }
        let minusStart = newlines[newlines.count - 3] + 1
        let plusStart = newlines[newlines.count - 2] + 1
        guard patch[minusStart...].starts(with: "--- ".utf8), patch[plusStart...].starts(with: "+++ ".utf8) else { return patch }
        return Array(patch[..<minusStart])
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
