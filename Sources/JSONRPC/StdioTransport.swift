import Dispatch
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's standard streams as a JSON-RPC transport.
public enum StandardIO {
    /// Keeps stdout for the protocol only: duplicates fd 1 for protocol writes and points fd 1 at
    /// stderr, so a stray `print` anywhere in the process lands in the log, not in the stream.
    /// Call once, at start, before anything can print.
    public static func takeOverStandardOutput() -> (input: FileDescriptorReader, output: FileDescriptorWriter) {
        fflush(nil)  // all C streams: nothing buffered for fd 1 may reach the protocol later
        let protocolFD = dup(STDOUT_FILENO)
        precondition(protocolFD >= 0, "dup(1) failed: errno \(errno)")
        _ = fcntl(protocolFD, F_SETFD, FD_CLOEXEC)
        dup2(STDERR_FILENO, STDOUT_FILENO)
        signal(SIGPIPE, SIG_IGN)
        return (FileDescriptorReader(fd: STDIN_FILENO), FileDescriptorWriter(fd: protocolFD))
    }
}

/// A self-pipe that wakes a thread blocked in `poll(2)`: how a cancelled read or watch gets its
/// thread back instead of leaving it blocked for good.
///
/// `@unchecked Sendable`: the two descriptors never change after `init`; reading and writing a
/// pipe is safe from any thread.
final class WakePipe: @unchecked Sendable {
    let readFD: Int32
    private let writeFD: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        let result = pipe(&fds)
        precondition(result == 0, "pipe failed: errno \(errno)")
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        _ = Glibc.close(readFD)
        _ = Glibc.close(writeFD)
    }

    func wake() {
        var byte: UInt8 = 1
        _ = Glibc.write(writeFD, &byte, 1)  // a full pipe is already awake
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while buffer.withUnsafeMutableBytes({ Glibc.read(readFD, $0.baseAddress, 64) }) > 0 {}
    }

    /// Blocks until `fd` reports one of `events` (or an error or hang-up): true; or until woken:
    /// false. With `fd` nil, only waits to be woken.
    func wait(for fd: Int32?, events: Int16) -> Bool {
        while true {
            var fds = [pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)]
            if let fd { fds.append(pollfd(fd: fd, events: events, revents: 0)) }
            let count = poll(&fds, nfds_t(fds.count), -1)
            if count < 0 {
                if errno == EINTR { continue }
                return true  // let the caller's own call report the error
            }
            if fds[0].revents != 0 {
                drain()
                return false
            }
            if fds.count > 1, fds[1].revents != 0 { return true }
        }
    }
}

/// One call's continuation, resumed exactly once: by the thread doing the work, or by
/// cancellation, whichever comes first.
private final class PendingCall<Value: Sendable>: Sendable {
    private let slot = LockedState<(continuation: CheckedContinuation<Value, any Error>?, cancelled: Bool)>((nil, false))

    /// Stores the continuation, or returns false when the task is cancelled already (checked under
    /// the lock: a cancellation handler that ran before found nothing to resume).
    func register(_ continuation: CheckedContinuation<Value, any Error>, honouringCancellation: Bool = true) -> Bool {
        slot.withLock { slot in
            if slot.cancelled || (honouringCancellation && Task.isCancelled) { return false }
            slot.continuation = continuation
            return true
        }
    }

    var isWaiting: Bool { slot.withLock { $0.continuation != nil } }

    /// Takes the continuation (nil once resumed or cancelled).
    func take() -> CheckedContinuation<Value, any Error>? {
        slot.withLock { slot in
            defer { slot.continuation = nil }
            return slot.continuation
        }
    }

    /// Marks the call cancelled; returns its continuation if it was still waiting.
    func cancel() -> CheckedContinuation<Value, any Error>? {
        slot.withLock { slot in
            slot.cancelled = true
            defer { slot.continuation = nil }
            return slot.continuation
        }
    }
}

/// Reads a file descriptor with `poll(2)` and `read(2)` on a thread of its own (never the
/// cooperative pool). Works for pipes, terminals and regular files alike, so
/// `devmode serve --stdio < file` works. Reads only when asked, which is the backpressure: a peer
/// that floods us fills its pipe, not our memory.
///
/// Cancelling a read wakes its thread out of `poll` without reading, so no input is taken and
/// lost; a chunk that a cancelled read did take is kept for the next read.
public final class FileDescriptorReader: ByteReader {
    private let fd: Int32
    private let queue = DispatchQueue(label: "devmode.stdio.read")
    private let chunkSize: Int
    private let wakePipe = WakePipe()
    /// Bytes read for a read that was cancelled meanwhile: the next read returns them.
    private let leftover = LockedState<[UInt8]?>(nil)

