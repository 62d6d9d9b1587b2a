import JSONRPC

public struct ProjectInfo: ResponseType, Hashable {
    public var id: String
    public var workspaceId: String
    public var name: String
    /// "hosted" (under the data directory) or "local" (a folder opened in local mode).
    public var kind: String
    /// The folder on disk, for local projects only.
    public var root: String?
    public var branch: String?
    public var createdAt: String
    public init(
        id: String, workspaceId: String, name: String, kind: String, root: String?, branch: String?, createdAt: String
    ) {
        self.id = id
        self.workspaceId = workspaceId
        self.name = name
        self.kind = kind
        self.root = root
        self.branch = branch
        self.createdAt = createdAt
    }
}

public struct FileContent: Codable, Sendable, Hashable {
    public var path: String
    public var content: String
    /// "utf-8" (default) or "base64".
    public var encoding: String?
    public init(path: String, content: String, encoding: String? = nil) {
        self.path = path
        self.content = content
        self.encoding = encoding
    }
}

public struct FileEntry: Codable, Sendable, Hashable {
    public var path: String
    /// "file", "directory" or "symlink".
    public var type: String
    public var size: Int?
    /// Files only: the git blob id of the content.
    public var version: String?
    public init(path: String, type: String, size: Int?, version: String?) {
        self.path = path
        self.type = type
        self.size = size
        self.version = version
    }
}

public struct CommitInfo: ResponseType, Hashable {
    public struct Person: Codable, Sendable, Hashable {
        public var name: String
        public var email: String
        public var time: String
        public init(name: String, email: String, time: String) {
            self.name = name
            self.email = email
            self.time = time
        }
    }
    public var id: String
    public var parents: [String]
    public var summary: String
    public var message: String
    public var author: Person
    public var committer: Person
    public init(id: String, parents: [String], summary: String, message: String, author: Person, committer: Person) {
        self.id = id
        self.parents = parents
        self.summary = summary
        self.message = message
        self.author = author
        self.committer = committer
    }
}

/// `project/didChangeFiles` (server → client): files of a project this session watches were changed
/// by another session.
public struct ProjectDidChangeFilesNotification: NotificationType, Hashable {
    public static let method = "project/didChangeFiles"
    public struct Change: Codable, Sendable, Hashable {
        public var path: String
        /// "created", "changed" or "deleted".
        public var type: String
        public var version: String?
        public init(path: String, type: String, version: String?) {
            self.path = path
            self.type = type
            self.version = version
        }
    }
    public var projectId: String
    public var changes: [Change]
    /// The method that made the change (file/write, vcs/restore, vcs/checkout, …).
    public var cause: String
    public init(projectId: String, changes: [Change], cause: String) {
        self.projectId = projectId
        self.changes = changes
        self.cause = cause
    }
}
