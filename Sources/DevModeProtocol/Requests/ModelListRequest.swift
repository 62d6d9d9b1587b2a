import JSONRPC

/// `model/list`: the models the caller may use in a workspace (its own choice, or the server's
/// default models when it never chose).
public struct ModelListRequest: ObjectScopedRequest, Hashable {
    public static let method = "model/list"
    public typealias Response = ModelListResult
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = false
    /// Absent: the caller's first workspace (the local workspace in local mode).
    public var workspaceId: String?
    public init(workspaceId: String? = nil) {
        self.workspaceId = workspaceId
    }
}

public struct ModelListResult: ResponseType, Hashable {
    public var workspaceId: String
    public var models: [ModelInfo]
    /// The model completions use when a request names none: the first enabled model that can fill
    /// in the middle or chat.
    public var defaultCompletionModel: String?
    public init(workspaceId: String, models: [ModelInfo], defaultCompletionModel: String?) {
        self.workspaceId = workspaceId
        self.models = models
        self.defaultCompletionModel = defaultCompletionModel
    }
}
