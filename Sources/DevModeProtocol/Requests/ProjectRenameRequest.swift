import JSONRPC

/// `project/rename` (admin and up).
public struct ProjectRenameRequest: ObjectScopedRequest, Hashable {
    public static let method = "project/rename"
    public typealias Response = ProjectInfo
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["name": "renamed"]
    public var projectId: String
    public var name: String
    public init(projectId: String, name: String) {
        self.projectId = projectId
        self.name = name
    }
}
