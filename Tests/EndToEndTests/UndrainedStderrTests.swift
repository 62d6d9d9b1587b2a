import DevModeSpawn
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A desktop shell may start devmode with stderr on a pipe it never reads. Once that pipe is full
/// (64 KiB here, about 320 sessions' worth of initialize log lines), logging must drop lines,
/// never stop the server.
@Suite("Undrained stderr")
struct UndrainedStderrTests {
    @Test func aThousandSessionsAreServedWhileNobodyReadsStderr() throws {
        let dataDirectory = temporaryDataDirectory()
        let key = try bootstrapAdmin(dataDirectory: dataDirectory)
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-port-\(UUID().uuidString)")
        // The store `admin bootstrap` wrote the key to (on the PostgreSQL pass, a database: a
        // server left on the data directory's SQLite file would refuse the key).
        let environment = try serverEnvironment(dataDirectory: dataDirectory)
        // stderr is a pipe this test never reads; stdout is drained (the server writes nothing there over TCP).
        let child = try ChildProcess(
            try devmodeBinary().path,
            ["serve", "--listen", "127.0.0.1:0", "--port-file", portFile.path, "--log-level", "debug"],
            environment: environment)
        let stdoutFD = child.stdout
        Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0, count: 4_096)
            while chunk.withUnsafeMutableBytes({ read(stdoutFD, $0.baseAddress!, 4_096) }) > 0 {}
        }
        defer {
            child.terminate()
            close(child.stderr)
        }
        let port = try waitForPort(portFile)
        var served = 0
        for session in 0..<1_000 {
            let socket = try RawSocket(port: port)
            socket.send(WireFormat.frame(initializeJSON(token: key)))
            socket.send(WireFormat.frame(#"{"jsonrpc":"2.0","id":2,"method":"auth/whoami"}"#))
            let reply: [String: Any]
            do {
                reply = try socket.response(id: 2, timeout: 20)
            } catch {
                Issue.record("session \(session) was not served: \(error)")
                break
            }
            #expect(reply["result"] != nil, "session \(session): \(reply)")
            served += 1
            // Ends the session, and lets the socket's reader thread finish before its descriptor is
            // closed (and its number reused by the next socket, whose bytes it would then read).
            shutdown(socket.fd, Int32(SHUT_RDWR))
            _ = socket.received.wait(timeout: 10) { _ in false }
        }
        #expect(served == 1_000)
        // The pipe really was full: the server had more to say than it could hold.
        var pending: Int32 = 0
        _ = ioctl(child.stderr, UInt(FIONREAD), &pending)
        #expect(pending >= 60_000, "stderr holds \(pending) unread bytes")
    }

    private func waitForPort(_ portFile: URL) throws -> Int {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), text.hasSuffix("\n"),
                let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").last ?? "")
            {
                return port
            }
            usleep(10_000)
        }
        throw TestFailure("the server did not write its port file")
    }
}
