import JSONRPC

/// `ai/complete`: completions for text given in the request (for scripts): what goes between
/// `prefix` and `suffix`. In a project (its local engine learns the project's files) or a workspace.
public struct AICompleteRequest: ObjectScopedRequest, Hashable {
    public static let method = "ai/complete"
    public typealias Response = AICompleteResult
    public static let objectIDField = "workspaceId"
    public static let objectKind = ObjectKind.workspace
    public static let isWrite = false
    public static let sampleParams: [String: JSONValue] = ["prefix": "let total = "]
    public var prefix: String
    public var suffix: String?
    public var language: String?
    /// The file the text is from, relative to the project (context header, cache, engine).
    public var path: String?
    /// Absent: the project's workspace, else the caller's first workspace.
    public var workspaceId: String?
    /// Completes in this project (its local engine; its workspace's models).
    public var projectId: String?
    public var model: String?
    /// Most candidates wanted (1…10, default 3).
    public var maxCandidates: Int?
    /// Force multi-line (true) or single-line (false); absent: decided from the cursor's context.
    public var multiline: Bool?
    public init(
        prefix: String, suffix: String? = nil, language: String? = nil, path: String? = nil, workspaceId: String? = nil,
        projectId: String? = nil, model: String? = nil, maxCandidates: Int? = nil, multiline: Bool? = nil
    ) {
        self.prefix = prefix
        self.suffix = suffix
        self.language = language
        self.path = path
        self.workspaceId = workspaceId
        self.projectId = projectId
        self.model = model
        self.maxCandidates = maxCandidates
        self.multiline = multiline
    }
}

public struct AICompleteResult: ResponseType, Hashable {
    public var completionId: String
    public var model: String
    public var candidates: [String]
    /// Served from the cache (no model call).
    public var cached: Bool
    public var usage: CompletionUsage
    /// Present when a budget had room for less than the model's output limit: the call was made
    /// with this smaller limit instead of being refused.
    public var clampedMaxOutputTokens: Int?
    /// Present when the workspace's fallback model answered because a budget refused the model
    /// asked for (`model` is then the fallback).
    public var fallback: CompletionFallback?
    public init(
        completionId: String, model: String, candidates: [String], cached: Bool, usage: CompletionUsage,
        clampedMaxOutputTokens: Int? = nil, fallback: CompletionFallback? = nil
    ) {
        self.fallback = fallback
        self.completionId = completionId
        self.model = model
        self.candidates = candidates
        self.cached = cached
        self.usage = usage
        self.clampedMaxOutputTokens = clampedMaxOutputTokens
    }
}
