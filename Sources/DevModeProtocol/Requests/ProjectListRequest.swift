import JSONRPC

/// `project/list` (viewer and up): the workspace's projects.
public struct ProjectListRequest: ObjectScopedRequest, Hashable {
    public static let method = "project/list"
    public typealias Response = ProjectListResult
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = false
    public var workspaceId: String
    public init(workspaceId: String) {
        self.workspaceId = workspaceId
    }
}

public struct ProjectListResult: ResponseType, Hashable {
    public var projects: [ProjectInfo]
    public init(projects: [ProjectInfo]) { self.projects = projects }
}
