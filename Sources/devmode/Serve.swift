import ArgumentParser
import DevModeAI
import DevModeServer
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import JSONRPC
import JSONRPCNIO
import Logging
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server over stdio, TCP, or both at once.",
        discussion: """
            With neither --stdio nor --listen, listens on 127.0.0.1:7420.
            Over stdio, stdout carries protocol bytes only; logs go to stderr. The process exits
            when stdin closes or on 'exit': status 0 after 'shutdown', 1 otherwise.
            SIGTERM and SIGINT shut down gracefully: requests in flight get --shutdown-grace seconds.
            """
    )

    @Flag(help: "Serve one session over stdin/stdout (LSP framing, or newline-delimited JSON if the first byte is '{' or '[').")
    var stdio = false

    @Option(help: "Listen for TCP connections on HOST:PORT (port 0 picks a free port). Loopback unless you say otherwise.")
    var listen: HostPort?

    @Option(help: "Write the bound HOST:PORT to this file once listening (for shells that launch devmode as a sidecar).")
    var portFile: String?

    @Option(help: "Seconds that requests in flight may run after SIGTERM/SIGINT before they are cancelled.")
    var shutdownGrace: Double = 5

    @OptionGroup var storage: StorageOptions

    @Option(help: "Local mode: a folder project/open may register (and everything under it); repeat for more. Default: your home folder.")
    var allowedRoot: [String] = []
    @Option(help: "Largest file a client may write, in bytes (maxFileBytes).")
    var maxFileBytes: Int = 10 << 20
    @Option(help: "Most bytes a workspace's hosted projects may hold (workspaceStorageBytes).")
    var workspaceStorageBytes: Int = 1 << 30
    @Option(help: "Threads that run file/search, shared by every session (searchThreads).")
    var searchThreads: Int = SearchService.Settings().threads
    @Option(help: "Most file/search requests one session may have in flight (maxSearchesPerSession).")
    var maxSearchesPerSession: Int = SearchService.Settings().maxSearchesPerSession

    @Option(
        help: """
            The model registry (JSON; see the README). Default: $DEVMODE_MODELS, else models.json in the data \
            directory when it exists, else only the local engine.
            """)
    var models: String?
    @Option(help: "Milliseconds a model call's budget reservation holds; a process that dies mid-call stops holding it after this (quotaLeaseMs).")
    var quotaLeaseMs: Int = 300_000
    @Option(help: "The smallest output limit a call is lowered to, to fit a budget, before it is refused instead (quotaMinimumOutputTokens).")
    var quotaMinimumOutputTokens: Int = QuotaService.Settings().minimumOutputTokens
    @Option(help: "Most documents one session may hold open (maxOpenDocuments).")
    var maxOpenDocuments: Int = 1_000
    @Option(help: "Largest open document, and largest ai/complete prefix plus suffix, in bytes (maxDocumentBytes).")
    var maxDocumentBytes: Int = 10 << 20

    @Flag(help: "Over stdio, require a credential too (by default a stdio session acts as the local user).")
    var requireAuth = false

    @Flag(help: "Serve debug/sleep and debug/print (tests and benchmarks only).")
    var enableDebugMethods = false

    @Option(help: "Largest message body in bytes (maxMessageBytes).")
    var maxMessageBytes: Int = Limits().maxMessageBytes
    @Option(help: "Longest header line in bytes (maxHeaderLineBytes).")
    var maxHeaderLineBytes: Int = Limits().maxHeaderLineBytes
    @Option(help: "Largest header block in bytes (maxHeaderBlockBytes).")
    var maxHeaderBlockBytes: Int = Limits().maxHeaderBlockBytes
    @Option(help: "Deepest JSON nesting in one message (maxNestingDepth).")
    var maxNestingDepth: Int = Limits().maxNestingDepth
    @Option(help: "Most messages in one batch (maxBatchLength).")
    var maxBatchLength: Int = Limits().maxBatchLength
    @Option(help: "Most requests in flight per connection (maxRequestsInFlight).")
    var maxRequestsInFlight: Int = Limits().maxRequestsInFlight
    @Option(help: "Most reply bytes held for a peer and not yet written to its socket or pipe (maxOutboundBytes).")
    var maxOutboundBytes: Int = Limits().maxOutboundBytes
    @Option(help: "Seconds a peer over --max-outbound-bytes may take to read the write in progress before it is disconnected (outboundGrace).")
    var outboundGrace: Double = Double(Limits().outboundGrace.wholeMilliseconds) / 1000
    @Option(help: "Framing or JSON errors in a row after which a connection is closed (maxFramingErrors).")
    var maxFramingErrors: Int = Limits().maxFramingErrors

    @Option(help: "Failed sign-ins one peer address may make at once before it is throttled (signInPeerBurst).")
    var signInPeerBurst: Int = SignInPolicy().peerBurst
    @Option(help: "Then one more failed sign-in per this many milliseconds (signInPeerIntervalMs).")
    var signInPeerIntervalMs: Int = Int(SignInPolicy().peerInterval.components.seconds * 1000)
    @Option(help: "Failed sign-ins naming one API key id (its public prefix) at once before it is throttled (signInKeyBurst).")
    var signInKeyBurst: Int = SignInPolicy().keyBurst
    @Option(help: "Then one more failed sign-in per this many milliseconds (signInKeyIntervalMs).")
    var signInKeyIntervalMs: Int = Int(SignInPolicy().keyInterval.components.seconds * 1000)
    @Option(help: "Failed sign-ins from one address are audited as one row per this many milliseconds, with a count (signInAuditIntervalMs).")
    var signInAuditIntervalMs: Int = Int(SignInPolicy().auditInterval.components.seconds * 1000)

    @Option(help: "TCP: most connections open at once; one more is refused with -32050 (maxConnections).")
    var maxConnections: Int = TCPSettings().maxConnections
    @Option(help: "TCP: most connections open at once from one peer address (maxConnectionsPerPeer).")
    var maxConnectionsPerPeer: Int = TCPSettings().maxConnectionsPerPeer
    @Option(help: "TCP: milliseconds a connection has to complete 'initialize' before it is closed; 0 turns it off (initializeTimeoutMs).")
    var initializeTimeoutMs: Int = 10_000
    @Option(help: "TCP: milliseconds a message may take from its first byte to its last before its connection is closed; 0 turns it off (messageTimeoutMs).")
    var messageTimeoutMs: Int = 30_000
    @Option(help: "TCP: milliseconds a signed-in connection may stay quiet (nothing received, nothing in flight) before it is closed; 0, the default, turns it off (idleTimeoutMs).")
    var idleTimeoutMs: Int = 0

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        for (name, value) in [
            ("max-message-bytes", maxMessageBytes), ("max-header-line-bytes", maxHeaderLineBytes),
            ("max-header-block-bytes", maxHeaderBlockBytes), ("max-nesting-depth", maxNestingDepth),
            ("max-batch-length", maxBatchLength), ("max-requests-in-flight", maxRequestsInFlight),
            ("max-outbound-bytes", maxOutboundBytes), ("max-framing-errors", maxFramingErrors), ("max-file-bytes", maxFileBytes),
            ("workspace-storage-bytes", workspaceStorageBytes), ("max-open-documents", maxOpenDocuments),
            ("max-document-bytes", maxDocumentBytes), ("sign-in-peer-burst", signInPeerBurst),
            ("sign-in-peer-interval-ms", signInPeerIntervalMs), ("sign-in-key-burst", signInKeyBurst),
            ("sign-in-key-interval-ms", signInKeyIntervalMs), ("sign-in-audit-interval-ms", signInAuditIntervalMs),
            ("max-connections", maxConnections), ("max-connections-per-peer", maxConnectionsPerPeer),
            ("search-threads", searchThreads), ("max-searches-per-session", maxSearchesPerSession),
            ("quota-lease-ms", quotaLeaseMs), ("quota-minimum-output-tokens", quotaMinimumOutputTokens),
        ] where value < 1 {
            throw ValidationError("--\(name) must be at least 1")
        }
        for (name, value) in [
            ("initialize-timeout-ms", initializeTimeoutMs), ("message-timeout-ms", messageTimeoutMs),
            ("idle-timeout-ms", idleTimeoutMs),
        ] where value < 0 {
            throw ValidationError("--\(name) must not be negative (0 turns it off)")
        }
        if shutdownGrace < 0 { throw ValidationError("--shutdown-grace must not be negative") }
        if outboundGrace < 0 { throw ValidationError("--outbound-grace must not be negative") }
    }

    /// A peer's large message (up to `maxMessageBytes`) is freed once dispatched, but glibc's
    /// dynamic mmap threshold then rises to that size, so later buffers of that size come from the
    /// heap and stay resident after they are freed: eight idle connections that each sent one 15 MB
    /// message left 40 MB resident, 2.6 MB with a fixed threshold. Fixed at 1 MiB, every larger
    /// buffer is its own mapping and goes back to the system when freed.
    static func returnLargeBuffersToTheSystem() {
        #if canImport(Glibc)
        // malloc.h is not in Swift's Glibc module: mallopt through dlsym (RTLD_DEFAULT is null).
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD in malloc.h
        if let symbol = dlsym(nil, "mallopt") {
            _ = unsafeBitCast(symbol, to: Mallopt.self)(mmapThreshold, 1 << 20)
        }
        #endif
    }

    func run() async throws {
        // First of all, before anything can print: stdout belongs to the protocol.
        let standardIO = stdio ? StandardIO.takeOverStandardOutput() : nil
        _ = try logging.bootstrap()
        // Lines still queued at exit get a moment to reach stderr (never longer: nobody may be reading).
        defer { LoggingOptions.output?.flush() }
        let logger = Logger(label: "devmode")
        Self.returnLargeBuffersToTheSystem()

        var limits = Limits()
        limits.maxMessageBytes = maxMessageBytes
        limits.maxHeaderLineBytes = maxHeaderLineBytes
        limits.maxHeaderBlockBytes = maxHeaderBlockBytes
        limits.maxNestingDepth = maxNestingDepth
        limits.maxBatchLength = maxBatchLength
        limits.maxRequestsInFlight = maxRequestsInFlight
        limits.maxOutboundBytes = maxOutboundBytes
        limits.outboundGrace = .milliseconds(Int(outboundGrace * 1000))
        limits.maxFramingErrors = maxFramingErrors
        let registry = try loadModelRegistry()
        var configuration = ServerConfiguration(
            limits: limits, enableDebugMethods: enableDebugMethods,
            shutdownGrace: .milliseconds(Int(shutdownGrace * 1000)), localMode: stdio && !requireAuth,
            tokenSecret: storage.tokenSecretBytes,
            projects: ProjectService.Settings(
                dataDirectory: storage.dataDirectory, maxFileBytes: maxFileBytes,
                workspaceStorageBytes: workspaceStorageBytes,
                allowedRoots: allowedRoot.isEmpty ? [FileManager.default.homeDirectoryForCurrentUser.path] : allowedRoot),
            search: SearchService.Settings(threads: searchThreads, maxSearchesPerSession: maxSearchesPerSession),
            models: registry, maxOpenDocuments: maxOpenDocuments, maxDocumentBytes: maxDocumentBytes,
            signIn: SignInPolicy(
                peerBurst: signInPeerBurst, peerInterval: .milliseconds(signInPeerIntervalMs), keyBurst: signInKeyBurst,
                keyInterval: .milliseconds(signInKeyIntervalMs), auditInterval: .milliseconds(signInAuditIntervalMs)),
            auditKeyFile: storage.auditKeyPath)
        configuration.quota = QuotaService.Settings(
            lease: .milliseconds(quotaLeaseMs), minimumOutputTokens: quotaMinimumOutputTokens)
        // Not migrated here: `DevModeServer.open` migrates (once), and `serve` closes the store
        // however the server ends.
        let driver = try await storage.openDriver()
        var stdioService: StdioService?
        try await DevModeServer.serve(driver: driver, configuration: configuration, logger: logger) { server in
            logger.info(
                "models", metadata: ["registry": "\(registry.models.map(\.id).joined(separator: ", "))", "default": "\(registry.defaultModels)"])
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            if let standardIO {
                let service = StdioService(
                    server: server, input: standardIO.input, output: standardIO.output, localMode: !requireAuth)
                stdioService = service
                services.append(.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup))
            }
            let address = listen ?? (stdio ? nil : HostPort(argument: "127.0.0.1:7420"))
            if let address {
                let listener: TCPServer
                do {
                    listener = try await TCPServer.bind(
                        host: address.host, port: address.port, settings: tcpSettings, logger: Logger(label: "devmode.tcp"))
                } catch {
                    throw ValidationError("cannot listen on \(address): \(error)")
                }
                if let portFile {
                    try writeAtomically("\(listener.host):\(listener.port)\n", to: portFile)
                }
                services.append(.init(service: TCPService(server: server, listener: listener)))
            }
            return services
        }
        if let stdioService, stdioService.exitStatus != 0 {
            throw ExitCode(stdioService.exitStatus)
        }
    }

    var tcpSettings: TCPSettings {
        var settings = TCPSettings()
        settings.maxConnections = maxConnections
        settings.maxConnectionsPerPeer = maxConnectionsPerPeer
        func duration(_ milliseconds: Int) -> Duration? { milliseconds > 0 ? .milliseconds(milliseconds) : nil }
        settings.initializeTimeout = duration(initializeTimeoutMs)
        settings.messageTimeout = duration(messageTimeoutMs)
        settings.idleTimeout = duration(idleTimeoutMs)
        return settings
    }

    private func writeAtomically(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try Data(text.utf8).write(to: url, options: .atomic)
    }
}

extension Serve {
    /// The registry named by --models or $DEVMODE_MODELS, else the data directory's models.json,
    /// else only the local engine. A file that is named but unreadable or invalid stops the start.
    func loadModelRegistry() throws -> ModelRegistry {
        let named = models ?? ProcessInfo.processInfo.environment["DEVMODE_MODELS"].flatMap { $0.isEmpty ? nil : $0 }
        let path = named ?? storage.dataDirectory + "/models.json"
        guard named != nil || FileManager.default.fileExists(atPath: path) else { return ModelRegistry() }
        do {
            return try ModelRegistry.load(path: path)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}
