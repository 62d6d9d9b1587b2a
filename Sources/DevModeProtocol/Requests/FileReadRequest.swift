import JSONRPC

/// `file/read` (viewer and up): UTF-8 text as is, anything else base64; `version` is the git blob id.
public struct FileReadRequest: ObjectScopedRequest, Hashable {
    public static let method = "file/read"
    public typealias Response = FileReadResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = false
    public static let sampleParams: [String: JSONValue] = ["path": "README.md"]
    public var projectId: String
    public var path: String
    public init(projectId: String, path: String) {
        self.projectId = projectId
        self.path = path
    }
}

public struct FileReadResult: ResponseType, Hashable {
    public var path: String
    public var content: String
    /// "utf-8" or "base64".
    public var encoding: String
    public var version: String
    public var size: Int
    public init(path: String, content: String, encoding: String, version: String, size: Int) {
        self.path = path
        self.content = content
        self.encoding = encoding
        self.version = version
        self.size = size
    }
}
