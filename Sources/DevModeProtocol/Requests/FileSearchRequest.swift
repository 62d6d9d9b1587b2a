import JSONRPC

/// `file/search` (viewer and up): a literal (or, with `regex`, a regular expression) over the text files, honouring `.gitignore`; stops at `maxResults` (default 200, at most 5000) or `timeoutMs` (default 2000, at most 30000).
public struct FileSearchRequest: ObjectScopedRequest, Hashable {
    public static let method = "file/search"
    public typealias Response = FileSearchResult
    public static let objectIDField = "projectId"
    public static let objectKind = ObjectKind.project
    public static let isWrite = false
    public static let sampleParams: [String: JSONValue] = ["query": "secret"]
    public var projectId: String
    public var query: String
    public var regex: Bool?
    public var caseSensitive: Bool?
    public var path: String?
    public var maxResults: Int?
    public var timeoutMs: Int?
    public init(projectId: String, query: String, regex: Bool? = nil, caseSensitive: Bool? = nil, path: String? = nil, maxResults: Int? = nil, timeoutMs: Int? = nil) {
        self.projectId = projectId
        self.query = query
        self.regex = regex
        self.caseSensitive = caseSensitive
        self.path = path
        self.maxResults = maxResults
        self.timeoutMs = timeoutMs
    }
}

public struct FileSearchResult: ResponseType, Hashable {
    public struct Match: Codable, Sendable, Hashable {
        public var path: String
        /// Zero-based, as LSP positions.
        public var line: Int
        public var character: Int
        public var text: String
        public init(path: String, line: Int, character: Int, text: String) {
            self.path = path
            self.line = line
            self.character = character
            self.text = text
        }
    }
    public var matches: [Match]
    public var truncated: Bool
    public var timedOut: Bool
    public init(matches: [Match], truncated: Bool, timedOut: Bool) {
        self.matches = matches
        self.truncated = truncated
        self.timedOut = timedOut
    }
}
