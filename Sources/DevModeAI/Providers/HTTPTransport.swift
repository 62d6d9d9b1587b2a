import AsyncHTTPClient
import DevModeClock
import FoundationEssentials
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The HTTP model providers of one server: owns the one `HTTPClient` (and so the connection pool)
/// they share. Create it once at start; call `shutdown()` at close, which ends calls still running
/// and closes every connection. One that is dropped without `shutdown()` (a server a test forgot to
/// close) shuts its client down in `deinit` instead, without waiting: AsyncHTTPClient traps when a
/// client is released while still running.
public final class ModelClients: Sendable {
    /// Looks up an environment variable; injected so tests can hand out keys.
    public typealias Environment = @Sendable (String) -> String?

    /// The process environment, read with `getenv` at each call (so a key set later is seen).
    public static let processEnvironment: Environment = { name in
        getenv(name).map { String(cString: $0) }
    }

    let transport: HTTPTransport

    /// - Parameters:
    ///   - environment: where API keys are read, by the variable name a model's `apiKeyEnv` gives.
    ///   - logger: debug lines per call (model, URL, status, duration); never keys or bodies.
    ///   - clock: what the four time limits of each call are measured on (tests move a `TestClock`).
    public init(
        environment: @escaping Environment = ModelClients.processEnvironment, logger: Logger = Logger(label: "devmode.ai.http"),
        clock: any ServerClock = SystemClock()
    ) {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            // Each model's own connect limit is enforced per call (`CallTimer`), so one client
            // serves every model; this bounds a connection attempt that goes on in the pool after
            // its call gave up, and so how long `shutdown()` may wait for one. Model limits above
            // it act as it.
            timeout: .init(connect: .milliseconds(Int64(HTTPTransport.maxConnectMs))))
        // Fail a call at once when the connection is refused or the name does not resolve,
        // instead of retrying with back-off until the connect timeout: a completion that cannot be
        // served now is worthless later, and the caller decides about retries.
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        transport = HTTPTransport(client: client, environment: environment, logger: logger, clock: clock)
    }

    deinit {
        // Already shut down: this fails with `alreadyShutdown`, which is fine. Otherwise the
        // shutdown keeps the client alive until it is done.
        _ = transport.client.shutdown()
    }

    /// The provider that speaks `model`'s API. Providers take the model from each request; this
    /// picks by `model.provider`. For `.local` (not an HTTP model) every stream fails with
    /// `ProviderError.unsupported`.
    public func provider(for model: ModelConfiguration) -> any ModelProvider {
        switch model.provider {
        case .openai: OpenAIProvider(transport: transport)
        case .anthropic: AnthropicProvider(transport: transport)
        case .local: NotAnHTTPProvider()
        }
    }

    /// Ends calls still running (their streams fail with `unreachable`) and closes every
    /// connection. Call once, at close; calls made afterwards fail with `unreachable`.
    public func shutdown() async {
        do {
            try await transport.client.shutdown()
        } catch {
            transport.logger.debug("HTTP client shutdown failed", metadata: ["error": "\(error)"])
        }
    }
}

/// `.local` is served by the embedded engine, not through `ModelClients`.
struct NotAnHTTPProvider: ModelProvider {
    func stream(_ request: ProviderRequest) -> AsyncThrowingStream<ProviderEvent, any Error> {
        .failing(ProviderError.unsupported("the model '\(request.model.id)' is served by the local engine, not over HTTP"))
    }
}

extension AsyncThrowingStream where Failure == any Error {
    static func failing(_ error: any Error) -> Self {
        AsyncThrowingStream { $0.finish(throwing: error) }
    }
}

/// One upstream call, ready to send.
struct HTTPCall: Sendable {
    var modelID: String
    var url: String
    var headers: HTTPHeaders
    var body: [UInt8]
    var timeouts: ModelConfiguration.Timeouts
    /// The API key sent, so error messages that echo it can be redacted.
    var secret: String?
}

/// Turns one API's event stream into provider events.
protocol ProviderStreamDecoder: Sendable {
    /// The provider events one SSE event stands for.
    mutating func decode(_ event: SSEEvent) throws(ProviderError) -> [ProviderEvent]
    /// The provider said it is done (`[DONE]`, `message_stop`); the rest of the body is ignored.
    var isFinished: Bool { get }
    /// The body ended cleanly before `isFinished`: the closing events when the stream is complete
    /// enough to accept, else throws `truncated`.
    mutating func endOfStream() throws(ProviderError) -> [ProviderEvent]
}

