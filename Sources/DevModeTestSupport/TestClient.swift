import DevModeProtocol
import DevModeServer
import JSONRPC
import Logging

/// An in-process typed client wired to a real `DevModeServer` through an in-memory byte pipe:
/// every message is framed, parsed and dispatched exactly as on a socket.
public final class TestClient: Sendable {
    public let server: DevModeServer
    public let connection: Connection
    /// The server's side of the pipe (its requests in flight, `stop(grace:)`).
    public let serverConnection: Connection
    private let notifications: NotificationInbox
    private let serverTask: Task<Void, Never>
    private let clientTask: Task<Void, Never>

    /// `local`: the session may act as the server's local user without a credential.
    /// `peer`: the address the session believes it is talking to (sign-in throttling per address).
    public init(
        server: DevModeServer, local: Bool = false, peer: String? = nil, clientNotifications: [any NotificationType.Type] = []
    ) {
        self.server = server
        let (clientEnd, serverEnd) = InMemoryTransport.pair()
        let (serverConnection, _) = server.makeConnection(
            transport: "memory", framing: .contentLength, local: local, peer: peer)
        self.serverConnection = serverConnection
        let inbox = NotificationInbox()
        self.notifications = inbox
        connection = Connection(
            registry: MessageRegistry(requests: [], notifications: clientNotifications), handler: inbox,
            framing: .contentLength, logger: Logger(label: "devmode.test-client"), errorReplyObserver: ErrorReplyLog.observer)
        serverTask = Task { await serverConnection.run(input: serverEnd.reader, output: serverEnd.writer) }
        let connection = self.connection
        clientTask = Task { await connection.run(input: clientEnd.reader, output: clientEnd.writer) }
    }

    /// Sends `initialize` (with `token` as `initializationOptions.token`) and `initialized`.
    @discardableResult
    public func initialize(token: String? = nil) async throws -> InitializeResult {
        let options: JSONValue? = token.map { ["token": .string($0)] }
        let result = try await connection.send(InitializeRequest(initializationOptions: options))
        connection.send(InitializedNotification())
        return result
    }

    /// A connected, initialized client.
    public static func connect(
        to server: DevModeServer, token: String?, local: Bool = false,
        clientNotifications: [any NotificationType.Type] = []
    ) async throws -> TestClient {
        let client = TestClient(server: server, local: local, clientNotifications: clientNotifications)
        try await client.initialize(token: token)
        return client
    }

    public func send<R: RequestType>(_ request: R) async throws -> R.Response {
        try await connection.send(request)
    }

    public func send<N: NotificationType>(_ notification: N) {
        connection.send(notification)
    }

    /// The next notification of this type the server sent (registered in `clientNotifications`).
    public func nextNotification<N: NotificationType>(ofType type: N.Type) async -> N? {
        await notifications.next(ofType: type)
    }

    /// Closes the client side and waits for both sides to finish.
    public func close() async {
        connection.close()
        await clientTask.value
        await serverTask.value
    }
}

final class NotificationInbox: MessageHandler {
    private let state = LockedState<(queued: [any NotificationType], waiters: [CheckedContinuation<Void, Never>])>(([], []))

    func handle(request: any RequestType, id: RequestID, from connection: Connection) async throws -> any ResponseType {
        throw ResponseError.methodNotFound(type(of: request).method)
    }

    func handle(notification: any NotificationType, from connection: Connection) async {
        state.withLock { $0.queued.append(notification) }
        wakeAll()
    }

    private func wakeAll() {
        let waiters = state.withLock { state in
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The next notification of this type; nil once the task is cancelled.
    func next<N: NotificationType>(ofType type: N.Type) async -> N? {
        while !Task.isCancelled {
            let found: N? = state.withLock { state in
                guard let index = state.queued.firstIndex(where: { $0 is N }) else { return nil }
                return state.queued.remove(at: index) as? N
            }
            if let found { return found }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    // Check and wait under one lock, so a notification arriving in between is not missed
                    // (nor a cancellation: it is flagged before `wakeAll` takes the lock).
                    let ready = state.withLock { state in
                        if Task.isCancelled || state.queued.contains(where: { $0 is N }) { return true }
                        state.waiters.append(continuation)
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onCancel: {
                wakeAll()
            }
        }
        return nil
    }
}
