import Foundation
import JSONRPC

#if canImport(Glibc)
import Glibc
#endif

/// `--suite hostile`: issue 10's hostile peers, at the issue's sizes, against a real `devmode serve
/// --listen` (a fresh server per case, so each case's peak memory is its own). Each case prints the
/// server's CPU time and memory while it runs, what the hostile peers got, and how long a
/// well-behaved client (signed in on its own connection, sending `server/info` one at a time) waited
/// at most during the case and whether it is answered after it. Only flags that every devmode
/// since authentication knows are passed, so the same suite measures an old build and a new one.
struct HostileSuite {
    let devmode: String
    let workDirectory: String
    let environment: [String: String]
    let key: String
    /// Case names to run (nil: all).
    var only: Set<String>?

    struct Figure {
        var label: String
        var value: String
    }

    struct CaseResult {
        var name: String
        var summary: String
        var figures: [Figure]
    }

    static let caseNames = [
        "batch-16mb", "batch-16mb-x3", "batch-2mb", "idle-held", "never-read", "idle-2000", "slowloris",
        "descriptors", "bad-keys", "undrained-stderr", "full-batch", "framing-spam", "ndjson-15mb",
    ]

    func run(progress: (String) -> Void) -> [CaseResult] {
        var results: [CaseResult] = []
        for name in Self.caseNames where only?.contains(name) ?? true {
            progress("hostile: \(name)…")
            let figures: [Figure]
            do {
                figures = try runCase(name)
            } catch {
                figures = [Figure(label: "FAILED", value: "\(error)")]
            }
            let result = CaseResult(name: name, summary: Self.summary(name), figures: figures)
            progress("  " + figures.map { "\($0.label): \($0.value)" }.joined(separator: "; "))
            results.append(result)
        }
        return results
    }

    func table(_ results: [CaseResult]) -> String {
        var lines: [String] = []
        for result in results {
            lines.append("\(result.name): \(result.summary)")
            let width = (result.figures.map(\.label.count).max() ?? 0) + 2
            for figure in result.figures {
                lines.append("    " + figure.label.padding(toLength: width, withPad: " ", startingAt: 0) + figure.value)
            }
        }
        return lines.joined(separator: "\n")
    }

    static func summary(_ name: String) -> String {
        switch name {
        case "batch-16mb": "one LSP body of 5.5 million `{}` in a batch (16.5 MB)"
        case "batch-16mb-x3": "three of those bodies at once, on three connections"
        case "batch-2mb": "one 2 MB batch `[1,1,…]`"
        case "idle-held": "eight signed-in connections each send one 15 MB request, are answered, and go idle"
        case "never-read": "ten signed-in connections that never read send eight requests each with a 10 MB method name"
        case "idle-2000": "2,000 connections from one address that send nothing"
        case "slowloris": "200 connections each sending one header byte a second"
        case "descriptors": "server limited to 64 descriptors; 100 connections held open for 3 s"
        case "bad-keys": "`initialize` with a bad key, one connection each, from 8 threads for 10 s"
        case "undrained-stderr": "stderr a pipe nobody reads; 1,000 sessions one after another (initialize, server/info)"
        case "full-batch": "a signed-in batch of 1,000 `server/info` (maxBatchLength)"
        case "framing-spam": "1 MB of `content-length:` with no newline"
        case "ndjson-15mb": "one 15 MB request as an NDJSON line, and the same body LSP-framed"
        default: name
        }
    }

    // MARK: The cases

