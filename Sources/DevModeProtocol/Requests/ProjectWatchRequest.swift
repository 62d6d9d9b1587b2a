import JSONRPC

/// `project/watch` (viewer and up): this session is sent `project/didChangeFiles` when another session changes the project's files. `watch: false` stops it.
public struct ProjectWatchRequest: ObjectScopedRequest, Hashable {
    public static let method = "project/watch"
    public typealias Response = ProjectWatchResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = false
    public var projectId: String
    public var watch: Bool?
    public init(projectId: String, watch: Bool? = nil) {
        self.projectId = projectId
        self.watch = watch
    }
}

public struct ProjectWatchResult: ResponseType, Hashable {
    public var watching: Bool
    public init(watching: Bool) { self.watching = watching }
}
