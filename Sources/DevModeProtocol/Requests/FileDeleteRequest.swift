import JSONRPC

/// `file/delete` (member and up): a file, or an empty folder; `expectedVersion` as for writes.
public struct FileDeleteRequest: ObjectScopedRequest, Hashable {
    public static let method = "file/delete"
    public typealias Response = DeletedResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["path": "README.md"]
    public var projectId: String
    public var path: String
    public var expectedVersion: String?
    public init(projectId: String, path: String, expectedVersion: String? = nil) {
        self.projectId = projectId
        self.path = path
        self.expectedVersion = expectedVersion
    }
}
