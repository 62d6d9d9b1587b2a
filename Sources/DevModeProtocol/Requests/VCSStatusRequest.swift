import JSONRPC

/// `vcs/status` (viewer and up).
public struct VCSStatusRequest: ObjectScopedRequest, Hashable {
    public static let method = "vcs/status"
    public typealias Response = VCSStatusResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = false
    public var projectId: String
    public init(projectId: String) {
        self.projectId = projectId
    }
}

public struct VCSStatusResult: ResponseType, Hashable {
    public struct Entry: Codable, Sendable, Hashable {
        public var path: String
        /// added, modified, deleted, renamed, typechange, conflicted (staged side).
        public var index: String?
        /// added, modified, deleted, renamed, typechange, untracked, conflicted (working tree side).
        public var workdir: String?
        public init(path: String, index: String?, workdir: String?) {
            self.path = path
            self.index = index
            self.workdir = workdir
        }
    }
    public var branch: String?
    public var entries: [Entry]
    public init(branch: String?, entries: [Entry]) {
        self.branch = branch
        self.entries = entries
    }
}
