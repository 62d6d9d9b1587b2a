import JSONRPC
import JSONRPCNIO
import Logging
import ServiceLifecycle

/// Serves every TCP connection a bound listener accepts, each its own session. On graceful
/// shutdown it stops accepting, gives requests in flight the configured grace, then closes.
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
            try await listener.run { reader, writer, peer in
                let (connection, _) = server.makeConnection(transport: "tcp")
                connection.logger.debug("accepted", metadata: ["peer": "\(peer)"])
                await connection.run(input: reader, output: writer)
            }
        } onGracefulShutdown: {
            Task {
                await listener.close()
                await server.stopAllConnections(grace: server.configuration.shutdownGrace)
            }
        }
    }
}
