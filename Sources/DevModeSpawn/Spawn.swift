import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Why a program could not be run.
public struct SpawnError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a program to its end with posix_spawn and waitpid, for tests and benchmarks, timing it from
/// just before the spawn to its exit. Not Foundation's `Process`: its `waitUntilExit` polls a run
/// loop (which blurs times of a few ms), and its `run()` in Swift 6.3.1 on Linux over-reads
/// `/proc/self/fd` entries and crashes now and then (swift-corelibs-foundation #5472), which
/// brought down a whole test run. The working directory is the caller's: git gets `-C DIR`.
public enum Spawn {
    public struct Outcome: Sendable {
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: [UInt8]
        public var nanoseconds: UInt64
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// `stdin`: bytes written to the program's standard input (then closed), e.g. a fast-import stream.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String], stdin: [UInt8]? = nil)
        throws -> Outcome
    {
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        var inPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw SpawnError("pipe() failed") }
        if stdin != nil { guard pipe(&inPipe) == 0 else { throw SpawnError("pipe() failed") } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if stdin != nil {
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
            posix_spawn_file_actions_addclose(&actions, inPipe[1])
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        posix_spawn_file_actions_addclose(&actions, outPipe[0])
        posix_spawn_file_actions_addclose(&actions, errPipe[0])

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }

        var pid: pid_t = 0
        let started = Self.now()
        let code = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        close(outPipe[1])
        close(errPipe[1])
        if stdin != nil { close(inPipe[0]) }
        guard code == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            if stdin != nil { close(inPipe[1]) }
            throw SpawnError("cannot run \(executable): \(String(cString: strerror(code)))")
        }

        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        if let input = stdin {
            // A writer thread, so that a program that answers while it reads cannot block us both.
            let fd = inPipe[1]
            let writer = Thread {
                var offset = 0
                while offset < input.count {
                    let written = input.withUnsafeBytes { write(fd, $0.baseAddress! + offset, input.count - offset) }
                    if written < 0 {
                        if errno == EINTR { continue }
                        break
                    }
                    offset += written
                }
                close(fd)
            }
            writer.start()
        }
        // Both outputs at once (poll), so that neither pipe can fill up and stall the program.
        var open = [outPipe[0], errPipe[0]]
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while !open.isEmpty {
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                throw SpawnError("poll failed: \(String(cString: strerror(errno)))")
            }
            for entry in fds where entry.revents != 0 {
                let count = chunk.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress!, 65_536) }
                if count > 0 {
                    if entry.fd == outPipe[0] {
                        stdout.append(contentsOf: chunk[0..<count])
                    } else {
                        stderr.append(contentsOf: chunk[0..<count])
                    }
                } else if count == 0 || errno != EINTR {
                    open.removeAll { $0 == entry.fd }
                }
            }
        }
        close(outPipe[0])
        close(errPipe[0])

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { throw SpawnError("waitpid failed: \(String(cString: strerror(errno)))") }
        }
        let finished = Self.now()
        // WIFEXITED / WEXITSTATUS by hand (macros are not imported).
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Outcome(status: exitStatus, stdout: stdout, stderr: stderr, nanoseconds: finished - started)
    }

    /// The path of `name` on PATH.
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

/// A program left running, its standard input, output and error on pipes (for end-to-end tests
/// that talk to a server). The parent's ends are closed on exec in any other child.
public final class ChildProcess: Sendable {
    // `pid` and the fds never change; the exit status and whether stdin was closed live in `state`,
    // behind the code base's one lock primitive (Synchronization's `Mutex`, held in place here, as
    // `LockedState` says to: this module imports nothing of ours).
    public let pid: pid_t
    /// Write end of the child's standard input.
    public let stdin: Int32
    /// Read ends of the child's standard output and error.
    public let stdout: Int32
    public let stderr: Int32
    private let state = Mutex<(exitStatus: Int32?, inputClosed: Bool)>((nil, false))

    public init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
        var inPipe: [Int32] = [0, 0]
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw SpawnError("pipe() failed: \(String(cString: strerror(errno)))")
        }
        // Close-on-exec everywhere: the child gets its ends through dup2 (which clears the flag), and
        // no other child inherits any of them.
        for fd in inPipe + outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        guard code == 0 else {
            close(inPipe[1])
            close(outPipe[0])
            close(errPipe[0])
            throw SpawnError("cannot run \(executable): \(String(cString: strerror(code)))")
        }
        self.pid = pid
        stdin = inPipe[1]
        stdout = outPipe[0]
        stderr = errPipe[0]
    }

    /// The exit status (128 + signal for a signal) once the child has ended, nil while it runs.
    public var status: Int32? {
        state.withLock { state in
            if state.exitStatus == nil {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid {
                    state.exitStatus = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
                }
            }
            return state.exitStatus
        }
    }

    public var isRunning: Bool { status == nil }

    /// SIGTERM, if it still runs.
    public func terminate() {
        if isRunning { kill(pid, SIGTERM) }
    }

    /// Writes all of `bytes` to the child's standard input (false once the child has closed it).
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(stdin, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }

    /// Closes the child's standard input (end of file for it).
    public func closeInput() {
        state.withLock { state in
            if !state.inputClosed {
                state.inputClosed = true
                close(stdin)
            }
        }
    }
}
