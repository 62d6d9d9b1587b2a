import JSONRPC

/// `vcs/commit` (member and up): commits `paths` (or every change) with the caller as author.
public struct VCSCommitRequest: ObjectScopedRequest, Hashable {
    public static let method = "vcs/commit"
    public typealias Response = CommitInfo
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["message": "intrusion"]
    public var projectId: String
    public var message: String
    public var paths: [String]?
    public init(projectId: String, message: String, paths: [String]? = nil) {
        self.projectId = projectId
        self.message = message
        self.paths = paths
    }
}
