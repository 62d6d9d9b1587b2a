import JSONRPC

/// `file/write` (member and up): creates or overwrites atomically. With `expectedVersion`, a stale version answers conflict (`data.currentVersion`) and nothing changes; with `createOnly`, an existing file answers conflict.
public struct FileWriteRequest: ObjectScopedRequest, Hashable {
    public static let method = "file/write"
    public typealias Response = FileWriteResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["path": "pwned.txt", "content": "x"]
    public var projectId: String
    public var path: String
    public var content: String
    public var encoding: String?
    public var expectedVersion: String?
    public var createOnly: Bool?
    public init(projectId: String, path: String, content: String, encoding: String? = nil, expectedVersion: String? = nil, createOnly: Bool? = nil) {
        self.projectId = projectId
        self.path = path
        self.content = content
        self.encoding = encoding
        self.expectedVersion = expectedVersion
        self.createOnly = createOnly
    }
}

public struct FileWriteResult: ResponseType, Hashable {
    public var path: String
    public var version: String
    public var size: Int
    public var created: Bool
    public init(path: String, version: String, size: Int, created: Bool) {
        self.path = path
        self.version = version
        self.size = size
        self.created = created
    }
}
