import DevModeProtocol
import DevModeStore
import JSONRPC
import Logging

/// One peer's session: the LSP lifecycle and who is calling. Sits between the connection and the
/// router: it authenticates at `initialize`, refuses what the lifecycle or the credential forbids,
/// and routes the rest.
public final class Session: MessageHandler {
    public enum Phase: Sendable, Equatable {
        case uninitialized
        case initialized
        case shutdown
        case exited
        /// Authentication failed, or the credential was revoked: nothing more is served.
        case refused(String)
    }

    private struct State {
        var phase: Phase = .uninitialized
        var caller: Caller?
        var checkedAt: ContinuousClock.Instant = .now
        var sawShutdown = false
        var positionEncoding: PositionEncoding = .utf16
    }

    public let id: Int
    public let transport: String
    /// The peer's address (host) on a network transport; nil for stdio and in-process sessions.
    public let peer: String?
    // Strong: the server keeps open sessions in its table and drops them when their connection ends.
    private let server: DevModeServer
    private let localCaller: Caller?
    private let logger: Logger
    private let state = LockedState(State())
    /// The documents this session's client has open (`textDocument/didOpen` … `didClose`).
    public let documents = DocumentStore()
    /// How this session's completions are set up (`initialize`) and where its documents belong.
    let completion = LockedState(CompletionSetup())
    /// The workspaces this session made model calls in (budget notices go to them).
    private let workspacesUsed = LockedState<Set<String>>([])

    func usedWorkspace(_ id: String) {
        workspacesUsed.withLock { _ = $0.insert(id) }
    }

    /// The session made a model call in the workspace, or chose it for completion at `initialize`.
    func uses(workspace id: String) -> Bool {
        workspacesUsed.withLock { $0.contains(id) } || completion.withLock { $0.workspaceId } == id
    }

    /// The session made a model call, or chose a workspace for completion at `initialize`.
    var usesAnyWorkspace: Bool {
        !workspacesUsed.withLock { $0.isEmpty } || completion.withLock { $0.workspaceId } != nil
    }

    init(id: Int, transport: String, peer: String? = nil, server: DevModeServer, localCaller: Caller?, logger: Logger) {
        self.id = id
        self.transport = transport
        self.peer = peer
        self.server = server
        self.localCaller = localCaller
        self.logger = logger
    }

    public var phase: Phase { state.withLock { $0.phase } }
    public var caller: Caller? { state.withLock { $0.caller } }

    /// What `Position.character` counts on this session: negotiated at `initialize`, UTF-16 by default.
    public var positionEncoding: PositionEncoding { state.withLock { $0.positionEncoding } }

    func negotiatedPositionEncoding(_ encoding: PositionEncoding) {
        state.withLock { $0.positionEncoding = encoding }
    }

    /// 0 when `shutdown` was received before the session ended, 1 otherwise (LSP's exit status).
    public var lspExitStatus: Int32 { state.withLock { $0.sawShutdown } ? 0 : 1 }

    func revoke(_ reason: String) {
        state.withLock { $0.phase = .refused(reason) }
        logger.notice("session cut off", metadata: ["reason": "\(reason)"])
    }

    public func handle(request: any RequestType, id: RequestID, from connection: Connection) async throws -> any ResponseType {
        let method = type(of: request).method
        switch phase {
        case .refused(let reason):
            connection.close()
            throw ResponseError.unauthenticated(reason)
        case .uninitialized where method != InitializeRequest.method:
            throw ResponseError.serverNotInitialized()
        case .initialized where method == InitializeRequest.method:
            throw ResponseError.invalidRequest("initialize was already received")
        case .shutdown, .exited:
            throw ResponseError.invalidRequest("the server is shutting down: only 'exit' is accepted")
        default:
            break
        }
        let caller: Caller
        if let initialize = request as? InitializeRequest {
            caller = try await authenticate(initialize, connection: connection)
        } else {
            caller = try await currentCaller(connection: connection)
            try await checkScopes(caller, method: method)
        }
        let context = RequestContext(
            server: server, session: self, connection: connection, caller: caller, baseLogger: logger, method: method,
            requestID: id)
        let result = try await server.router.handle(request, context: context)
        if method == ShutdownRequest.method {
            state.withLock {
                $0.phase = .shutdown
                $0.sawShutdown = true
            }
        }
        return result
    }

