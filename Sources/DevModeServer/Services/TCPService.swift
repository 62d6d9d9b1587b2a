import JSONRPC
import JSONRPCNIO
import Logging
import ServiceLifecycle

/// Serves every TCP connection a bound listener accepts, each its own session, under the
/// listener's caps and time limits (`TCPSettings`: the initialize limit lasts until the session has
/// signed in). On graceful shutdown it stops accepting, gives requests in flight the configured
/// grace, then closes.
public struct TCPService: Service {
    private let server: DevModeServer
    private let listener: TCPServer

    public init(server: DevModeServer, listener: TCPServer) {
        self.server = server
        self.listener = listener
    }

    public func run() async throws {
        let server = self.server
        let listener = self.listener
        server.logger.info("listening", metadata: ["address": "\(listener.host):\(listener.port)"])
        try await withGracefulShutdownHandler {
            try await listener.run { peer in
                let (connection, session) = server.makeConnection(transport: "tcp", peer: peer.address == "unknown" ? nil : peer.address)
                connection.logger.debug("accepted", metadata: ["peer": "\(peer.description)"])
                await peer.serve(connection) { session.hasSignedIn }
            }
        } onGracefulShutdown: {
            Task {
                await listener.close()
                await server.stopAllConnections(grace: server.configuration.shutdownGrace)
            }
        }
    }
}

extension Session {
    /// Whether `initialize` has succeeded on this session (it may since have shut down).
    var hasSignedIn: Bool {
        switch phase {
        case .initialized, .shutdown, .exited: true
        case .uninitialized, .refused: false
        }
    }
}
