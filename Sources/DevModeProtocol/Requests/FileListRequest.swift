import JSONRPC

/// `file/list` (viewer and up): files and folders under `path` (default the root), `depth` levels deep (default 8, at most 64), never `.git`, honouring `.gitignore` unless `includeIgnored`.
public struct FileListRequest: ObjectScopedRequest, Hashable {
    public static let method = "file/list"
    public typealias Response = FileListResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = false
    public var projectId: String
    public var path: String?
    public var depth: Int?
    public var includeIgnored: Bool?
    public var maxEntries: Int?
    public init(projectId: String, path: String? = nil, depth: Int? = nil, includeIgnored: Bool? = nil, maxEntries: Int? = nil) {
        self.projectId = projectId
        self.path = path
        self.depth = depth
        self.includeIgnored = includeIgnored
        self.maxEntries = maxEntries
    }
}

public struct FileListResult: ResponseType, Hashable {
    public var entries: [FileEntry]
    /// True when `maxEntries` (default 10000) cut the list short.
    public var truncated: Bool
    public init(entries: [FileEntry], truncated: Bool) {
        self.entries = entries
        self.truncated = truncated
    }
}
