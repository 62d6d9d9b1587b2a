import DevModeServer
import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Logging never waits on its output: a pipe nobody reads fills, and lines are dropped and counted.
@Suite("Log output")
struct LogOutputTests {
    @Test func aFullPipeDropsAndCountsLinesInsteadOfBlocking() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer {
            close(fds[0])
        }
        let output = LogOutput(fd: fds[1], settings: LogOutput.Settings(maxQueuedBytes: 4_096))
        let logger = Logger(label: "test") { output.handler(label: $0, level: .info) }
        // Far more than the pipe (64 KiB) and the queue (4 KiB) hold together; nobody reads yet.
        // Were a line to wait for the pipe, this loop would never end.
        let line = String(repeating: "x", count: 200)
        for index in 0..<5_000 {
            logger.info("line \(index) \(line)")
        }
        #expect(output.droppedLines > 0)

        // Now the reader drains the pipe; the next line says how many were dropped.
        #expect(fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK) == 0)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        func drain() {
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, 65_536) }
                if count <= 0 { break }
                received.append(contentsOf: buffer[0..<count])
            }
        }
        for _ in 0..<200 {
            drain()
            if output.flush(timeout: .milliseconds(10)) { break }
        }
        logger.info("after the drain")
        for _ in 0..<200 {
            if output.flush(timeout: .milliseconds(10)) { break }
        }
        drain()
        let text = String(decoding: received, as: UTF8.self)
        #expect(text.contains("line 0 "))
        #expect(text.contains("after the drain"))
        let notes = text.split(separator: "\n").filter { $0.contains("log lines dropped") }
        #expect(!notes.isEmpty)
        let dropped = notes.reduce(0) { $0 + (Int($1.split(separator: " ")[1]) ?? -1_000_000) }
        #expect(dropped == output.droppedLines, "\(notes)")
        let written = text.split(separator: "\n").filter { $0.contains(" line ") }.count
        #expect(written + dropped == 5_000)
    }
}
