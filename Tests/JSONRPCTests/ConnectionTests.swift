import Foundation
import JSONRPC
import Testing

// MARK: The handler under test

/// An error that is not a `ResponseError`: its text must stay in the server's log.
struct SecretError: Error, CustomStringConvertible {
    var detail: String
    var description: String { "SecretError(\(detail))" }
}

/// Serves the test messages, recording what it does in `recorder` and waiting on `gates`.
final class TestHandler: MessageHandler {
    let recorder = Recorder()
    let gates = Gates()
    private let arrivals = LockedState<[String: Int]>([:])

    func handle(request: any RequestType, id: RequestID, from connection: Connection) async throws -> any ResponseType {
        switch request {
        case let echo as EchoRequest:
            recorder.record("echo:\(echo.text)")
            return EchoResult(text: echo.text)

        case let sleep as SleepRequest:
            recorder.record("start:\(sleep.name)")
            do {
                if let milliseconds = sleep.milliseconds {
                    try await Task.sleep(for: .milliseconds(milliseconds))
                } else if sleep.ignoresCancellation == true {
                    await gates.waitIgnoringCancellation(sleep.name)
                } else {
                    try await gates.wait(sleep.name)
                }
            } catch {
                recorder.record("cancelled:\(sleep.name)")
                throw error
            }
            recorder.record("end:\(sleep.name)")
            return EchoResult(text: sleep.name)

        case let fail as FailRequest:
            throw SecretError(detail: fail.secret)

        case let reject as RejectRequest:
            throw ResponseError(code: ErrorCode(rawValue: reject.code), message: reject.message, data: ["kept": true])

        case let meeting as RendezvousRequest:
            // Each party waits for the last one to arrive: only requests that run at the same time
            // can all leave (otherwise the first waits until the test's deadline cancels it).
            let arrived = arrivals.withLock { arrivals in
                arrivals[meeting.name, default: 0] += 1
                return arrivals[meeting.name, default: 0]
            }
            recorder.record("arrived:\(meeting.name)")
            if arrived >= meeting.parties { gates.open("rendezvous:\(meeting.name)") }
            try await gates.wait("rendezvous:\(meeting.name)")
            recorder.record("left:\(meeting.name)")
            return VoidResponse()

        default:
            throw ResponseError.methodNotFound(type(of: request).method)
        }
    }

    func handle(notification: any NotificationType, from connection: Connection) async {
        guard let record = notification as? RecordNotification else { return }
        recorder.record("start \(record.key):\(record.value)")
        if let milliseconds = record.milliseconds {
            try? await Task.sleep(for: .milliseconds(milliseconds))
        }
        if let gate = record.gate {
            await gates.waitIgnoringCancellation(gate)
        }
        if let opens = record.opens {
            gates.open(opens)
        }
        recorder.record("\(record.key):\(record.value)")
    }

    func connectionClosed(_ connection: Connection) async {
        recorder.record("closed")
    }
}

/// The client side's handler: it serves nothing.
struct ClientHandler: MessageHandler {
    func handle(request: any RequestType, id: RequestID, from connection: Connection) async throws -> any ResponseType {
        throw ResponseError.methodNotFound(type(of: request).method)
    }
    func handle(notification: any NotificationType, from connection: Connection) async {}
}

// MARK: Harnesses

/// A `Connection` serving `TestHandler`, and a raw peer on the other end of the pipe.
struct RawServer {
    let connection: Connection
    let handler = TestHandler()
    let peer: RawPeer
    let task: Task<Void, Never>

    init(limits: Limits = Limits(), framing: FramingMode? = nil) {
        let (clientEnd, serverEnd) = InMemoryTransport.pair()
        let connection = Connection(registry: testRegistry, handler: handler, framing: framing, limits: limits)
        self.connection = connection
        peer = RawPeer(clientEnd)
        task = Task { await connection.run(input: serverEnd.reader, output: serverEnd.writer) }
    }

    var recorder: Recorder { handler.recorder }
    var gates: Gates { handler.gates }

    /// Ends the test: opens every gate, ends the connection's input, and returns what it still wrote
    /// before closing its output.
    func finish() async throws -> [JSONValue] {
        gates.openAll()
        await peer.finish()
        let rest = try await peer.readToEnd()
        await task.value
        return rest
    }
}

