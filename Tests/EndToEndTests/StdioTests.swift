import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("devmode serve --stdio")
struct StdioTests {
    @Test func initializeServerInfoShutdownExitStatusZero() throws {
        let server = try ServerProcess(arguments: ["serve", "--stdio"])
        server.send(initializeJSON())
        let initialize = try server.response(id: 1)
        let result = try #require(initialize["result"] as? [String: Any])
        #expect((result["serverInfo"] as? [String: Any])?["name"] as? String == "devmode")
        server.send(initializedJSON)
        server.send(#"{"jsonrpc":"2.0","id":2,"method":"server/info"}"#)
        let info = try #require(try server.response(id: 2)["result"] as? [String: Any])
        #expect(info["transport"] as? String == "stdio")
        #expect(info["connections"] as? Int == 1)
        #expect((info["uptimeSeconds"] as? Double ?? -1) >= 0)
        server.send(#"{"jsonrpc":"2.0","id":3,"method":"shutdown"}"#)
        #expect(try server.response(id: 3).keys.contains("result"))
        server.send(#"{"jsonrpc":"2.0","id":4,"method":"server/info"}"#)
        #expect((try server.response(id: 4)["error"] as? [String: Any])?["code"] as? Int == -32600)
        server.send(#"{"jsonrpc":"2.0","method":"exit"}"#)
        #expect(try server.waitForExit() == 0)
    }

    @Test func exitWithoutShutdownIsStatusOne() throws {
        let server = try ServerProcess(arguments: ["serve", "--stdio"])
        server.send(initializeJSON())
        _ = try server.response(id: 1)
        server.send(#"{"jsonrpc":"2.0","method":"exit"}"#)
        #expect(try server.waitForExit() == 1)
    }

    @Test func requestBeforeInitializeIsRefused() throws {
        let server = try ServerProcess(arguments: ["serve", "--stdio"])
        server.send(#"{"jsonrpc":"2.0","id":7,"method":"server/info"}"#)
        #expect((try server.response(id: 7)["error"] as? [String: Any])?["code"] as? Int == -32002)
        server.closeInput()
        #expect(try server.waitForExit() == 1)
    }

    @Test func printsFromHandlersNeverReachTheProtocolStream() throws {
        let server = try ServerProcess(arguments: ["serve", "--stdio", "--enable-debug-methods"])
        server.send(initializeJSON())
        _ = try server.response(id: 1)
        let marker = "STRAY-OUTPUT-\(UUID().uuidString)"
        server.send(#"{"jsonrpc":"2.0","id":2,"method":"debug/print","params":{"text":"\#(marker)"}}"#)
        #expect((try server.response(id: 2)["result"] as? [String: Any])?["printed"] as? Int == 4)
        server.send(#"{"jsonrpc":"2.0","id":3,"method":"server/info"}"#)
        _ = try server.response(id: 3)
        server.send(#"{"jsonrpc":"2.0","id":4,"method":"shutdown"}"#)
        _ = try server.response(id: 4)
        server.send(#"{"jsonrpc":"2.0","method":"exit"}"#)
        #expect(try server.waitForExit() == 0)
        _ = server.stdout.wait { _ in false }  // until end of stream
        // Every byte on stdout is part of a well-formed frame, and the marker is not among them.
        let (messages, rest) = try WireFormat.contentLengthFrames(server.stdout.snapshot)
        #expect(rest.isEmpty, "stray bytes after the last frame: \(String(decoding: rest, as: UTF8.self))")
        #expect(messages.count == 4)
        #expect(!String(decoding: server.stdout.snapshot, as: UTF8.self).contains(marker))
        // The stray writes went to stderr instead: all four of them.
        let stderr = String(decoding: server.stderr.wait { _ in false }, as: UTF8.self)
        #expect(stderr.components(separatedBy: marker).count - 1 == 4)
    }

    @Test func cancellingASlowRequestAnswersRequestCancelledAndTheServerGoesOn() throws {
        let server = try ServerProcess(arguments: ["serve", "--stdio", "--enable-debug-methods"])
        server.send(initializeJSON())
        _ = try server.response(id: 1)
        server.send(#"{"jsonrpc":"2.0","id":2,"method":"debug/sleep","params":{"milliseconds":60000}}"#)
        server.send(#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":2}}"#)
        let cancelled = try server.response(id: 2, timeout: 5)
        #expect((cancelled["error"] as? [String: Any])?["code"] as? Int == -32800)
        server.send(#"{"jsonrpc":"2.0","id":3,"method":"server/info"}"#)
        #expect(try server.response(id: 3)["result"] != nil)
        server.closeInput()
        #expect(try server.waitForExit() == 1)
        // Exactly one reply to the cancelled request.
        let (messages, _) = try WireFormat.contentLengthFrames(server.stdout.snapshot)
        #expect(messages.filter { ($0["id"] as? Int) == 2 }.count == 1)
    }

    @Test func malformedInputIsAnsweredAndTheNextRequestSucceeds() throws {
        let server = try ServerProcess(arguments: ["serve", "--stdio"])
        server.send(initializeJSON())
        _ = try server.response(id: 1)
        server.send("{not json")
        server.write(Array("Content-Length: banana\r\n\r\n{}".utf8))
        server.send(#"{"jsonrpc":"2.0","id":5,"method":"server/info","params":[1,2]}"#)
        server.send(#"{"jsonrpc":"2.0","id":6,"method":"server/info"}"#)
        #expect(try server.response(id: 6)["result"] != nil)
        #expect((try server.response(id: 5)["error"] as? [String: Any])?["code"] as? Int == -32602)
        let (messages, _) = try WireFormat.contentLengthFrames(server.stdout.snapshot)
        let nullIDCodes = messages.filter { $0["id"] is NSNull }.compactMap { ($0["error"] as? [String: Any])?["code"] as? Int }
        #expect(nullIDCodes == [-32700, -32700])
        server.closeInput()
        _ = try server.waitForExit()
    }

    @Test func sigtermLetsTheRequestInFlightFinish() throws {
        let server = try ServerProcess(arguments: ["serve", "--stdio", "--enable-debug-methods", "--shutdown-grace", "10"])
        server.send(initializeJSON())
        _ = try server.response(id: 1)
        server.send(#"{"jsonrpc":"2.0","id":2,"method":"debug/sleep","params":{"milliseconds":300}}"#)
        usleep(50_000)
        kill(server.child.pid, SIGTERM)
        let reply = try server.response(id: 2)
        #expect((reply["result"] as? [String: Any])?["slept"] as? Int == 300)
        _ = try server.waitForExit()
    }

    @Test func newlineDelimitedJSONOnStdinForScripts() throws {
        let server = try ServerProcess(arguments: ["serve", "--stdio"])
        server.write(Array((initializeJSON() + "\n" + #"{"jsonrpc":"2.0","id":2,"method":"server/info"}"# + "\n").utf8))
        let bytes = server.stdout.wait { bytes in bytes.filter { $0 == 10 }.count >= 2 }
        let replies = try WireFormat.lines(bytes).compactMap { $0 as? [String: Any] }
        #expect(Set(replies.compactMap { $0["id"] as? Int }) == [1, 2])
        server.closeInput()
        _ = try server.waitForExit()
    }
}
