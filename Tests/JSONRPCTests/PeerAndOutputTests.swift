import DevModeClock
import Foundation
import JSONRPC
import Testing

/// A writer whose peer never reads: every write waits until the test releases it, or fails when
/// the connection aborts the transport.
final class StallingWriter: ByteWriter {
    private struct State {
        var writes: [[UInt8]] = []
        var pending: CheckedContinuation<Void, any Error>?
        var aborted = false
        var closed = false
    }
    private let state = LockedState(State())

    var writes: [[UInt8]] { state.withLock { $0.writes } }
    var aborted: Bool { state.withLock { $0.aborted } }

    func write(_ bytes: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let aborted = state.withLock { state in
                state.writes.append(bytes)
                if !state.aborted { state.pending = continuation }
                return state.aborted
            }
            if aborted { continuation.resume(throwing: CancellationError()) }
        }
    }

    /// The kernel took the write in progress.
    func release() {
        state.withLock { state in defer { state.pending = nil }; return state.pending }?.resume()
    }

    func abort() async {
        state.withLock { state in
            state.aborted = true
            defer { state.pending = nil }
            return state.pending
        }?.resume(throwing: CancellationError())
    }

    func close() async { state.withLock { $0.closed = true } }

    func waitForWrites(_ count: Int) async throws {
        try await withDeadline("\(count) writes") {
            while self.writes.count < count { try await Task.sleep(for: .milliseconds(1)) }
        }
    }
}

@Suite("Connection: peers, output and encoding", .timeLimit(.minutes(1)))
struct PeerAndOutputTests {
    // MARK: Cancellation before the request is registered

    @Test("a send() from a task cancelled before it registers throws CancellationError and never reaches the peer")
    func sendCancelledBeforeRegistration() async throws {
        let (clientEnd, serverEnd) = InMemoryTransport.pair()
        let client = Connection(
            registry: MessageRegistry(requests: [], notifications: []), handler: ClientHandler(), framing: .contentLength)
        let running = Task { await client.run(input: clientEnd.reader, output: clientEnd.writer) }
        let peer = RawPeer(serverEnd)
        // The peer answers every request it gets (so a request that leaked out is answered, and
        // the test fails on what it sees rather than hanging).
        let seen = LockedState<[String]>([])
        let responder = Task {
            while let message = try await peer.next() {
                guard let id = message["id"], let method = message["method"]?.stringValue else { continue }
                seen.withLock { $0.append("\(method):\(message["params"]?["text"]?.stringValue ?? "")") }
                let text = message["params"]?["text"]?.stringValue ?? ""
                try await peer.send(#"{"jsonrpc":"2.0","id":\#(id.intValue ?? 0),"result":{"text":"\#(text)"}}"#)
            }
        }
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await client.send(EchoRequest(text: "cancelled"))
        }
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(try await client.send(EchoRequest(text: "after")) == EchoResult(text: "after"))
        #expect(seen.withLock { $0 } == ["test/echo:after"], "the cancelled request was sent")
        client.close()
        await peer.finish()
        await running.value
        responder.cancel()
    }

    // MARK: Deterministic encoding

    @Test("an error encodes to the same bytes every time: envelope, then code, message, data; data's keys sorted")
    func errorBytesAreDeterministic() throws {
        let pairs: [(String, JSONValue)] = [
            ("used", 7), ("limit", 2), ("setting", "maxRequestsInFlight"), ("retryAfterMs", 30), ("currentVersion", "abc"),
            ("kind", "file"), ("id", "a/b"),
        ]
        var outputs = Set<[UInt8]>()
        for round in 0..<200 {
            // A fresh dictionary each time, filled in a different order.
            var data: [String: JSONValue] = [:]
            for offset in 0..<pairs.count {
                let (key, value) = pairs[(offset + round) % pairs.count]
                data[key] = value
            }
            let error = ResponseError(code: .tooManyRequests, message: "slow down", data: .object(data))
            outputs.insert(OutgoingMessage.error(error, id: .number(9)))
        }
        #expect(outputs.count == 1)
        let expected =
            #"{"jsonrpc":"2.0","id":9,"error":{"code":-32021,"message":"slow down","data":{"currentVersion":"abc","id":"a/b","kind":"file","limit":2,"retryAfterMs":30,"setting":"maxRequestsInFlight","used":7}}}"#
        #expect(String(decoding: outputs.first ?? [], as: UTF8.self) == expected)
    }

