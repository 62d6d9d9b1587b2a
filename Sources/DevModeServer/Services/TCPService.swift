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

/// The host part of a NIO socket address's description (`[IPv4]127.0.0.1/127.0.0.1:54321`,
/// `[IPv6]::1/::1:54321`): what failed sign-ins are throttled by (every port of a host alike).
enum PeerAddress {
    static func host(of description: String) -> String? {
        var text = Substring(description)
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") { text = text[text.index(after: close)...] }
        if let slash = text.lastIndex(of: "/") { text = text[text.index(after: slash)...] }
        if let colon = text.lastIndex(of: ":"), text[text.index(after: colon)...].allSatisfy(\.isNumber) {
            text = text[..<colon]
        }
        if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        return text.isEmpty || text == "unknown" ? nil : String(text)
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
