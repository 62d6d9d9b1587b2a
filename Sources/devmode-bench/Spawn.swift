import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a program with posix_spawn and waitpid, timing it from just before the spawn to its exit.
/// (Foundation's `Process.waitUntilExit` polls a run loop, which would blur times of a few ms.)
/// The working directory is the caller's: git gets `-C DIR` instead.
enum Spawn {
    struct Outcome {
        var status: Int32
        var stdout: [UInt8]
        var stderr: [UInt8]
        var nanoseconds: UInt64
        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// `stdin`: bytes written to the program's standard input (then closed), e.g. a fast-import stream.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String], stdin: [UInt8]? = nil)
        throws -> Outcome
    {
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        var inPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw BenchError("pipe() failed") }
        if stdin != nil { guard pipe(&inPipe) == 0 else { throw BenchError("pipe() failed") } }

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
        let started = monotonicNanoseconds()
        let code = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        close(outPipe[1])
        close(errPipe[1])
        if stdin != nil { close(inPipe[0]) }
        guard code == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            if stdin != nil { close(inPipe[1]) }
            throw BenchError("cannot run \(executable): \(String(cString: strerror(code)))")
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
                throw BenchError("poll failed: \(String(cString: strerror(errno)))")
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
            if errno != EINTR { throw BenchError("waitpid failed: \(String(cString: strerror(errno)))") }
        }
        let finished = monotonicNanoseconds()
        // WIFEXITED / WEXITSTATUS by hand (macros are not imported).
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Outcome(status: exitStatus, stdout: stdout, stderr: stderr, nanoseconds: finished - started)
    }

    /// The path of `name` on PATH.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
