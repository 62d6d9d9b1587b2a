import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import Logging

/// What a connection calls for the messages its peer sends. The connection answers every request
/// exactly once with what `handle(request:)` returns or throws (a `ResponseError` as is, a
/// `CancellationError` as `-32800`, anything else as `-32603` with the details logged, not sent).
public protocol MessageHandler: Sendable {
    func handle(request: any RequestType, id: RequestID, from connection: Connection) async throws -> any ResponseType
    func handle(notification: any NotificationType, from connection: Connection) async
    /// Called once when the connection has ended (peer gone, closed, or stopped).
    func connectionClosed(_ connection: Connection) async
}

extension MessageHandler {
    public func connectionClosed(_ connection: Connection) async {}
}

/// One JSON-RPC peer: reads framed messages, runs handlers under the ordering their messages ask
/// for, answers each request once, honours `$/cancelRequest`, enforces `Limits`, and sends this
/// side's own requests and notifications. Transport-agnostic: stdio, TCP and memory all feed it bytes.
public final class Connection: Sendable {
    public let logger: Logger
    public let limits: Limits
    private let handler: any MessageHandler
    private let registry: MessageRegistry
    private let outbound: OutboundBuffer
    private let state: LockedState<State>

    private struct InflightRequest {
        var task: Task<Void, Never>?
        var sink: ReplySink
    }

    private struct PendingOutgoing {
        var responseType: any ResponseType.Type
        var continuation: CheckedContinuation<any ResponseType, any Error>
    }

    private struct ScheduledWork {
        var task: Task<Void, Never>
        var ordering: MessageOrdering
        /// What a later `.update` of the same key waits for: the end of `task`, or, for a `.read`,
        /// the moment its handler calls `OrderingRelease.release()` (it has read what it needs).
        var gate: Task<Void, Never>
    }

    private struct State {
        var framing: FramingMode?
        var inflight: [RequestID: InflightRequest] = [:]
        var work: [UInt64: ScheduledWork] = [:]
        var workByKey: [String: [UInt64]] = [:]
        var lastBarrier: UInt64?
        var nextWorkID: UInt64 = 0
        var outgoing: [RequestID: PendingOutgoing] = [:]
        var nextOutgoingID = 0
        var readTask: Task<Void, Never>?
        var stopping = false
        var closed = false
    }

    public init(
        registry: MessageRegistry,
        handler: any MessageHandler,
        framing: FramingMode? = nil,
        limits: Limits = Limits(),
        logger: Logger = Logger(label: "devmode.jsonrpc")
    ) {
        self.registry = registry
        self.handler = handler
        self.limits = limits
        self.logger = logger
        self.outbound = OutboundBuffer(limit: limits.maxOutboundBytes)
        self.state = LockedState(State(framing: framing))
    }

    /// The framing the peer speaks, once known (auto-detected from its first byte unless fixed).
    public var framing: FramingMode? { state.withLock { $0.framing } }

    /// Number of the peer's requests being worked on.
    public var requestsInFlight: Int { state.withLock { $0.inflight.count } }

    // MARK: Running

    /// Serves the connection until the input ends or `close()`/`stop(grace:)` is called; then lets
    /// the work already started finish, flushes the replies, and closes `output`.
    public func run(input: some ByteReader, output: some ByteWriter) async {
        let writer = Task { await self.writeLoop(output) }
        let reader = Task { await self.readLoop(input) }
        let alreadyStopping = state.withLock { state in
            state.readTask = reader
            return state.stopping
        }
        if alreadyStopping { reader.cancel() }
        await reader.value
        await waitForScheduledWork()
        let abandoned = state.withLock { state in
            state.closed = true
            defer { state.outgoing = [:] }
            return state.outgoing.values.map(\.continuation)
        }
        for continuation in abandoned {
            continuation.resume(throwing: ResponseError(code: .requestFailed, message: "connection closed"))
        }
        outbound.finish()
        await writer.value
        await handler.connectionClosed(self)
    }

    /// Stops reading; the requests already in flight are still answered.
    public func close() {
        let reader = state.withLock { state in
            state.stopping = true
            return state.readTask
        }
        reader?.cancel()
    }

    /// Stops reading, gives the work in flight `grace` to finish, then cancels what is left
    /// (those requests are answered `-32802`, server cancelled).
    public func stop(grace: Duration) async {
        close()
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline {
            if state.withLock({ $0.work.isEmpty }) { return }
            try? await Task.sleep(for: .milliseconds(10))
        }
        let leftovers = state.withLock { state in
            state.inflight.map { ($0.key, $0.value) }
        }
        for (id, request) in leftovers {
            reply(to: id, with: .failure(ResponseError(code: .serverCancelled, message: "Server is shutting down")))
            request.task?.cancel()
        }
    }

