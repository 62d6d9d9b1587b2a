import JSONRPC

/// `project/open` (local mode only, member and up): registers an existing folder inside the configured allowed roots as a project (a git repository is created there if it has none).
public struct ProjectOpenRequest: RequestType, Hashable {
    public static let method = "project/open"
    public typealias Response = ProjectInfo
    public var workspaceId: String?
    public var path: String
    public var name: String?
    public init(workspaceId: String? = nil, path: String, name: String? = nil) {
        self.workspaceId = workspaceId
        self.path = path
        self.name = name
    }
}
