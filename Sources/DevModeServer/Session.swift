import DevModeProtocol
import JSONRPC
import Logging

/// One peer's session: the LSP lifecycle (and, later, who is calling). Sits between the connection
/// and the router: it refuses what the lifecycle forbids and routes the rest.
public final class Session: MessageHandler {
    public enum Phase: Sendable, Equatable {
        case uninitialized
        case initialized
        case shutdown
        case exited
    }

    public let id: Int
    public let transport: String
    private unowned(unsafe) let server: DevModeServer
    private let logger: Logger
    private let state = LockedState<Phase>(.uninitialized)

    init(id: Int, transport: String, server: DevModeServer, logger: Logger) {
        self.id = id
        self.transport = transport
        self.server = server
        self.logger = logger
    }

    public var phase: Phase { state.withLock { $0 } }

    private let sawShutdown = LockedState(false)

    /// 0 when `shutdown` was received before the session ended, 1 otherwise.
    public var lspExitStatus: Int32 { sawShutdown.withLock { $0 } ? 0 : 1 }

    public func handle(request: any RequestType, id: RequestID, from connection: Connection) async throws -> any ResponseType {
        let method = type(of: request).method
        let phase = self.phase
        switch phase {
        case .uninitialized where method != InitializeRequest.method:
            throw ResponseError.serverNotInitialized()
        case .initialized where method == InitializeRequest.method:
            throw ResponseError.invalidRequest("initialize was already received")
        case .shutdown, .exited:
            throw ResponseError.invalidRequest("the server is shutting down: only 'exit' is accepted")
        default:
            break
        }
        var requestLogger = logger
        requestLogger[metadataKey: "method"] = "\(method)"
        requestLogger[metadataKey: "request"] = "\(id)"
        let context = RequestContext(server: server, session: self, connection: connection, logger: requestLogger)
        let result = try await server.router.handle(request, context: context)
        if method == InitializeRequest.method {
            state.withLock { $0 = .initialized }
        } else if method == ShutdownRequest.method {
            state.withLock { $0 = .shutdown }
            sawShutdown.withLock { $0 = true }
        }
        return result
    }

    public func handle(notification: any NotificationType, from connection: Connection) async {
        let method = type(of: notification).method
        if method == ExitNotification.method {
            state.withLock { $0 = .exited }
            logger.debug("exit received", metadata: ["status": "\(lspExitStatus)"])
            connection.close()
            return
        }
        // LSP: before `initialize`, notifications other than `exit` are dropped.
        guard phase != .uninitialized else { return }
        let context = RequestContext(server: server, session: self, connection: connection, logger: logger)
        await server.router.handle(notification, context: context)
    }

    public func connectionClosed(_ connection: Connection) async {
        server.connectionEnded(connection)
        logger.debug("session ended")
    }
}