    private func runCase(_ name: String) throws -> [Figure] {
        switch name {
        case "batch-16mb": return try batch(body: Self.batchBody(member: "{}", count: 5_500_000), connections: 1)
        case "batch-16mb-x3": return try batch(body: Self.batchBody(member: "{}", count: 5_500_000), connections: 3)
        case "batch-2mb": return try batch(body: Self.batchBody(member: "1", count: 1_000_000), connections: 1)
        case "idle-held": return try idleHeld()
        case "never-read": return try neverRead()
        case "idle-2000": return try idleCrowd()
        case "slowloris": return try slowloris()
        case "descriptors": return try descriptors()
        case "bad-keys": return try badKeys()
        case "undrained-stderr": return try undrainedStderr()
        case "full-batch": return try fullBatch()
        case "framing-spam": return try framingSpam()
        case "ndjson-15mb": return try ndjson()
        default: throw BenchError("unknown hostile case \(name)")
        }
    }

    static func batchBody(member: String, count: Int) -> [UInt8] {
        var body: [UInt8] = [UInt8(ascii: "[")]
        let member = Array(member.utf8)
        body.reserveCapacity(count * (member.count + 1) + 1)
        for index in 0..<count {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: member)
        }
        body.append(UInt8(ascii: "]"))
        return body
    }

    /// Unauthenticated peers each send one batch body; the reply each gets first, the server's CPU
    /// and peak memory, and the other client's longest wait.
    private func batch(body: [UInt8], connections: Int) throws -> [Figure] {
        let server = try HostileServer.launch(self, name: "batch")
        defer { server.stop() }
        let probe = try Probe(port: server.port, key: key)
        let before = try server.usage()
        let started = monotonicNanoseconds()
        let peers = try (0..<connections).map { _ in try Peer(port: server.port) }
        let frame = FramingMode.contentLength.frame(body)
        let senders = peers.map { peer in Thread { _ = peer.send(frame) } }
        for sender in senders { sender.start() }
        var answers: [String] = []
        var slowest: UInt64 = 0
        for peer in peers {
            peer.read(timeout: 120) { !Peer.frames($0).isEmpty }
            answers.append(Peer.frames(peer.received).first.map(Peer.errorCode) ?? "none (closed: \(peer.ended))")
            slowest = max(slowest, monotonicNanoseconds() - started)
        }
        let after = try server.usage()
        let wait = probe.stop()
        return [
            Figure(label: "first reply", value: answers.joined(separator: ", ")),
            Figure(label: "until the last reply", value: Format.ms(slowest) + " ms"),
            Figure(label: "server CPU", value: Self.seconds(after.cpuNanoseconds - before.cpuNanoseconds)),
            Figure(label: "peak RSS", value: "\(Format.mb(after.peakResidentBytes)) MB (\(Format.mb(before.residentBytes)) MB before)"),
            wait.figure, try server.answersAfter(key: key),
        ]
    }

    private func idleHeld() throws -> [Figure] {
        let server = try HostileServer.launch(self, name: "idle-held")
        defer { server.stop() }
        let probe = try Probe(port: server.port, key: key)
        let peers = try (0..<8).map { _ in try Peer.signedIn(port: server.port, key: key) }
        let before = try server.usage()
        let padding = String(repeating: "x", count: 15_000_000)
        let request = Wire.frame(#"{"jsonrpc":"2.0","id":5,"method":"server/info","params":{"padding":"\#(padding)"}}"#)
        for peer in peers { _ = peer.send(request) }
        var answered = 0
        for peer in peers {
            peer.read(timeout: 60) { Peer.frames($0).contains { $0["id"] as? Int == 5 } }
            if Peer.frames(peer.received).contains(where: { $0["id"] as? Int == 5 }) { answered += 1 }
        }
        usleep(2_000_000)
        let after = try server.usage()
        let wait = probe.stop()
        return [
            Figure(label: "answered", value: "\(answered) of 8"),
            Figure(label: "RSS held 2 s after", value: "\(Format.mb(after.residentBytes - before.residentBytes)) MB more than before"),
            Figure(label: "peak RSS", value: "\(Format.mb(after.peakResidentBytes)) MB"),
            wait.figure, try server.answersAfter(key: key),
        ]
    }

    private func neverRead() throws -> [Figure] {
        let server = try HostileServer.launch(self, name: "never-read")
        defer { server.stop() }
        let probe = try Probe(port: server.port, key: key)
        let peers = try (0..<10).map { _ in try Peer.signedIn(port: server.port, key: key) }
        let before = try server.usage()
        let descriptorsBefore = server.openDescriptors()
        let method = String(repeating: "m", count: 10_000_000)
        let request = Wire.frame(#"{"jsonrpc":"2.0","id":10,"method":"\#(method)"}"#)
        for peer in peers { peer.shrinkReceiveBuffer() }
        let senders = peers.map { peer in
            Thread {
                for _ in 0..<8 { guard peer.send(request) else { return } }
            }
        }
        for sender in senders { sender.start() }
        usleep(10_000_000)
        let after = try server.usage()
        let closed = descriptorsBefore - server.openDescriptors()
        let wait = probe.stop()
        for peer in peers { peer.shutdown() }
        return [
            Figure(label: "peak RSS", value: "\(Format.mb(after.peakResidentBytes)) MB (\(Format.mb(before.residentBytes)) MB before)"),
            Figure(label: "RSS 10 s after", value: "\(Format.mb(after.residentBytes)) MB"),
            Figure(label: "connections the server closed", value: "\(closed) of 10"),
            wait.figure, try server.answersAfter(key: key),
        ]
    }

    private func idleCrowd() throws -> [Figure] {
        let server = try HostileServer.launch(self, name: "idle-2000")
        defer { server.stop() }
        let probe = try Probe(port: server.port, key: key)
        let base = server.openDescriptors()
        let peers = (0..<2_000).compactMap { _ in try? Peer(port: server.port) }
        usleep(2_000_000)
        let held2 = server.openDescriptors() - base
        usleep(13_000_000)
        let held15 = server.openDescriptors() - base
        let usage = try server.usage()
        let wait = probe.stop()
        for peer in peers { peer.shutdown() }
        return [
            Figure(label: "connected", value: "\(peers.count)"),
            Figure(label: "open at the server after 2 s", value: "\(held2)"),
            Figure(label: "open at the server after 15 s", value: "\(held15)"),
            Figure(label: "peak RSS", value: "\(Format.mb(usage.peakResidentBytes)) MB"),
            wait.figure, try server.answersAfter(key: key),
        ]
    }

    private func slowloris() throws -> [Figure] {
        let server = try HostileServer.launch(self, name: "slowloris")
        defer { server.stop() }
        let probe = try Probe(port: server.port, key: key)
        let base = server.openDescriptors()
        let peers = try (0..<200).map { _ in try Peer(port: server.port) }
        let header = Array("Content-Length: 1000000000000".utf8)
        var counts: [Int] = []
        for second in 0..<36 {
            for peer in peers where !peer.ended { _ = peer.send([header[second % header.count]], wait: false) }
            usleep(1_000_000)
            if second == 4 || second == 14 || second == 35 { counts.append(server.openDescriptors() - base) }
        }
        let wait = probe.stop()
        for peer in peers { peer.shutdown() }
        return [
            Figure(label: "open at the server after 5 / 15 / 36 s", value: counts.map(String.init).joined(separator: " / ")),
            wait.figure, try server.answersAfter(key: key),
        ]
    }

    private func descriptors() throws -> [Figure] {
        let server = try HostileServer.launch(self, name: "descriptors", descriptorLimit: 64)
        defer { server.stop() }
        let probe = try Probe(port: server.port, key: key)
        let peers = (0..<100).compactMap { _ in try? Peer(port: server.port) }
        usleep(500_000)
        let before = try server.usage()
        usleep(3_000_000)
        let after = try server.usage()
        let wait = probe.stop()
        for peer in peers { peer.shutdown() }
        usleep(1_000_000)
        return [
            Figure(label: "server CPU while out of descriptors", value: Self.seconds(after.cpuNanoseconds - before.cpuNanoseconds) + " in 3 s"),
            wait.figure, try server.answersAfter(key: key),
        ]
    }

    private func badKeys() throws -> [Figure] {
        let server = try HostileServer.launch(self, name: "bad-keys")
        defer { server.stop() }
        let probe = try Probe(port: server.port, key: key)
        let rowsBefore = try auditRows()
        // Per thread: attempts, and the first reply's code (or "none") counted.
        let tally = LockedState((attempts: 0, finished: 0, codes: [String: Int]()))
        let deadline = monotonicNanoseconds() + 10_000_000_000
        let port = server.port
        for worker in 0..<8 {
            Thread {
                var serial = 0
                while monotonicNanoseconds() < deadline {
                    serial += 1
                    guard let peer = try? Peer(port: port) else { continue }
                    peer.send(Wire.initialize(id: 1, token: "dm_bad\(worker)_\(serial)"))
                    peer.read(timeout: 10) { !Peer.frames($0).isEmpty }
                    let code = Peer.frames(peer.received).first.map(Peer.errorCode) ?? "none"
                    peer.shutdown()
                    tally.withLock {
                        $0.attempts += 1
                        $0.codes[code, default: 0] += 1
                    }
                }
                tally.withLock { $0.finished += 1 }
            }.start()
        }
        // A thread's last read may wait up to 10 s past the deadline.
        while tally.withLock({ $0.finished }) < 8 { usleep(50_000) }
        let (attempts, codes) = tally.withLock { ($0.attempts, $0.codes) }
        let wait = probe.stop()
        let answered = try server.answersAfter(key: key)
        server.stop()
        let rows = try auditRows() - rowsBefore
        let counted = codes.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }
        return [
            Figure(label: "attempts", value: "\(attempts) (\(counted.joined(separator: ", ")))"),
            Figure(label: "audit rows added", value: "\(rows)"),
            wait.figure, answered,
        ]
    }

    private func undrainedStderr() throws -> [Figure] {
        let server = try HostileServer.launch(self, name: "undrained", undrainedStderr: true)
        defer { server.stop() }
        var served = 0
        var firstFailure = "none"
        for index in 0..<1_000 {
            guard let peer = try? Peer(port: server.port) else {
                firstFailure = "session \(index + 1): connect failed"
                break
            }
            _ = peer.send(Wire.initialize(id: 1, token: key))
            _ = peer.send(Wire.frame(#"{"jsonrpc":"2.0","id":2,"method":"server/info"}"#))
            peer.read(timeout: 10) { Peer.frames($0).contains { $0["id"] as? Int == 2 } }
            let answered = Peer.frames(peer.received).contains { $0["id"] as? Int == 2 && $0["result"] != nil }
            peer.shutdown()
            guard answered else {
                firstFailure = "session \(index + 1): no answer within 10 s"
                break
            }
            served += 1
        }
        return [
            Figure(label: "sessions served", value: "\(served) of 1000"),
            Figure(label: "first failure", value: firstFailure),
        ]
    }

    private func fullBatch() throws -> [Figure] {
        let server = try HostileServer.launch(self, name: "full-batch")
        defer { server.stop() }
        let peer = try Peer.signedIn(port: server.port, key: key)
        let members = (0..<1_000).map { #"{"jsonrpc":"2.0","id":\#($0 + 10),"method":"server/info"}"# }
        _ = peer.send(Wire.frame("[" + members.joined(separator: ",") + "]"))
        peer.read(timeout: 60) { Peer.frames($0).contains { $0["batch"] != nil } }
        let replies = Peer.frames(peer.received).compactMap { $0["batch"] as? [[String: Any]] }.first ?? []
        var codes: [String: Int] = [:]
        for reply in replies {
            codes[reply["result"] != nil ? "result" : Peer.errorCode(reply), default: 0] += 1
        }
        return [
            Figure(label: "replies", value: "\(replies.count): " + codes.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")),
            try server.answersAfter(key: key),
        ]
    }

    private func framingSpam() throws -> [Figure] {
        let server = try HostileServer.launch(self, name: "framing-spam")
        defer { server.stop() }
        let probe = try Probe(port: server.port, key: key)
        let peer = try Peer(port: server.port)
        let spam = Array(String(repeating: "content-length:", count: 1_048_576 / 15).utf8)
        let sender = Thread { _ = peer.send(spam) }
        sender.start()
        peer.read(timeout: 15) { _ in false }
        let frames = Peer.frames(peer.received)
        let wait = probe.stop()
        return [
            Figure(label: "replies", value: "\(frames.count) (\(Format.mb(peer.received.count)) MB), closed by the server: \(peer.ended)"),
            wait.figure, try server.answersAfter(key: key),
        ]
    }

    private func ndjson() throws -> [Figure] {
        var figures: [Figure] = []
        let padding = String(repeating: "x", count: 15_000_000)
        let json = #"{"jsonrpc":"2.0","id":7,"method":"server/info","params":{"padding":"\#(padding)"}}"#
        for framing in ["NDJSON", "LSP"] {
            let server = try HostileServer.launch(self, name: "ndjson-\(framing)")
            defer { server.stop() }
            let peer = try Peer(port: server.port)
            let lsp = framing == "LSP"
            let initialize = Wire.initialize(id: 1, token: key)
            if lsp {
                _ = peer.send(initialize)
            } else {
                let body = Array(initialize.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).last!)
                _ = peer.send(body + [UInt8(ascii: "\n")])
            }
            peer.read(timeout: 30) { $0.contains(UInt8(ascii: "}")) }
            let before = try server.usage()
            let started = monotonicNanoseconds()
            _ = peer.send(lsp ? Wire.frame(json) : Array(json.utf8) + [UInt8(ascii: "\n")])
            peer.read(timeout: 60) { String(decoding: $0, as: UTF8.self).contains(#""id":7"#) }
            let elapsed = monotonicNanoseconds() - started
            let after = try server.usage()
            let answered = String(decoding: peer.received, as: UTF8.self).contains(#""id":7"#)
            figures.append(Figure(
                label: "\(framing): server CPU", value: Self.seconds(after.cpuNanoseconds - before.cpuNanoseconds)
                    + " (answered: \(answered), in \(Format.ms(elapsed)) ms)"))
        }
        return figures
    }

    /// Rows in the audit log of the bench's SQLite data directory (through the sqlite3 tool).
    private func auditRows() throws -> Int {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [environment["DEVMODE_DATA_DIR"]! + "/devmode.sqlite3", "SELECT count(*) FROM audit_log"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard let rows = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BenchError("sqlite3 counted no audit rows: \(text)")
        }
        return rows
    }

    static func seconds(_ nanoseconds: UInt64) -> String { String(format: "%.2f s", Double(nanoseconds) / 1e9) }
}

/// One `devmode serve --listen 127.0.0.1:0` for one hostile case.
final class HostileServer {
    let process: Process
    let port: Int
    let logPath: String
    private let stderrPipe: Pipe?

    var pid: Int32 { process.processIdentifier }

    static func launch(
        _ suite: HostileSuite, name: String, descriptorLimit: Int? = nil, undrainedStderr: Bool = false
    ) throws -> HostileServer {
        let portFile = "\(suite.workDirectory)/port-hostile-\(name)"
        unlink(portFile)
        let logPath = "\(suite.workDirectory)/server-hostile-\(name).log"
        let process = Process()
        var arguments = ["serve", "--listen", "127.0.0.1:0", "--port-file", portFile]
        if let descriptorLimit {
            // prlimit execs the server, so the child's pid is the server's.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
            arguments = ["--nofile=\(descriptorLimit):\(descriptorLimit)", suite.devmode] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: suite.devmode)
        }
        process.arguments = arguments
        process.environment = suite.environment
        process.standardInput = FileHandle.nullDevice
        var stderrPipe: Pipe?
        if undrainedStderr {
            let pipe = Pipe()  // never read: the server must not block on it
            process.standardError = pipe
            process.standardOutput = FileHandle.nullDevice
            stderrPipe = pipe
        } else {
            guard FileManager.default.createFile(atPath: logPath, contents: nil),
                let log = FileHandle(forWritingAtPath: logPath)
            else { throw BenchError("cannot create \(logPath)") }
            process.standardError = log
            process.standardOutput = log
        }
        try process.run()
        let address: (String, Int)
        do {
            address = try waitForPortFile(portFile, process: process, logPath: logPath)
        } catch {
            process.terminate()
            process.waitUntilExit()
            throw error
        }
        return HostileServer(process: process, port: address.1, logPath: logPath, stderrPipe: stderrPipe)
    }

    private init(process: Process, port: Int, logPath: String, stderrPipe: Pipe?) {
        self.process = process
        self.port = port
        self.logPath = logPath
        self.stderrPipe = stderrPipe
    }

    func usage() throws -> ServerProcess.Usage { try ServerProcess.usage(of: pid) }

    /// Descriptors the server has open (its sockets among them).
    func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }

    /// Whether a new signed-in connection gets `server/info` answered within 30 s, and how fast.
    func answersAfter(key: String) throws -> HostileSuite.Figure {
        let started = monotonicNanoseconds()
        guard let peer = try? Peer.signedIn(port: port, key: key) else {
            return HostileSuite.Figure(label: "a new client after", value: "NOT answered (initialize)")
        }
        defer { peer.shutdown() }
        _ = peer.send(Wire.frame(#"{"jsonrpc":"2.0","id":2,"method":"server/info"}"#))
        peer.read(timeout: 30) { Peer.frames($0).contains { $0["id"] as? Int == 2 } }
        let answered = Peer.frames(peer.received).contains { $0["id"] as? Int == 2 && $0["result"] != nil }
        return HostileSuite.Figure(
            label: "a new client after",
            value: answered ? "answered in \(Format.ms(monotonicNanoseconds() - started)) ms" : "NOT answered within 30 s")
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = monotonicNanoseconds() + 10_000_000_000
        while process.isRunning && monotonicNanoseconds() < deadline { usleep(10_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }
}

/// A raw TCP peer: blocking sends, reads against a deadline.
final class Peer: @unchecked Sendable {
    let fd: Int32
    var received: [UInt8] = []
    /// The server closed the connection (end of stream or reset).
    private(set) var ended = false

    init(port: Int) throws { fd = try connectTCP(host: "127.0.0.1", port: port) }

    /// A connection that has signed in with `key`.
    static func signedIn(port: Int, key: String) throws -> Peer {
        let peer = try Peer(port: port)
        _ = peer.send(Wire.initialize(id: 1, token: key))
        peer.read(timeout: 30) { Peer.frames($0).contains { $0["id"] as? Int == 1 } }
        guard Peer.frames(peer.received).contains(where: { $0["id"] as? Int == 1 && $0["result"] != nil }) else {
            peer.shutdown()
            throw BenchError("initialize was not answered with a result")
        }
        peer.received = []
        return peer
    }

    /// Sends all of `bytes` (blocking unless `wait` is false); false when the connection failed.
    @discardableResult
    func send(_ bytes: [UInt8], wait: Bool = true) -> Bool {
        var offset = 0
        let flags = Int32(MSG_NOSIGNAL) | (wait ? 0 : Int32(MSG_DONTWAIT))
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, flags) }
            if sent < 0 && errno == EINTR { continue }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    /// Reads until `done(received)`, the end of the stream, or `timeout` seconds.
    func read(timeout: Double, until done: ([UInt8]) -> Bool) {
        let deadline = monotonicNanoseconds() + UInt64(timeout * 1e9)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while !ended && !done(received) {
            let now = monotonicNanoseconds()
            guard now < deadline else { return }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, Int32(min(1000, (deadline - now) / 1_000_000 + 1)))
            guard ready > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 {
                received.append(contentsOf: buffer[0..<count])
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                ended = true
            }
        }
    }

    func shrinkReceiveBuffer() {
        var size: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    func shutdown() {
        Glibc.shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// The LSP-framed messages in `bytes` (a batch reply as `["batch": [...]]`); NDJSON is not parsed.
    static func frames(_ bytes: [UInt8]) -> [[String: Any]] {
        var messages: [[String: Any]] = []
        var index = 0
        let separator: [UInt8] = [13, 10, 13, 10]
        while index < bytes.count {
            guard let headerEnd = firstRange(of: separator, in: bytes, from: index) else { break }
            let header = String(decoding: bytes[index..<headerEnd], as: UTF8.self).lowercased()
            guard let line = header.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
            else { break }
            let start = headerEnd + 4
            guard start + length <= bytes.count else { break }
            let object = try? JSONSerialization.jsonObject(with: Data(bytes[start..<(start + length)]))
            if let message = object as? [String: Any] {
                messages.append(message)
            } else if let batch = object as? [[String: Any]] {
                messages.append(["batch": batch])
            }
            index = start + length
        }
        return messages
    }

    private static func firstRange(of needle: [UInt8], in bytes: [UInt8], from: Int) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        var index = from
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0] && Array(bytes[index..<(index + needle.count)]) == needle { return index }
            index += 1
        }
        return nil
    }

    static func errorCode(_ message: [String: Any]) -> String {
        guard let error = message["error"] as? [String: Any] else { return message["result"] != nil ? "result" : "?" }
        return "\(error["code"] ?? "?")"
    }
}

/// The well-behaved client: signed in on its own connection, `server/info` one at a time every
/// 20 ms on its own thread; `stop()` gives its longest wait.
final class Probe: @unchecked Sendable {
    private let peer: Peer
    private let state = LockedState((longest: UInt64(0), count: 0, stalled: false, running: true, finished: false))

    struct Wait {
        var longest: UInt64
        var count: Int
        var stalled: Bool
        var figure: HostileSuite.Figure {
            HostileSuite.Figure(
                label: "other client's longest wait",
                value: stalled ? "NO ANSWER for over 60 s" : "\(Format.ms(longest)) ms (\(count) requests)")
        }
    }

    init(port: Int, key: String) throws {
        peer = try Peer.signedIn(port: port, key: key)
        Thread { [self] in loop() }.start()
    }

    private func loop() {
        var id = 100
        while state.withLock({ $0.running }) {
            id += 1
            let started = monotonicNanoseconds()
            peer.send(Wire.frame(#"{"jsonrpc":"2.0","id":\#(id),"method":"server/info"}"#))
            let wanted = #""id":\#(id)"#
            peer.read(timeout: 60) { String(decoding: $0.suffix(4096), as: UTF8.self).contains(wanted) }
            let elapsed = monotonicNanoseconds() - started
            let answered = String(decoding: peer.received.suffix(4096), as: UTF8.self).contains(wanted)
            state.withLock {
                $0.longest = max($0.longest, elapsed)
                $0.count += 1
                if !answered { $0.stalled = true; $0.running = false }
            }
            if peer.received.count > 1 << 20 { peer.received.removeAll() }
            usleep(20_000)
        }
        state.withLock { $0.finished = true }
    }

    func stop() -> Wait {
        state.withLock { $0.running = false }
        let deadline = monotonicNanoseconds() + 65_000_000_000
        while !state.withLock({ $0.finished }) && monotonicNanoseconds() < deadline { usleep(1000) }
        peer.shutdown()
        return state.withLock { Wait(longest: $0.longest, count: $0.count, stalled: $0.stalled) }
    }
}