/// The plumbing every HTTP provider shares: credentials, the request, the four time limits,
/// cancellation, the status and error mapping, and SSE.
struct HTTPTransport: Sendable {
    let client: HTTPClient
    let environment: ModelClients.Environment
    let logger: Logger
    /// The clock the time limits run on (`CallTimer`).
    let clock: any ServerClock

    /// How long the rest of a body may take after the provider said it was done.
    static let drainMs = 500
    /// The longest connect limit applied; a model's `connectMs` above it acts as this.
    static let maxConnectMs = 10_000
    /// Most bytes of an error body read for its message.
    static let maxErrorBodyBytes = 64 * 1024
    /// Most bytes of the rest of a body read after the provider said it was done, so the
    /// connection can go back to the pool; past that the connection is closed instead.
    static let maxDrainBytes = 64 * 1024

    /// The key `model` is configured with: nil when it names no variable (local servers take
    /// none); `missingCredential` when the variable is unset or empty.
    func apiKey(for model: ModelConfiguration) throws(ProviderError) -> String? {
        guard let variable = model.apiKeyEnv else { return nil }
        guard let key = environment(variable), !key.isEmpty else { throw .missingCredential(variable: variable) }
        return key
    }

    /// `{endpoint}{path}` with one slash between them.
    static func url(_ endpoint: String, _ path: String) -> String {
        var base = Substring(endpoint)
        while base.hasSuffix("/") { base = base.dropLast() }
        return base + path
    }

    /// Headers every call carries, plus JSON in and an event stream out.
    static func baseHeaders() -> HTTPHeaders {
        ["content-type": "application/json", "accept": "text/event-stream", "user-agent": "devmode"]
    }

