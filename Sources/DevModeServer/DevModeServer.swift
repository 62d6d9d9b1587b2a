import DevModeCrypto
import DevModeProtocol
import DevModeStore
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import JSONRPC
import Logging

/// The server: its configuration, services, method table, and the connections it is serving.
/// Transports (stdio, TCP, memory) ask it for a connection and run it.
public final class DevModeServer: Sendable {
    public let configuration: ServerConfiguration
    public let logger: Logger
    public let router: Router
    /// The registry restricted to the methods served, so a method not served (a debug method
    /// without `--enable-debug-methods`) is unknown, not merely refused.
    let registry: MessageRegistry
    public let store: Store
    public let directory: Directory
    /// Reading and verifying the audit log, with its rights.
    let audit: AuditService
    public let projects: ProjectService
    /// `file/search`, on its own bounded pool.
    public let search: SearchService
    /// Models, completion, local engines, usage.
    public let ai: AIService
    /// Where documents belong, the completion set-up at `initialize`, and document sync.
    let placement: CompletionPlacement
    let authenticator: Authenticator
    /// The local user, for stdio sessions in local mode.
    let localCaller: Caller?
    let startedAt = ContinuousClock.now
    private let connections = LockedState<(nextID: Int, open: [ObjectIdentifier: (Connection, Session)])>((1, [:]))

    /// Opens the server on a store, migrating it: loads (or creates) the audit key file, which
    /// anchors every audit row written from now on (and refuses when it is missing over an anchored
    /// log), the token secret and, in local mode, the local tenant, user and workspace.
    public static func open(
        configuration: ServerConfiguration, store: Store, logger: Logger = Logger(label: "devmode")
    ) async throws -> DevModeServer {
        try await store.migrate()
        try await AuditKeyFile.open(path: configuration.auditKeyPath, store: store)
        let secret: [UInt8]
        if let configured = configuration.tokenSecret {
            secret = configured
        } else {
            let generated = ByteEncoding.hex(Crypto.randomBytes(32))
            let stored = try await store.write { try $0.settingIfAbsent("token_secret", generated) }
            secret = Array(stored.utf8)
        }
        let authenticator = Authenticator(
            store: store, tokenSecret: secret, policy: configuration.signIn, clock: configuration.clock, logger: logger)
        let localCaller = configuration.localMode ? try await LocalMode.provision(store: store) : nil
        return DevModeServer(
            configuration: configuration, store: store, authenticator: authenticator, localCaller: localCaller,
            logger: logger)
    }

    private init(
        configuration: ServerConfiguration, store: Store, authenticator: Authenticator, localCaller: Caller?,
        logger: Logger
    ) {
        self.configuration = configuration
        self.logger = logger
        self.store = store
        self.directory = Directory(store: store)
        self.audit = AuditService(store: store)
        self.projects = ProjectService(settings: configuration.projects, store: store)
        self.search = SearchService(settings: configuration.search, projects: projects, clock: configuration.clock)
        self.ai = AIService(configuration: configuration, store: store, logger: logger)
        self.placement = CompletionPlacement(
            projects: projects, directory: directory, store: store, ai: ai, maxDocumentBytes: configuration.maxDocumentBytes,
            maxOpenDocuments: configuration.maxOpenDocuments, clock: configuration.clock, logger: logger)
        let engines = ai.engines
        projects.observeChanges { project, paths in
            for path in paths { engines.fileChanged(root: project.root, path: path) }
        }
        self.authenticator = authenticator
        self.localCaller = localCaller
        self.router = Self.makeRouter(configuration)
        self.registry = DevModeMessages.registry.restricted(to: router.methods)
        ai.quotas.onThresholdCrossed { [weak self] crossings in self?.announce(crossings) }
    }

    static func makeRouter(_ configuration: ServerConfiguration) -> Router {
        var router = Router()
        registerLifecycleHandlers(&router)
        registerServerHandlers(&router)
        registerAuthHandlers(&router)
        registerTenancyHandlers(&router)
        registerAuditHandlers(&router)
        registerProjectHandlers(&router)
        registerFileHandlers(&router)
        registerVCSHandlers(&router)
        registerDocumentHandlers(&router)
        registerModelHandlers(&router)
        registerQuotaHandlers(&router)
        registerCompletionHandlers(&router)
        if configuration.enableDebugMethods {
            registerDebugHandlers(&router)
        }
        return router
    }

    /// The methods a server with this configuration serves (its method table).
    public static func methods(for configuration: ServerConfiguration) -> Set<String> {
        makeRouter(configuration).methods
    }

    /// The methods this server serves.
    public var methods: Set<String> { router.methods }

    /// A new connection with its own session, counted among the open ones until it ends.
    /// `local`: the session may act as the local user without a credential (stdio in local mode).
    /// `peer`: the remote address (host, no port) of a network connection; failed sign-ins are
    /// throttled per address. nil for stdio and in-process connections.
    public func makeConnection(
        transport: String, framing: FramingMode? = nil, local: Bool = false, peer: String? = nil
    ) -> (Connection, Session) {
        let id = connections.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        var connectionLogger = logger
        connectionLogger[metadataKey: "connection"] = "\(id)"
        connectionLogger[metadataKey: "transport"] = "\(transport)"
        let session = Session(
            id: id, transport: transport, peer: peer, server: self, localCaller: local ? localCaller : nil,
            logger: connectionLogger)
        let connection = Connection(
            registry: registry, handler: session, framing: framing, limits: configuration.limits,
            logger: connectionLogger)
        connections.withLock { $0.open[ObjectIdentifier(connection)] = (connection, session) }
        return (connection, session)
    }

    /// Sends `notification` to every open, initialized session that `matches`.
    func tellSessions(_ notification: some NotificationType, where matches: (Session) -> Bool) {
        let open = connections.withLock { Array($0.open.values) }
        for (connection, session) in open where session.phase == .initialized && matches(session) {
            connection.send(notification)
        }
    }

    func connectionEnded(_ connection: Connection) {
        connections.withLock { _ = $0.open.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    public var openConnectionCount: Int { connections.withLock { $0.open.count } }

    /// Cuts off every open session whose caller matches: it answers unauthenticated from now on
    /// and its connection closes. Used when a key is revoked or a user disabled.
    func cutOff(reason: String, where matches: (Caller) -> Bool) {
        let open = connections.withLock { Array($0.open.values) }
        for (connection, session) in open {
            if let caller = session.caller, matches(caller) {
                session.revoke(reason)
                connection.close()
            }
        }
    }

    /// Stops every open connection: no new requests; in-flight ones get `grace` to finish.
    public func stopAllConnections(grace: Duration) async {
        let open = connections.withLock { $0.open.values.map(\.0) }
        await withTaskGroup(of: Void.self) { group in
            for connection in open {
                group.addTask { await connection.stop(grace: grace) }
            }
        }
    }

    /// Closes the open repositories and the database. Call after the transports have stopped.
    public func close() async {
        // The counts of failed sign-ins still being aggregated go to the audit log first.
        await authenticator.failedSignIns.close()
        await ai.close()
        await projects.close()
        await store.driver.close()
    }

    var uptime: Double {
        let elapsed = ContinuousClock.now - startedAt
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
