import DevModeProtocol
import Foundation
import JSONRPC
import Logging

/// The server: its configuration, its method table, and the connections it is serving.
/// Transports (stdio, TCP, memory) ask it for a connection and run it.
public final class DevModeServer: Sendable {
    public let configuration: ServerConfiguration
    public let logger: Logger
    public let router: Router
    let startedAt = ContinuousClock.now
    private let connections = LockedState<(nextID: Int, open: [ObjectIdentifier: Connection])>((1, [:]))

    public init(configuration: ServerConfiguration = ServerConfiguration(), logger: Logger = Logger(label: "devmode")) {
        self.configuration = configuration
        self.logger = logger
        var router = Router()
        Self.registerLifecycleHandlers(&router)
        Self.registerServerHandlers(&router)
        if configuration.enableDebugMethods {
            Self.registerDebugHandlers(&router)
        }
        self.router = router
    }

    /// The methods this server serves (its method table).
    public var methods: Set<String> { router.methods }

    /// A new connection with its own session, counted among the open ones until it ends.
    public func makeConnection(transport: String, framing: FramingMode? = nil) -> (Connection, Session) {
        let id = connections.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        var connectionLogger = logger
        connectionLogger[metadataKey: "connection"] = "\(id)"
        connectionLogger[metadataKey: "transport"] = "\(transport)"
        let session = Session(id: id, transport: transport, server: self, logger: connectionLogger)
        let connection = Connection(
            registry: DevModeMessages.registry, handler: session, framing: framing, limits: configuration.limits,
            logger: connectionLogger)
        connections.withLock { $0.open[ObjectIdentifier(connection)] = connection }
        return (connection, session)
    }

    func connectionEnded(_ connection: Connection) {
        connections.withLock { _ = $0.open.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    public var openConnectionCount: Int { connections.withLock { $0.open.count } }

    /// Stops every open connection: no new requests; in-flight ones get `grace` to finish.
    public func stopAllConnections(grace: Duration) async {
        let open = connections.withLock { Array($0.open.values) }
        await withTaskGroup(of: Void.self) { group in
            for connection in open {
                group.addTask { await connection.stop(grace: grace) }
            }
        }
    }

    var uptime: Double {
        let elapsed = ContinuousClock.now - startedAt
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
