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
            let encoding = PositionEncoding.negotiate(clientCapabilities: request.capabilities)
            context.session.negotiatedPositionEncoding(encoding)
            await context.server.placement.setUp(request, session: context.session, caller: context.caller, signature: context.signature)
            return InitializeResult(
                capabilities: ServerCapabilities(
                    positionEncoding: encoding.rawValue,
                    textDocumentSync: TextDocumentSyncOptions(openClose: true, change: 2),
                    experimental: DevModeCapabilities(
                        protocolVersion: DevModeMessages.protocolVersion, methods: context.server.methods.sorted(),
                        limits: context.server.configuration.limits.advertised)),
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

extension Limits {
    /// The limits `initialize` tells a client (`capabilities.experimental.limits`).
    var advertised: [String: Int] {
        [
            "maxMessageBytes": maxMessageBytes,
            "maxHeaderLineBytes": maxHeaderLineBytes,
            "maxHeaderBlockBytes": maxHeaderBlockBytes,
            "maxNestingDepth": maxNestingDepth,
            "maxBatchLength": maxBatchLength,
            "maxRequestsInFlight": maxRequestsInFlight,
            "maxOutboundBytes": maxOutboundBytes,
            "outboundGraceMs": Int(outboundGrace.wholeMilliseconds),
            "maxFramingErrors": maxFramingErrors,
        ]
    }
}
