import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import DevModeClock
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
///
/// When the peer can no longer receive (its socket reset or closed under a write, the reading end
/// of its pipe closed, or it stopped reading past `maxOutboundBytes`), the connection stops reading
/// and cancels its document work (`.read`/`.update` messages: completions and their model calls),
/// whose answers could reach nobody. A peer whose input ended but which still reads (a script
/// piping a file in) keeps getting every answer.
public final class Connection: Sendable {
    public let logger: Logger
    public let limits: Limits
    private let handler: any MessageHandler
    private let registry: MessageRegistry
    private let outbound: OutboundBuffer
    private let clock: any ServerClock
    private let errorReplyObserver: (@Sendable (_ method: String, _ error: ResponseError) -> Void)?
    private let state: LockedState<State>

    private struct InflightRequest {
        var task: Task<Void, Never>?
        var sink: ReplySink
        /// A batch member waiting for a free place under `maxRequestsInFlight`.
        var queued: Bool
        /// Its task, parked until it is given a place (true) or answered while waiting (false).
        var slotWaiter: CheckedContinuation<Bool, Never>?
    }

    private struct PendingOutgoing {
        var method: String
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
        /// The peer's requests not answered yet: running, waiting for their ordering, or queued.
        var inflight: [RequestID: InflightRequest] = [:]
        /// Batch members waiting for a place, first come first served.
        var slotQueue: [RequestID] = []
        var work: [UInt64: ScheduledWork] = [:]
        var workByKey: [String: [UInt64]] = [:]
        var lastBarrier: UInt64?
        var nextWorkID: UInt64 = 0
        var outgoing: [RequestID: PendingOutgoing] = [:]
        var nextOutgoingID = 0
        var readTask: Task<Void, Never>?
        var stopping = false
        var closed = false
        /// The peer takes no more replies (gone, or over `maxOutboundBytes`).
        var outputEnded = false
        /// Closes the transport at once (set while `run` runs).
        var abortOutput: (@Sendable () async -> Void)?
        /// Disconnects a peer over `maxOutboundBytes` once `outboundGrace` has passed.
        var graceTimer: Task<Void, Never>?
    }

    /// `errorReplyObserver` is told the method and the error of every error reply to this side's
    /// own requests (the test clients record which codes each method was seen to answer).
    public init(
        registry: MessageRegistry,
        handler: any MessageHandler,
        framing: FramingMode? = nil,
        limits: Limits = Limits(),
        clock: any ServerClock = SystemClock(),
        logger: Logger = Logger(label: "devmode.jsonrpc"),
        errorReplyObserver: (@Sendable (_ method: String, _ error: ResponseError) -> Void)? = nil
    ) {
        self.errorReplyObserver = errorReplyObserver
        self.registry = registry
        self.handler = handler
        self.limits = limits
        self.clock = clock
        self.logger = logger
        self.outbound = OutboundBuffer(limit: limits.maxOutboundBytes)
        self.state = LockedState(State(framing: framing))
    }

    /// The framing the peer speaks, once known (auto-detected from its first byte unless fixed).
    public var framing: FramingMode? { state.withLock { $0.framing } }

    /// Number of the peer's requests not answered yet (running, waiting, or queued in a batch).
    public var requestsInFlight: Int { state.withLock { $0.inflight.count } }

    /// Batch members waiting for a place under `maxRequestsInFlight`.
    public var requestsQueued: Int { state.withLock { $0.slotQueue.count } }

    /// Reply bytes produced for the peer and not yet taken by the kernel (queued here, or handed to
    /// the transport and not yet written): what `maxOutboundBytes` bounds.
    public var outboundBytesHeld: Int { outbound.held }

    /// Whether the peer was found gone or over `maxOutboundBytes`: no more replies go out.
    public var outputEnded: Bool { state.withLock { $0.outputEnded } }

    // MARK: Running

