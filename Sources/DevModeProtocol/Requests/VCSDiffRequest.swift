import JSONRPC

/// `vcs/diff` (viewer and up): between two revisions, or (without `from`) the working tree against HEAD; unified patch text and structured hunks.
public struct VCSDiffRequest: ObjectScopedRequest, Hashable {
    public static let method = "vcs/diff"
    public typealias Response = VCSDiffResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = false
    public var projectId: String
    public var from: String?
    public var to: String?
    public var paths: [String]?
    public var contextLines: Int?
    public init(projectId: String, from: String? = nil, to: String? = nil, paths: [String]? = nil, contextLines: Int? = nil) {
        self.projectId = projectId
        self.from = from
        self.to = to
        self.paths = paths
        self.contextLines = contextLines
    }
}

public struct VCSDiffResult: ResponseType, Hashable {
    public struct Line: Codable, Sendable, Hashable {
        /// "+", "-" or " ".
        public var origin: String
        public var content: String
        public var oldLine: Int?
        public var newLine: Int?
        public init(origin: String, content: String, oldLine: Int?, newLine: Int?) {
            self.origin = origin
            self.content = content
            self.oldLine = oldLine
            self.newLine = newLine
        }
    }
    public struct Hunk: Codable, Sendable, Hashable {
        public var header: String
        public var oldStart: Int
        public var oldLines: Int
        public var newStart: Int
        public var newLines: Int
        public var lines: [Line]
        public init(header: String, oldStart: Int, oldLines: Int, newStart: Int, newLines: Int, lines: [Line]) {
            self.header = header
            self.oldStart = oldStart
            self.oldLines = oldLines
            self.newStart = newStart
            self.newLines = newLines
            self.lines = lines
        }
    }
    public struct File: Codable, Sendable, Hashable {
        public var oldPath: String
        public var newPath: String
        public var status: String
        public var isBinary: Bool
        public var additions: Int
        public var deletions: Int
        public var hunks: [Hunk]
        public init(
            oldPath: String, newPath: String, status: String, isBinary: Bool, additions: Int, deletions: Int, hunks: [Hunk]
        ) {
            self.oldPath = oldPath
            self.newPath = newPath
            self.status = status
            self.isBinary = isBinary
            self.additions = additions
            self.deletions = deletions
            self.hunks = hunks
        }
    }
    public var patch: String
    public var files: [File]
    public init(patch: String, files: [File]) {
        self.patch = patch
        self.files = files
    }
}