/// Two `Connection`s: a client with nothing to serve and a server with `TestHandler`.
struct ConnectionPair {
    let client: Connection
    let server: Connection
    let handler = TestHandler()
    let clientTask: Task<Void, Never>
    let serverTask: Task<Void, Never>

    init() {
        let (clientEnd, serverEnd) = InMemoryTransport.pair()
        let client = Connection(
            registry: MessageRegistry(requests: [], notifications: []), handler: ClientHandler(), framing: .contentLength)
        let server = Connection(registry: testRegistry, handler: handler)
        self.client = client
        self.server = server
        clientTask = Task { await client.run(input: clientEnd.reader, output: clientEnd.writer) }
        serverTask = Task { await server.run(input: serverEnd.reader, output: serverEnd.writer) }
    }

    func finish() async {
        handler.gates.openAll()
        client.close()
        await clientTask.value
        await serverTask.value
    }
}

/// A request's wire form, params encoded from the typed value (not by the code under test).
func requestJSON<R: RequestType>(_ request: R, id: JSONValue) -> String {
    let params = String(decoding: try! JSONEncoder().encode(request), as: UTF8.self)
    let idText = String(decoding: try! JSONEncoder().encode(id), as: UTF8.self)
    return #"{"jsonrpc":"2.0","id":\#(idText),"method":"\#(R.method)","params":\#(params)}"#
}

func notificationJSON<N: NotificationType>(_ notification: N) -> String {
    let params = String(decoding: try! JSONEncoder().encode(notification), as: UTF8.self)
    return #"{"jsonrpc":"2.0","method":"\#(N.method)","params":\#(params)}"#
}

func cancelJSON(_ id: JSONValue) -> String {
    let idText = String(decoding: try! JSONEncoder().encode(id), as: UTF8.self)
    return #"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":\#(idText)}}"#
}

// MARK: Tests

@Suite("Connection", .timeLimit(.minutes(1)))
struct ConnectionTests {
    // MARK: Typed requests between two connections

    @Test("send() gets the typed result of the peer's handler")
    func typedSend() async throws {
        let pair = ConnectionPair()
        #expect(try await pair.client.send(EchoRequest(text: "hello")) == EchoResult(text: "hello"))
        let untyped = try await pair.client.send(method: EchoRequest.method, params: ["text": "untyped"])
        #expect(untyped == ["text": "untyped"])
        await pair.finish()
    }

