import DevModeAI
import DevModeClock
import JSONRPC

/// Everything the server's behaviour depends on. The CLI fills it from flags; tests build it directly.
public struct ServerConfiguration: Sendable {
    public var version: String
    /// Per-connection limits (message size, nesting, batch length, requests in flight, …).
    public var limits: Limits
    /// Serves `debug/sleep` and `debug/print` (tests and benchmarks only).
    public var enableDebugMethods: Bool
    /// How long requests in flight may run after SIGTERM/SIGINT before they are cancelled.
    public var shutdownGrace: Duration
    /// Stdio sessions without a credential act as the local user (provisioned on first start).
    /// Off with `--require-auth`. TCP always requires a credential.
    public var localMode: Bool
    /// The HS256 key for session tokens; nil: a random key kept in the database (shared by every
    /// process that uses it).
    public var tokenSecret: [UInt8]?
    /// The audit key file (`AuditKeyFile`), which anchors the audit chain outside the database;
    /// nil: `audit.key` in the data directory (`projects.dataDirectory`).
    public var auditKeyFile: String?
    /// How often an open session re-checks its credential in the database (a key revoked or a user
    /// disabled by another process). Revocations made through this process cut sessions off at once.
    public var credentialRecheckInterval: Duration
    /// How failed sign-ins are throttled (per peer address and API key id) and audited.
    public var signIn: SignInPolicy
    /// Where hosted projects live, the file size and storage limits, and (local mode) the folders
    /// `project/open` may register.
    public var projects: ProjectService.Settings
    /// `file/search`'s thread pool and its per-session limit.
    public var search: SearchService.Settings
    /// Every model the server knows (the model registry file), and the default models of a
    /// workspace that never chose. With no file: only `local`.
    public var models: ModelRegistry
    /// Prompt budget, output limits and cache size of the completion pipeline.
    public var completion: CompletionPipeline.Settings
    /// What the local engines learn from, and how soon they learn an edit.
    public var localEngine: LocalEngines.Settings
    /// How long a budget reservation holds, and the smallest output a call is lowered to.
    public var quota: QuotaService.Settings = QuotaService.Settings()
    /// Most documents one session may hold open (`maxOpenDocuments`); more are refused, logged.
    public var maxOpenDocuments: Int
    /// Most bytes one open document may hold (`maxDocumentBytes`).
    public var maxDocumentBytes: Int
    /// Where providers' API keys are looked up (the process environment; tests inject their own).
    public var environment: ModelClients.Environment
    /// Replaces the HTTP providers (benchmarks measure the server with a provider that answers at
    /// once). nil: OpenAI-compatible and Anthropic over HTTP.
    public var providerOverride: (@Sendable (ModelConfiguration) -> any ModelProvider)?
    /// The clock every time-based rule reads: provider call limits, the usage flush interval, the
    /// credential re-check, the workspace model-choice cache, `file/search`'s `timeoutMs`, the
    /// sign-in throttle and its audit intervals. The one clock: tests inject a `TestClock` here.
    public var clock: any ServerClock

    public init(
        version: String = DevModeVersion.current, limits: Limits = Limits(), enableDebugMethods: Bool = false,
        shutdownGrace: Duration = .seconds(5), localMode: Bool = false, tokenSecret: [UInt8]? = nil,
        credentialRecheckInterval: Duration = .seconds(5),
        projects: ProjectService.Settings = ProjectService.Settings(dataDirectory: StoreLocation.defaultDataDirectory),
        search: SearchService.Settings = SearchService.Settings(),
        models: ModelRegistry = ModelRegistry(), completion: CompletionPipeline.Settings = CompletionPipeline.Settings(),
        localEngine: LocalEngines.Settings = LocalEngines.Settings(), maxOpenDocuments: Int = 1_000,
        maxDocumentBytes: Int = 10 << 20, environment: @escaping ModelClients.Environment = ModelClients.processEnvironment,
        clock: any ServerClock = SystemClock(),
        signIn: SignInPolicy = SignInPolicy(), auditKeyFile: String? = nil
    ) {
        self.auditKeyFile = auditKeyFile
        self.clock = clock
        self.signIn = signIn
        self.models = models
        self.completion = completion
        self.localEngine = localEngine
        self.maxOpenDocuments = maxOpenDocuments
        self.maxDocumentBytes = maxDocumentBytes
        self.environment = environment
        self.projects = projects
        self.search = search
        self.localMode = localMode
        self.tokenSecret = tokenSecret
        self.credentialRecheckInterval = credentialRecheckInterval
        self.version = version
        self.limits = limits
        self.enableDebugMethods = enableDebugMethods
        self.shutdownGrace = shutdownGrace
    }
}

public enum DevModeVersion {
    public static let current = "0.1.0"
}

extension ServerConfiguration {
    /// The audit key file in force: `auditKeyFile`, else `audit.key` in the data directory.
    public var auditKeyPath: String {
        auditKeyFile ?? AuditKeyFile.defaultPath(dataDirectory: projects.dataDirectory)
    }
}
