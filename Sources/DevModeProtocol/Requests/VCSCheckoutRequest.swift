import JSONRPC

/// `vcs/checkout` (member and up): switches to `branch`; refuses with conflict when uncommitted changes would be lost, unless `force`.
public struct VCSCheckoutRequest: ObjectScopedRequest, Hashable {
    public static let method = "vcs/checkout"
    public typealias Response = VCSCheckoutResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["branch": "main"]
    public var projectId: String
    public var branch: String
    public var force: Bool?
    public init(projectId: String, branch: String, force: Bool? = nil) {
        self.projectId = projectId
        self.branch = branch
        self.force = force
    }
}

public struct VCSCheckoutResult: ResponseType, Hashable {
    public var branch: String
    public var head: String
    public init(branch: String, head: String) {
        self.branch = branch
        self.head = head
    }
}