    @Test("results, requests and notifications encode deterministically, envelope keys first")
    func messagesAreDeterministic() throws {
        var results = Set<[UInt8]>()
        var requests = Set<[UInt8]>()
        for round in 0..<100 {
            var object: [String: JSONValue] = [:]
            for key in ["zeta", "alpha", "mid", "beta", "omega"].shuffled() { object[key] = .int(round % 1) }
            results.insert(try OutgoingMessage.response(JSONValue.object(object), id: .string("r")))
            requests.insert(try OutgoingMessage.request(method: "x/y", params: .object(object), id: .number(1)))
        }
        #expect(results.count == 1)
        #expect(requests.count == 1)
        #expect(
            String(decoding: requests.first ?? [], as: UTF8.self)
                == #"{"jsonrpc":"2.0","id":1,"method":"x/y","params":{"alpha":0,"beta":0,"mid":0,"omega":0,"zeta":0}}"#)
        let notification = String(decoding: try OutgoingMessage.notification(RecordNotification(key: "k", value: 1)), as: UTF8.self)
        #expect(notification == #"{"jsonrpc":"2.0","method":"test/record","params":{"key":"k","value":1}}"#)
    }

    // MARK: Bounded echoes

    @Test("an unknown 100 kB method name is quoted in at most a few hundred bytes, in the message and in data.method")
    func longMethodNameIsCut() async throws {
        let server = RawServer()
        let method = String(repeating: "m", count: 100_000)
        try await server.peer.send(#"{"jsonrpc":"2.0","id":1,"method":"\#(method)"}"#)
        let reply = try await server.peer.reply()
        #expect(reply.errorCode == -32601)
        let message = try #require(reply.errorMessage)
        #expect(message.utf8.count <= 300)
        #expect(message.hasPrefix("Method not found: mmm"))
        #expect(message.hasSuffix("…"))
        let quoted = try #require(reply["error"]?["data"]?["method"]?.stringValue)
        #expect(quoted.utf8.count <= ResponseError.quotedTextLimit + 3)
        #expect(await server.peer.received.count < 2_000)
        #expect(try await server.finish().isEmpty)
    }

    @Test("a duplicate 50 kB string id is echoed as the reply's id but cut in the message")
    func longDuplicateIDIsCutInTheMessage() async throws {
        let server = RawServer()
        let id = String(repeating: "i", count: 50_000)
        try await server.peer.send(requestJSON(SleepRequest(name: "held"), id: .string(id)))
        try await server.recorder.wait(forEvent: "start:held")
        try await server.peer.send(requestJSON(EchoRequest(text: "again"), id: .string(id)))
        let duplicate = try await server.peer.reply()
        #expect(duplicate.errorCode == -32600)
        #expect(duplicate["id"]?.stringValue == id)
        #expect((duplicate.errorMessage?.utf8.count ?? .max) <= 400)
        server.gates.open("held")
        #expect(try await server.peer.reply()["id"]?.stringValue == id)
        #expect(try await server.finish().isEmpty)
    }

    // MARK: The peer goes away

    @Test("when the peer is gone, its document work is cancelled; other work still finishes")
    func peerGoneCancelsDocumentWork() async throws {
        let server = RawServer()
        try await server.peer.send(requestJSON(SleepRequest(name: "completion", order: "read:doc"), id: 1))
        try await server.peer.send(notificationJSON(RecordNotification(key: "doc", value: 1, gate: "edit")))
        try await server.peer.send(requestJSON(SleepRequest(name: "plain", ignoresCancellation: true), id: 2))
        try await server.recorder.wait(for: "all started") {
            $0.contains("start:completion") && $0.contains("start:plain")
        }
        await server.peer.end.disconnect()
        try await server.recorder.wait(forEvent: "cancelled:completion")
        #expect(server.connection.outputEnded)
        #expect(!server.recorder.events.contains("cancelled:plain"))
        server.gates.open("plain")
        server.gates.open("edit")
        try await withDeadline("the connection to end") { await server.task.value }
        #expect(server.recorder.events.contains("end:plain"))
        #expect(server.recorder.events.last == "closed")
    }

    @Test("a peer whose input ended but which still reads gets the answers of its document work")
    func inputEndedKeepsAnswering() async throws {
        let server = RawServer()
        try await server.peer.send(requestJSON(SleepRequest(name: "completion", order: "read:doc"), id: 1))
        try await server.recorder.wait(forEvent: "start:completion")
        await server.peer.finish()  // only our output: the connection's input ends
        #expect(!server.connection.outputEnded)
        server.gates.open("completion")
        let replies = try await server.peer.readToEnd()
        #expect(replies == [["jsonrpc": "2.0", "id": 1, "result": ["text": "completion"]]])
        #expect(!server.recorder.events.contains("cancelled:completion"))
        await server.task.value
    }

    // MARK: maxOutboundBytes

    @Test("bytes handed to the transport count until written; over maxOutboundBytes the peer is cut off after outboundGrace")
    func outboundCountedUntilWrittenAndGrace() async throws {
        var limits = Limits()
        limits.maxOutboundBytes = 1_000
        limits.outboundGrace = .seconds(5)
        let clock = TestClock()
        let handler = TestHandler()
        let (clientEnd, serverEnd) = InMemoryTransport.pair()
        let writer = StallingWriter()
        let connection = Connection(registry: testRegistry, handler: handler, framing: .contentLength, limits: limits, clock: clock)
        let task = Task { await connection.run(input: serverEnd.reader, output: writer) }
        let text = String(repeating: "x", count: 600)

        // One reply in the transport, not yet written: it still counts.
        try await clientEnd.writer.write(lspFrame(requestJSON(EchoRequest(text: text), id: 1)))
        try await writer.waitForWrites(1)
        let first = writer.writes[0].count
        #expect(first > 600)
        #expect(connection.outboundBytesHeld == first)
        writer.release()  // the kernel took it
        try await withDeadline("the write to be uncounted") {
            while connection.outboundBytesHeld != 0 { try await Task.sleep(for: .milliseconds(1)) }
        }

        // The peer stops reading: one reply stuck in the transport, a second over the limit.
        try await clientEnd.writer.write(lspFrame(requestJSON(EchoRequest(text: text), id: 2)))
        try await writer.waitForWrites(2)
        try await clientEnd.writer.write(lspFrame(requestJSON(EchoRequest(text: text), id: 3)))
        #expect(await clock.waitForSleepers(1), "no grace timer was armed")
        #expect(connection.outputEnded)
        #expect(connection.outboundBytesHeld == first, "the queued reply was not dropped")
        clock.advance(by: .milliseconds(4_999))
        #expect(clock.sleepers == 1)
        #expect(!writer.aborted)
        clock.advance(by: .milliseconds(1))
        try await withDeadline("the connection to end after the grace") { await task.value }
        #expect(writer.aborted)
        #expect(writer.writes.count == 2, "a reply went out after the limit")
        #expect(handler.recorder.events.last == "closed")
    }

    // MARK: Batches and maxRequestsInFlight

    @Test("a batch of maxBatchLength requests is served whole with the default limits")
    func fullBatchWithDefaults() async throws {
        let server = RawServer()
        let limits = Limits()
        #expect(limits.maxBatchLength > limits.maxRequestsInFlight)
        let members = (1...limits.maxBatchLength).map { requestJSON(EchoRequest(text: "\($0)"), id: .int($0)) }
        try await server.peer.send("[" + members.joined(separator: ",") + "]")
        let reply = try await server.peer.reply()
        let answers = try #require(reply.arrayValue)
        #expect(answers.count == limits.maxBatchLength)
        #expect(answers.allSatisfy { $0["error"] == nil })
        #expect(Set(answers.compactMap { $0["id"]?.intValue }) == Set(1...limits.maxBatchLength))
        #expect(try await server.finish().isEmpty)
    }

    @Test("batch members over maxRequestsInFlight wait for a place; a single request meanwhile gets -32021; a queued member can be cancelled")
    func batchMembersQueue() async throws {
        var limits = Limits()
        limits.maxRequestsInFlight = 2
        let server = RawServer(limits: limits)
        let members = (1...5).map { requestJSON(SleepRequest(name: "b\($0)"), id: .int($0)) }
        try await server.peer.send("[" + members.joined(separator: ",") + "]")
        try await server.recorder.wait(for: "two running") { $0.contains("start:b1") && $0.contains("start:b2") }
        #expect(server.connection.requestsQueued == 3)
        #expect(!server.recorder.events.contains("start:b3"))

        try await server.peer.send(requestJSON(EchoRequest(text: "single"), id: 9))
        let single = try await server.peer.reply()
        #expect(single["id"] == 9)
        #expect(single.errorCode == -32021)
        #expect(single["error"]?["data"] == ["limit": 2, "setting": "maxRequestsInFlight"])

        try await server.peer.send(cancelJSON(5))
        server.gates.open("b1")
        try await server.recorder.wait(forEvent: "start:b3")
        server.gates.open("b2")
        server.gates.open("b3")
        try await server.recorder.wait(forEvent: "start:b4")
        server.gates.open("b4")
        let reply = try await server.peer.reply()
        let answers = try #require(reply.arrayValue)
        func answer(_ id: Int) -> JSONValue? { answers.first { $0["id"]?.intValue == id } }
        #expect(answers.count == 5)
        for id in 1...4 { #expect(answer(id)?["result"] == ["text": .string("b\(id)")]) }
        #expect(answer(5)?.errorCode == -32800)
        #expect(!server.recorder.events.contains("start:b5"))
        #expect(try await server.finish().isEmpty)
    }
}
