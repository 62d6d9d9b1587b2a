import DevModeClock
import JSONRPC
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A bound TCP listener. Each accepted socket is handed to `serve` as a `TCPPeer`, each in a task
/// of its own; the listener's task group owns them all.
///
/// The listener enforces `TCPSettings`: a connection over `maxConnections` or
/// `maxConnectionsPerPeer` is answered `-32050` with id null and closed at accept; each admitted
/// one has a watchdog for its time limits (see `TCPPeer.serve`). Out of file descriptors, it
/// refuses the waiting connections through a reserved descriptor and backs off instead of spinning
/// (`DescriptorReserveHandler`).
public final class TCPServer: Sendable {
    public typealias Child = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    /// What the accept loop receives for each socket: one to serve, or one refused (already
    /// answered and closing).
    enum Accepted: Sendable {
        case admitted(Child, peer: String, description: String)
        case refused
    }

    private let channel: NIOAsyncChannel<Accepted, Never>
    private let table: ConnectionTable
    private let clock: any ServerClock
    private let logger: Logger
    public let settings: TCPSettings
    /// The address actually bound (port 0 is replaced by the port the kernel chose).
    public let host: String
    public let port: Int

    private init(
        channel: NIOAsyncChannel<Accepted, Never>, table: ConnectionTable, settings: TCPSettings, clock: any ServerClock,
        logger: Logger, host: String, port: Int
    ) {
        self.channel = channel
        self.table = table
        self.settings = settings
        self.clock = clock
        self.logger = logger
        self.host = host
        self.port = port
    }

    public static func bind(
        host: String, port: Int, settings: TCPSettings = TCPSettings(), clock: any ServerClock = SystemClock(),
        logger: Logger = Logger(label: "devmode.tcp"),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TCPServer {
        let table = ConnectionTable(
            maxConnections: settings.maxConnections, maxConnectionsPerPeer: settings.maxConnectionsPerPeer)
        let channel = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                // Ahead of NIO's AcceptBackoffHandler, which sees the same accept errors after it.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DescriptorReserveHandler(logger: logger))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    let address = child.remoteAddress
                    let peer = address?.ipAddress ?? "unknown"
                    if let refusal = table.admit(peer: peer) {
                        refuse(child, refusal, peer: peer, logger: logger)
                        return Accepted.refused
                    }
                    let wrapped = try Child(
                        wrappingChannelSynchronously: child,
                        configuration: .init(isOutboundHalfClosureEnabled: true))
                    return Accepted.admitted(wrapped, peer: peer, description: address?.description ?? "unknown")
                }
            }
        let address = channel.channel.localAddress
        return TCPServer(
            channel: channel, table: table, settings: settings, clock: clock, logger: logger,
            host: address?.ipAddress ?? host, port: address?.port ?? port)
    }

    /// Answers a connection over a cap with `-32050` (LSP framing: its framing is not known yet) and
    /// closes it once the answer is written.
    private static func refuse(_ child: any Channel, _ refusal: ConnectionTable.Refusal, peer: String, logger: Logger) {
        let what =
            refusal.setting == "maxConnections" ? "the server has its most connections open" : "this address has its most connections open"
        let body = OutgoingMessage.error(.tooManyConnections(what, limit: refusal.limit, setting: refusal.setting), id: nil)
        child.writeAndFlush(ByteBuffer(bytes: FramingMode.contentLength.frame(body))).whenComplete { _ in
            child.close(promise: nil)
        }
        if isLoggedOccurrence(refusal.refusedTotal) {
            logger.notice(
                "connection refused", metadata: ["setting": "\(refusal.setting)", "limit": "\(refusal.limit)", "peer": "\(peer)",
                    "refusedTotal": "\(refusal.refusedTotal)"])
        }
    }

    /// Connections open now (admitted and not yet ended).
    public var openConnections: Int { table.openCount }

    /// Accepts connections until `close()`; then waits for every connection's `serve` to return.
    public func run(serve: @escaping @Sendable (TCPPeer) async -> Void) async throws {
        let table = self.table
        let settings = self.settings
        let clock = self.clock
        let logger = self.logger
        let timeouts = TimeoutCounter()
        try await withThrowingDiscardingTaskGroup { group in
            try await channel.executeThenClose { inbound in
                for try await accepted in inbound {
                    guard case .admitted(let child, let peer, let description) = accepted else { continue }
                    group.addTask {
                        defer { table.release(peer: peer) }
                        try? await child.executeThenClose { input, output in
                            await serve(
                                TCPPeer(
                                    channel: child.channel, reader: ChannelReader(input), writer: ChannelWriter(output, channel: child.channel),
                                    address: peer, description: description, settings: settings, clock: clock, logger: logger,
                                    timeouts: timeouts))
                        }
                    }
                }
            }
        }
    }

    /// Stops accepting new connections. Open ones go on until they end.
    public func close() async {
        try? await channel.channel.close()
    }
}