    @Test("a ResponseError thrown by a handler reaches the caller unchanged")
    func responseErrorPassesThrough() async throws {
        let pair = ConnectionPair()
        await #expect(throws: ResponseError(code: ErrorCode(rawValue: -32050), message: "nope", data: ["kept": true])) {
            try await pair.client.send(RejectRequest(code: -32050, message: "nope"))
        }
        await #expect(throws: ResponseError.self) {
            try await pair.client.send(method: "no/such", params: nil)
        }
        await pair.finish()
    }

    @Test("any other error is answered -32603 'Internal error' and its details never reach the peer")
    func internalErrorLeaksNothing() async throws {
        let pair = ConnectionPair()
        await #expect(throws: ResponseError(code: .internalError, message: "Internal error")) {
            try await pair.client.send(FailRequest(secret: "/home/alice/secret.key"))
        }
        await pair.finish()

        let server = RawServer()
        try await server.peer.send(requestJSON(FailRequest(secret: "/home/alice/secret.key"), id: 1))
        let reply = try await server.peer.reply()
        #expect(reply == ["jsonrpc": "2.0", "id": 1, "error": ["code": -32603, "message": "Internal error"]])
        let wire = String(decoding: await server.peer.received, as: UTF8.self)
        #expect(!wire.contains("secret"))
        #expect(!wire.contains("alice"))
        #expect(try await server.finish().isEmpty)
    }

    @Test("two .concurrent requests run at the same time")
    func concurrentRequestsOverlap() async throws {
        let pair = ConnectionPair()
        let client = pair.client
        try await withDeadline("both rendezvous requests") {
            async let first = client.send(RendezvousRequest(name: "meet", parties: 2))
            async let second = client.send(RendezvousRequest(name: "meet", parties: 2))
            _ = try await (first, second)
        }
        let events = pair.handler.recorder.events
        #expect(events.filter { $0 == "arrived:meet" }.count == 2)
        #expect(events.filter { $0 == "left:meet" }.count == 2)
        // Both were running before either left.
        #expect((events.firstIndex(of: "left:meet") ?? -1) > (events.lastIndex(of: "arrived:meet") ?? Int.max))
        await pair.finish()
    }

    @Test("two .read requests on the same key run at the same time")
    func readsOverlap() async throws {
        let pair = ConnectionPair()
        let client = pair.client
        try await withDeadline("both rendezvous reads") {
            async let first = client.send(RendezvousRequest(name: "doc", parties: 2, order: "read:doc"))
            async let second = client.send(RendezvousRequest(name: "doc", parties: 2, order: "read:doc"))
            _ = try await (first, second)
        }
        let events = pair.handler.recorder.events
        #expect(events.filter { $0 == "arrived:doc" }.count == 2)
        #expect((events.firstIndex(of: "left:doc") ?? -1) > (events.lastIndex(of: "arrived:doc") ?? Int.max))
        await pair.finish()
    }

    @Test("cancelling the task that sends a request cancels the handler on the peer")
    func cancelSendEndToEnd() async throws {
        let pair = ConnectionPair()
        let client = pair.client
        let sending = Task { try await client.send(SleepRequest(name: "long")) }
        try await pair.handler.recorder.wait(forEvent: "start:long")
        sending.cancel()
        await #expect(throws: CancellationError.self) { try await sending.value }
        // Only a `$/cancelRequest` from the client can have cancelled the server's handler.
        try await pair.handler.recorder.wait(forEvent: "cancelled:long")
        #expect(try await client.send(EchoRequest(text: "after")) == EchoResult(text: "after"))
        await pair.finish()
    }

    // MARK: Typed requests, raw peer as the server

    @Test("cancelling a send() writes $/cancelRequest with that request's id; a late reply is ignored")
    func cancelSendOnTheWire() async throws {
        let (clientEnd, serverEnd) = InMemoryTransport.pair()
        let client = Connection(
            registry: MessageRegistry(requests: [], notifications: []), handler: ClientHandler(), framing: .contentLength)
        let running = Task { await client.run(input: clientEnd.reader, output: clientEnd.writer) }
        let peer = RawPeer(serverEnd)

        let sending = Task { try await client.send(SleepRequest(name: "x")) }
        let request = try await peer.reply()
        #expect(request["method"] == "test/sleep")
        let id = try #require(request["id"])
        sending.cancel()
        await #expect(throws: CancellationError.self) { try await sending.value }
        let cancel = try await peer.reply()
        #expect(cancel == ["jsonrpc": "2.0", "method": "$/cancelRequest", "params": ["id": id]])

        // The peer answers anyway; the client drops it and keeps working.
        try await peer.send(#"{"jsonrpc":"2.0","id":\#(id.intValue ?? 0),"result":{"text":"late"}}"#)
        let next = Task { try await client.send(EchoRequest(text: "next")) }
        let echo = try await peer.reply()
        #expect(echo["method"] == "test/echo")
        #expect(echo["id"] != id)
        try await peer.send(#"{"jsonrpc":"2.0","id":\#(echo["id"]?.intValue ?? 0),"result":{"text":"next"}}"#)
        #expect(try await next.value == EchoResult(text: "next"))

        client.close()
        await peer.finish()
        await running.value
    }

    @Test("a send() waiting when the peer goes away fails with -32803, and later sends fail at once")
    func pendingSendFailsWhenPeerLeaves() async throws {
        let (clientEnd, serverEnd) = InMemoryTransport.pair()
        let client = Connection(
            registry: MessageRegistry(requests: [], notifications: []), handler: ClientHandler(), framing: .contentLength)
        let running = Task { await client.run(input: clientEnd.reader, output: clientEnd.writer) }
        let peer = RawPeer(serverEnd)

        let sending = Task { try await client.send(EchoRequest(text: "never answered")) }
        _ = try await peer.reply()
        await peer.finish()  // The client's input ends.
        do {
            _ = try await sending.value
            Issue.record("the send did not fail")
        } catch let error as ResponseError {
            #expect(error.code == .requestFailed)
        }
        await running.value
        await #expect(throws: ResponseError.self) { try await client.send(EchoRequest(text: "too late")) }
    }

    // MARK: Raw wire: replies

    @Test("a request is answered with its own id, number or string, in Content-Length framing")
    func replyEnvelope() async throws {
        let server = RawServer()
        try await server.peer.send(requestJSON(EchoRequest(text: "a"), id: 41))
        #expect(try await server.peer.reply() == ["jsonrpc": "2.0", "id": 41, "result": ["text": "a"]])
        try await server.peer.send(requestJSON(EchoRequest(text: "b"), id: "str-id"))
        #expect(try await server.peer.reply() == ["jsonrpc": "2.0", "id": "str-id", "result": ["text": "b"]])
        #expect(await server.peer.framing == .contentLength)
        #expect(server.connection.framing == .contentLength)
        #expect(try await server.finish().isEmpty)
    }

    @Test("a peer speaking newline-delimited JSON gets newline-delimited replies")
    func newlineDelimitedPeer() async throws {
        let server = RawServer()
        try await server.peer.sendBytes([UInt8]("{oops\n" + requestJSON(EchoRequest(text: "nc"), id: 1) + "\n"))
        let first = try await server.peer.reply()
        #expect(first["error"]?["code"] == -32700)
        #expect(first["id"] == JSONValue.null)
        #expect(try await server.peer.reply() == ["jsonrpc": "2.0", "id": 1, "result": ["text": "nc"]])
        let wire = String(decoding: await server.peer.received, as: UTF8.self)
        #expect(!wire.contains("Content-Length"))
        #expect(wire.hasSuffix("}\n"))
        #expect(server.connection.framing == .newlineDelimited)
        #expect(try await server.finish().isEmpty)
    }

    @Test("malformed input is answered with errors and the next valid request still succeeds")
    func malformedThenValid() async throws {
        let server = RawServer()
        try await server.peer.sendBytes([UInt8]("Content-Length: abc\r\n\r\n{}"))
        try await server.peer.send("{oops")
        try await server.peer.send("[]")
        try await server.peer.send(#"{"jsonrpc":"2.0","id":{"bad":1},"method":"test/echo"}"#)
        try await server.peer.send(requestJSON(EchoRequest(text: "still here"), id: 1))
        let replies = [
            try await server.peer.reply(), try await server.peer.reply(), try await server.peer.reply(),
            try await server.peer.reply(), try await server.peer.reply(),
        ]
        #expect(replies.map(\.errorCode) == [-32700, -32700, -32600, -32600, nil])
        #expect(replies.dropLast().allSatisfy { $0["id"] == JSONValue.null })
        #expect(replies.last == ["jsonrpc": "2.0", "id": 1, "result": ["text": "still here"]])
        #expect(try await server.finish().isEmpty)
    }

    @Test("an over-long message is answered -32022 and the connection keeps serving")
    func oversizedMessage() async throws {
        var limits = Limits()
        limits.maxMessageBytes = 256
        let server = RawServer(limits: limits)
        try await server.peer.send(requestJSON(EchoRequest(text: String(repeating: "x", count: 1000)), id: 1))
        try await server.peer.send(requestJSON(EchoRequest(text: "small"), id: 2))
        let tooLarge = try await server.peer.reply()
        #expect(tooLarge["error"]?["code"] == -32022)
        #expect(tooLarge["error"]?["data"]?["limit"] == 256)
        #expect(tooLarge["id"] == JSONValue.null)
        #expect(try await server.peer.reply()["result"] == ["text": "small"])
        #expect(try await server.finish().isEmpty)
    }

    // MARK: Raw wire: exactly once

    @Test("every request is answered exactly once, whatever becomes of it")
    func everyRequestAnsweredOnce() async throws {
        let server = RawServer()
        var expected: [Int: Int?] = [:]  // id → error code (nil: success)
        var bytes: [UInt8] = []
        for id in 1...8 {
            bytes += lspFrame(requestJSON(EchoRequest(text: "\(id)"), id: .int(id)))
            expected[id] = .some(nil)
        }
        for id in 9...12 {
            bytes += lspFrame(requestJSON(FailRequest(secret: "s"), id: .int(id)))
            expected[id] = -32603
        }
        for id in 13...16 {
            bytes += lspFrame(#"{"jsonrpc":"2.0","id":\#(id),"method":"no/such"}"#)
            expected[id] = -32601
        }
        for id in 17...20 {
            bytes += lspFrame(#"{"jsonrpc":"2.0","id":\#(id),"method":"test/echo","params":{"text":5}}"#)
            expected[id] = -32602
        }
        for id in 21...24 {
            bytes += lspFrame(requestJSON(SleepRequest(name: "held-\(id)"), id: .int(id)))
            bytes += lspFrame(cancelJSON(.int(id)))
            expected[id] = -32800
        }
        for id in 25...28 {
            bytes += lspFrame(requestJSON(SleepRequest(name: "short-\(id)", milliseconds: 1), id: .int(id)))
            expected[id] = .some(nil)
        }
        // Cancelling what is unknown or already answered sends nothing.
        bytes += lspFrame(cancelJSON(999))
        bytes += lspFrame(cancelJSON("nope"))
        bytes += lspFrame(notificationJSON(RecordNotification(key: "k", value: 1)))
        try await server.peer.sendBytes(bytes)
        var replies: [JSONValue] = []
        for _ in expected { replies.append(try await server.peer.reply()) }
        // Now every request has been answered: cancelling them changes nothing.
        try await server.peer.send(cancelJSON(1))
        try await server.peer.send(cancelJSON(25))
        try await server.peer.send(cancelJSON(21))

        replies += try await server.finish()
        var answers: [Int: [Int?]] = [:]
        for reply in replies {
            let id = try #require(reply["id"]?.intValue, "a reply without a numeric id: \(reply)")
            answers[id, default: []].append(reply.errorCode)
        }
        #expect(replies.count == expected.count)
        for (id, code) in expected {
            #expect(answers[id] == [code], "request \(id)")
        }
    }

    @Test("$/cancelRequest answers -32800 at once while the handler still runs; its later result is not sent")
    func cancelWhileHandlerRuns() async throws {
        let server = RawServer()
        try await server.peer.send(requestJSON(SleepRequest(name: "stubborn", ignoresCancellation: true), id: "c-1"))
        try await server.recorder.wait(forEvent: "start:stubborn")
        try await server.peer.send(cancelJSON("c-1"))
        let reply = try await server.peer.reply()
        #expect(reply == ["jsonrpc": "2.0", "id": "c-1", "error": ["code": -32800, "message": "Request cancelled"]])
        // The handler cannot have finished: its gate is still shut.
        #expect(!server.recorder.events.contains("end:stubborn"))
        #expect(server.connection.requestsInFlight == 0)

        server.gates.open("stubborn")
        try await server.recorder.wait(forEvent: "end:stubborn")
        #expect(try await server.finish().isEmpty, "a second reply for the cancelled request")
    }

    @Test("cancelling a request still queued behind another answers -32800 and its handler never runs")
    func cancelQueuedRequest() async throws {
        let server = RawServer()
        try await server.peer.send(requestJSON(SleepRequest(name: "first", order: "update:doc"), id: 1))
        try await server.peer.send(requestJSON(SleepRequest(name: "second", milliseconds: 0, order: "update:doc"), id: 2))
        try await server.recorder.wait(forEvent: "start:first")
        try await server.peer.send(cancelJSON(2))
        #expect(try await server.peer.reply() == ["jsonrpc": "2.0", "id": 2, "error": ["code": -32800, "message": "Request cancelled"]])
        server.gates.open("first")
        #expect(try await server.peer.reply()["id"] == 1)
        #expect(try await server.finish().isEmpty)
        #expect(!server.recorder.events.contains("start:second"))
    }

    @Test("a request whose id is already in flight is answered -32600; the first one still completes")
    func duplicateID() async throws {
        let server = RawServer()
        try await server.peer.send(requestJSON(SleepRequest(name: "original"), id: 7))
        try await server.recorder.wait(forEvent: "start:original")
        try await server.peer.send(requestJSON(EchoRequest(text: "impostor"), id: 7))
        let duplicate = try await server.peer.reply()
        #expect(duplicate["id"] == 7)
        #expect(duplicate.errorCode == -32600)
        #expect(duplicate.errorMessage?.contains("already in flight") == true)
        #expect(!server.recorder.events.contains("echo:impostor"))

        server.gates.open("original")
        #expect(try await server.peer.reply() == ["jsonrpc": "2.0", "id": 7, "result": ["text": "original"]])
        // Once answered, the id may be used again.
        try await server.peer.send(requestJSON(EchoRequest(text: "reused"), id: 7))
        #expect(try await server.peer.reply()["result"] == ["text": "reused"])
        #expect(try await server.finish().isEmpty)
    }

    @Test("over maxRequestsInFlight a request is answered -32021 with data.limit, and the connection keeps serving")
    func tooManyRequests() async throws {
        var limits = Limits()
        limits.maxRequestsInFlight = 2
        let server = RawServer(limits: limits)
        try await server.peer.send(requestJSON(SleepRequest(name: "a"), id: 1))
        try await server.peer.send(requestJSON(SleepRequest(name: "b"), id: 2))
        try await server.peer.send(requestJSON(EchoRequest(text: "one too many"), id: 3))
        let rejected = try await server.peer.reply()
        #expect(rejected["id"] == 3)
        #expect(rejected.errorCode == -32021)
        #expect(rejected["error"]?["data"] == ["limit": 2, "setting": "maxRequestsInFlight"])
        #expect(!server.recorder.events.contains("echo:one too many"))
        #expect(server.connection.requestsInFlight == 2)

        server.gates.open("a")
        #expect(try await server.peer.reply()["id"] == 1)
        try await server.peer.send(requestJSON(EchoRequest(text: "room again"), id: 4))
        #expect(try await server.peer.reply() == ["jsonrpc": "2.0", "id": 4, "result": ["text": "room again"]])
        let rest = try await server.finish()
        #expect(rest.map { $0["id"] } == [2])
    }

    // MARK: Raw wire: batches

    @Test("a batch of notifications only gets no reply at all")
    func notificationBatch() async throws {
        let server = RawServer()
        let batch = [
            notificationJSON(RecordNotification(key: "a", value: 1)),
            notificationJSON(RecordNotification(key: "b", value: 2)),
            #"{"jsonrpc":"2.0","method":"no/such/notification"}"#,
            #"{"jsonrpc":"2.0","method":"test/record","params":{"key":5}}"#,
        ]
        try await server.peer.send("[" + batch.joined(separator: ",") + "]")
        try await server.recorder.wait(for: "both notifications") { $0.contains("a:1") && $0.contains("b:2") }
        try await server.peer.send(requestJSON(EchoRequest(text: "after"), id: 1))
        let replies = try await server.finish()
        #expect(replies == [["jsonrpc": "2.0", "id": 1, "result": ["text": "after"]]])
    }

    @Test("a mixed batch gets one array: the requests' results and the errors of invalid members")
    func mixedBatch() async throws {
        let server = RawServer()
        let batch = [
            requestJSON(EchoRequest(text: "one"), id: 1),
            notificationJSON(RecordNotification(key: "n", value: 1)),
            #"{"foo":"bar"}"#,
            #"{"jsonrpc":"2.0","id":3,"method":"no/such"}"#,
            #"{"jsonrpc":"2.0","id":4,"method":"test/echo","params":{"text":[]}}"#,
            requestJSON(FailRequest(secret: "s"), id: 5),
            requestJSON(SleepRequest(name: "slow", milliseconds: 5), id: 6),
        ]
        try await server.peer.send("[" + batch.joined(separator: ",") + "]")
        let reply = try await server.peer.reply()
        let members = try #require(reply.arrayValue, "not an array: \(reply)")
        #expect(members.count == 6)
        func member(_ id: JSONValue) -> JSONValue? { members.first { $0["id"] == id } }
        #expect(member(1) == ["jsonrpc": "2.0", "id": 1, "result": ["text": "one"]])
        #expect(member(.null)?.errorCode == -32600)
        #expect(member(3)?.errorCode == -32601)
        #expect(member(4)?.errorCode == -32602)
        #expect(member(5)?.errorCode == -32603)
        #expect(member(6)?["result"] == ["text": "slow"])
        try await server.recorder.wait(forEvent: "n:1")
        #expect(try await server.finish().isEmpty)
    }

    // MARK: Ordering

    @Test(".update notifications for one key run one at a time, in order, even when earlier ones are slower")
    func updateOrder() async throws {
        let server = RawServer()
        var bytes: [UInt8] = []
        for (value, milliseconds) in [(1, 40), (2, 20), (3, 10), (4, 0), (5, 0)] {
            bytes += lspFrame(notificationJSON(RecordNotification(key: "doc", value: value, milliseconds: milliseconds)))
        }
        try await server.peer.sendBytes(bytes)
        try await server.recorder.wait(for: "five notifications") { $0.filter { $0.hasPrefix("doc:") }.count == 5 }
        #expect(server.recorder.events == (1...5).flatMap { ["start doc:\($0)", "doc:\($0)"] })
        #expect(try await server.finish().isEmpty)
    }

    @Test("notifications for different keys do not wait for each other")
    func differentKeysConcurrent() async throws {
        let server = RawServer()
        // `a` waits for a gate that only `b`, sent after it, opens.
        try await server.peer.send(notificationJSON(RecordNotification(key: "a", value: 1, gate: "from-b")))
        try await server.peer.send(notificationJSON(RecordNotification(key: "b", value: 1, opens: "from-b")))
        try await server.recorder.wait(for: "both keys") { $0.contains("a:1") && $0.contains("b:1") }
        #expect(try await server.finish().isEmpty)
    }

    @Test("a .barrier waits for everything before it, and everything after waits for it")
    func barrier() async throws {
        let server = RawServer()
        try await server.peer.send(requestJSON(SleepRequest(name: "before", milliseconds: 50), id: 1))
        try await server.peer.send(notificationJSON(RecordNotification(key: "k", value: 1, milliseconds: 30)))
        try await server.peer.send(requestJSON(SleepRequest(name: "barrier", milliseconds: 20, order: "barrier"), id: 2))
        try await server.peer.send(requestJSON(EchoRequest(text: "after"), id: 3))
        try await server.peer.send(notificationJSON(RecordNotification(key: "other", value: 1)))
        let replies = [try await server.peer.reply(), try await server.peer.reply(), try await server.peer.reply()]
        #expect(replies.compactMap { $0["id"]?.intValue } == [1, 2, 3])
        try await server.recorder.wait(forEvent: "other:1")
        let events = server.recorder.events
        func index(_ event: String) -> Int { events.firstIndex(of: event) ?? -1 }
        #expect(index("end:before") < index("start:barrier"))
        #expect(index("k:1") < index("start:barrier"))
        #expect(index("end:barrier") < index("echo:after"))
        #expect(index("end:barrier") < index("start other:1"))
        #expect(try await server.finish().isEmpty)
    }

    // MARK: Ending

    @Test("when the peer closes its input, requests in flight are still answered before the output closes")
    func drainsOnInputEnd() async throws {
        let server = RawServer()
        try await server.peer.send(requestJSON(SleepRequest(name: "x"), id: 1))
        try await server.peer.send(requestJSON(SleepRequest(name: "y"), id: 2))
        try await server.peer.send(requestJSON(EchoRequest(text: "z"), id: 3))
        try await server.recorder.wait(for: "both sleeps") { $0.contains("start:x") && $0.contains("start:y") }
        await server.peer.finish()
        server.gates.open("y")
        server.gates.open("x")
        let replies = try await server.peer.readToEnd()
        #expect(Set(replies.compactMap { $0["id"]?.intValue }) == [1, 2, 3])
        #expect(replies.count == 3)
        #expect(replies.allSatisfy { $0["result"] != nil })
        await server.task.value
        #expect(server.recorder.events.last == "closed")
    }

    @Test("stop(grace:) answers the requests left after the grace period with -32802, once")
    func stopAnswersLeftovers() async throws {
        let server = RawServer()
        try await server.peer.send(requestJSON(SleepRequest(name: "cancellable"), id: 1))
        try await server.peer.send(requestJSON(SleepRequest(name: "stubborn", ignoresCancellation: true), id: 2))
        try await server.recorder.wait(for: "both sleeps") { $0.contains("start:cancellable") && $0.contains("start:stubborn") }
        await server.connection.stop(grace: .milliseconds(20))
        let replies = [try await server.peer.reply(), try await server.peer.reply()]
        #expect(Set(replies.compactMap { $0["id"]?.intValue }) == [1, 2])
        for reply in replies {
            #expect(reply.errorCode == -32802)
            #expect(reply.errorMessage == "Server is shutting down")
        }
        try await server.recorder.wait(forEvent: "cancelled:cancellable")
        // The stubborn handler finishes later; its result is not sent.
        server.gates.open("stubborn")
        #expect(try await server.peer.readToEnd().isEmpty)
        await server.task.value
        #expect(server.recorder.events.contains("end:stubborn"))
    }

    @Test("stop(grace:) lets work that finishes within the grace period answer normally")
    func stopWithinGrace() async throws {
        let server = RawServer()
        try await server.peer.send(requestJSON(SleepRequest(name: "quick", milliseconds: 10), id: 1))
        try await server.recorder.wait(forEvent: "start:quick")
        await server.connection.stop(grace: testDeadline)
        #expect(try await server.peer.reply() == ["jsonrpc": "2.0", "id": 1, "result": ["text": "quick"]])
        #expect(try await server.peer.readToEnd().isEmpty)
        await server.task.value
    }
}
