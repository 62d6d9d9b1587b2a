import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum Transport: String, CaseIterable, Sendable {
    case stdio, tcp
}

/// A `devmode serve` child process and the one connection the benchmark holds to it.
/// Plain blocking file descriptors: the client runs on one thread and never waits on a scheduler.
final class ServerProcess {
    let transport: Transport
    let process: Process
    /// Where we read responses (the child's stdout pipe, or the socket).
    let readFD: Int32
    /// Where we write requests (the child's stdin pipe, or the same socket).
    let writeFD: Int32
    /// Nanoseconds from just before `Process.run()` to the moment the connection could be written.
    let connectNanoseconds: UInt64
    let launchedAt: UInt64
    let logPath: String
    // Kept alive: a Pipe's file handles close their descriptors when released.
    private let pipes: [Pipe]
    private let logHandle: FileHandle

    /// Where a TCP server listens (for further connections); nil over stdio.
    let tcpAddress: (host: String, port: Int)?

    var pid: Int32 { process.processIdentifier }

    /// The environment of every process the bench starts: its own data directory, so that a run
    /// neither reads nor writes the user's devmode data (servers without storage ignore it).
    static func environment(dataDirectory: String) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["DEVMODE_DATA_DIR"] = dataDirectory
        environment["DEVMODE_DATABASE_URL"] = nil
        return environment
    }

    /// `extraArguments` go after `serve`'s own (e.g. `--require-auth`); `name` names the log file.
    static func launch(
        devmode: String, transport: Transport, workDirectory: String, environment: [String: String], serial: Int,
        extraArguments: [String] = [], name: String? = nil
    ) throws -> ServerProcess {
        let logPath = "\(workDirectory)/server-\(name ?? transport.rawValue)-\(serial).log"
        guard FileManager.default.createFile(atPath: logPath, contents: nil),
            let logHandle = FileHandle(forWritingAtPath: logPath)
        else { throw BenchError("cannot create \(logPath)") }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: devmode)
        process.environment = environment
        process.standardError = logHandle
        switch transport {
        case .stdio:
            let input = Pipe()
            let output = Pipe()
            process.arguments = ["serve", "--stdio", "--enable-debug-methods"] + extraArguments
            process.standardInput = input
            process.standardOutput = output
            let launchedAt = monotonicNanoseconds()
            try process.run()
            let ready = monotonicNanoseconds()
            return ServerProcess(
                transport: transport, process: process, readFD: output.fileHandleForReading.fileDescriptor,
                writeFD: input.fileHandleForWriting.fileDescriptor, connectNanoseconds: ready - launchedAt,
                launchedAt: launchedAt, logPath: logPath, pipes: [input, output], logHandle: logHandle)

        case .tcp:
            let portFile = "\(workDirectory)/port-\(serial)"
            unlink(portFile)
            process.arguments = [
                "serve", "--listen", "127.0.0.1:0", "--port-file", portFile, "--enable-debug-methods",
            ] + extraArguments
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = logHandle
            let launchedAt = monotonicNanoseconds()
            try process.run()
            let socket: Int32
            let address: (host: String, port: Int)
            do {
                address = try waitForPortFile(portFile, process: process, logPath: logPath)
                socket = try connectTCP(host: address.host, port: address.port)
            } catch {
                process.terminate()
                process.waitUntilExit()
                throw error
            }
            let ready = monotonicNanoseconds()
            return ServerProcess(
                transport: transport, process: process, readFD: socket, writeFD: socket,
                connectNanoseconds: ready - launchedAt, launchedAt: launchedAt, logPath: logPath, pipes: [],
                logHandle: logHandle, tcpAddress: address)
        }
    }

    private init(
        transport: Transport, process: Process, readFD: Int32, writeFD: Int32, connectNanoseconds: UInt64,
        launchedAt: UInt64, logPath: String, pipes: [Pipe], logHandle: FileHandle,
        tcpAddress: (host: String, port: Int)? = nil
    ) {
        self.tcpAddress = tcpAddress
        self.transport = transport
        self.process = process
        self.readFD = readFD
        self.writeFD = writeFD
        self.connectNanoseconds = connectNanoseconds
        self.launchedAt = launchedAt
        self.logPath = logPath
        self.pipes = pipes
        self.logHandle = logHandle
    }

    /// Writes all of `bytes[range]` (blocking).
    func write(_ bytes: [UInt8], _ range: Range<Int>) throws {
        var offset = range.lowerBound
        while offset < range.upperBound {
            let written = bytes.withUnsafeBytes { pointer in
                Glibc.write(writeFD, pointer.baseAddress! + offset, range.upperBound - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw BenchError("write to the server failed: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    func write(_ bytes: [UInt8]) throws { try write(bytes, 0..<bytes.count) }

    /// Ends the session the way a client should (`shutdown`, `exit`), then waits for the process:
    /// over stdio it exits by itself; over TCP it is a listener, so it gets SIGTERM after the
    /// connection has ended. Returns the exit status, or nil if it had to be killed.
    func stop(reader: inout ResponseReader, shutdownID: Int) throws -> Int32? {
        try write(Wire.frame(#"{"jsonrpc":"2.0","id":\#(shutdownID),"method":"shutdown"}"#))
        let reply = try reader.nextBlocking()
        guard reply.id == shutdownID, reply.kind == .result else {
            throw BenchError("unexpected reply to shutdown: \(reader.text(reply.body))")
        }
        try write(Wire.frame(#"{"jsonrpc":"2.0","method":"exit"}"#))
        // The server closes its side after `exit`.
        while try reader.read() {}
        switch transport {
        case .stdio:
            _ = try? pipes[0].fileHandleForWriting.close()
        case .tcp:
            Glibc.close(readFD)
            process.terminate()  // SIGTERM: graceful shutdown of the listener
        }
        return waitForExit(timeoutSeconds: 10)
    }

    /// Kills the process (after a failure) and releases the connection.
    func kill() {
        if process.isRunning { Glibc.kill(pid, SIGKILL) }
        _ = waitForExit(timeoutSeconds: 5)
        if transport == .tcp { Glibc.close(readFD) }
    }

    private func waitForExit(timeoutSeconds: Double) -> Int32? {
        let deadline = monotonicNanoseconds() + UInt64(timeoutSeconds * 1e9)
        while process.isRunning && monotonicNanoseconds() < deadline { usleep(1000) }
        if process.isRunning {
            Glibc.kill(pid, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        try? logHandle.close()
        return process.terminationStatus
    }

    func logTail(_ bytes: Int = 2000) -> String {
        guard let data = FileManager.default.contents(atPath: logPath) else { return "" }
        return String(decoding: data.suffix(bytes), as: UTF8.self)
    }

    // MARK: /proc

    struct Usage {
        /// VmRSS and VmHWM in bytes, thread count.
        var residentBytes: Int
        var peakResidentBytes: Int
        /// VmRSS split: private anonymous memory, and pages of mapped files (the binary and its libraries).
        var anonymousBytes: Int
        var fileBytes: Int
        var threads: Int
        /// User plus system CPU time of every thread, in nanoseconds (clock-tick resolution).
        var cpuNanoseconds: UInt64
    }

    func usage() throws -> Usage { try Self.usage(of: pid) }

    static func usage(of pid: Int32) throws -> Usage {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        else { throw BenchError("cannot read /proc/\(pid): the server is gone") }
        var usage = Usage(
            residentBytes: 0, peakResidentBytes: 0, anonymousBytes: 0, fileBytes: 0, threads: 0, cpuNanoseconds: 0)
        for line in status.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let value = Int(fields[1]) else { continue }
            switch fields[0] {
            case "VmRSS:": usage.residentBytes = value * 1024
            case "VmHWM:": usage.peakResidentBytes = value * 1024
            case "RssAnon:": usage.anonymousBytes = value * 1024
            case "RssFile:": usage.fileBytes = value * 1024
            case "Threads:": usage.threads = value
            default: break
            }
        }
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th overall.
        if let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 13, let user = UInt64(fields[11]), let system = UInt64(fields[12]) {
                let ticks = UInt64(sysconf(Int32(_SC_CLK_TCK)))
                usage.cpuNanoseconds = (user + system) * 1_000_000_000 / ticks
            }
        }
        return usage
    }

    /// Context switches (voluntary and not) of the server's live threads: each hop of a request
    /// from one thread to another costs at least one. Threads that already ended are not counted.
    func contextSwitches() -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var total = 0
        for task in tasks {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8) else {
                continue
            }
            for line in status.split(separator: "\n")
            where line.hasPrefix("voluntary_ctxt_switches:") || line.hasPrefix("nonvoluntary_ctxt_switches:") {
                total += Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
            }
        }
        return total
    }
}

/// An API key for TCP sessions, from `devmode admin bootstrap` in the bench's own data directory;
/// nil when this devmode has no such command (a server without authentication needs none).
func bootstrapCredential(devmode: String, environment: [String: String]) throws -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: devmode)
    process.arguments = ["admin", "bootstrap"]
    process.environment = environment
    let output = Pipe()
    let errors = Pipe()
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let stdout = output.fileHandleForReading.readDataToEndOfFile()
    let stderr = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let message = String(decoding: stderr, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        if message.contains("Unexpected argument 'admin'") { return nil }  // a devmode from before authentication
        throw BenchError("devmode admin bootstrap failed (status \(process.terminationStatus)): \(message)")
    }
    guard let object = try? JSONSerialization.jsonObject(with: stdout) as? [String: Any], let key = object["key"] as? String
    else { throw BenchError("devmode admin bootstrap printed no key: \(String(decoding: stdout, as: UTF8.self))") }
    return key
}

func waitForPortFile(_ path: String, process: Process, logPath: String) throws -> (String, Int) {
    let deadline = monotonicNanoseconds() + 30_000_000_000
    while monotonicNanoseconds() < deadline {
        // The server writes the file atomically (rename), so once it exists it is whole.
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let colon = line.lastIndex(of: ":"), let port = Int(line[line.index(after: colon)...]) else {
                throw BenchError("unreadable port file: '\(line)'")
            }
            return (String(line[..<colon]), port)
        }
        if !process.isRunning {
            throw BenchError("devmode exited (status \(process.terminationStatus)) before writing its port file; see \(logPath)")
        }
        usleep(100)
    }
    throw BenchError("devmode wrote no port file within 30 s")
}

func connectTCP(host: String, port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket() failed: \(String(cString: strerror(errno)))") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
        Glibc.close(fd)
        throw BenchError("not an IPv4 address: \(host)")
    }
    let result = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard result == 0 else {
        let message = String(cString: strerror(errno))
        Glibc.close(fd)
        throw BenchError("connect to \(host):\(port) failed: \(message)")
    }
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    return fd
}

func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// CPU time of this (client) process, all threads, in nanoseconds.
func clientCPUNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
