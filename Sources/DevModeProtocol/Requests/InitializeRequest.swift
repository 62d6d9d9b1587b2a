import JSONRPC

/// `initialize`: LSP's first request. Carries the client's identity and options; the answer names
/// the server and what it can do. Every other request before it answers `-32002`.
public struct InitializeRequest: RequestType, Hashable {
    public static let method = "initialize"
    public typealias Response = InitializeResult

    public var processId: Int?
    public var clientInfo: ClientInfo?
    public var locale: String?
    public var rootUri: String?
    public var rootPath: String?
    public var capabilities: JSONValue?
    public var initializationOptions: JSONValue?
    public var trace: String?
    public var workspaceFolders: [WorkspaceFolder]?

    public var ordering: MessageOrdering { .barrier }

    public init(
        processId: Int? = nil, clientInfo: ClientInfo? = nil, rootUri: String? = nil,
        capabilities: JSONValue? = [:], initializationOptions: JSONValue? = nil,
        workspaceFolders: [WorkspaceFolder]? = nil
    ) {
        self.processId = processId
        self.clientInfo = clientInfo
        self.rootUri = rootUri
        self.capabilities = capabilities
        self.initializationOptions = initializationOptions
        self.workspaceFolders = workspaceFolders
    }
}

public struct ClientInfo: Codable, Hashable, Sendable {
    public var name: String
    public var version: String?
    public init(name: String, version: String? = nil) {
        self.name = name
        self.version = version
    }
}

public struct WorkspaceFolder: Codable, Hashable, Sendable {
    public var uri: String
    public var name: String
    public init(uri: String, name: String) {
        self.uri = uri
        self.name = name
    }
}

public struct InitializeResult: ResponseType, Hashable {
    public var capabilities: ServerCapabilities
    public var serverInfo: ServerInfo
    /// Who the session is (devmode's addition to LSP's result; LSP clients ignore it).
    public var identity: IdentityInfo?
    public init(capabilities: ServerCapabilities, serverInfo: ServerInfo, identity: IdentityInfo? = nil) {
        self.capabilities = capabilities
        self.serverInfo = serverInfo
        self.identity = identity
    }
}

public struct ServerInfo: Codable, Hashable, Sendable {
    public var name: String
    public var version: String?
    public init(name: String, version: String?) {
        self.name = name
        self.version = version
    }
}

public struct ServerCapabilities: Codable, Hashable, Sendable {
    /// LSP's position encoding: the first of the client's `general.positionEncodings` the server
    /// supports ("utf-8", "utf-16", "utf-32"), "utf-16" when the client names none.
    public var positionEncoding: String
    /// LSP's document sync: open/close and incremental changes.
    public var textDocumentSync: TextDocumentSyncOptions
    /// LSP 3.18's inline completion (ghost text).
    public var inlineCompletionProvider: Bool
    /// LSP's completion list (AI completions for clients without inline completion).
    public var completionProvider: CompletionOptions
    /// LSP's commands the server runs (`devmode.completion.accepted`).
    public var executeCommandProvider: ExecuteCommandOptions
    /// devmode's own: protocol version, the methods this server serves, and its limits.
    public var experimental: DevModeCapabilities

    public init(
        positionEncoding: String = "utf-16", textDocumentSync: TextDocumentSyncOptions = TextDocumentSyncOptions(),
        inlineCompletionProvider: Bool = true, completionProvider: CompletionOptions = CompletionOptions(),
        executeCommandProvider: ExecuteCommandOptions = ExecuteCommandOptions(),
        experimental: DevModeCapabilities
    ) {
        self.positionEncoding = positionEncoding
        self.textDocumentSync = textDocumentSync
        self.inlineCompletionProvider = inlineCompletionProvider
        self.completionProvider = completionProvider
        self.executeCommandProvider = executeCommandProvider
        self.experimental = experimental
    }
}

/// LSP's CompletionOptions.
public struct CompletionOptions: Codable, Hashable, Sendable {
    public var triggerCharacters: [String]
    public var resolveProvider: Bool
    public init(triggerCharacters: [String] = [".", "(", " "], resolveProvider: Bool = false) {
        self.triggerCharacters = triggerCharacters
        self.resolveProvider = resolveProvider
    }
}

/// LSP's ExecuteCommandOptions.
public struct ExecuteCommandOptions: Codable, Hashable, Sendable {
    public var commands: [String]
    public init(commands: [String] = [ExecuteCommandRequest.acceptCompletionCommand]) {
        self.commands = commands
    }
}

public struct DevModeCapabilities: Codable, Hashable, Sendable {
    public var protocolVersion: String
    public var methods: [String]
    public var limits: [String: Int]
    public init(protocolVersion: String, methods: [String], limits: [String: Int]) {
        self.protocolVersion = protocolVersion
        self.methods = methods
        self.limits = limits
    }
}
