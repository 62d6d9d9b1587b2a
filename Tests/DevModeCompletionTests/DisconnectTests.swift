import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// A client on the other end of two real pipes, as an editor that runs `devmode serve --stdio`
/// sees it: the server reads one pipe with `FileDescriptorReader` and writes the other with
/// `FileDescriptorWriter`.
final class PipeSession: @unchecked Sendable {
    private var toServer: (read: Int32, write: Int32)
    private var fromServer: (read: Int32, write: Int32)
    private let replies: FileDescriptorReader
    private var parser = FrameParser()
    private var received: [JSONValue: JSONValue] = [:]
    let serverTask: Task<Void, Never>

    init(server: DevModeServer) throws {
        // A write to a pipe whose reader is gone raises SIGPIPE; `devmode serve` ignores it too.
        signal(SIGPIPE, SIG_IGN)
        var a: [Int32] = [-1, -1]
        var b: [Int32] = [-1, -1]
        guard pipe(&a) == 0, pipe(&b) == 0 else { throw POSIXError(.EMFILE) }
        toServer = (a[0], a[1])
        fromServer = (b[0], b[1])
        replies = FileDescriptorReader(fd: b[0])
        let (connection, _) = server.makeConnection(transport: "stdio", framing: .contentLength, local: true)
        let input = FileDescriptorReader(fd: a[0])
        let output = FileDescriptorWriter(fd: b[1], closeOnFinish: false)
        serverTask = Task { await connection.run(input: input, output: output) }
    }

    func send(_ message: JSONValue) throws {
        let body = try JSONEncoder().encode(message)
        let bytes = Array("Content-Length: \(body.count)\r\n\r\n".utf8) + Array(body)
        let written = bytes.withUnsafeBytes { Glibc.write(toServer.write, $0.baseAddress, bytes.count) }
        guard written == bytes.count else { throw POSIXError(.EIO) }
    }

    func request<R: RequestType>(_ request: R, id: Int) throws {
        try send(["jsonrpc": "2.0", "id": .int(id), "method": .string(R.method), "params": try RawSession.json(request)])
    }

    func notify<N: NotificationType>(_ notification: N) throws {
        try send(["jsonrpc": "2.0", "method": .string(N.method), "params": try RawSession.json(notification)])
    }

    func reply(to id: Int) async throws -> JSONValue {
        while true {
            if let reply = received.removeValue(forKey: .int(id)) { return reply }
            guard let chunk = try await replies.read() else { throw RawSession.EndOfStream() }
            parser.feed(chunk)
            while let event = parser.next() {
                guard case .message(let data) = event else { continue }
                let message = try JSONDecoder().decode(JSONValue.self, from: data)
                if let id = message["id"], message["method"] == nil { received[id] = message }
            }
        }
    }

    /// Ends the server's input only: the client still reads (a script piping a file in).
    func endInput() {
        if toServer.write >= 0 { _ = Glibc.close(toServer.write); toServer.write = -1 }
    }

    /// The client goes away: both of its ends close, as when its process dies.
    func disconnect() {
        endInput()
        if fromServer.read >= 0 { _ = Glibc.close(fromServer.read); fromServer.read = -1 }
    }

    /// Closes what is left once the server's connection has ended.
    func finish() async {
        disconnect()
        await serverTask.value
        for fd in [toServer.read, fromServer.write] { _ = Glibc.close(fd) }
    }
}

/// A completion does not outlive the client that asked for it: when the client's process is gone
/// (its stdout pipe has no reader any more) the model call is closed; a script whose input ended
/// but which still reads gets its answer.
@Suite("Disconnected clients", .timeLimit(.minutes(1)))
struct DisconnectTests {
    static let uri = "file:///home/ada/shop/Sources/Totals.swift"
    static let text = "let total = \nprint(total)\n"

    static func registry(_ fake: FakeModelServer) -> ModelRegistry {
        ModelRegistry(models: [fimModel("star", endpoint: fake.openAIEndpoint, timeouts: .patient)], defaultModels: ["star"])
    }

    static func start(_ session: PipeSession) async throws {
        try session.request(InitializeRequest(), id: 1)
        #expect(try await session.reply(to: 1)["result"] != nil)
        try session.notify(InitializedNotification())
        try session.notify(
            DidOpenTextDocumentNotification(
                textDocument: TextDocumentItem(uri: uri, languageId: "swift", version: 1, text: text)))
        try session.request(
            InlineCompletionRequest(textDocument: TextDocumentIdentifier(uri: uri), position: point(0, 12)), id: 2)
    }

    @Test func aClientThatGoesAwayClosesItsCompletionsModelCall() async throws {
        try await CompletionWorld.run(models: Self.registry) { world in
            var arrivals = world.upstream { _, _ in .hang }
            let session = try PipeSession(server: world.server)
            try await Self.start(session)
            let upstream = await arrivals.next()
            #expect(upstream?.path == "/v1/completions")
            #expect(world.fake.clientDisconnects == 0)

            session.disconnect()
            #expect(await world.fake.waitForClientDisconnect(count: 1), "the model call outlived the client")
            await session.finish()
        }
    }

    @Test func aScriptWhoseInputEndedStillGetsItsCompletion() async throws {
        try await CompletionWorld.run(models: Self.registry) { world in
            var arrivals = world.upstream { _, _ in .delayed(ms: 200, then: streamed(["price * quantity"])) }
            let session = try PipeSession(server: world.server)
            try await Self.start(session)
            _ = await arrivals.next()
            session.endInput()
            let reply = try await session.reply(to: 2)
            #expect(reply["result"]?["items"]?[0]?["insertText"] == "price * quantity", "reply: \(reply)")
            await session.finish()
        }
    }
}