    public init(fd: Int32, chunkSize: Int = 64 << 10) {
        self.fd = fd
        self.chunkSize = chunkSize
    }

    public func read() async throws -> [UInt8]? {
        try Task.checkCancellation()
        if let kept = leftover.withLock({ state in defer { state = nil }; return state }) { return kept }
        let call = PendingCall<[UInt8]?>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8]?, any Error>) in
                guard call.register(continuation) else {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                queue.async { [self] in readBlocking(for: call) }
            }
        } onCancel: {
            if let continuation = call.cancel() {
                continuation.resume(throwing: CancellationError())
                wakePipe.wake()
            }
        }
    }

    private func readBlocking(for call: PendingCall<[UInt8]?>) {
        // Wait until there is input (or end of it), unless the read is cancelled first.
        while call.isWaiting {
            if wakePipe.wait(for: fd, events: Int16(POLLIN)) { break }
        }
        guard call.isWaiting else { return }
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var count: Int
        repeat {
            count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, chunkSize) }
        } while count < 0 && errno == EINTR
        let error = errno
        if count > 0 { buffer.removeLast(chunkSize - count) }
        guard let continuation = call.take() else {
            if count > 0 { leftover.withLock { $0 = buffer } }
            return
        }
        if count < 0 {
            continuation.resume(throwing: POSIXError(POSIXErrorCode(rawValue: error) ?? .EIO))
        } else if count == 0 {
            continuation.resume(returning: nil)
        } else {
            continuation.resume(returning: buffer)
        }
    }
}

/// Writes to a file descriptor with blocking `write(2)` on a thread of its own; a write returns
/// once `write(2)` has taken every byte.
///
/// It watches for the reading end going away (`poll` reports an error or hang-up: the parent
/// closed its pipe, the terminal hung up), so the connection can drop work nobody will read.
/// `abort()` releases a write that blocks on a parent that never reads; the thread stays in
/// `write(2)` until the process ends, and the descriptor is left open.
public final class FileDescriptorWriter: ByteWriter {
    private let fd: Int32
    private let queue = DispatchQueue(label: "devmode.stdio.write")
    private let watchQueue = DispatchQueue(label: "devmode.stdio.watch")
    private let closeOnFinish: Bool
    private let wakePipe = WakePipe()
    private let state = LockedState<(current: PendingCall<Void>?, aborted: Bool)>((nil, false))

    public init(fd: Int32, closeOnFinish: Bool = true) {
        self.fd = fd
        self.closeOnFinish = closeOnFinish
    }

    public func write(_ bytes: [UInt8]) async throws {
        let call = PendingCall<Void>()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            // Registered before it is published, so an `abort()` that finds it can resume it.
            _ = call.register(continuation, honouringCancellation: false)
            let aborted = state.withLock { state in
                if !state.aborted { state.current = call }
                return state.aborted
            }
            if aborted {
                call.take()?.resume(throwing: POSIXError(.ECONNABORTED))
                return
            }
            queue.async { [fd] in
                var offset = 0
                var failure: Int32?
                while offset < bytes.count {
                    let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
                    if written < 0 {
                        if errno == EINTR { continue }
                        failure = errno
                        break
                    }
                    offset += written
                }
                guard let continuation = call.take() else { return }  // aborted meanwhile
                if let failure {
                    continuation.resume(throwing: POSIXError(POSIXErrorCode(rawValue: failure) ?? .EIO))
                } else {
                    continuation.resume()
                }
            }
        }
    }

    public func abort() async {
        let current = state.withLock { state in
            state.aborted = true
            defer { state.current = nil }
            return state.current
        }
        current?.take()?.resume(throwing: POSIXError(.ECONNABORTED))
    }

    public func close() async {
        guard closeOnFinish, !state.withLock({ $0.aborted }) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { [fd] in
                _ = Glibc.close(fd)
                continuation.resume()
            }
        }
    }

    public func waitUntilPeerGone() async throws {
        let call = PendingCall<Void>()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                guard call.register(continuation) else {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                watchQueue.async { [self] in
                    // Events 0: poll reports only POLLERR (a pipe without readers) and POLLHUP.
                    var watched: Int32? = fd
                    while call.isWaiting {
                        guard wakePipe.wait(for: watched, events: 0) else { continue }
                        var probe = pollfd(fd: fd, events: 0, revents: 0)
                        _ = poll(&probe, 1, 0)
                        if probe.revents & Int16(POLLNVAL) != 0 {
                            watched = nil  // not a descriptor (any more): wait to be woken
                            continue
                        }
                        call.take()?.resume()
                        return
                    }
                }
            }
        } onCancel: {
            if let continuation = call.cancel() {
                continuation.resume(throwing: CancellationError())
                wakePipe.wake()
            }
        }
    }
}
