import JSONRPC
import Logging

/// What a handler knows about the call it serves.
public struct RequestContext: Sendable {
    public let server: DevModeServer
    public let session: Session
    public let connection: Connection
    /// Who is calling (established at `initialize`).
    public let caller: Caller
    let baseLogger: Logger
    let method: String
    let requestID: RequestID?

    /// The session's logger with the method, request id, tenant and user in its metadata. Built when
    /// asked for: most requests log nothing, and setting metadata is not free.
    public var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "method"] = "\(method)"
        if let requestID { logger[metadataKey: "request"] = "\(requestID)" }
        logger[metadataKey: "tenant"] = "\(caller.tenantId)"
        logger[metadataKey: "user"] = "\(caller.userId)"
        return logger
    }

    var actor: Principal { .caller(caller) }
}

/// The method table: one typed handler per method. Dispatch looks the method up; anything missing
/// answers method-not-found.
public struct Router: Sendable {
    typealias RequestHandler = @Sendable (any RequestType, RequestContext) async throws -> any ResponseType
    typealias NotificationHandler = @Sendable (any NotificationType, RequestContext) async -> Void

    private var requestHandlers: [String: RequestHandler] = [:]
    private var notificationHandlers: [String: NotificationHandler] = [:]

    public init() {}

    public mutating func on<R: RequestType>(
        _ type: R.Type, _ handler: @escaping @Sendable (R, RequestContext) async throws -> R.Response
    ) {
        requestHandlers[R.method] = { request, context in
            guard let request = request as? R else { throw ResponseError.internalError }
            return try await handler(request, context)
        }
    }

    public mutating func on<N: NotificationType>(
        _ type: N.Type, _ handler: @escaping @Sendable (N, RequestContext) async -> Void
    ) {
        notificationHandlers[N.method] = { notification, context in
            guard let notification = notification as? N else { return }
            await handler(notification, context)
        }
    }

    /// Every method with a handler (`$/cancelRequest` is the connection's own and listed too).
    public var methods: Set<String> {
        Set(requestHandlers.keys).union(notificationHandlers.keys).union([CancelRequestNotification.method])
    }

    func handle(_ request: any RequestType, context: RequestContext) async throws -> any ResponseType {
        let method = type(of: request).method
        guard let handler = requestHandlers[method] else { throw ResponseError.methodNotFound(method) }
        return try await handler(request, context)
    }

    func handle(_ notification: any NotificationType, context: RequestContext) async {
        guard let handler = notificationHandlers[type(of: notification).method] else {
            context.logger.debug("no handler for notification", metadata: ["method": "\(type(of: notification).method)"])
            return
        }
        await handler(notification, context)
    }
}
