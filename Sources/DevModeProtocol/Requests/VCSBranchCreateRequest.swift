import JSONRPC

/// `vcs/branchCreate` (member and up): a branch at `revision` (default HEAD); does not switch to it.
public struct VCSBranchCreateRequest: ObjectScopedRequest, Hashable {
    public static let method = "vcs/branchCreate"
    public typealias Response = VCSBranchListResult.Branch
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["name": "evil"]
    public var projectId: String
    public var name: String
    public var revision: String?
    public init(projectId: String, name: String, revision: String? = nil) {
        self.projectId = projectId
        self.name = name
        self.revision = revision
    }
}
