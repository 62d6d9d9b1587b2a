import DevModeSpawn
import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

// Helpers for the completion tests: a real server wired to a `FakeModelServer` over real HTTP,
// sessions driven through the in-memory transport (typed, or raw JSON-RPC where a typed client
// hides what the server answered), and folders on disk for the local engines.

enum Fake {
    static let apiKey = "sk-fake-completion-4711"
    static let keyVariable = "FAKE_MODEL_KEY"
    /// The server's environment: only the fake key.
    static let environment: ModelClients.Environment = { $0 == keyVariable ? apiKey : nil }
}

extension ModelConfiguration.Timeouts {
    /// The short limits of an interactive completion: a hang is noticed within two seconds.
    static let short = ModelConfiguration.Timeouts(connectMs: 10_000, firstByteMs: 2_000, idleMs: 2_000, totalMs: 20_000)
    /// For tests where a call hangs until the test cancels it: no limit may run out first.
    static let patient = ModelConfiguration.Timeouts(connectMs: 10_000, firstByteMs: 60_000, idleMs: 60_000, totalMs: 120_000)
}

/// An OpenAI-compatible fill-in-the-middle model at `endpoint`, keyed by `Fake.keyVariable`.
func fimModel(
    _ id: String, endpoint: String, template: FIMTemplate? = .starcoder, pricing: ModelConfiguration.Pricing = .init(),
    timeouts: ModelConfiguration.Timeouts = .short
) -> ModelConfiguration {
    ModelConfiguration(
        id: id, provider: .openai, endpoint: endpoint, upstreamModel: "upstream-\(id)", apiKeyEnv: Fake.keyVariable,
        capabilities: .init(chat: false, fillInTheMiddle: true), pricing: pricing, fimTemplate: template, timeouts: timeouts)
}

/// A chat-only Anthropic model on the fake server.
func chatModel(_ id: String, _ fake: FakeModelServer, timeouts: ModelConfiguration.Timeouts = .short) -> ModelConfiguration {
    ModelConfiguration(
        id: id, provider: .anthropic, endpoint: fake.anthropicEndpoint, upstreamModel: "claude-fake", apiKeyEnv: Fake.keyVariable,
        capabilities: .init(chat: true, fillInTheMiddle: false), timeouts: timeouts)
}

/// A real server (fresh database and data directory) whose models live on a started fake model
/// server. Sessions opened through it are closed with it.
final class CompletionWorld: Sendable {
    let server: DevModeServer
    let fake: FakeModelServer
    private let clients = LockedState<[TestClient]>([])

    private init(server: DevModeServer, fake: FakeModelServer) {
        self.server = server
        self.fake = fake
    }

    /// Builds the world, runs `body`, closes everything (also when `body` throws).
    static func run(
        localMode: Bool = true, models: (FakeModelServer) -> ModelRegistry,
        configure: (inout ServerConfiguration) -> Void = { _ in }, driver: (any SQLDriver)? = nil,
        _ body: (CompletionWorld) async throws -> Void
    ) async throws {
        let fake = FakeModelServer()
        try await fake.start()
        var configuration = ServerConfiguration(localMode: localMode, models: models(fake), environment: Fake.environment)
        configure(&configuration)
        let server: DevModeServer
        do {
            server = try await TestServer.make(configuration: configuration, driver: driver)
        } catch {
            try? await fake.shutdown()
            throw error
        }
        let world = CompletionWorld(server: server, fake: fake)
        var failure: (any Error)?
        do {
            try await body(world)
        } catch {
            failure = error
        }
        for client in world.clients.withLock({ $0 }) { await client.close() }
        await server.close()
        try? await fake.shutdown()
        try? FileManager.default.removeItem(atPath: server.configuration.projects.dataDirectory)
        if let failure { throw failure }
    }

    /// An initialized session: local (no credential) unless `token` is given.
    func session(
        token: String? = nil, capabilities: JSONValue? = [:], rootUri: String? = nil, workspaceFolders: [WorkspaceFolder]? = nil,
        clientNotifications: [any NotificationType.Type] = []
    ) async throws -> (TestClient, InitializeResult) {
        let client = TestClient(server: server, local: token == nil, clientNotifications: clientNotifications)
        clients.withLock { $0.append(client) }
        let result = try await client.connection.send(
            InitializeRequest(
                rootUri: rootUri, capabilities: capabilities, initializationOptions: token.map { ["token": .string($0)] },
                workspaceFolders: workspaceFolders))
        client.send(InitializedNotification())
        return (client, result)
    }

    func client(token: String? = nil, clientNotifications: [any NotificationType.Type] = []) async throws -> TestClient {
        try await session(token: token, clientNotifications: clientNotifications).0
    }

    /// The usage events filed so far (buffered ones written first).
    func usage(tenantId: String) async throws -> [UsageEvent] {
        await server.ai.usage.flush()
        return try await server.store.read { try $0.usageEvents(tenantId: tenantId) }
    }

    func stats(workspaceId: String) async throws -> CompletionStats {
        await server.ai.usage.flush()
        return try await server.store.read { try $0.completionStats(workspaceId: workspaceId) }
    }

    /// Answers every request the queue does not cover with `behaviour` (given the request's
    /// number, from 0), and reports each request as it arrives, so a test can await an upstream
    /// call instead of guessing when it happens.
    func upstream(
        _ behaviour: @escaping @Sendable (Int, RecordedRequest) -> FakeModelServer.Behaviour
    ) -> AsyncStream<RecordedRequest>.AsyncIterator {
        let (stream, continuation) = AsyncStream.makeStream(of: RecordedRequest.self)
        let count = LockedState(0)
        fake.respond { request in
            let number = count.withLock { count in
                defer { count += 1 }
                return count
            }
            continuation.yield(request)
            return behaviour(number, request)
        }
        return stream.makeAsyncIterator()
    }
}

