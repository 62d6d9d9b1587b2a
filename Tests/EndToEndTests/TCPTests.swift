import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("devmode serve --listen")
struct TCPTests {
    @Test func initializeAndServerInfoOverTCP() throws {
        let (server, port, key) = try startTCPServer()
        defer { server.terminate() }
        let socket = try RawSocket(port: port)
        socket.send(WireFormat.frame(initializeJSON(token: key)))
        #expect(try socket.response(id: 1)["result"] != nil)
        socket.send(WireFormat.frame(#"{"jsonrpc":"2.0","id":2,"method":"server/info"}"#))
        let info = try #require(try socket.response(id: 2)["result"] as? [String: Any])
        #expect(info["transport"] as? String == "tcp")
    }

    @Test func fiftyConcurrentConnections() async throws {
        let (server, port, key) = try startTCPServer()
        defer { server.terminate() }
        let sockets = try (0..<50).map { _ in try RawSocket(port: port) }
        for socket in sockets {
            socket.send(WireFormat.frame(initializeJSON(token: key)) + WireFormat.frame(#"{"jsonrpc":"2.0","id":2,"method":"server/info"}"#))
        }
        var counts: [Int] = []
        for socket in sockets {
            let info = try #require(try socket.response(id: 2)["result"] as? [String: Any])
            counts.append(try #require(info["connections"] as? Int))
        }
        // All fifty were open together: the last to answer saw every one of them.
        let last = try RawSocket(port: port)
        last.send(WireFormat.frame(initializeJSON(token: key)) + WireFormat.frame(#"{"jsonrpc":"2.0","id":2,"method":"server/info"}"#))
        let info = try #require(try last.response(id: 2)["result"] as? [String: Any])
        #expect(info["connections"] as? Int == 51)
        #expect(counts.allSatisfy { $0 >= 1 && $0 <= 51 })
    }

    @Test func newlineDelimitedJSONOverARawSocket() throws {
        let (server, port, key) = try startTCPServer()
        defer { server.terminate() }
        let socket = try RawSocket(port: port)
        socket.send(initializeJSON(token: key) + "\n")
        socket.send(#"{"jsonrpc":"2.0","id":2,"method":"server/info"}"# + "\n")
        socket.send(#"[{"jsonrpc":"2.0","id":3,"method":"server/info"},{"jsonrpc":"2.0","method":"initialized"},{"jsonrpc":"2.0","id":4,"method":"nope"}]"# + "\n")
        let replies = try socket.lines(count: 3)
        #expect(replies.count == 3)
        let batch = try #require(replies.compactMap { $0 as? [[String: Any]] }.first)
        #expect(Set(batch.compactMap { $0["id"] as? Int }) == [3, 4])
        let singles = replies.compactMap { $0 as? [String: Any] }
        #expect(Set(singles.compactMap { $0["id"] as? Int }) == [1, 2])
    }

    @Test func malformedInputThenAValidRequestOnTheSameConnection() throws {
        let (server, port, key) = try startTCPServer()
        defer { server.terminate() }
        let socket = try RawSocket(port: port)
        socket.send(WireFormat.frame(initializeJSON(token: key)))
        _ = try socket.response(id: 1)
        socket.send(WireFormat.frame("{\"jsonrpc\": \"2.0\", \"id\": 9, \"method\""))  // truncated JSON
        socket.send(Array("Content-Length: -4\r\n\r\n".utf8))
        socket.send(WireFormat.frame("[]"))
        socket.send(WireFormat.frame(#"{"jsonrpc":"2.0","id":10,"method":"server/info"}"#))
        #expect(try socket.response(id: 10)["result"] != nil)
        let (messages, _) = try WireFormat.contentLengthFrames(socket.received.snapshot)
        let errors = messages.filter { $0["id"] is NSNull }.compactMap { ($0["error"] as? [String: Any])?["code"] as? Int }
        #expect(errors == [-32700, -32700, -32600])
    }

    @Test func cancellationOverTCP() throws {
        let (server, port, key) = try startTCPServer()
        defer { server.terminate() }
        let socket = try RawSocket(port: port)
        socket.send(WireFormat.frame(initializeJSON(token: key)))
        _ = try socket.response(id: 1)
        socket.send(WireFormat.frame(#"{"jsonrpc":"2.0","id":"slow","method":"debug/sleep","params":{"milliseconds":60000}}"#))
        socket.send(WireFormat.frame(#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"slow"}}"#))
        socket.send(WireFormat.frame(#"{"jsonrpc":"2.0","id":3,"method":"server/info"}"#))
        #expect(try socket.response(id: 3)["result"] != nil)
        var cancelled: [String: Any]?
        _ = socket.received.wait { bytes in
            cancelled = (try? WireFormat.contentLengthFrames(bytes))?.messages.first { $0["id"] as? String == "slow" }
            return cancelled != nil
        }
        #expect((cancelled?["error"] as? [String: Any])?["code"] as? Int == -32800)
    }

    @Test func exitClosesOnlyThatConnection() throws {
        let (server, port, key) = try startTCPServer()
        defer { server.terminate() }
        let first = try RawSocket(port: port)
        let second = try RawSocket(port: port)
        for socket in [first, second] {
            socket.send(WireFormat.frame(initializeJSON(token: key)))
            _ = try socket.response(id: 1)
        }
        first.send(WireFormat.frame(#"{"jsonrpc":"2.0","id":2,"method":"shutdown"}"#))
        _ = try first.response(id: 2)
        first.send(WireFormat.frame(#"{"jsonrpc":"2.0","method":"exit"}"#))
        _ = first.received.wait { _ in false }
        #expect(first.received.isEnded)
        second.send(WireFormat.frame(#"{"jsonrpc":"2.0","id":3,"method":"server/info"}"#))
        #expect(try second.response(id: 3)["result"] != nil)
        #expect(server.child.isRunning)
    }

    @Test func halfClosedClientStillGetsItsReplies() throws {
        let (server, port, key) = try startTCPServer()
        defer { server.terminate() }
        let socket = try RawSocket(port: port)
        socket.send(initializeJSON(token: key) + "\n" + #"{"jsonrpc":"2.0","id":2,"method":"debug/sleep","params":{"milliseconds":100}}"# + "\n")
        socket.shutdownWrite()
        let replies = try socket.lines(count: 2)
        #expect(Set(replies.compactMap { ($0 as? [String: Any])?["id"] as? Int }) == [1, 2])
        _ = socket.received.wait { _ in false }
        #expect(socket.received.isEnded)
    }

    @Test func sigtermStopsGracefully() throws {
        let (server, port, key) = try startTCPServer(extraArguments: ["--shutdown-grace", "10"])
        let socket = try RawSocket(port: port)
        socket.send(WireFormat.frame(initializeJSON(token: key)))
        _ = try socket.response(id: 1)
        socket.send(WireFormat.frame(#"{"jsonrpc":"2.0","id":2,"method":"debug/sleep","params":{"milliseconds":300}}"#))
        usleep(50_000)
        kill(server.child.pid, SIGTERM)
        #expect((try socket.response(id: 2)["result"] as? [String: Any])?["slept"] as? Int == 300)
        #expect(try server.waitForExit() == 0)
        #expect(throws: (any Error).self) { _ = try RawSocket(port: port) }
    }

    @Test func devmodeCallPrintsTheResultAndFailsOnErrors() throws {
        let (server, port, key) = try startTCPServer()
        defer { server.terminate() }
        let ok = try ServerProcess(arguments: ["call", "server/info", "--connect", "127.0.0.1:\(port)", "--token", key])
        #expect(try ok.waitForExit() == 0)
        let output = ok.stdout.wait { _ in false }
        let result = try JSONSerialization.jsonObject(with: Data(output)) as? [String: Any]
        #expect(result?["name"] as? String == "devmode")

        let failing = try ServerProcess(arguments: ["call", "no/such", "{}", "--connect", "127.0.0.1:\(port)", "--token", key])
        #expect(try failing.waitForExit() == 1)
        let error = try JSONSerialization.jsonObject(with: Data(failing.stderr.wait { _ in false })) as? [String: Any]
        #expect(error?["code"] as? Int == -32601)
        #expect(failing.stdout.wait { _ in false }.isEmpty)
    }
}

@Suite("TCP authentication")
struct TCPAuthenticationTests {
    @Test func withoutACredentialNothingIsServedAndTheConnectionCloses() throws {
        let (server, port, _) = try startTCPServer()
        defer { server.terminate() }
        let socket = try RawSocket(port: port)
        socket.send(WireFormat.frame(initializeJSON()))
        let reply = try socket.response(id: 1)
        #expect((reply["error"] as? [String: Any])?["code"] as? Int == -32010)
        socket.send(WireFormat.frame(#"{"jsonrpc":"2.0","id":2,"method":"server/info"}"#))
        _ = socket.received.wait { _ in false }
        #expect(socket.received.isEnded)
        let (messages, _) = try WireFormat.contentLengthFrames(socket.received.snapshot)
        #expect(!messages.contains { ($0["id"] as? Int) == 2 && $0["result"] != nil })
    }

    @Test func aWrongKeyIsRefused() throws {
        let (server, port, _) = try startTCPServer()
        defer { server.terminate() }
        let socket = try RawSocket(port: port)
        socket.send(WireFormat.frame(initializeJSON(token: "dmk_not-a-real-key")))
        #expect((try socket.response(id: 1)["error"] as? [String: Any])?["code"] as? Int == -32010)
    }
}
