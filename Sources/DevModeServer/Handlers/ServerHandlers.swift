import DevModeProtocol
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import JSONRPC

extension DevModeServer {
    static func registerServerHandlers(_ router: inout Router) {
        router.on(ServerInfoRequest.self) { _, context in
            ServerInfoResult(
                name: "devmode",
                version: context.server.configuration.version,
                protocolVersion: DevModeMessages.protocolVersion,
                uptimeSeconds: context.server.uptime,
                connections: context.server.openConnectionCount,
                transport: context.session.transport,
                pid: Int(ProcessInfo.processInfo.processIdentifier))
        }
    }
}
