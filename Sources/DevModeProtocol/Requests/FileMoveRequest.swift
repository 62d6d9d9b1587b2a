import JSONRPC

/// `file/move` (member and up): renames a file or folder; refuses to overwrite unless `overwrite`.
public struct FileMoveRequest: ObjectScopedRequest, Hashable {
    public static let method = "file/move"
    public typealias Response = FileMoveResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["from": "README.md", "to": "moved.md"]
    public var projectId: String
    public var from: String
    public var to: String
    public var overwrite: Bool?
    public init(projectId: String, from: String, to: String, overwrite: Bool? = nil) {
        self.projectId = projectId
        self.from = from
        self.to = to
        self.overwrite = overwrite
    }
}

public struct FileMoveResult: ResponseType, Hashable {
    public var from: String
    public var to: String
    public init(from: String, to: String) {
        self.from = from
        self.to = to
    }
}
