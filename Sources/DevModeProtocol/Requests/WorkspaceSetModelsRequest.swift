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
    /// One of `models`: it answers once a budget refuses the model a completion asked for (a
    /// cheaper model, or `local`); absent: none.
    public var fallbackModel: String?
    public init(workspaceId: String, models: [String], fallbackModel: String? = nil) {
        self.workspaceId = workspaceId
        self.models = models
        self.fallbackModel = fallbackModel
    }
}

public struct WorkspaceModelsResult: ResponseType, Hashable {
    public var workspaceId: String
    public var models: [String]
    public var fallbackModel: String?
    public init(workspaceId: String, models: [String], fallbackModel: String? = nil) {
        self.workspaceId = workspaceId
        self.models = models
        self.fallbackModel = fallbackModel
    }
}
