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

/// Reads a file descriptor with blocking `read(2)` on a thread of its own (never the cooperative
/// pool). Works for pipes, terminals and regular files alike, so `devmode serve --stdio < file` works.
/// Reads only when asked, which is the backpressure: a peer that floods us fills its pipe, not our memory.
public final class FileDescriptorReader: ByteReader {
    private let fd: Int32
    private let queue = DispatchQueue(label: "devmode.stdio.read")
    private let chunkSize: Int

    public init(fd: Int32, chunkSize: Int = 64 << 10) {
        self.fd = fd
        self.chunkSize = chunkSize
    }

    public func read() async throws -> [UInt8]? {
        // A blocking read cannot be interrupted; on cancellation the caller is released at once and
        // the read's eventual result is dropped.
        let once = LockedState<CheckedContinuation<[UInt8]?, any Error>?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8]?, any Error>) in
                once.withLock { $0 = continuation }
                queue.async { [fd, chunkSize] in
                    var buffer = [UInt8](repeating: 0, count: chunkSize)
                    var count: Int
                    repeat {
                        count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, chunkSize) }
                    } while count < 0 && errno == EINTR
                    let error = errno
                    guard let continuation = once.withLock({ state in defer { state = nil }; return state }) else { return }
                    if count < 0 {
                        continuation.resume(throwing: POSIXError(POSIXErrorCode(rawValue: error) ?? .EIO))
                    } else if count == 0 {
                        continuation.resume(returning: nil)
                    } else {
                        buffer.removeLast(chunkSize - count)
                        continuation.resume(returning: buffer)
                    }
                }
            }
        } onCancel: {
            once.withLock { state in defer { state = nil }; return state }?.resume(throwing: CancellationError())
        }
    }
}

/// Writes to a file descriptor with blocking `write(2)` on a thread of its own.
public final class FileDescriptorWriter: ByteWriter {
    private let fd: Int32
    private let queue = DispatchQueue(label: "devmode.stdio.write")
    private let closeOnFinish: Bool

    public init(fd: Int32, closeOnFinish: Bool = true) {
        self.fd = fd
        self.closeOnFinish = closeOnFinish
    }

    public func write(_ bytes: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async { [fd] in
                var offset = 0
                while offset < bytes.count {
                    let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
                    if written < 0 {
                        if errno == EINTR { continue }
                        continuation.resume(throwing: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO))
                        return
                    }
                    offset += written
                }
                continuation.resume()
            }
        }
    }

    public func close() async {
        guard closeOnFinish else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { [fd] in
                _ = Glibc.close(fd)
                continuation.resume()
            }
        }
    }
}