// MARK: Documents

extension TestClient {
    func open(_ uri: String, _ text: String, language: String = "swift", version: Int = 1) {
        send(DidOpenTextDocumentNotification(textDocument: TextDocumentItem(uri: uri, languageId: language, version: version, text: text)))
    }

    /// Replaces `range` with `text`.
    func edit(_ uri: String, version: Int, _ range: TextRange, _ text: String) {
        send(
            DidChangeTextDocumentNotification(
                textDocument: VersionedTextDocumentIdentifier(uri: uri, version: version),
                contentChanges: [TextDocumentContentChangeEvent(range: range, text: text)]))
    }

    func inline(_ uri: String, at position: Position, model: String? = nil) async throws -> InlineCompletionList {
        try await send(
            InlineCompletionRequest(
                textDocument: TextDocumentIdentifier(uri: uri), position: position,
                context: InlineCompletionContext(triggerKind: 2), model: model))
    }

    /// The local workspace (the one `model/list` answers for when none is named).
    func defaultWorkspace() async throws -> String {
        try await send(ModelListRequest()).workspaceId
    }
}

func point(_ line: Int, _ character: Int) -> Position { Position(line: line, character: character) }

func range(_ start: Position, _ end: Position) -> TextRange { TextRange(start: start, end: end) }

/// A stream's text chunks with the usage it reports.
func streamed(_ chunks: [String], usage: TokenUsage? = TokenUsage(inputTokens: 100, outputTokens: 5)) -> FakeModelServer.Behaviour {
    .stream(chunks: chunks, usage: usage)
}

extension String {
    /// Byte-exact suffix test (`hasSuffix` compares characters: `é` would match `e` + U+0301).
    func endsInBytes(_ tail: String) -> Bool {
        utf8.count >= tail.utf8.count && Array(utf8.suffix(tail.utf8.count)) == Array(tail.utf8)
    }

    func startsInBytes(_ head: String) -> Bool { utf8.starts(with: head.utf8) }
}

// MARK: Raw JSON-RPC

/// A session spoken to in raw JSON-RPC (own ids, `$/cancelRequest`), for what a typed client
/// hides: the server's reply to a request the client cancelled.
actor RawSession {
    struct EndOfStream: Error {}

    private let end: InMemoryTransport.End
    private let serverTask: Task<Void, Never>
    private var parser = FrameParser()
    private var replies: [JSONValue: JSONValue] = [:]
    /// The method of each request sent, by id (for `ErrorReplyLog`).
    private var methods: [Int: String] = [:]

    init(server: DevModeServer, local: Bool) {
        let (clientEnd, serverEnd) = InMemoryTransport.pair()
        let (connection, _) = server.makeConnection(transport: "memory", framing: .contentLength, local: local)
        end = clientEnd
        serverTask = Task { await connection.run(input: serverEnd.reader, output: serverEnd.writer) }
    }

    func request<R: RequestType>(_ request: R, id: Int) async throws {
        methods[id] = R.method
        try await write(["jsonrpc": "2.0", "id": .int(id), "method": .string(R.method), "params": try Self.json(request)])
    }

    func notify<N: NotificationType>(_ notification: N) async throws {
        try await write(["jsonrpc": "2.0", "method": .string(N.method), "params": try Self.json(notification)])
    }

    func cancel(id: Int) async throws {
        try await write(["jsonrpc": "2.0", "method": "$/cancelRequest", "params": ["id": .int(id)]])
    }

    /// The reply to request `id` (replies to others are kept for later).
    func reply(to id: Int) async throws -> JSONValue {
        while true {
            if let reply = replies.removeValue(forKey: .int(id)) {
                if let method = methods.removeValue(forKey: id), case .int(let code)? = reply["error"]?["code"] {
                    ErrorReplyLog.record(method: method, code: ErrorCode(rawValue: code))
                }
                return reply
            }
            guard let chunk = try await end.reader.read() else { throw EndOfStream() }
            parser.feed(chunk)
            while let event = parser.next() {
                guard case .message(let data) = event else { continue }
                let message = try JSONDecoder().decode(JSONValue.self, from: data)
                if let id = message["id"], message["method"] == nil { replies[id] = message }
            }
        }
    }

    /// Sends the request and waits for its reply.
    func call<R: RequestType>(_ request: R, id: Int) async throws -> JSONValue {
        try await self.request(request, id: id)
        return try await reply(to: id)
    }

    func close() async {
        await end.writer.close()
        await serverTask.value
    }

    private func write(_ message: JSONValue) async throws {
        let body = try JSONEncoder().encode(message)
        try await end.writer.write(Array("Content-Length: \(body.count)\r\n\r\n".utf8) + Array(body))
    }

    static func json(_ value: some Encodable) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
    }
}

// MARK: Folders

/// A fresh folder (its real path) holding `files` (relative path → text); removed by the caller.
func makeFolder(_ files: [String: String]) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-completion-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    for (path, text) in files {
        let file = url.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
    }
    return url.resolvingSymlinksInPath().path
}

/// `git init` in `folder` (the git command line: the test's own way to make a repository).
func gitInit(_ folder: String) throws {
    let outcome = try Spawn.run(
        "/usr/bin/git", ["init", "--quiet", folder], environment: ProcessInfo.processInfo.environment)
    guard outcome.status == 0 else { throw SpawnError("git init failed in \(folder): \(outcome.stderrText)") }
}

extension JSONValue {
    /// An array's element, nil for anything else or out of range.
    subscript(index: Int) -> JSONValue? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }
}
