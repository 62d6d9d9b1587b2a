import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// Who made a commit and when. git keeps whole seconds and the author's UTC offset.
public struct GitSignature: Sendable, Hashable, Codable {
    public var name: String
    public var email: String
    public var time: Date
    /// Offset from UTC in minutes, as written in the commit (`+0200` is 120).
    public var offsetMinutes: Int

    public init(name: String, email: String, time: Date = Date(), offsetMinutes: Int = 0) {
        self.name = name
        self.email = email
        self.time = time
        self.offsetMinutes = offsetMinutes
    }
}

public struct GitCommitInfo: Sendable, Hashable, Codable {
    /// The commit id, 40 hex digits.
    public var id: String
    /// Parent ids, first parent first; empty for a root commit.
    public var parents: [String]
    /// The whole message as stored (git's whitespace clean-up applied at commit time).
    public var message: String
    /// The first paragraph on one line, like `git log --format=%s`.
    public var summary: String
    public var author: GitSignature
    public var committer: GitSignature

    public init(id: String, parents: [String], message: String, summary: String, author: GitSignature, committer: GitSignature) {
        self.id = id
        self.parents = parents
        self.message = message
        self.summary = summary
        self.author = author
        self.committer = committer
    }
}

/// The change a file has in one of git's comparisons (HEAD to index, or index to working tree).
public enum GitFileStatus: String, Sendable, Codable, CaseIterable {
    case added, modified, deleted, renamed, typechange, untracked, ignored, conflicted
}

/// One line of `git status`: the staged change (`index`, HEAD to index) and the unstaged one
/// (`workdir`, index to working tree); nil where that side has none.
public struct GitStatusEntry: Sendable, Hashable, Codable {
    /// Path relative to the working tree root, `/`-separated; for a rename the new path.
    public var path: String
    /// For a staged rename, the path it had in HEAD.
    public var oldPath: String?
    public var index: GitFileStatus?
    public var workdir: GitFileStatus?

    public init(path: String, oldPath: String? = nil, index: GitFileStatus?, workdir: GitFileStatus?) {
        self.path = path
        self.oldPath = oldPath
        self.index = index
        self.workdir = workdir
    }
}

public struct GitDiff: Sendable, Hashable, Codable {
    /// The unified diff text, byte for byte as `git diff` prints it (invalid UTF-8 replaced).
    public var patch: String
    public var files: [GitDiffFile]

    public init(patch: String, files: [GitDiffFile]) {
        self.patch = patch
        self.files = files
    }
}

public struct GitDiffFile: Sendable, Hashable, Codable {
    public var oldPath: String
    public var newPath: String
    /// One of `added`, `modified`, `deleted`, `renamed`, `copied`, `typechange` (untracked files
    /// in a working-tree diff count as `added`).
    public var status: String
    public var isBinary: Bool
    public var additions: Int
    public var deletions: Int
    /// Empty for binary files.
    public var hunks: [GitDiffHunk]

    public init(oldPath: String, newPath: String, status: String, isBinary: Bool, additions: Int, deletions: Int, hunks: [GitDiffHunk]) {
        self.oldPath = oldPath
        self.newPath = newPath
        self.status = status
        self.isBinary = isBinary
        self.additions = additions
        self.deletions = deletions
        self.hunks = hunks
    }
}

public struct GitDiffHunk: Sendable, Hashable, Codable {
    /// `@@ -1,3 +1,4 @@ context`, without the line break.
    public var header: String
    public var oldStart: Int
    public var oldLines: Int
    public var newStart: Int
    public var newLines: Int
    public var lines: [GitDiffLine]

    public init(header: String, oldStart: Int, oldLines: Int, newStart: Int, newLines: Int, lines: [GitDiffLine]) {
        self.header = header
        self.oldStart = oldStart
        self.oldLines = oldLines
        self.newStart = newStart
        self.newLines = newLines
        self.lines = lines
    }
}

public struct GitDiffLine: Sendable, Hashable, Codable {
    /// `+` added, `-` deleted, ` ` context.
    public var origin: String
    /// The line's text without its line break.
    public var content: String
    /// Line number in the old file; nil for an added line.
    public var oldLine: Int?
    /// Line number in the new file; nil for a deleted line.
    public var newLine: Int?
    /// The line is the file's last and has no line break (`\ No newline at end of file`).
    public var missingNewline: Bool

    public init(origin: String, content: String, oldLine: Int?, newLine: Int?, missingNewline: Bool = false) {
        self.origin = origin
        self.content = content
        self.oldLine = oldLine
        self.newLine = newLine
        self.missingNewline = missingNewline
    }
}

public struct GitBranch: Sendable, Hashable, Codable {
    /// Short name, e.g. `main` or `feature/x`.
    public var name: String
    /// HEAD points at this branch.
    public var isHead: Bool
    /// The commit the branch points at, 40 hex digits.
    public var target: String

    public init(name: String, isHead: Bool, target: String) {
        self.name = name
        self.isHead = isHead
        self.target = target
    }
}
