import Foundation
import JSONRPC
import Testing

/// A pipe's two descriptors; whatever is still open is closed at the end.
final class TestPipe: @unchecked Sendable {
    var readFD: Int32
    var writeFD: Int32

    init() throws {
        // A write to a pipe without readers raises SIGPIPE, which would end the test process;
        // `devmode serve` ignores it the same way (`StandardIO.takeOverStandardOutput`).
        signal(SIGPIPE, SIG_IGN)
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw POSIXError(.EMFILE) }
        readFD = fds[0]
        writeFD = fds[1]
    }

    func write(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(writeFD, $0.baseAddress, bytes.count) }
    }

    func closeRead() { if readFD >= 0 { _ = Glibc.close(readFD); readFD = -1 } }
    func closeWrite() { if writeFD >= 0 { _ = Glibc.close(writeFD); writeFD = -1 } }

    deinit {
        closeRead()
        closeWrite()
    }
}

@Suite("stdio transport", .timeLimit(.minutes(1)))
struct StdioTransportTests {
    @Test("cancelling a read blocked on an empty pipe throws at once, and the next read gets the bytes written later")
    func cancelBlockedRead() async throws {
        let pipe = try TestPipe()
        let reader = FileDescriptorReader(fd: pipe.readFD)
        let blocked = Task { try await reader.read() }
        try await Task.sleep(for: .milliseconds(20))  // let it reach read/poll (either way it must not lose input)
        blocked.cancel()
        await #expect(throws: CancellationError.self) { try await withDeadline("the cancelled read") { try await blocked.value } }
        pipe.write("abc")
        let next = try await withDeadline("the next read") { try await reader.read() }
        #expect(next == Array("abc".utf8))
    }

    @Test("a read from a task cancelled before it starts throws and leaves the input for the next read")
    func readCancelledBeforeItStarts() async throws {
        let pipe = try TestPipe()
        pipe.write("xyz")
        let reader = FileDescriptorReader(fd: pipe.readFD)
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await reader.read()
        }
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(try await withDeadline("the next read") { try await reader.read() } == Array("xyz".utf8))
        pipe.closeWrite()
        #expect(try await withDeadline("end of input") { try await reader.read() } == nil)
    }

    @Test("the writer reports the peer gone when the pipe's reading end closes; the watch is cancellable")
    func writerSeesReaderGone() async throws {
        let pipe = try TestPipe()
        let writer = FileDescriptorWriter(fd: pipe.writeFD, closeOnFinish: false)
        let idle = Task { try await writer.waitUntilPeerGone() }
        idle.cancel()
        await #expect(throws: CancellationError.self) { try await idle.value }

        try await writer.write(Array("hello".utf8))
        let watching = Task { try await writer.waitUntilPeerGone() }
        pipe.closeRead()
        try await withDeadline("the peer to be seen gone") { try await watching.value }
        await #expect(throws: (any Error).self) { try await writer.write(Array("x".utf8)) }  // EPIPE
    }

    @Test("abort() releases a write blocked on a pipe nobody reads")
    func abortReleasesBlockedWrite() async throws {
        let pipe = try TestPipe()
        let writer = FileDescriptorWriter(fd: pipe.writeFD, closeOnFinish: false)
        let big = [UInt8](repeating: 65, count: 1 << 20)  // far more than a pipe holds
        let writing = Task { try await writer.write(big) }
        await writer.abort()
        await #expect(throws: (any Error).self) { try await withDeadline("the aborted write") { try await writing.value } }
        await #expect(throws: (any Error).self) { try await writer.write([1]) }
        await writer.close()  // returns although the write thread is still blocked
        pipe.closeRead()  // releases the thread
    }
}