    /// Runs `call` and streams what `decoder` makes of its body. The call runs in a task of its
    /// own; when the consumer stops iterating or its task is cancelled, that task is cancelled,
    /// which makes AsyncHTTPClient cancel the request and close the connection.
    func stream<Decoder: ProviderStreamDecoder>(_ call: HTTPCall, decoder: Decoder) -> AsyncThrowingStream<ProviderEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ProviderEvent.self)
        let task = Task {
            do {
                try await run(call, decoder: decoder, continuation: continuation)
                continuation.finish()
            } catch where Task.isCancelled {
                // Only the consumer cancels this task (onTermination below); it has stopped
                // listening, and an error here could still reach its last `next()` first.
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { termination in
            // `.finished` is our own doing: the task may still be draining the body for reuse.
            if case .cancelled = termination { task.cancel() }
        }
        return stream
    }

    private func run<Decoder: ProviderStreamDecoder>(
        _ call: HTTPCall, decoder: Decoder, continuation: AsyncThrowingStream<ProviderEvent, any Error>.Continuation
    ) async throws {
        let timer = CallTimer(call.timeouts, clock: clock)
        let started = clock.now
        defer {
            logger.debug(
                "model call ended",
                metadata: ["model": "\(call.modelID)", "url": "\(call.url)", "ms": "\((clock.now - started).milliseconds)"])
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await timer.watch() }
                group.addTask { try await exchange(call, decoder: decoder, timer: timer, continuation: continuation) }
                // Whichever ends first decides: the exchange (done or failed) or the watchdog (a
                // limit passed). The other is cancelled; cancelling the exchange cancels the HTTP
                // request.
                try await group.next()
                group.cancelAll()
            }
        } catch where timer.phase == .draining {
            // Every event is out; only the reuse of the connection was lost.
            logger.debug("model call: body not ended after its last event", metadata: ["model": "\(call.modelID)", "error": "\(error)"])
        }
    }

    private func exchange<Decoder: ProviderStreamDecoder>(
        _ call: HTTPCall, decoder: Decoder, timer: CallTimer, continuation: AsyncThrowingStream<ProviderEvent, any Error>.Continuation
    ) async throws {
        var request = HTTPClientRequest(url: call.url)
        request.method = .POST
        request.headers = call.headers
        // A body AsyncHTTPClient pulls only once the connection stands and the head is written:
        // that pull ends the connect phase and starts the first-byte clock.
        request.body = .stream(OnePullBody(bytes: call.body, onPull: { timer.requestSent() }), length: .known(Int64(call.body.count)))

        let response: HTTPClientResponse
        do {
            // AsyncHTTPClient's deadline covers the call until the response head; the total limit
            // is also watched by `CallTimer`, which fires first, this is only a backstop (on the
            // wall clock, so under a test clock it lets the test's clock decide).
            response = try await client.execute(request, deadline: .now() + .milliseconds(Int64(call.timeouts.totalMs) + 1_000))
        } catch {
            throw Self.providerError(for: error, timer: timer)
        }
        timer.headersReceived()
        logger.debug("model call answered", metadata: ["model": "\(call.modelID)", "status": "\(response.status.code)"])

        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let body = try await readErrorBody(response.body, timer: timer)
            throw Self.redact(HTTPErrorMapping.error(status: status, headers: response.headers, body: body), secret: call.secret)
        }
        if let type = response.headers.first(name: "content-type"), !type.lowercased().hasPrefix("text/event-stream") {
            let body = try await readErrorBody(response.body, timer: timer)
            let detail = HTTPErrorMapping.message(from: body).map { ": \($0)" } ?? ""
            throw Self.redact(ProviderError.malformed("expected text/event-stream, got \(type)\(detail)"), secret: call.secret)
        }

        var decoder = decoder
        var parser = SSEParser()
        do {
            var chunks = response.body.makeAsyncIterator()
            while let chunk = try await chunks.next() {
                timer.activity()
                for event in try parser.feed(chunk.readableBytesView) {
                    for output in try decoder.decode(event) { continuation.yield(output) }
                    if decoder.isFinished { break }
                }
                if decoder.isFinished {
                    // Read what little follows (the chunked terminator, usually already here) so
                    // the connection goes back to the pool before the stream ends, and the next
                    // call finds it there; leaving the loop early would close it. A server that
                    // does not end the body soon gets its connection closed instead (see `run`).
                    timer.draining()
                    var drained = 0
                    while drained <= Self.maxDrainBytes, let rest = try await chunks.next() {
                        drained += rest.readableBytes
                    }
                    return
                }
            }
        } catch let error as SSEParserError {
            throw ProviderError.malformed("\(error)")
        } catch {
            throw Self.redact(Self.providerError(for: error, timer: timer), secret: call.secret)
        }
        // The body ended cleanly but the provider never said it was done.
        let midEvent = parser.isMidEvent
        for output in try decoder.endOfStream() { continuation.yield(output) }
        if midEvent {
            logger.debug("model stream ended mid-event after its finish reason", metadata: ["model": "\(call.modelID)"])
        }
    }

    private func readErrorBody(_ body: HTTPClientResponse.Body, timer: CallTimer) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        do {
            for try await chunk in body {
                timer.activity()
                bytes.append(contentsOf: chunk.readableBytesView.prefix(Self.maxErrorBodyBytes - bytes.count))
                if bytes.count >= Self.maxErrorBodyBytes { break }
            }
        } catch {
            // An error body cut short still says what it can; a cancellation or a timeout is ours.
            if error is CancellationError || Task.isCancelled { throw CancellationError() }
        }
        return bytes
    }

    /// The `ProviderError` (or the cancellation) an AsyncHTTPClient or NIO error stands for, given
    /// how far the call had got.
    static func providerError(for error: any Error, timer: CallTimer) -> any Error {
        if error is ProviderError || error is CancellationError { return error }
        let phase = timer.phase
        if let error = error as? HTTPClientError {
            switch error {
            case .cancelled, .requestStreamCancelled, .alreadyShutdown:
                // Not our task's cancellation: `ModelClients.shutdown()` cut the call.
                return Task.isCancelled ? CancellationError() : ProviderError.unreachable("the HTTP client is shut down")
            case .deadlineExceeded: return ProviderError.timeout(phase: "total", limitMs: timer.timeouts.totalMs)
            case .connectTimeout, .tlsHandshakeTimeout, .getConnectionFromPoolTimeout:
                return ProviderError.timeout(phase: "connect", limitMs: min(timer.timeouts.connectMs, maxConnectMs))
            case .readTimeout: return ProviderError.timeout(phase: "idle", limitMs: timer.timeouts.idleMs)
            case .remoteConnectionClosed where phase != .connecting: return ProviderError.truncated
            default: break
            }
        }
        if let error = error as? HTTPParserError {
            // The connection closed in the middle of the body (a chunked body without its end).
            if error == .invalidEOFState { return ProviderError.truncated }
            return ProviderError.malformed("invalid HTTP: \(error)")
        }
        if Task.isCancelled { return CancellationError() }
        switch phase {
        case .connecting: return ProviderError.unreachable(describe(error))
        case .awaitingHeaders, .streaming, .draining: return ProviderError.truncated
        }
    }

    /// A short reason for a connection failure.
    static func describe(_ error: any Error) -> String {
        HTTPErrorMapping.truncate("\(error)")
    }

    /// Provider messages sometimes quote the key they refused; never pass it on.
    static func redact(_ error: any Error, secret: String?) -> any Error {
        guard let secret, secret.count >= 4, let providerError = error as? ProviderError else { return error }
        return providerError.mappingMessage { $0.replacing(secret, with: "[redacted]") }
    }
}

