import JSONRPC

/// `workspace/setModels` (workspace admin and up): the models the workspace may use, in order of
/// preference. Every id must be in the server's model registry.
public struct WorkspaceSetModelsRequest: ObjectScopedRequest, Hashable {
    public static let method = "workspace/setModels"
    public typealias Response = WorkspaceModelsResult
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = true
    public static let sampleParams: [String: JSONValue] = ["models": ["local"]]
    public var workspaceId: String
    public var models: [String]
    public init(workspaceId: String, models: [String]) {
        self.workspaceId = workspaceId
        self.models = models
    }
}

public struct WorkspaceModelsResult: ResponseType, Hashable {
    public var workspaceId: String
    public var models: [String]
    public init(workspaceId: String, models: [String]) {
        self.workspaceId = workspaceId
        self.models = models
    }
}