    /// Serves the connection until the input ends or `close()`/`stop(grace:)` is called; then lets
    /// the work already started finish, flushes the replies, and closes `output`.
    public func run(input: some ByteReader, output: some ByteWriter) async {
        state.withLock { $0.abortOutput = { await output.abort() } }
        let writer = Task { await self.writeLoop(output) }
        let reader = Task { await self.readLoop(input) }
        let watcher = Task {
            do {
                try await output.waitUntilPeerGone()
            } catch {
                return  // cancelled: the connection ended first
            }
            self.endOutput(reason: "the peer is gone", abortAfter: nil)
        }
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
        watcher.cancel()
        await watcher.value
        let timer = state.withLock { state in
            defer {
                state.graceTimer = nil
                state.abortOutput = nil
            }
            return state.graceTimer
        }
        timer?.cancel()
        await output.close()
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
        let deadline = clock.now + grace
        while clock.now < deadline {
            if state.withLock({ $0.work.isEmpty }) { return }
            try? await clock.sleep(for: .milliseconds(10))
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
                        if parser.gaveUp {
                            logger.debug(
                                "closing after repeated framing errors",
                                metadata: ["limit": "\(limits.maxFramingErrors)", "setting": "maxFramingErrors"])
                            close()
                        }
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
                outbound.written(bytes.count)
            } catch {
                outbound.written(bytes.count)
                logger.debug("output failed", metadata: ["error": "\(error)"])
                endOutput(reason: "writing to the peer failed", abortAfter: nil)
                break
            }
        }
    }

    /// Frames and queues one encoded message.
    private func write(_ body: [UInt8]) {
        let mode = state.withLock { $0.framing } ?? .contentLength
        if !outbound.append(mode.frame(body)) { outboundOverLimit() }
    }

    private func outboundOverLimit() {
        logger.warning(
            "peer is not reading its replies; disconnecting it",
            metadata: [
                "limit": "\(limits.maxOutboundBytes)", "setting": "maxOutboundBytes", "held": "\(outbound.held)",
                "graceMs": "\(limits.outboundGrace.wholeMilliseconds)",
            ])
        endOutput(reason: "over maxOutboundBytes", abortAfter: limits.outboundGrace)
    }

    /// The peer takes no more replies: stop reading, drop what is queued for it, and cancel the
    /// document work (its answers could reach nobody, and cancelling closes its model calls).
    /// With `abortAfter`, the transport is closed hard after that grace unless the connection has
    /// ended by then (the write in progress completed and the work finished).
    private func endOutput(reason: String, abortAfter grace: Duration?) {
        let keyed: [Task<Void, Never>]? = state.withLock { state in
            guard !state.outputEnded else { return nil }
            state.outputEnded = true
            if let grace, let abort = state.abortOutput {
                let clock = self.clock
                state.graceTimer = Task {
                    do { try await clock.sleep(for: grace) } catch { return }
                    await abort()
                }
            }
            return state.work.values.filter(\.ordering.isKeyed).map(\.task)
        }
        guard let keyed else { return }
        logger.debug("no more output", metadata: ["reason": "\(reason)", "cancelledDocumentWork": "\(keyed.count)"])
        outbound.finish(discard: true)
        close()
        for task in keyed { task.cancel() }
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
            if case .failure(let error) = result { errorReplyObserver?(pending.method, error) }
            pending.continuation.resume(with: result.mapError { $0 as any Error })
        case .invalid(let error, let reply):
            switch reply {
            case .id(let id): sink.send(OutgoingMessage.error(error, id: id), connection: self)
            case .null: sink.send(OutgoingMessage.error(error, id: nil), connection: self)
            case .none: logger.debug("dropped a notification", metadata: ["error": "\(error.message)"])
            }
        }
    }

    /// Admits a request under `maxRequestsInFlight`. A batch member that finds no place waits for
    /// one (first come, first served; at most `maxBatchLength` waiting per connection), so a batch
    /// of `maxBatchLength` requests is served whole; a single request that finds none is answered
    /// `-32021` at once.
    private func startRequest(_ request: any RequestType, id: RequestID, sink: ReplySink) {
        enum Admission { case admitted, queued, duplicate, overLimit, stopping }
        let admission: Admission = state.withLock { state in
            if state.stopping { return .stopping }
            if state.inflight[id] != nil { return .duplicate }
            let running = state.inflight.count - state.slotQueue.count
            if running < limits.maxRequestsInFlight && state.slotQueue.isEmpty {
                state.inflight[id] = InflightRequest(task: nil, sink: sink, queued: false)
                return .admitted
            }
            if case .batch = sink, state.slotQueue.count < limits.maxBatchLength {
                state.inflight[id] = InflightRequest(task: nil, sink: sink, queued: true)
                state.slotQueue.append(id)
                return .queued
            }
            return .overLimit
        }
        switch admission {
        case .admitted, .queued: break
        case .duplicate:
            sink.send(
                OutgoingMessage.error(
                    .invalidRequest("a request with id \(ResponseError.quoted(id.description)) is already in flight"), id: id),
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
        let queued = admission == .queued
        let task = schedule(request.ordering) { [self] in
            if queued, await !waitForPlace(id) { return }  // answered (cancelled, stopped) while it waited
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

    /// Waits until queued request `id` is given a place: true, or false when it was answered first.
    private func waitForPlace(_ id: RequestID) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let ready: Bool? = state.withLock { state in
                guard let request = state.inflight[id] else { return false }
                if !request.queued { return true }
                state.inflight[id]?.slotWaiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Answers a request once: the first of completion, cancellation or shutdown wins. Its place
    /// goes to the first queued batch member.
    private func reply(to id: RequestID, with result: Result<any ResponseType, ResponseError>) {
        let removed: (request: InflightRequest, promoted: CheckedContinuation<Bool, Never>?)? = state.withLock { state in
            guard let request = state.inflight.removeValue(forKey: id) else { return nil }
            if request.queued {
                state.slotQueue.removeAll { $0 == id }
                return (request, nil)
            }
            guard !state.slotQueue.isEmpty else { return (request, nil) }
            let next = state.slotQueue.removeFirst()
            state.inflight[next]?.queued = false
            defer { state.inflight[next]?.slotWaiter = nil }
            return (request, state.inflight[next]?.slotWaiter)
        }
        guard let (request, promoted) = removed else { return }
        request.slotWaiter?.resume(returning: false)
        promoted?.resume(returning: true)
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
        let (task, cancelAtOnce) = state.withLock { state -> (Task<Void, Never>, Bool) in
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
            // Document work that arrives after the peer is gone is cancelled like the rest of it.
            let cancelAtOnce = state.outputEnded && key != nil
            guard case .read = ordering else {
                let task = Task { [self, dependencies] in
                    for dependency in dependencies { await dependency.value }
                    await work()
                    finishWork(id, key: key)
                }
                state.work[id] = ScheduledWork(task: task, ordering: ordering, gate: task)
                if let key { state.workByKey[key, default: []].append(id) }
                return (task, cancelAtOnce)
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
            return (task, cancelAtOnce)
        }
        if cancelAtOnce { task.cancel() }
        return task
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
    /// `$/cancelRequest` and throws `CancellationError`; a task cancelled before the request is
    /// written never sends it.
    public func send<R: RequestType>(_ request: R) async throws -> R.Response {
        let response = try await sendRequest(method: R.method, responseType: R.Response.self) { id in
            try OutgoingMessage.request(request, id: id)
        }
        guard let typed = response as? R.Response else {
            throw ResponseError(code: .internalError, message: "unexpected result type for \(R.method)")
        }
        return typed
    }

    /// Sends a request by method name with untyped params (for `devmode call` and scripts' tools).
    public func send(method: String, params: JSONValue?) async throws -> JSONValue {
        let response = try await sendRequest(method: method, responseType: JSONValue.self) { id in
            try OutgoingMessage.request(method: method, params: params, id: id)
        }
        return response as? JSONValue ?? .null
    }

    /// Sends a request under an id the caller chose (unique among this side's requests in flight),
    /// so that the caller can name it to the peer, as tests of `$/cancelRequest` do.
    public func send(method: String, params: JSONValue?, id: RequestID) async throws -> JSONValue {
        let response = try await sendRequest(method: method, responseType: JSONValue.self, id: id) { id in
            try OutgoingMessage.request(method: method, params: params, id: id)
        }
        return response as? JSONValue ?? .null
    }

    private func sendRequest(
        method: String, responseType: any ResponseType.Type, id chosenID: RequestID? = nil,
        encode: (RequestID) throws -> [UInt8]
    ) async throws -> any ResponseType {
        try Task.checkCancellation()
        let (id, closed): (RequestID, Bool) = state.withLock { state in
            if let chosenID { return (chosenID, state.closed) }
            state.nextOutgoingID += 1
            return (.number(state.nextOutgoingID), state.closed)
        }
        if closed { throw ResponseError(code: .requestFailed, message: "connection closed") }
        let body = try encode(id)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<any ResponseType, any Error>) in
                enum Admission { case sent(withinLimit: Bool), closed, cancelled }
                // Registered and queued under one lock: a cancellation handler that ran before this
                // found nothing to cancel, so the flag is checked here; one that runs after finds the
                // request already queued, so its `$/cancelRequest` goes out after it.
                let admission: Admission = state.withLock { state in
                    guard !state.closed else { return .closed }
                    if Task.isCancelled { return .cancelled }
                    state.outgoing[id] = PendingOutgoing(method: method, responseType: responseType, continuation: continuation)
                    return .sent(withinLimit: outbound.append((state.framing ?? .contentLength).frame(body)))
                }
                switch admission {
                case .sent(let withinLimit):
                    if !withinLimit { outboundOverLimit() }
                case .closed:
                    continuation.resume(throwing: ResponseError(code: .requestFailed, message: "connection closed"))
                case .cancelled:
                    continuation.resume(throwing: CancellationError())
                }
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

extension MessageOrdering {
    /// Work on a document (a `.read` or `.update` of a key).
    var isKeyed: Bool {
        switch self {
        case .read, .update: return true
        case .concurrent, .barrier: return false
        }
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