/// One accepted connection, for the server to serve with a `Connection` of its own.
public struct TCPPeer: Sendable {
    let channel: any Channel
    let reader: ChannelReader
    let writer: ChannelWriter
    /// The peer's IP address (what `maxConnectionsPerPeer` counts).
    public let address: String
    /// Address and port, for the log.
    public let description: String
    let settings: TCPSettings
    let clock: any ServerClock
    let logger: Logger
    let timeouts: TimeoutCounter

    /// Runs `connection` over this socket under the listener's time limits until it ends. A limit
    /// that runs out queues a `-32051` notice with id null, stops the connection, and closes the
    /// socket after `closeGrace` if the connection has not ended by then. `isAuthenticated` says
    /// whether `initialize` has succeeded (it stops the initialize limit and starts the idle one).
    public func serve(_ connection: Connection, isAuthenticated: @escaping @Sendable () -> Bool) async {
        let watchdog = ConnectionWatchdog(settings: settings, clock: clock)
        let reader = WatchedReader(base: self.reader, watchdog: watchdog)
        let guardTask = Task { [channel, logger, timeouts] in
            guard
                let expiry = await watchdog.waitForExpiry(
                    authenticated: isAuthenticated, requestsInFlight: { connection.requestsInFlight })
            else { return }
            let notice = watchdog.notice(for: expiry)
            let count = timeouts.increment(expiry)
            if isLoggedOccurrence(count) {
                connection.logger.notice(
                    "connection timed out; closing",
                    metadata: ["setting": "\(expiry.setting)", "timedOutTotal": "\(count)"])
            }
            connection.sendRaw(OutgoingMessage.error(notice, id: nil))
            connection.close()
            await watchdog.sleepForCloseGrace()
            if !Task.isCancelled {
                logger.debug("closing a timed-out connection that did not end within the grace")
                try? await channel.close()
            }
        }
        await connection.run(input: reader, output: writer)
        guardTask.cancel()
    }
}

/// Timeouts so far, per kind, for the log.
final class TimeoutCounter: Sendable {
    private let counts = Mutex<[ConnectionDeadlines.Expiry: Int]>([:])

    func increment(_ expiry: ConnectionDeadlines.Expiry) -> Int {
        counts.withLock { counts in
            counts[expiry, default: 0] += 1
            return counts[expiry]!
        }
    }
}

/// Opens a TCP connection: for `devmode call`, benchmarks and tests.
public enum TCPClient {
    public static func connect(
        host: String, port: Int, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        connectTimeout: TimeAmount = .seconds(5)
    ) async throws -> TCPServer.Child {
        try await ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try TCPServer.Child(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
    }

    /// Runs `body` with the connection's byte reader and writer, then closes it.
    public static func withConnection<R: Sendable>(
        host: String, port: Int, _ body: (any ByteReader, any ByteWriter) async throws -> R
    ) async throws -> R {
        let channel = try await connect(host: host, port: port)
        return try await channel.executeThenClose { input, output in
            try await body(ChannelReader(input), ChannelWriter(output, channel: channel.channel))
        }
    }
}

/// A channel's inbound stream as a `ByteReader`.
///
/// `@unchecked Sendable`: only a connection's read loop calls `read()`, one call after another, so
/// the iterator is never touched by two tasks at once.
final class ChannelReader: ByteReader, @unchecked Sendable {

    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator

    init(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>) {
        iterator = inbound.makeAsyncIterator()
    }

    func read() async throws -> [UInt8]? {
        guard let buffer = try await iterator.next() else { return nil }
        return Array(buffer.readableBytesView)
    }
}

/// A channel's outbound side as a `ByteWriter`; `close()` half-closes (FIN) so the peer reads
/// everything written before it.
struct ChannelWriter: ByteWriter {
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let channel: any Channel

    init(_ outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, channel: any Channel) {
        self.outbound = outbound
        self.channel = channel
    }

    /// Through the channel rather than the async writer, whose `write` returns once the bytes are
    /// queued in NIO: this returns when the write's promise completes, once the socket has taken
    /// every byte, and until then the connection counts them against `maxOutboundBytes`.
    func write(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    func close() async {
        outbound.finish()
    }

    /// Closes the socket: the write in progress fails and NIO releases what it still holds.
    func abort() async {
        try? await channel.close()
    }

    /// The channel closes when the peer is gone: a reset, or a write that failed.
    func waitUntilPeerGone() async throws {
        let slot = LockedState<(continuation: CheckedContinuation<Void, any Error>?, done: Bool)>((nil, false))
        let closeFuture = channel.closeFuture
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled = slot.withLock { slot in
                    if slot.done || Task.isCancelled { return true }
                    slot.continuation = continuation
                    return false
                }
                if cancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                closeFuture.whenComplete { _ in
                    slot.withLock { slot in
                        slot.done = true
                        defer { slot.continuation = nil }
                        return slot.continuation
                    }?.resume()
                }
            }
        } onCancel: {
            slot.withLock { slot in
                slot.done = true
                defer { slot.continuation = nil }
                return slot.continuation
            }?.resume(throwing: CancellationError())
        }
    }
}
