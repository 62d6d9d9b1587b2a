import DevModeAI
import Foundation
import JSONRPC
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A scripted model server on 127.0.0.1 (an ephemeral port) speaking real HTTP/1.1 and real SSE
/// (`text/event-stream`, chunked), in OpenAI-compatible and Anthropic shapes.
///
/// Each request takes the next behaviour from the queue (`enqueue`), else asks the fallback
/// (`respond(with:)`), else answers 500. Every request is recorded (`requests`), connections are
/// counted, and `waitForClientDisconnect` tells when a client closed a connection whose answer was
/// still going (streaming, stalled or hanging): proof that a cancellation reached upstream.
public final class FakeModelServer: Sendable {
    public indirect enum Behaviour: Sendable {
        /// An OpenAI-compatible stream: chat chunks (`delta.content`) when the path ends in
        /// `/chat/completions`, completion chunks (`text`) otherwise; each chunk after `delayMs`;
        /// then a chunk with `finishReason` (when not nil), a usage chunk (when given) and
        /// `data: [DONE]` (when `done`); then the body ends cleanly, or (`endBody` false) stays
        /// open, silent, until the client goes away.
        case stream(
            chunks: [String], delayMs: Int = 0, finishReason: String? = "stop", usage: TokenUsage? = nil, done: Bool = true,
            endBody: Bool = true)
        /// An Anthropic Messages stream: message_start (input tokens), a text block with one
        /// delta per chunk (a ping before the first), message_delta (stop reason, output tokens),
        /// message_stop.
        case anthropicStream(chunks: [String], delayMs: Int = 0, stopReason: String = "end_turn", usage: TokenUsage? = nil)
        /// An Anthropic stream that sends `chunks`, then an `error` event of `type`, then ends.
        case anthropicError(type: String, message: String, afterChunks: [String] = [])
        /// An OpenAI-compatible stream that sends `chunks`, then `data: {"error": …}`, then ends.
        case streamError(message: String, code: Int? = nil, afterChunks: [String] = [])
        /// A plain answer: this status, these headers, this body (JSON when it starts with `{`).
        case status(Int, headers: [String: String] = [:], body: String = "")
        /// A 200 `text/event-stream` whose body is exactly `body` (bad SSE or bad JSON), ended cleanly.
        case malformed(String)
        /// A 200 answer with `contentType` and `body`, ended cleanly.
        case raw(contentType: String, body: String)
        /// An OpenAI-compatible stream that sends `chunks`, then closes the connection in the
        /// middle of the chunked body (no finish reason, no `[DONE]`, no final chunk).
        case truncated(chunks: [String] = ["partial"])
        /// An OpenAI-compatible stream that sends `chunks`, then nothing, keeping the connection
        /// open until the client goes away (for idle timeouts and cancellation mid-stream).
        case stall(chunks: [String] = [])
        /// Reads the request and never answers, until the client goes away.
        case hang
        /// Waits `ms` before answering as `then` (a slow first byte).
        case delayed(ms: Int, then: Behaviour)
    }

    private let shared = Shared()
    private let listener = Mutex<(any Channel)?>(nil)

    public init() {}

    /// Binds 127.0.0.1 on an ephemeral port.
    public func start() async throws {
        let shared = self.shared
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(FakeModelHandler(shared: shared))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        listener.withLock { $0 = channel }
    }

    /// Stops listening and closes every open connection.
    public func shutdown() async throws {
        let channel = listener.withLock { listener in
            defer { listener = nil }
            return listener
        }
        try await channel?.close()
        for child in shared.state.withLock({ Array($0.channels.values) }) {
            try? await child.close()
        }
    }

    /// The bound port (0 before `start()`).
    public var port: Int { listener.withLock { $0?.localAddress?.port } ?? 0 }
    /// The base URL of an OpenAI-compatible model (`http://127.0.0.1:PORT/v1`).
    public var openAIEndpoint: String { "http://127.0.0.1:\(port)/v1" }
    /// The base URL of an Anthropic model (`http://127.0.0.1:PORT`).
    public var anthropicEndpoint: String { "http://127.0.0.1:\(port)" }

    /// Adds behaviours for the next requests, in order.
    public func enqueue(_ behaviours: Behaviour...) {
        shared.state.withLock { $0.queue.append(contentsOf: behaviours) }
    }

    /// Answers requests the queue does not cover.
    public func respond(with responder: @escaping @Sendable (RecordedRequest) -> Behaviour) {
        shared.state.withLock { $0.fallback = responder }
    }

    /// Every request received, in order.
    public var requests: [RecordedRequest] { shared.state.withLock { $0.requests } }
    public var connectionsOpened: Int { shared.state.withLock { $0.opened } }
    public var connectionsClosed: Int { shared.state.withLock { $0.closed } }
    /// Connections the client closed while their answer was still going.
    public var clientDisconnects: Int { shared.state.withLock { $0.clientDisconnects } }

