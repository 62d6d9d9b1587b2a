import JSONRPC
import Logging
import NIOCore
import NIOPosix

/// A bound TCP listener. Each accepted socket is handed to `serve` as a byte reader and writer,
/// each in a task of its own; the listener's task group owns them all.
public final class TCPServer: Sendable {
    public typealias Child = NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private let channel: NIOAsyncChannel<Child, Never>
    /// The address actually bound (port 0 is replaced by the port the kernel chose).
    public let host: String
    public let port: Int

    private init(channel: NIOAsyncChannel<Child, Never>, host: String, port: Int) {
        self.channel = channel
        self.host = host
        self.port = port
    }

    public static func bind(
        host: String, port: Int, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TCPServer {
        let channel = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    try Child(
                        wrappingChannelSynchronously: child,
                        configuration: .init(isOutboundHalfClosureEnabled: true))
                }
            }
        let address = channel.channel.localAddress
        return TCPServer(channel: channel, host: address?.ipAddress ?? host, port: address?.port ?? port)
    }

    /// Accepts connections until `close()`; then waits for every connection's `serve` to return.
    public func run(serve: @escaping @Sendable (_ reader: any ByteReader, _ writer: any ByteWriter, _ peer: String) async -> Void)
        async throws
    {
        try await withThrowingDiscardingTaskGroup { group in
            try await channel.executeThenClose { inbound in
                for try await child in inbound {
                    group.addTask {
                        let peer = child.channel.remoteAddress?.description ?? "unknown"
                        try? await child.executeThenClose { input, output in
                            await serve(ChannelReader(input), ChannelWriter(output, channel: child.channel), peer)
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
