import JSONRPC

/// `vcs/log` (viewer and up): newest first, optionally only commits that touched `path`; pages of `limit` (default 50, at most 1000).
public struct VCSLogRequest: ObjectScopedRequest, Hashable {
    public static let method = "vcs/log"
    public typealias Response = VCSLogResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = false
    public var projectId: String
    public var revision: String?
    public var path: String?
    public var cursor: String?
    public var limit: Int?
    public init(projectId: String, revision: String? = nil, path: String? = nil, cursor: String? = nil, limit: Int? = nil) {
        self.projectId = projectId
        self.revision = revision
        self.path = path
        self.cursor = cursor
        self.limit = limit
    }
}

public struct VCSLogResult: ResponseType, Hashable {
    public var commits: [CommitInfo]
    public var nextCursor: String?
    public init(commits: [CommitInfo], nextCursor: String?) {
        self.commits = commits
        self.nextCursor = nextCursor
    }
}
