import JSONRPC

/// `project/delete` (admin and up): a hosted project's repository is removed from disk; a local project is only forgotten.
public struct ProjectDeleteRequest: ObjectScopedRequest, Hashable {
    public static let method = "project/delete"
    public typealias Response = DeletedResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = true
    public var projectId: String
    public init(projectId: String) {
        self.projectId = projectId
    }
}
