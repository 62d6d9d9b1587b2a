import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Keeps the accept loop from spinning when the process is out of file descriptors.
///
/// `accept` failing with EMFILE or ENFILE leaves the connection in the kernel's backlog, so the
/// listening socket stays readable and NIO retries at once, for as long as descriptors stay short
/// (a whole core, measured). NIO's `AcceptBackoffHandler` (which the bootstrap adds after this
/// handler) only delays the next read the application asks for; the read already pending keeps
/// spinning. So this handler holds one spare descriptor: on EMFILE/ENFILE it closes the spare,
/// lets the next `accept` take the waiting connection, closes that connection at once (the peer
/// sees it refused rather than hanging), and reopens the spare once that socket is closed. The
/// pending read is then satisfied, and the backoff handler spaces out the next ones.
final class DescriptorReserveHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private let logger: Logger
    private var reserve: CInt
    /// Descriptors are short: every connection accepted until the spare is back is closed.
    private var draining = false
    private var refused = 0

    init(logger: Logger) {
        self.logger = logger
        reserve = Self.openReserve()
    }

    private static func openReserve() -> CInt {
        open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? IOError, error.errnoCode == EMFILE || error.errnoCode == ENFILE {
            if reserve >= 0 {
                close(reserve)
                reserve = -1
            }
            draining = true
        }
        context.fireErrorCaught(error)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard draining else {
            context.fireChannelRead(data)
            return
        }
        let child = unwrapInboundIn(data)
        refused += 1
        if isLoggedOccurrence(refused) {
            logger.warning(
                "out of file descriptors: refusing connections",
                metadata: ["refusedTotal": "\(refused)", "peer": "\(child.remoteAddress?.description ?? "unknown")"])
        }
        let closed = context.eventLoop.makePromise(of: Void.self)
        child.close(promise: closed)
        closed.futureResult.assumeIsolated().whenComplete { [self] _ in
            guard reserve < 0 else { return }
            reserve = Self.openReserve()
            if reserve >= 0 { draining = false }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if reserve >= 0 {
            close(reserve)
            reserve = -1
        }
    }
}
