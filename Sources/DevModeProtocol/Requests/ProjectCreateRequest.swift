import JSONRPC

/// `project/create` (member and up): a new git repository under the data directory, with an initial commit of `files` (or an empty README).
public struct ProjectCreateRequest: ObjectScopedRequest, Hashable {
    public static let method = "project/create"
    public typealias Response = ProjectInfo
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["name": "intruder"]
    public var workspaceId: String
    public var name: String
    public var files: [FileContent]?
    public init(workspaceId: String, name: String, files: [FileContent]? = nil) {
        self.workspaceId = workspaceId
        self.name = name
        self.files = files
    }
}
