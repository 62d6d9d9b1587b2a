import JSONRPC
import Logging
import ServiceLifecycle

/// Serves one session over the process's stdin and stdout. When it ends (`exit`, or stdin closed)
/// the process ends too: a sidecar lives as long as its parent's pipe.
public final class StdioService: Service {
    private let server: DevModeServer
    private let input: any ByteReader
    private let output: any ByteWriter
    private let localMode: Bool
    private let exitStatusBox = LockedState<Int32>(1)

    /// `input` and `output` come from `StandardIO.takeOverStandardOutput()`, called at start.
    /// In `localMode` the session may act as the local user without a credential.
    public init(server: DevModeServer, input: any ByteReader, output: any ByteWriter, localMode: Bool) {
        self.server = server
        self.input = input
        self.output = output
        self.localMode = localMode
    }

    /// LSP's exit status: 0 when `shutdown` came before the end, 1 otherwise.
    public var exitStatus: Int32 { exitStatusBox.withLock { $0 } }

    public func run() async throws {
        let (connection, session) = server.makeConnection(transport: "stdio", local: localMode)
        let grace = server.configuration.shutdownGrace
        await withGracefulShutdownHandler {
            await connection.run(input: input, output: output)
        } onGracefulShutdown: {
            Task { await connection.stop(grace: grace) }
        }
        let status = session.lspExitStatus
        exitStatusBox.withLock { $0 = status }
    }
}