    private func readLoop(_ input: some ByteReader) async {
        var parser = FrameParser(mode: state.withLock { $0.framing }, limits: limits)
        let context = MessageDecodingContext(registry: registry) { [state] id in
            state.withLock { $0.outgoing[id]?.responseType }
        }
        let decoder = JSONRPCDecoder(context: context, limits: limits)
        do {
            while !Task.isCancelled, let chunk = try await input.read() {
                parser.feed(chunk)
                var framingKnown = state.withLock { $0.framing != nil }
                var completed = 0
                while let event = parser.next() {
                    completed += 1
                    if !framingKnown, let mode = parser.mode {
                        // Replies use the framing the peer speaks, from the very first one.
                        state.withLock { if $0.framing == nil { $0.framing = mode } }
                        framingKnown = true
                    }
                    switch event {
                    case .message(let body):
                        dispatch(decoder.decode(body))
                    case .error(let error):
                        logger.debug("framing error", metadata: ["error": "\(error.message)"])
                        write(OutgoingMessage.error(error, id: nil))
                    }
                    if Task.isCancelled { break }
                }
                (input as? any FramingObserver)?.chunkParsed(
                    completedMessages: completed, messageIncomplete: !parser.isBetweenMessages)
            }
        } catch is CancellationError {
        } catch {
            logger.debug("input ended with an error", metadata: ["error": "\(error)"])
        }
    }

    private func writeLoop(_ output: some ByteWriter) async {
        while let bytes = await outbound.next() {
            do {
                try await output.write(bytes)
            } catch {
                logger.debug("output failed; closing", metadata: ["error": "\(error)"])
                outbound.finish(discard: true)
                close()
                // Keep draining so appenders never block; the bytes go nowhere.
                while await outbound.next() != nil {}
                break
            }
        }
        await output.close()
    }

    /// Frames and queues one encoded message.
    private func write(_ body: [UInt8]) {
        let mode = state.withLock { $0.framing } ?? .contentLength
        if !outbound.append(mode.frame(body)) {
            logger.warning(
                "peer is not reading its replies; closing the connection",
                metadata: ["limit": "\(limits.maxOutboundBytes)", "setting": "maxOutboundBytes"])
            outbound.finish(discard: true)
            close()
        }
    }

    // MARK: Incoming

    private func dispatch(_ payload: DecodedPayload) {
        switch payload {
        case .failure(let error):
            write(OutgoingMessage.error(error, id: nil))
        case .single(let message):
            dispatch(message, sink: .direct)
        case .batch(let messages):
            let expected = messages.reduce(0) { count, message in
                switch message {
                case .request: return count + 1
                case .invalid(_, reply: .id), .invalid(_, reply: .null): return count + 1
                default: return count
                }
            }
            if expected == 0 {
                for message in messages { dispatch(message, sink: .direct) }
                return
            }
            let collector = BatchCollector(expected: expected) { [weak self] members in
                self?.write(OutgoingMessage.batch(members))
            }
            for message in messages { dispatch(message, sink: .batch(collector)) }
        }
    }

    private func dispatch(_ message: IncomingMessage, sink: ReplySink) {
        switch message {
        case .request(let request, let id):
            startRequest(request, id: id, sink: sink)
        case .notification(let notification):
            if let cancel = notification as? CancelRequestNotification {
                cancelIncoming(cancel.id)
                return
            }
            schedule(notification.ordering) { [self] in
                await handler.handle(notification: notification, from: self)
            }
        case .response(let id, let result):
            let pending = state.withLock { $0.outgoing.removeValue(forKey: id) }
            guard let pending else {
                logger.debug("response to an unknown request", metadata: ["id": "\(id)"])
                return
            }
            pending.continuation.resume(with: result.mapError { $0 as any Error })
        case .invalid(let error, let reply):
            switch reply {
            case .id(let id): sink.send(OutgoingMessage.error(error, id: id), connection: self)
            case .null: sink.send(OutgoingMessage.error(error, id: nil), connection: self)
            case .none: logger.debug("dropped a notification", metadata: ["error": "\(error.message)"])
            }
        }
    }

