import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 10's hostile peers, each against the real binary over real sockets with small limits:
/// every test states its bound (memory, connections closed, work done) and checks that a
/// well-behaved client on another connection is answered during and after.
@Suite("Hostile peers", .serialized)
struct HostilePeerTests {
    private static let megabyte = 1 << 20

    // MARK: Caps and time limits (TCP listener)

    @Test func connectionsOverThePerPeerCapAreRefusedWithAClearClose() throws {
        let (server, port, key) = try startTCPServer(extraArguments: ["--max-connections-per-peer", "3"])
        defer { server.terminate() }
        let client = try WellBehavedClient(port: port, key: key)
        let crowd = SocketCrowd()
        #expect(crowd.open(4, port: port) == 4)  // the kernel accepts; the server then refuses two
        let (closed, received) = crowd.waitForClose(timeout: 5)
        #expect(closed == 2)
        let refusals = received.flatMap(connectionErrors)
        #expect(refusals.count == 2)
        #expect(refusals.allSatisfy { $0.code == -32050 && $0.setting == "maxConnectionsPerPeer" })
        #expect(try client.isAnswered())
        crowd.closeAll()
        // Freed slots are taken again (once the server has seen the sockets close).
        var later: WellBehavedClient?
        for _ in 0..<50 where later == nil {
            usleep(200_000)
            later = try? WellBehavedClient(port: port, key: key)
        }
        #expect(try later?.isAnswered() == true)
        #expect(String(decoding: server.stderr.snapshot, as: UTF8.self).contains("refusedTotal"))
    }

    @Test func connectionsOverTheTotalCapAreRefused() throws {
        let (server, port, key) = try startTCPServer(extraArguments: ["--max-connections", "2"])
        defer { server.terminate() }
        let client = try WellBehavedClient(port: port, key: key)
        let crowd = SocketCrowd()
        crowd.open(3, port: port)
        let (closed, received) = crowd.waitForClose(timeout: 5)
        #expect(closed == 2)
        #expect(received.flatMap(connectionErrors).map(\.setting) == ["maxConnections", "maxConnections"])
        #expect(try client.isAnswered())
    }

    @Test func aConnectionThatNeverInitializesIsClosed() throws {
        let (server, port, key) = try startTCPServer(extraArguments: ["--initialize-timeout-ms", "300"])
        defer { server.terminate() }
        let client = try WellBehavedClient(port: port, key: key)
        let idle = try RawSocket(port: port)
        _ = idle.received.wait(timeout: 30) { _ in false }
        #expect(idle.received.isEnded)
        let errors = connectionErrors(idle.received.snapshot)
        #expect(errors.map(\.code) == [-32051])
        #expect(errors.first?.setting == "initializeTimeoutMs")
        // The signed-in client outlives the limit.
        usleep(500_000)
        #expect(try client.isAnswered())
    }

