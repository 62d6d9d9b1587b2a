import JSONRPC

/// `project/get` (viewer and up).
public struct ProjectGetRequest: ObjectScopedRequest, Hashable {
    public static let method = "project/get"
    public typealias Response = ProjectInfo
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = false
    public var projectId: String
    public init(projectId: String) {
        self.projectId = projectId
    }
}