    private func startRequest(_ request: any RequestType, id: RequestID, sink: ReplySink) {
        enum Admission { case admitted, duplicate, overLimit, stopping }
        let admission: Admission = state.withLock { state in
            if state.stopping { return .stopping }
            if state.inflight[id] != nil { return .duplicate }
            if state.inflight.count >= limits.maxRequestsInFlight { return .overLimit }
            state.inflight[id] = InflightRequest(task: nil, sink: sink)
            return .admitted
        }
        switch admission {
        case .admitted: break
        case .duplicate:
            sink.send(
                OutgoingMessage.error(.invalidRequest("a request with id \(id) is already in flight"), id: id),
                connection: self)
            return
        case .overLimit:
            sink.send(OutgoingMessage.error(.tooManyRequests(limit: limits.maxRequestsInFlight), id: id), connection: self)
            return
        case .stopping:
            sink.send(
                OutgoingMessage.error(ResponseError(code: .serverCancelled, message: "Server is shutting down"), id: id),
                connection: self)
            return
        }
        let task = schedule(request.ordering) { [self] in
            let result: Result<any ResponseType, ResponseError>
            do {
                try Task.checkCancellation()
                result = .success(try await handler.handle(request: request, id: id, from: self))
            } catch let error as ResponseError {
                result = .failure(error)
            } catch is CancellationError {
                result = .failure(.cancelled)
            } catch {
                logger.error(
                    "request failed", metadata: ["method": "\(type(of: request).method)", "id": "\(id)", "error": "\(error)"])
                result = .failure(.internalError)
            }
            reply(to: id, with: result)
        }
        state.withLock { state in
            state.inflight[id]?.task = task
        }
    }

    /// Answers a request once: the first of completion, cancellation or shutdown wins.
    private func reply(to id: RequestID, with result: Result<any ResponseType, ResponseError>) {
        guard let request = state.withLock({ $0.inflight.removeValue(forKey: id) }) else { return }
        let bytes: [UInt8]
        switch result {
        case .success(let response):
            do {
                bytes = try OutgoingMessage.response(response, id: id)
            } catch {
                logger.critical("could not encode a result", metadata: ["id": "\(id)", "error": "\(error)"])
                bytes = OutgoingMessage.error(.internalError, id: id)
            }
        case .failure(let error):
            bytes = OutgoingMessage.error(error, id: id)
        }
        request.sink.send(bytes, connection: self)
    }

    private func cancelIncoming(_ id: RequestID) {
        let task = state.withLock { $0.inflight[id]?.task }
        guard let task else { return }  // Already answered, or never seen: nothing to do.
        reply(to: id, with: .failure(.cancelled))
        task.cancel()
    }

    // MARK: Ordering

    /// Starts `work` once the earlier work its ordering depends on has finished.
    @discardableResult
    private func schedule(_ ordering: MessageOrdering, _ work: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        state.withLock { state in
            let id = state.nextWorkID
            state.nextWorkID += 1
            var dependencies: [Task<Void, Never>] = []
            if let barrier = state.lastBarrier, let task = state.work[barrier]?.task {
                dependencies.append(task)
            }
            let key: String?
            switch ordering {
            case .concurrent:
                key = nil
            case .barrier:
                key = nil
                dependencies = state.work.values.map(\.task)
                state.lastBarrier = id
            case .read(let resource):
                key = resource
                for earlier in state.workByKey[resource] ?? [] {
                    if let work = state.work[earlier], case .update = work.ordering { dependencies.append(work.task) }
                }
            case .update(let resource):
                key = resource
                for earlier in state.workByKey[resource] ?? [] {
                    if let work = state.work[earlier] { dependencies.append(work.gate) }
                }
            }
            guard case .read = ordering else {
                let task = Task { [self, dependencies] in
                    for dependency in dependencies { await dependency.value }
                    await work()
                    finishWork(id, key: key)
                }
                state.work[id] = ScheduledWork(task: task, ordering: ordering, gate: task)
                if let key { state.workByKey[key, default: []].append(id) }
                return task
            }
            // A read may let later updates of its key go ahead before it ends (a completion that has
            // taken its snapshot of the document need not hold up the next edit while a model answers).
            let (released, release) = AsyncStream<Void>.makeStream()
            let gate = Task {
                for await _ in released { break }
            }
            let task = Task { [self, dependencies] in
                for dependency in dependencies { await dependency.value }
                await OrderingRelease.$current.withValue(OrderingRelease { release.finish() }) {
                    await work()
                }
                release.finish()
                finishWork(id, key: key)
            }
            state.work[id] = ScheduledWork(task: task, ordering: ordering, gate: gate)
            if let key { state.workByKey[key, default: []].append(id) }
            return task
        }
    }