    @Test func anIdleSignedInConnectionIsClosedOnlyWhenTheIdleLimitIsOn() throws {
        let (server, port, key) = try startTCPServer(extraArguments: ["--idle-timeout-ms", "400"])
        defer { server.terminate() }
        let busy = try WellBehavedClient(port: port, key: key)
        // A request in flight is not idleness: the reply comes after the limit has passed.
        busy.socket.send(WireFormat.frame(#"{"jsonrpc":"2.0","id":7,"method":"debug/sleep","params":{"milliseconds":1200}}"#))
        #expect(try busy.socket.response(id: 7, timeout: 30)["result"] != nil)
        let quiet = try WellBehavedClient(port: port, key: key)
        _ = quiet.socket.received.wait(timeout: 30) { _ in false }
        #expect(quiet.socket.received.isEnded)
        #expect(connectionErrors(quiet.socket.received.snapshot).map(\.setting) == ["idleTimeoutMs"])

        let (editorServer, editorPort, editorKey) = try startTCPServer()
        defer { editorServer.terminate() }
        let editor = try WellBehavedClient(port: editorPort, key: editorKey)
        usleep(1_000_000)
        #expect(try editor.isAnswered())  // off by default
    }

    @Test func aSlowHeaderFromASignedInPeerIsDropped() throws {
        let (server, port, key) = try startTCPServer(extraArguments: ["--message-timeout-ms", "500"])
        defer { server.terminate() }
        let other = try WellBehavedClient(port: port, key: key)
        let slow = try WellBehavedClient(port: port, key: key)
        for byte in "Content-Length: 40".utf8 {
            slow.socket.send([byte])
            if slow.socket.received.isEnded { break }
            usleep(100_000)
        }
        _ = slow.socket.received.wait(timeout: 30) { _ in false }
        #expect(slow.socket.received.isEnded)
        #expect(connectionErrors(slow.socket.received.snapshot).map(\.setting) == ["messageTimeoutMs"])
        #expect(try other.isAnswered())
    }

    /// 200 connections sending one header byte every 100 ms: all closed by the initialize limit,
    /// the memory bounded, and the other client answered during and after.
    @Test func slowlorisConnectionsAreTimedOut() throws {
        let (server, port, key) = try startTCPServer(extraArguments: [
            "--initialize-timeout-ms", "1000", "--max-connections-per-peer", "500", "--log-level", "info",
        ])
        defer { server.terminate() }
        let client = try WellBehavedClient(port: port, key: key)
        let before = server.figures.memory().rss
        let crowd = SocketCrowd()
        #expect(crowd.open(200, port: port) == 200)
        for byte in "Content-Length: 10".utf8.prefix(5) {
            for fd in crowd.fds { crowd.send([byte], on: fd) }
            usleep(100_000)
        }
        #expect(try client.isAnswered())
        let (closed, _) = crowd.waitForClose(timeout: 60)
        #expect(closed == 200)
        #expect(server.figures.memory().peak - before < 40 * Self.megabyte)
        #expect(try client.isAnswered())
    }

    /// 2,000 idle connections against a cap of 300: the rest are refused at once, the admitted
    /// ones closed by the initialize limit, and the server's memory stays under its bound.
    @Test func twoThousandIdleConnectionsAreCappedAndClosed() throws {
        let (server, port, key) = try startTCPServer(extraArguments: [
            "--initialize-timeout-ms", "1000", "--max-connections", "300", "--max-connections-per-peer", "300",
            "--log-level", "info",
        ])
        defer { server.terminate() }
        let client = try WellBehavedClient(port: port, key: key)
        let before = server.figures.memory().rss
        let crowd = SocketCrowd()
        let opened = crowd.open(2_000, port: port)
        #expect(opened == 2_000)
        let (closed, received) = crowd.waitForClose(timeout: 60)
        #expect(closed == opened)
        // Each got its notice: refused at the cap, or timed out once admitted (slots free up as the
        // admitted ones time out, so more than 300 are admitted over the run).
        let codes = received.flatMap(connectionErrors).map(\.code)
        #expect(codes.count == opened)
        #expect(codes.filter { $0 == -32050 }.count >= 1)
        #expect(codes.filter { $0 == -32051 }.count >= 300)
        #expect(server.figures.memory().peak - before < 80 * Self.megabyte)
        #expect(try client.isAnswered())
        let log = String(decoding: server.stderr.snapshot, as: UTF8.self)
        #expect(log.contains("connection refused") && log.contains("refusedTotal"))
    }

    /// Out of file descriptors, the accept loop backs off: the server's CPU time over two seconds
    /// stays small (it spun a whole core before), and it serves again once sockets are freed.
    @Test func outOfDescriptorsTheAcceptLoopBacksOff() throws {
        let (server, port, key) = try startTCPServerWithDescriptorLimit(
            96, extraArguments: ["--max-connections", "1000", "--max-connections-per-peer", "1000", "--initialize-timeout-ms", "0"])
        defer { server.terminate() }
        let client = try WellBehavedClient(port: port, key: key)
        let crowd = SocketCrowd()
        crowd.open(150, port: port)  // more than the server can hold: the backlog keeps some waiting
        usleep(1_000_000)
        let cpuBefore = server.figures.cpuSeconds()
        usleep(2_000_000)
        let spent = server.figures.cpuSeconds() - cpuBefore
        #expect(spent < 0.5, "the server spent \(spent) s of CPU in 2 s while out of descriptors")
        #expect(try client.isAnswered())
        crowd.closeAll()
        usleep(1_500_000)
        #expect(try WellBehavedClient(port: port, key: key).isAnswered(timeout: 30))
    }
}
