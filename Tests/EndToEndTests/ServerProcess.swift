import DevModeSpawn
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The built `devmode` binary: the test bundle's own folder holds it (`swift test` builds it).
func devmodeBinary() throws -> URL {
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var folder = executable.deletingLastPathComponent()
    // On Linux the test bundle is `….xctest` in the build folder (or a file inside it).
    for _ in 0..<3 {
        let candidate = folder.appendingPathComponent("devmode")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        folder = folder.deletingLastPathComponent()
    }
    throw TestFailure("the devmode binary was not found next to \(executable.path); run `swift build` first")
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Bytes collected from a pipe or socket by a background reader.
final class ByteCollector: @unchecked Sendable {
    private let lock = NSCondition()
    private var bytes: [UInt8] = []
    private var ended = false

    func append(_ chunk: [UInt8]) {
        lock.lock()
        bytes.append(contentsOf: chunk)
        lock.broadcast()
        lock.unlock()
    }

    func end() {
        lock.lock()
        ended = true
        lock.broadcast()
        lock.unlock()
    }

    var snapshot: [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        return bytes
    }

    var isEnded: Bool {
        lock.lock()
        defer { lock.unlock() }
        return ended
    }

    /// Waits until `condition` holds for the bytes so far (or the stream ends), up to `timeout`.
    func wait(timeout: Double = 10, until condition: ([UInt8]) -> Bool) -> [UInt8] {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while !condition(bytes) && !ended {
            if !lock.wait(until: deadline) { break }
        }
        return bytes
    }
}

/// Parses a stream of server output strictly: every byte must belong to a well-formed frame.
enum WireFormat {
    /// Splits LSP-framed bytes into JSON objects; throws on any byte that is not a valid frame.
    static func contentLengthFrames(_ bytes: [UInt8]) throws -> (messages: [[String: Any]], rest: [UInt8]) {
        var messages: [[String: Any]] = []
        var index = 0
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        while index < bytes.count {
            guard let headerEnd = find(separator, in: bytes, from: index) else { break }
            let header = String(decoding: bytes[index..<headerEnd], as: UTF8.self)
            guard header.hasPrefix("Content-Length: "), let length = Int(header.dropFirst("Content-Length: ".count))
            else {
                throw TestFailure("not a frame header at byte \(index): \(header.prefix(80).debugDescription)")
            }
            let bodyStart = headerEnd + 4
            guard bytes.count >= bodyStart + length else { break }
            let body = Data(bytes[bodyStart..<bodyStart + length])
            guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
                throw TestFailure("a frame body that is not a JSON object")
            }
            messages.append(object)
            index = bodyStart + length
        }
        return (messages, Array(bytes[index...]))
    }

    static func lines(_ bytes: [UInt8]) throws -> [Any] {
        let text = String(decoding: bytes, as: UTF8.self)
        return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) }
    }

    static func frame(_ json: String) -> [UInt8] {
        Array("Content-Length: \(json.utf8.count)\r\n\r\n\(json)".utf8)
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = from
        while index + needle.count <= haystack.count {
            if haystack[index..<index + needle.count].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}

/// The method of each request a raw client sent, by id, so that the error replies it reads are
/// recorded in `ErrorReplyLog` (best effort: bytes that are not well-formed frames are skipped).
final class SentRequests: Sendable {
    private let methods = LockedState<[Int: String]>([:])

    func note(_ bytes: [UInt8]) {
        var index = 0
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        while index < bytes.count, let headerEnd = WireFormat.find(separator, in: bytes, from: index) {
            let header = String(decoding: bytes[index..<headerEnd], as: UTF8.self)
            guard header.hasPrefix("Content-Length: "), let length = Int(header.dropFirst("Content-Length: ".count)),
                length >= 0, bytes.count >= headerEnd + 4 + length
            else { return }
            let body = Data(bytes[headerEnd + 4..<headerEnd + 4 + length])
            let object = try? JSONSerialization.jsonObject(with: body)
            for message in (object as? [Any] ?? [object as Any]) {
                guard let message = message as? [String: Any], let id = message["id"] as? Int,
                    let method = message["method"] as? String
                else { continue }
                methods.withLock { $0[id] = method }
            }
            index = headerEnd + 4 + length
        }
    }

    func received(_ reply: [String: Any], id: Int) {
        guard let method = methods.withLock({ $0[id] }) else { return }
        ErrorReplyLog.record(request: method, reply: reply)
    }
}

/// Databases made for data directories in this test process.
private let postgresDatabases = LockedState<[String: String]>([:])

/// The PostgreSQL database that stands in for `dataDirectory`'s SQLite file: made on first use.
func postgresDatabase(for dataDirectory: String, _ environment: [String: String]) throws -> String {
    if let known = postgresDatabases.withLock({ $0[dataDirectory] }) { return known }
    let url = try freshPostgresDatabase(environment)
    return postgresDatabases.withLock { known in
        if let existing = known[dataDirectory] { return existing }
        known[dataDirectory] = url
        return url
    }
}

/// A new, empty database on the test server at DEVMODE_TEST_POSTGRES_URL (made with psql), as a URL.
func freshPostgresDatabase(_ environment: [String: String]) throws -> String {
    guard let base = environment["DEVMODE_TEST_POSTGRES_URL"], let slash = base.lastIndex(of: "/"),
        let psql = Spawn.which("psql")
    else {
        throw SpawnError("DEVMODE_TEST_STORE=postgres needs DEVMODE_TEST_POSTGRES_URL and psql")
    }
    let name = "devmode_e2e_" + String(UInt64.random(in: .min ... .max), radix: 16)
    let created = try Spawn.run(psql, [base, "-q", "-c", "CREATE DATABASE \(name)"], environment: environment)
    guard created.status == 0 else { throw SpawnError("psql could not create \(name): \(created.stderrText)") }
    return String(base[...slash]) + name
}

/// The environment a `devmode` child runs with for `dataDirectory`: this process's, with
/// DEVMODE_DATA_DIR set and the store that data directory stands for. On the SQLite pass that is
/// the data directory's SQLite file (DEVMODE_DATABASE_URL removed); on the PostgreSQL pass of
/// ./scripts/test (DEVMODE_TEST_STORE=postgres) a PostgreSQL database made for the data directory,
/// so `admin` runs, restarts and servers on one data directory share one store, as on SQLite.
/// Every child a test starts on a data directory takes its environment from here: a child with
/// another store would not know the users that `admin bootstrap` made.
func serverEnvironment(dataDirectory: String) throws -> [String: String] {
    var variables = ProcessInfo.processInfo.environment
    variables["DEVMODE_DATA_DIR"] = dataDirectory
    variables.removeValue(forKey: "DEVMODE_DATABASE_URL")
    if variables["DEVMODE_TEST_STORE"] == "postgres" {
        variables["DEVMODE_DATABASE_URL"] = try postgresDatabase(for: dataDirectory, variables)
    }
    return variables
}

/// A running `devmode` child process (spawned with posix_spawn: Foundation's `Process.run()`
/// crashes now and then on Linux, see `DevModeSpawn`).
final class ServerProcess: @unchecked Sendable {
    let child: ChildProcess
    let stdout = ByteCollector()
    let stderr = ByteCollector()
    private let sent = SentRequests()

    /// The data directory: a fresh temporary one unless given (never the user's own).
    let dataDirectory: String

    init(program: String? = nil, arguments: [String], dataDirectory: String? = nil, environment: [String: String] = [:]) throws {
        self.dataDirectory = dataDirectory ?? temporaryDataDirectory()
        var variables = try serverEnvironment(dataDirectory: self.dataDirectory)
        for (key, value) in environment { variables[key] = value }
        child = try ChildProcess(try program ?? devmodeBinary().path, arguments, environment: variables)
        for (fd, collector) in [(child.stdout, stdout), (child.stderr, stderr)] {
            Thread.detachNewThread {
                var chunk = [UInt8](repeating: 0, count: 65_536)
                while true {
                    let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 65_536) }
                    if count < 0, errno == EINTR { continue }
                    if count <= 0 { break }
                    collector.append(Array(chunk[0..<count]))
                }
                close(fd)
                collector.end()
            }
        }
    }

    func write(_ bytes: [UInt8]) {
        sent.note(bytes)
        child.write(bytes)
    }

    func send(_ json: String) {
        write(WireFormat.frame(json))
    }

    func closeInput() {
        child.closeInput()
    }

    /// Waits for a framed response with this id on stdout.
    func response(id: Int, timeout: Double = 10) throws -> [String: Any] {
        var found: [String: Any]?
        _ = stdout.wait(timeout: timeout) { bytes in
            guard let frames = try? WireFormat.contentLengthFrames(bytes) else { return true }
            found = frames.messages.first { ($0["id"] as? Int) == id }
            return found != nil
        }
        if let found {
            sent.received(found, id: id)
            return found
        }
        _ = try WireFormat.contentLengthFrames(stdout.snapshot)
        throw TestFailure("no response with id \(id); stderr: \(String(decoding: stderr.snapshot.suffix(2000), as: UTF8.self))")
    }

    /// Waits for the process to exit and returns its status.
    func waitForExit(timeout: Double = 15) throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let status = child.status { return status }
            if Date() > deadline {
                child.terminate()
                throw TestFailure("devmode did not exit within \(timeout) s")
            }
            usleep(5_000)
        }
    }

    func terminate() {
        child.terminate()
    }

    deinit {
        terminate()
        child.closeInput()
        _ = try? waitForExit(timeout: 5)
    }
}

