import JSONRPC

/// `vcs/restore` (member and up): puts the file back as it was at `revision` (default HEAD) in the working tree; not committed.
public struct VCSRestoreRequest: ObjectScopedRequest, Hashable {
    public static let method = "vcs/restore"
    public typealias Response = VCSRestoreResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["path": "README.md"]
    public var projectId: String
    public var path: String
    public var revision: String?
    public init(projectId: String, path: String, revision: String? = nil) {
        self.projectId = projectId
        self.path = path
        self.revision = revision
    }
}

public struct VCSRestoreResult: ResponseType, Hashable {
    public var path: String
    /// The restored content's version; absent when the file did not exist at that revision (it was removed).
    public var version: String?
    public init(path: String, version: String?) {
        self.path = path
        self.version = version
    }
}
