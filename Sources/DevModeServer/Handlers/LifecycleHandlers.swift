import DevModeProtocol
import JSONRPC

extension DevModeServer {
    static func registerLifecycleHandlers(_ router: inout Router) {
        router.on(InitializeRequest.self) { request, context in
            context.logger.info(
                "initialize",
                metadata: [
                    "client": "\(request.clientInfo?.name ?? "unknown") \(request.clientInfo?.version ?? "")"
                ])
            let limits = context.server.configuration.limits
            let encoding = PositionEncoding.negotiate(clientCapabilities: request.capabilities)
            context.session.negotiatedPositionEncoding(encoding)
            await context.setUpCompletion(request)
            return InitializeResult(
                capabilities: ServerCapabilities(
                    positionEncoding: encoding.rawValue,
                    textDocumentSync: TextDocumentSyncOptions(openClose: true, change: 2),
                    experimental: DevModeCapabilities(
                        protocolVersion: DevModeMessages.protocolVersion,
                        methods: context.server.methods.sorted(),
                        limits: [
                            "maxMessageBytes": limits.maxMessageBytes,
                            "maxHeaderLineBytes": limits.maxHeaderLineBytes,
                            "maxHeaderBlockBytes": limits.maxHeaderBlockBytes,
                            "maxNestingDepth": limits.maxNestingDepth,
                            "maxBatchLength": limits.maxBatchLength,
                            "maxRequestsInFlight": limits.maxRequestsInFlight,
                            "maxOutboundBytes": limits.maxOutboundBytes,
                        ])),
                serverInfo: ServerInfo(name: "devmode", version: context.server.configuration.version),
                identity: IdentityInfo(context.caller))
        }
        router.on(InitializedNotification.self) { _, _ in }
        router.on(ShutdownRequest.self) { _, context in
            context.logger.debug("shutdown")
            return VoidResponse()
        }
        // `exit` is the session's own (it ends the connection), but it is in the method table.
        router.on(ExitNotification.self) { _, _ in }
    }
}