/// A plain TCP socket, as a script would use (no devmode code on the client side).
final class RawSocket: @unchecked Sendable {
    let fd: Int32
    let received = ByteCollector()
    private let sent = SentRequests()

    init(host: String = "127.0.0.1", port: Int) throws {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { throw TestFailure("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(socketFD)
            throw TestFailure("connect to \(host):\(port) failed: errno \(errno)")
        }
        fd = socketFD
        let received = self.received
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(socketFD, $0.baseAddress, 65536, 0) }
                if count <= 0 { break }
                received.append(Array(buffer[0..<count]))
            }
            received.end()
        }
    }

    func send(_ bytes: [UInt8]) {
        sent.note(bytes)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return }
            offset += sent
        }
    }

    func send(_ text: String) { send(Array(text.utf8)) }

    /// Half-closes: the server sees end of input but can still answer.
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    deinit { close(fd) }

    /// Waits for a framed response with this id.
    func response(id: Int, timeout: Double = 10) throws -> [String: Any] {
        var found: [String: Any]?
        _ = received.wait(timeout: timeout) { bytes in
            guard let frames = try? WireFormat.contentLengthFrames(bytes) else { return true }
            found = frames.messages.first { ($0["id"] as? Int) == id }
            return found != nil
        }
        if let found {
            sent.received(found, id: id)
            return found
        }
        throw TestFailure("no framed response with id \(id); got \(String(decoding: received.snapshot.prefix(500), as: UTF8.self))")
    }

    /// Waits for newline-delimited replies until `count` lines have arrived.
    func lines(count: Int, timeout: Double = 10) throws -> [Any] {
        let bytes = received.wait(timeout: timeout) { bytes in bytes.filter { $0 == 10 }.count >= count }
        return try WireFormat.lines(bytes)
    }
}

func temporaryDataDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("devmode-e2e-\(UUID().uuidString)").path
}

/// `devmode admin bootstrap` in a data directory: returns the first server admin's API key.
func bootstrapAdmin(dataDirectory: String) throws -> String {
    let bootstrap = try ServerProcess(arguments: ["admin", "bootstrap"], dataDirectory: dataDirectory)
    let status = try bootstrap.waitForExit()
    let output = bootstrap.stdout.wait { _ in false }
    guard status == 0, let json = try JSONSerialization.jsonObject(with: Data(output)) as? [String: Any],
        let key = json["key"] as? String
    else {
        throw TestFailure("bootstrap failed (\(status)): \(String(decoding: bootstrap.stderr.snapshot, as: UTF8.self))")
    }
    return key
}

/// A TCP server on a free port (found through `--port-file`) with a fresh data directory and the
/// API key of its first server admin.
func startTCPServer(extraArguments: [String] = []) throws -> (ServerProcess, Int, String) {
    let dataDirectory = temporaryDataDirectory()
    let key = try bootstrapAdmin(dataDirectory: dataDirectory)
    let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-port-\(UUID().uuidString)")
    let server = try ServerProcess(
        arguments: ["serve", "--listen", "127.0.0.1:0", "--port-file", portFile.path, "--enable-debug-methods", "--log-level", "debug"]
            + extraArguments, dataDirectory: dataDirectory)
    return (server, try waitForPortFile(portFile, server: server), key)
}

/// Waits for a server's `--port-file` and returns the port in it.
func waitForPortFile(_ portFile: URL, server: ServerProcess) throws -> Int {
    let deadline = Date().addingTimeInterval(15)
    while Date() < deadline {
        if let text = try? String(contentsOf: portFile, encoding: .utf8), text.hasSuffix("\n"),
            let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").last ?? "")
        {
            try? FileManager.default.removeItem(at: portFile)
            return port
        }
        usleep(10_000)
    }
    server.terminate()
    throw TestFailure("the server did not write its port file; stderr: \(String(decoding: server.stderr.snapshot, as: UTF8.self))")
}

/// `initialize` with id 1; local mode over stdio needs no token, TCP does.
func initializeJSON(token: String? = nil) -> String {
    if let token {
        return #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"clientInfo":{"name":"e2e"},"initializationOptions":{"token":"\#(token)"}}}"#
    }
    return #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"clientInfo":{"name":"e2e"}}}"#
}
let initializedJSON = #"{"jsonrpc":"2.0","method":"initialized","params":{}}"#