    /// Waits until the client has closed `count` connections whose answer was still going (see
    /// `clientDisconnects`). False when that did not happen within `timeout`.
    public func waitForClientDisconnect(count: Int = 1, timeout: Duration = .seconds(30)) async -> Bool {
        let shared = self.shared
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await shared.disconnects(reaching: count) }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                } catch {}
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    final class Shared: Sendable {
        struct Waiter {
            var count: Int
            var continuation: CheckedContinuation<Bool, Never>
        }
        struct State {
            var queue: [Behaviour] = []
            var fallback: (@Sendable (RecordedRequest) -> Behaviour)?
            var requests: [RecordedRequest] = []
            var opened = 0
            var closed = 0
            var clientDisconnects = 0
            var channels: [ObjectIdentifier: any Channel] = [:]
            var waiters: [Int: Waiter] = [:]
            var cancelledWaiters: Set<Int> = []
            var nextWaiter = 0
        }
        let state = Mutex(State())

        func opened(_ channel: any Channel) {
            state.withLock {
                $0.opened += 1
                $0.channels[ObjectIdentifier(channel)] = channel
            }
        }

        func closed(_ channel: any Channel, whileAnswering: Bool) {
            let ready: [CheckedContinuation<Bool, Never>] = state.withLock { state in
                state.closed += 1
                state.channels[ObjectIdentifier(channel)] = nil
                guard whileAnswering else { return [] }
                state.clientDisconnects += 1
                let reached = state.waiters.filter { $0.value.count <= state.clientDisconnects }
                for id in reached.keys { state.waiters[id] = nil }
                return reached.values.map(\.continuation)
            }
            for continuation in ready { continuation.resume(returning: true) }
        }

        func record(_ request: RecordedRequest) -> Behaviour {
            state.withLock { state in
                state.requests.append(request)
                if !state.queue.isEmpty { return state.queue.removeFirst() }
                if let fallback = state.fallback { return fallback(request) }
                return .status(500, body: #"{"error":{"message":"FakeModelServer: no behaviour scripted for this request"}}"#)
            }
        }

        /// True once `count` client disconnects happened; false when cancelled first.
        func disconnects(reaching count: Int) async -> Bool {
            let id = state.withLock { state in
                defer { state.nextWaiter += 1 }
                return state.nextWaiter
            }
            return await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                    let immediate: Bool? = state.withLock { state in
                        if state.cancelledWaiters.remove(id) != nil { return false }
                        if state.clientDisconnects >= count { return true }
                        state.waiters[id] = Waiter(count: count, continuation: continuation)
                        return nil
                    }
                    if let immediate { continuation.resume(returning: immediate) }
                }
            } onCancel: {
                let waiter = state.withLock { state in
                    guard let waiter = state.waiters.removeValue(forKey: id) else {
                        state.cancelledWaiters.insert(id)
                        return Waiter?.none
                    }
                    return waiter
                }
                waiter?.continuation.resume(returning: false)
            }
        }
    }
}

/// One request as the fake server received it.
public struct RecordedRequest: Sendable {
    public let method: String
    /// The request target (`/v1/completions`).
    public let path: String
    /// Header names lowercased; repeated headers joined with ", ".
    public let headers: [String: String]
    public let body: String
    /// The body parsed as JSON, when it is JSON.
    public let json: JSONValue?

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// One connection of the fake server. Runs a behaviour as a list of steps, scheduling waits on
/// the event loop; notices the client leaving in `channelInactive`.
private final class FakeModelHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    enum Step {
        case head(Int, [(String, String)])
        case body(String)
        case wait(ms: Int)
        case end
        /// Close the connection in the middle of the answer.
        case close
        /// Say nothing more; the client will leave.
        case waitForClient
    }

    private let shared: FakeModelServer.Shared
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    /// An answer is under way and not ended.
    private var answering = false
    private var closingOurselves = false
    private var pending: Scheduled<Void>?

    init(shared: FakeModelServer.Shared) {
        self.shared = shared
    }