    private func authenticate(_ request: InitializeRequest, connection: Connection) async throws -> Caller {
        let token = request.initializationOptions?["token"]?.stringValue
        let caller: Caller
        if token == nil, let localCaller {
            caller = localCaller
        } else {
            do {
                caller = try await server.authenticator.authenticate(token, transport: transport, peer: peer)
            } catch {
                // Nothing else is served on this connection.
                state.withLock { $0.phase = .refused("authentication failed") }
                connection.close()
                throw error
            }
        }
        state.withLock {
            $0.caller = caller
            $0.phase = .initialized
            $0.checkedAt = server.configuration.clock.now
        }
        // Sign-ins are security events too (never with the secret).
        _ = try? await server.store.audit(
            AuditEvent(
                actor: "user:\(caller.userId)", tenantId: caller.tenantId, method: InitializeRequest.method, target: transport,
                detail: "signed in with \(caller.credentialName)"))
        return caller
    }

    /// The session's caller, re-checked against the database when the last check is older than
    /// the configured interval (another process may have revoked the key or disabled the user).
    private func currentCaller(connection: Connection) async throws -> Caller {
        let interval = server.configuration.credentialRecheckInterval
        let now = server.configuration.clock.now
        let (caller, stale) = state.withLock { ($0.caller, now - $0.checkedAt > interval) }
        guard let caller else { throw ResponseError.serverNotInitialized() }
        guard stale, caller.credential != .local else { return caller }
        guard let refreshed = try await server.authenticator.revalidate(caller) else {
            _ = try? await server.store.audit(
                AuditEvent(
                    actor: "user:\(caller.userId)", tenantId: caller.tenantId, method: "session/cutOff", target: transport,
                    outcome: .denied, detail: "credential revoked, expired or user disabled"))
            revoke("credential revoked, expired or user disabled")
            connection.close()
            throw ResponseError.unauthenticated("credential revoked, expired or user disabled")
        }
        state.withLock {
            $0.caller = refreshed
            $0.checkedAt = now
        }
        return refreshed
    }

    /// An API key with scopes may call only the method areas it names (`workspace/…`, `file/…`).
    /// A refusal is a security event: audited.
    private func checkScopes(_ caller: Caller, method: String) async throws {
        let scopes = caller.scopes
        guard !scopes.isEmpty else { return }
        let area = method.split(separator: "/").first.map(String.init) ?? method
        let alwaysAllowed: Set<String> = [ShutdownRequest.method, AuthWhoAmIRequest.method, ServerInfoRequest.method]
        guard alwaysAllowed.contains(method) || scopes.contains(area) else {
            _ = try? await server.store.audit(
                AuditEvent(
                    actor: "user:\(caller.userId)", tenantId: caller.tenantId, method: method, outcome: .denied,
                    detail: "outside the API key's scopes"))
            throw ResponseError.forbidden("this API key's scopes (\(scopes.joined(separator: ", "))) do not include '\(area)'")
        }
    }

    public func handle(notification: any NotificationType, from connection: Connection) async {
        let method = type(of: notification).method
        if method == ExitNotification.method {
            let status = lspExitStatus
            state.withLock { $0.phase = .exited }
            logger.debug("exit received", metadata: ["status": "\(status)"])
            connection.close()
            return
        }
        // LSP: before `initialize`, notifications other than `exit` are dropped; so are a refused session's.
        guard case .initialized = phase, let caller else { return }
        let context = RequestContext(
            server: server, session: self, connection: connection, caller: caller, baseLogger: logger, method: method,
            requestID: nil)
        await server.router.handle(notification, context: context)
    }

    public func connectionClosed(_ connection: Connection) async {
        server.connectionEnded(connection)
        server.projects.sessionEnded(self)
        server.placement.sessionEnded(self)
        logger.debug("session ended")
    }
}

/// A session's completion setup: the defaults its client named at `initialize`
/// (`initializationOptions.workspaceId`, `.completionModel`), the folders it opened (`rootUri`,
/// `workspaceFolders`), and where each of its documents was found to belong (re-checked after a
/// few seconds, as roles can change).
struct CompletionSetup: Sendable {
    struct Folder: Sendable, Hashable {
        /// The folder's real path.
        var root: String
        /// The project registered for it (a git repository inside the allowed roots), if any.
        var projectId: String?
        var workspaceId: String?
    }

    var workspaceId: String?
    var model: String?
    var folders: [Folder] = []
    var places: [String: (place: DocumentPlace, at: ContinuousClock.Instant)] = [:]
}

/// Where a document belongs: the workspace whose models and usage it counts against, the engine
/// that learns it (a folder's root, or the session's loose documents), and its path there.
struct DocumentPlace: Sendable, Hashable {
    var workspaceId: String
    var projectId: String?
    /// The local engine's key: a folder's absolute root, or the session's loose-documents key.
    var engineKey: String
    /// Relative to the folder (the file name for a loose document).
    var path: String
}

extension Session {
    /// The engine key of documents that belong to no folder.
    var looseDocumentsKey: String { "session:\(id)" }
}