/// A request body of one buffer that reports when AsyncHTTPClient first pulls it.
struct OnePullBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let bytes: [UInt8]
    let onPull: @Sendable () -> Void

    struct AsyncIterator: AsyncIteratorProtocol {
        var bytes: [UInt8]?
        let onPull: @Sendable () -> Void
        mutating func next() async -> ByteBuffer? {
            guard let pending = bytes else { return nil }
            bytes = nil
            onPull()
            return ByteBuffer(bytes: pending)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(bytes: bytes, onPull: onPull) }
}

/// The four time limits of one call. Phases move forward only: connecting (until the request is
/// written), awaiting the response head (`firstByte`), then streaming (`idle` between chunks);
/// `total` runs from the start throughout.
final class CallTimer: Sendable {
    enum Phase: Sendable { case connecting, awaitingHeaders, streaming, draining }

    private struct State {
        var phase: Phase
        /// When the current phase began, or (streaming) when the last chunk came.
        var since: ContinuousClock.Instant
    }

    let timeouts: ModelConfiguration.Timeouts
    private let clock: any ServerClock
    private let start: ContinuousClock.Instant
    private let state: Mutex<State>

    init(_ timeouts: ModelConfiguration.Timeouts, clock: any ServerClock = SystemClock()) {
        self.timeouts = timeouts
        self.clock = clock
        let now = clock.now
        start = now
        state = Mutex(State(phase: .connecting, since: now))
    }

    var phase: Phase { state.withLock { $0.phase } }

    func requestSent() {
        let now = clock.now
        state.withLock { state in
            guard state.phase == .connecting else { return }
            state = State(phase: .awaitingHeaders, since: now)
        }
    }

    func headersReceived() {
        let now = clock.now
        state.withLock { $0 = State(phase: .streaming, since: now) }
    }

    /// The answer is complete; what follows is read only to keep the connection.
    func draining() {
        let now = clock.now
        state.withLock { $0 = State(phase: .draining, since: now) }
    }

    func activity() {
        let now = clock.now
        state.withLock { state in
            if state.phase == .streaming { state.since = now }
        }
    }

    /// The limit that runs out first as things stand, and when to look again: no later than the
    /// earliest deadline a phase still to come could have. A phase that begins at `t` ends at
    /// `t + limit`, never before `now + limit`, so waking by then catches it without any signal
    /// from the transition.
    private func nextCheck(now: ContinuousClock.Instant) -> (expiry: ContinuousClock.Instant, error: ProviderError, wake: ContinuousClock.Instant) {
        let current = state.withLock { $0 }
        let phaseLimit: (name: String, ms: Int)
        let laterPhasesMs: Int?
        switch current.phase {
        case .connecting:
            phaseLimit = ("connect", min(timeouts.connectMs, HTTPTransport.maxConnectMs))
            laterPhasesMs = min(timeouts.firstByteMs, timeouts.idleMs, HTTPTransport.drainMs)
        case .awaitingHeaders:
            phaseLimit = ("firstByte", timeouts.firstByteMs)
            laterPhasesMs = min(timeouts.idleMs, HTTPTransport.drainMs)
        case .streaming:
            phaseLimit = ("idle", timeouts.idleMs)
            laterPhasesMs = HTTPTransport.drainMs
        case .draining:
            phaseLimit = ("drain", HTTPTransport.drainMs)
            laterPhasesMs = nil
        }
        let phaseEnd = current.since + .milliseconds(phaseLimit.ms)
        let totalEnd = start + .milliseconds(timeouts.totalMs)
        let (expiry, error): (ContinuousClock.Instant, ProviderError) =
            totalEnd <= phaseEnd
            ? (totalEnd, .timeout(phase: "total", limitMs: timeouts.totalMs))
            : (phaseEnd, .timeout(phase: phaseLimit.name, limitMs: phaseLimit.ms))
        let wake = laterPhasesMs.map { min(expiry, now + .milliseconds(max($0, 1))) } ?? expiry
        return (expiry, error, wake)
    }

    /// Throws the timeout of the first limit to pass. Runs until cancelled.
    func watch() async throws {
        while true {
            let now = clock.now
            let check = nextCheck(now: now)
            if check.expiry <= now { throw check.error }
            try await clock.sleep(until: check.wake)
        }
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1_000 + components.attoseconds / 1_000_000_000_000_000 }
}