    func channelActive(context: ChannelHandlerContext) {
        shared.opened(context.channel)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending?.cancel()
        pending = nil
        shared.closed(context.channel, whileAnswering: answering && !closingOurselves)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = []
        case .body(let buffer):
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let head else { return }
            var headers: [String: String] = [:]
            for (name, value) in head.headers {
                let key = name.lowercased()
                headers[key] = headers[key].map { "\($0), \(value)" } ?? value
            }
            let text = String(decoding: body, as: UTF8.self)
            let json = try? JSONDecoder().decode(JSONValue.self, from: Data(body))
            let request = RecordedRequest(method: head.method.rawValue, path: head.uri, headers: headers, body: text, json: json)
            let behaviour = shared.record(request)
            answering = true
            run(Self.steps(for: behaviour, request: request)[...], context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func run(_ steps: ArraySlice<Step>, context: ChannelHandlerContext) {
        var remaining = steps
        while let step = remaining.popFirst() {
            switch step {
            case .head(let status, let headers):
                let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: HTTPHeaders(headers))
                context.write(wrapOutboundOut(.head(head)), promise: nil)
            case .body(let text):
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            case .wait(let ms):
                context.flush()
                let rest = remaining
                pending = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(ms))) {
                    self.pending = nil
                    self.run(rest, context: context)
                }
                return
            case .end:
                answering = false
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            case .close:
                closingOurselves = true
                context.flush()
                context.close(promise: nil)
                return
            case .waitForClient:
                context.flush()
                return
            }
        }
    }

    // MARK: Behaviours as steps

    private static let eventStreamHead = Step.head(200, [("content-type", "text/event-stream"), ("cache-control", "no-cache"), ("transfer-encoding", "chunked")])

    static func steps(for behaviour: FakeModelServer.Behaviour, request: RecordedRequest) -> [Step] {
        let model = request.json?["model"]?.stringValue ?? "fake-model"
        let chat = request.path.hasSuffix("/chat/completions")
        func delayed(_ ms: Int, _ step: Step) -> [Step] { ms > 0 ? [.wait(ms: ms), step] : [step] }
        switch behaviour {
        case .stream(let chunks, let delayMs, let finishReason, let usage, let done, let endBody):
            var steps = [eventStreamHead]
            for chunk in chunks { steps += delayed(delayMs, .body(openAIChunk(chunk, model: model, chat: chat))) }
            if let finishReason { steps.append(.body(openAIChunk("", model: model, chat: chat, finishReason: finishReason))) }
            if let usage {
                let object: JSONValue = [
                    "id": "fake", "object": chat ? "chat.completion.chunk" : "text_completion", "created": 0, "model": .string(model),
                    "choices": [],
                    "usage": [
                        "prompt_tokens": .int(usage.inputTokens), "completion_tokens": .int(usage.outputTokens),
                        "total_tokens": .int(usage.inputTokens + usage.outputTokens),
                    ],
                ]
                steps.append(.body(sse(data: json(object))))
            }
            if done { steps.append(.body(sse(data: "[DONE]"))) }
            return steps + [endBody ? .end : .waitForClient]
        case .anthropicStream(let chunks, let delayMs, let stopReason, let usage):
            var steps = [eventStreamHead] + anthropicOpening(model: model, inputTokens: usage?.inputTokens ?? 0)
            steps.append(.body(sse(event: "ping", data: #"{"type": "ping"}"#)))
            for chunk in chunks {
                steps += delayed(delayMs, .body(anthropicDelta(chunk)))
            }
            let delta: JSONValue = [
                "type": "message_delta", "delta": ["stop_reason": .string(stopReason), "stop_sequence": nil],
                "usage": ["output_tokens": .int(usage?.outputTokens ?? chunks.count)],
            ]
            steps += [
                .body(sse(event: "content_block_stop", data: #"{"type":"content_block_stop","index":0}"#)),
                .body(sse(event: "message_delta", data: json(delta))),
                .body(sse(event: "message_stop", data: #"{"type":"message_stop"}"#)),
                .end,
            ]
            return steps
        case .anthropicError(let type, let message, let chunks):
            let error: JSONValue = ["type": "error", "error": ["type": .string(type), "message": .string(message)]]
            return [eventStreamHead] + anthropicOpening(model: model, inputTokens: 1) + chunks.map { .body(anthropicDelta($0)) }
                + [.body(sse(event: "error", data: json(error))), .end]
        case .streamError(let message, let code, let chunks):
            let error: JSONValue = ["error": ["message": .string(message), "type": "server_error", "code": code.map { JSONValue.int($0) } ?? .null]]
            return [eventStreamHead] + chunks.map { .body(openAIChunk($0, model: model, chat: chat)) } + [.body(sse(data: json(error))), .end]
        case .status(let status, let headers, let body):
            let type = body.hasPrefix("{") ? "application/json" : "text/plain; charset=utf-8"
            var all = [("content-type", type), ("content-length", "\(body.utf8.count)")]
            all += headers.map { ($0.key, $0.value) }
            return [.head(status, all), .body(body), .end]
        case .malformed(let body):
            return [eventStreamHead, .body(body), .end]
        case .raw(let contentType, let body):
            return [.head(200, [("content-type", contentType), ("content-length", "\(body.utf8.count)")]), .body(body), .end]
        case .truncated(let chunks):
            return [eventStreamHead] + chunks.map { .body(openAIChunk($0, model: model, chat: chat)) } + [.close]
        case .stall(let chunks):
            return [eventStreamHead] + chunks.map { .body(openAIChunk($0, model: model, chat: chat)) } + [.waitForClient]
        case .hang:
            return [.waitForClient]
        case .delayed(let ms, let then):
            return [.wait(ms: ms)] + steps(for: then, request: request)
        }
    }

    static func sse(event: String? = nil, data: String) -> String {
        (event.map { "event: \($0)\n" } ?? "") + data.split(separator: "\n", omittingEmptySubsequences: false).map { "data: \($0)\n" }.joined() + "\n"
    }

    static func json(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    static func openAIChunk(_ text: String, model: String, chat: Bool, finishReason: String? = nil) -> String {
        let reason: JSONValue = finishReason.map { JSONValue.string($0) } ?? .null
        let choice: JSONValue =
            chat
            ? ["index": 0, "delta": finishReason == nil ? ["content": .string(text)] : [:], "finish_reason": reason]
            : ["index": 0, "text": .string(text), "logprobs": nil, "finish_reason": reason]
        let chunk: JSONValue = [
            "id": "fake", "object": chat ? "chat.completion.chunk" : "text_completion", "created": 0, "model": .string(model),
            "choices": [choice], "usage": nil,
        ]
        return sse(data: json(chunk))
    }

    static func anthropicOpening(model: String, inputTokens: Int) -> [Step] {
        let start: JSONValue = [
            "type": "message_start",
            "message": [
                "id": "msg_fake", "type": "message", "role": "assistant", "content": [], "model": .string(model),
                "stop_reason": nil, "stop_sequence": nil, "usage": ["input_tokens": .int(inputTokens), "output_tokens": 1],
            ],
        ]
        return [
            .body(sse(event: "message_start", data: json(start))),
            .body(sse(event: "content_block_start", data: #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#)),
        ]
    }

    static func anthropicDelta(_ text: String) -> String {
        let delta: JSONValue = ["type": "content_block_delta", "index": 0, "delta": ["type": "text_delta", "text": .string(text)]]
        return sse(event: "content_block_delta", data: json(delta))
    }
}

/// A TCP port that never completes a connection: a listener with a backlog of 0 that never
/// accepts, whose one queue slot is taken by a connection of its own. The kernel drops further
/// SYNs, so a client's connect hangs until its connect timeout. For connect-timeout tests.
public final class UnresponsiveListener: Sendable {
    public let port: Int
    private let listenerFD: Int32
    private let fillerFD: Int32

    public init() throws {
        struct SocketError: Error, CustomStringConvertible {
            let call: String
            let code: Int32
            var description: String { "\(call) failed: \(String(cString: strerror(code)))" }
        }
        let listener = socket(AF_INET, streamSocket, 0)
        guard listener >= 0 else { throw SocketError(call: "socket", code: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
        }
        guard bound == 0, listen(listener, 0) == 0 else {
            let code = errno
            closeSocket(listener)
            throw SocketError(call: "bind/listen", code: code)
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let filler = socket(AF_INET, streamSocket, 0)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, length) }
        }
        guard filler >= 0, connected == 0 else {
            let code = errno
            closeSocket(listener)
            if filler >= 0 { closeSocket(filler) }
            throw SocketError(call: "connect", code: code)
        }
        listenerFD = listener
        fillerFD = filler
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Closes both sockets. Call once.
    public func close() {
        closeSocket(fillerFD)
        closeSocket(listenerFD)
    }
}

/// A loopback port where every connection is refused at once, held for as long as this lives: a
/// socket bound to it that never listens. (A port freed by closing a listener could be taken by a
/// test running alongside, which would then answer instead of refusing.)
public final class RefusingPort: Sendable {
    public let port: Int
    private let fd: Int32

    public init() throws {
        struct SocketError: Error, CustomStringConvertible {
            let code: Int32
            var description: String { "socket/bind failed: \(String(cString: strerror(code)))" }
        }
        let socketFD = socket(AF_INET, streamSocket, 0)
        guard socketFD >= 0 else { throw SocketError(code: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, length) }
        }
        guard bound == 0 else {
            let code = errno
            closeSocket(socketFD)
            throw SocketError(code: code)
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) }
        }
        fd = socketFD
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { closeSocket(fd) }
}

private func closeSocket(_ fd: Int32) {
    _ = close(fd)
}

#if os(Linux)
private let streamSocket = Int32(SOCK_STREAM.rawValue)
#else
private let streamSocket = SOCK_STREAM
#endif