    private func finishWork(_ id: UInt64, key: String?) {
        state.withLock { state in
            state.work.removeValue(forKey: id)
            if state.lastBarrier == id { state.lastBarrier = nil }
            if let key {
                state.workByKey[key]?.removeAll { $0 == id }
                if state.workByKey[key]?.isEmpty == true { state.workByKey.removeValue(forKey: key) }
            }
        }
    }

    private func waitForScheduledWork() async {
        while let next = state.withLock({ $0.work.values.first?.task }) {
            await next.value
        }
    }

    // MARK: Outgoing

    /// Sends a request to the peer and waits for its result. Cancelling the calling task sends
    /// `$/cancelRequest` and throws `CancellationError`.
    public func send<R: RequestType>(_ request: R) async throws -> R.Response {
        let response = try await sendRequest(responseType: R.Response.self) { id in
            try OutgoingMessage.request(request, id: id)
        }
        guard let typed = response as? R.Response else {
            throw ResponseError(code: .internalError, message: "unexpected result type for \(R.method)")
        }
        return typed
    }

    /// Sends a request by method name with untyped params (for `devmode call` and scripts' tools).
    public func send(method: String, params: JSONValue?) async throws -> JSONValue {
        let response = try await sendRequest(responseType: JSONValue.self) { id in
            try OutgoingMessage.request(method: method, params: params, id: id)
        }
        return response as? JSONValue ?? .null
    }

    private func sendRequest(
        responseType: any ResponseType.Type, encode: (RequestID) throws -> [UInt8]
    ) async throws -> any ResponseType {
        let (id, closed): (RequestID, Bool) = state.withLock { state in
            state.nextOutgoingID += 1
            return (.number(state.nextOutgoingID), state.closed)
        }
        if closed { throw ResponseError(code: .requestFailed, message: "connection closed") }
        let bytes = try encode(id)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<any ResponseType, any Error>) in
                let accepted = state.withLock { state in
                    guard !state.closed else { return false }
                    state.outgoing[id] = PendingOutgoing(responseType: responseType, continuation: continuation)
                    return true
                }
                guard accepted else {
                    continuation.resume(throwing: ResponseError(code: .requestFailed, message: "connection closed"))
                    return
                }
                write(bytes)
            }
        } onCancel: {
            if let pending = state.withLock({ $0.outgoing.removeValue(forKey: id) }) {
                send(CancelRequestNotification(id: id))
                pending.continuation.resume(throwing: CancellationError())
            }
        }
    }

    /// Sends a notification to the peer.
    public func send<N: NotificationType>(_ notification: N) {
        do {
            write(try OutgoingMessage.notification(notification))
        } catch {
            logger.critical("could not encode a notification", metadata: ["method": "\(N.method)", "error": "\(error)"])
        }
    }

    /// Sends a raw, already encoded message body (framing is added). For tests and benchmarks.
    public func sendRaw(_ body: [UInt8]) {
        write(body)
    }
}

/// Where a request's reply goes: straight out, or into its batch's response.
enum ReplySink: Sendable {
    case direct
    case batch(BatchCollector)

    func send(_ bytes: [UInt8], connection: Connection) {
        switch self {
        case .direct: connection.sendRaw(bytes)
        case .batch(let collector): collector.add(bytes)
        }
    }
}

/// Gathers the replies of one batch and sends them as one array when the last is in.
final class BatchCollector: Sendable {
    private let state: LockedState<(remaining: Int, members: [[UInt8]])>
    private let completion: @Sendable ([[UInt8]]) -> Void

    init(expected: Int, completion: @escaping @Sendable ([[UInt8]]) -> Void) {
        state = LockedState((expected, []))
        self.completion = completion
    }

    func add(_ member: [UInt8]) {
        let finished: [[UInt8]]? = state.withLock { state in
            state.members.append(member)
            state.remaining -= 1
            return state.remaining == 0 ? state.members : nil
        }
        if let finished { completion(finished) }
    }
}

/// Lets a handler of a `.read(key)` message end its hold on the key early: later `.update`s of the
/// key stop waiting for it. Call it once the handler has read what it needs; a no-op elsewhere.
public struct OrderingRelease: Sendable {
    @TaskLocal static var current: OrderingRelease?
    private let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    /// Releases the current `.read` message's key (idempotent).
    public static func release() { current?.body() }
}
