import DevModeSpawn
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What the hostile-peer tests read of the server process: memory from /proc/PID/status and CPU
/// time from /proc/PID/stat. Figures, not timings: the bounds are on memory and on work done.
struct ProcessFigures {
    let pid: Int32

    /// Resident memory now and its peak so far, in bytes.
    func memory() -> (rss: Int, peak: Int) {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Int {
            for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
                let digits = line.dropFirst(name.count + 1).split(separator: " ").first ?? "0"
                return (Int(digits) ?? 0) * 1024
            }
            return 0
        }
        return (field("VmRSS"), field("VmHWM"))
    }

    /// User plus system CPU time so far, in seconds.
    func cpuSeconds() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15 (1-based), here 0-based 11, 12.
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

extension ServerProcess {
    var figures: ProcessFigures { ProcessFigures(pid: child.pid) }
}

/// A well-behaved client on its own connection: signs in, then answers whether `server/info`
/// comes back within a generous time.
final class WellBehavedClient {
    let socket: RawSocket
    private var nextID = 100

    init(port: Int, key: String) throws {
        socket = try RawSocket(port: port)
        socket.send(WireFormat.frame(initializeJSON(token: key)))
        _ = try socket.response(id: 1, timeout: 30)
    }

    /// Sends `server/info` and waits for its result (throws when none comes within `timeout`).
    func isAnswered(timeout: Double = 30) throws -> Bool {
        nextID += 1
        socket.send(WireFormat.frame(#"{"jsonrpc":"2.0","id":\#(nextID),"method":"server/info"}"#))
        return try socket.response(id: nextID, timeout: timeout)["result"] != nil
    }
}

/// Many plain sockets without a reader thread each (2,000 threads would be the test's own problem).
final class SocketCrowd {
    private(set) var fds: [Int32] = []

    /// Opens up to `count` connections; stops at the first that fails (returns how many opened).
    @discardableResult
    func open(_ count: Int, port: Int) -> Int {
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { break }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard result == 0 else {
                close(fd)
                break
            }
            fds.append(fd)
        }
        return fds.count
    }

    func send(_ bytes: [UInt8], on fd: Int32) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
    }

    /// Reads what each socket has until it ends or `timeout` passes; returns how many ended (the
    /// server closed them) and what they received.
    func waitForClose(timeout: Double) -> (closed: Int, received: [[UInt8]]) {
        let deadline = Date().addingTimeInterval(timeout)
        var open = Set(fds.indices)
        var received = [[UInt8]](repeating: [], count: fds.count)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !open.isEmpty && Date() < deadline {
            var polls = open.map { pollfd(fd: fds[$0], events: Int16(POLLIN), revents: 0) }
            let indices = Array(open)
            _ = poll(&polls, nfds_t(polls.count), 100)
            for (slot, entry) in polls.enumerated() where entry.revents != 0 {
                let index = indices[slot]
                let count = buffer.withUnsafeMutableBytes { recv(fds[index], $0.baseAddress, 65_536, Int32(MSG_DONTWAIT)) }
                if count > 0 {
                    received[index].append(contentsOf: buffer[0..<count])
                } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                    open.remove(index)
                }
            }
        }
        return (fds.count - open.count, received)
    }

    func closeAll() {
        for fd in fds { close(fd) }
        fds = []
    }

    deinit { closeAll() }
}

/// The error codes and `data.setting`s of the id-null errors in LSP-framed bytes.
func connectionErrors(_ bytes: [UInt8]) -> [(code: Int, setting: String?)] {
    guard let frames = try? WireFormat.contentLengthFrames(bytes) else { return [] }
    return frames.messages.filter { $0["id"] is NSNull }.compactMap { message in
        guard let error = message["error"] as? [String: Any], let code = error["code"] as? Int else { return nil }
        return (code, (error["data"] as? [String: Any])?["setting"] as? String)
    }
}

/// A TCP server started as `prlimit --nofile=N:N devmode serve …` (prlimit execs the server, so
/// the child's pid is the server's). A shell first closes every descriptor above stderr that the
/// test process would pass on (its sockets lack CLOEXEC), or they would eat into the limit.
func startTCPServerWithDescriptorLimit(_ limit: Int, extraArguments: [String] = []) throws -> (ServerProcess, Int, String) {
    let dataDirectory = temporaryDataDirectory()
    let key = try bootstrapAdmin(dataDirectory: dataDirectory)
    let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-port-\(UUID().uuidString)")
    let server = try ServerProcess(
        program: "/bin/bash",
        arguments: [
            "-c",
            #"for fd in /proc/self/fd/*; do n=${fd##*/}; if [ "$n" -gt 2 ]; then eval "exec $n>&-"; fi; done 2>/dev/null; exec /usr/bin/prlimit "$@""#,
            "bash", "--nofile=\(limit):\(limit)", try devmodeBinary().path, "serve", "--listen", "127.0.0.1:0", "--port-file", portFile.path]
            + extraArguments, dataDirectory: dataDirectory)
    let port = try waitForPortFile(portFile, server: server)
    return (server, port, key)
}
