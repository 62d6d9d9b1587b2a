import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where log lines go without ever making the server wait: `write` puts a line on a bounded queue
/// and returns; one dedicated thread (not the cooperative pool, not an event loop) writes the queue
/// to the file descriptor. When the reader of that descriptor stops reading (a desktop shell that
/// never drains the sidecar's stderr pipe) the writer thread blocks, the queue fills, and further
/// lines are dropped and counted; the count is reported in a line of its own once there is room.
///
/// swift-log's `StreamLogHandler` formats the lines (`LogOutput.handler(label:level:)`); this type
/// is only the stream it writes to.
public final class LogOutput: Sendable {
    public struct Settings: Sendable {
        /// Most bytes of log lines waiting to be written (`--log-queue-bytes`); beyond it lines are dropped.
        public var maxQueuedBytes: Int
        public init(maxQueuedBytes: Int = 1 << 20) {
            self.maxQueuedBytes = maxQueuedBytes
        }
    }

    private struct State {
        var lines: [String] = []
        var queuedBytes = 0
        /// Lines dropped since the last report.
        var dropped = 0
        var droppedTotal = 0
        /// The writer is in `write(2)` with lines taken off the queue.
        var writing = false
    }

    private let settings: Settings
    private let fd: Int32
    private let state = Mutex(State())
    /// Wakes the writer when lines are queued.
    private let wake = DispatchSemaphore(value: 0)

    /// A log output writing to `fd` (stderr by default) from its own thread.
    public init(fd: Int32 = STDERR_FILENO, settings: Settings = Settings()) {
        self.fd = fd
        self.settings = settings
        // A thread of its own (pthread: no Foundation in this process), blocked in write(2) when the
        // reader stops reading; it holds the only strong reference it needs for the process's life.
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&thread, nil, { context in
            let output = Unmanaged<LogOutput>.fromOpaque(context!).takeRetainedValue()
            output.drain()
            return nil
        }, context)
        if created == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<LogOutput>.fromOpaque(context).release()
        }
    }

    /// A swift-log handler whose lines go through this output.
    public func handler(label: String, level: Logger.Level) -> StreamLogHandler {
        var handler = StreamLogHandler(label: label, stream: Stream(output: self))
        handler.logLevel = level
        return handler
    }

    /// Lines dropped so far because the queue was full.
    public var droppedLines: Int { state.withLock { $0.droppedTotal } }

    /// Queues one line; never waits for the descriptor. Drops (and counts) the line when the queue is full.
    public func write(_ line: String) {
        let queued = state.withLock { state -> Bool in
                let room = settings.maxQueuedBytes - state.queuedBytes
                if state.dropped > 0 {
                    let note = "devmode: \(state.dropped) log lines dropped: the log output (stderr) was not being read\n"
                    guard note.utf8.count + line.utf8.count <= room else {
                        state.dropped += 1
                        state.droppedTotal += 1
                        return false
                    }
                    state.lines.append(note)
                    state.queuedBytes += note.utf8.count
                    state.dropped = 0
                } else if line.utf8.count > room {
                    state.dropped += 1
                    state.droppedTotal += 1
                    return false
                }
                state.lines.append(line)
                state.queuedBytes += line.utf8.count
                return true
        }
        if queued { wake.signal() }
    }

    /// Waits until every queued line is written, or `timeout` has passed (at exit; a reader that
    /// never reads cannot hold the process). Returns whether the queue was drained.
    @discardableResult
    public func flush(timeout: Duration = .milliseconds(500)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if state.withLock({ $0.queuedBytes == 0 && !$0.writing }) { return true }
            if ContinuousClock.now >= deadline { return false }
            usleep(1_000)
        }
    }

    private func drain() {
        while true {
            let batch = state.withLock { state -> [String] in
                guard !state.lines.isEmpty else { return [] }
                let taken = state.lines
                state.lines.removeAll(keepingCapacity: true)
                state.writing = true
                return taken
            }
            if batch.isEmpty {
                wake.wait()
                continue
            }
            var bytes: [UInt8] = []
            for line in batch { bytes.append(contentsOf: line.utf8) }
            writeAll(bytes)
            state.withLock { state in
                state.queuedBytes -= bytes.count
                state.writing = false
            }
        }
    }

    /// Blocks this thread only. A descriptor that is gone (EPIPE, EBADF) loses the bytes.
    private func writeAll(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 && (errno == EINTR || errno == EAGAIN) {
                if errno == EAGAIN { usleep(10_000) }
                continue
            }
            if written <= 0 { return }
            offset += written
        }
    }

    /// The `TextOutputStream` swift-log's `StreamLogHandler` writes each formatted line to.
    struct Stream: TextOutputStream, Sendable {
        let output: LogOutput
        mutating func write(_ string: String) { output.write(string) }
    }
}
