import JSONRPC

/// `vcs/branchList` (viewer and up).
public struct VCSBranchListRequest: ObjectScopedRequest, Hashable {
    public static let method = "vcs/branchList"
    public typealias Response = VCSBranchListResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = false
    public var projectId: String
    public init(projectId: String) {
        self.projectId = projectId
    }
}

public struct VCSBranchListResult: ResponseType, Hashable {
    public struct Branch: ResponseType, Hashable {
        public var name: String
        public var isCurrent: Bool
        public var target: String
        public init(name: String, isCurrent: Bool, target: String) {
            self.name = name
            self.isCurrent = isCurrent
            self.target = target
        }
    }
    public var branches: [Branch]
    public var current: String?
    public init(branches: [Branch], current: String?) {
        self.branches = branches
        self.current = current
    }
}
