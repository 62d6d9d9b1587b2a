import DevModeAI
import DevModeSpawn
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// Budgets against real `devmode serve` processes over TCP, with a fake model server that speaks
/// the OpenAI wire format (SSE) and reports the usage a real one would. On the SQLite pass the
/// processes share the data directory's SQLite file; on the PostgreSQL pass one PostgreSQL database.
@Suite("Budgets end to end")
struct QuotaEndToEndTests {
    static let limit = 3_000

    /// What the fake model server charged in all (prompt and completion tokens it reported).
    final class Charged: Sendable {
        let tokens = LockedState(0)
        let calls = LockedState(0)
    }

    /// Starts the fake model and a models file pointing at it; the model's answers take 40 ms, so
    /// calls overlap. Its usage is what a tokenizer with special tokens would count: the prompt's
    /// text at 4 bytes a token plus its three sentinels, and all the output the call allowed.
    static func fakeModel(charged: Charged) async throws -> (FakeModelServer, String) {
        let fake = FakeModelServer()
        try await fake.start()
        fake.respond { request in
            let prompt = request.json?["prompt"]?.stringValue ?? ""
            let text = prompt.replacingOccurrences(of: "<fim_prefix>", with: "").replacingOccurrences(of: "<fim_suffix>", with: "")
                .replacingOccurrences(of: "<fim_middle>", with: "")
            let usage = TokenUsage(
                inputTokens: (text.utf8.count + 3) / 4 + 3, outputTokens: request.json?["max_tokens"]?.intValue ?? 0)
            charged.tokens.withLock { $0 += usage.inputTokens + usage.outputTokens }
            charged.calls.withLock { $0 += 1 }
            return .stream(chunks: ["0"], delayMs: 40, usage: usage)
        }
        return (fake, try modelsFile(endpoint: fake.openAIEndpoint))
    }

    /// A models file with one fill-in-the-middle model, `fake`, at `endpoint`.
    static func modelsFile(endpoint: String) throws -> String {
        let models = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-models-\(UUID().uuidString).json")
        let registry: [String: Any] = [
            "models": [
                [
                    "id": "fake", "provider": "openai", "endpoint": endpoint, "model": "fake-coder",
                    "apiKeyEnv": "FAKE_MODEL_KEY", "capabilities": ["chat": false, "fillInTheMiddle": true],
                    "contextWindow": 8192, "maxOutputTokens": 64, "fimTemplate": "starcoder",
                    "timeouts": ["connectMs": 10_000, "firstByteMs": 30_000, "idleMs": 30_000, "totalMs": 60_000],
                ]
            ],
            "defaultModels": ["fake"],
        ]
        try JSONSerialization.data(withJSONObject: registry).write(to: models)
        return models.path
    }

    /// A signed-in TCP session.
    static func session(port: Int, token: String) throws -> RawSocket {
        let socket = try RawSocket(port: port)
        socket.send(WireFormat.frame(initializeJSON(token: token)))
        let reply = try socket.response(id: 1)
        guard reply["result"] != nil else { throw TestFailure("initialize failed: \(reply)") }
        socket.send(WireFormat.frame(initializedJSON))
        return socket
    }

    static func call(_ socket: RawSocket, id: Int, _ method: String, _ params: [String: Any], timeout: Double = 60) throws
        -> [String: Any]
    {
        let body = try JSONSerialization.data(withJSONObject: ["jsonrpc": "2.0", "id": id, "method": method, "params": params])
        socket.send(WireFormat.frame(String(decoding: body, as: UTF8.self)))
        return try socket.response(id: id, timeout: timeout)
    }

    /// Starts `count` servers on one data directory (so one store), each on its own port.
    static func servers(_ count: Int, dataDirectory: String, models: String) throws -> [(ServerProcess, Int)] {
        try (0..<count).map { _ in
            let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-port-\(UUID().uuidString)")
            let server = try ServerProcess(
                arguments: ["serve", "--listen", "127.0.0.1:0", "--port-file", portFile.path, "--models", models],
                dataDirectory: dataDirectory, environment: ["FAKE_MODEL_KEY": "sk-fake"])
            return (server, try waitForPortFile(portFile, server: server))
        }
    }

    /// 200 completions at once, from 40 TCP connections spread over `processes` servers, against
    /// a workspace budget of 3,000 tokens that holds about 40 worst cases at a time.
    func runConcurrentCompletions(processes: Int) async throws {
        let charged = Charged()
        let (fake, models) = try await Self.fakeModel(charged: charged)
        defer { Task { try? await fake.shutdown() } }
        let dataDirectory = temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let key = try bootstrapAdmin(dataDirectory: dataDirectory)
        let servers = try Self.servers(processes, dataDirectory: dataDirectory, models: models)

        let admin = try Self.session(port: servers[0].1, token: key)
        let created = try Self.call(admin, id: 2, "workspace/create", ["name": "billing"])
        let workspaceId = try #require((created["result"] as? [String: Any])?["id"] as? String, "\(created)")
        let set = try Self.call(
            admin, id: 3, "quota/set",
            ["level": "workspace", "workspaceId": workspaceId, "metric": "tokens", "period": "none", "limit": Self.limit])
        #expect(set["result"] != nil, "\(set)")

        let connections = try (0..<40).map { index in try Self.session(port: servers[index % processes].1, token: key) }
        // Every request is sent before any answer is read: 200 in flight at once.
        for index in 0..<200 {
            let body = try JSONSerialization.data(withJSONObject: [
                "jsonrpc": "2.0", "id": 100 + index, "method": "ai/complete",
                "params": [
                    "workspaceId": workspaceId, "model": "fake", "prefix": "let total\(index) = ", "multiline": false,
                ] as [String: Any],
            ])
            connections[index % connections.count].send(WireFormat.frame(String(decoding: body, as: UTF8.self)))
        }
        let replies = (0..<200).map { index in
            (try? connections[index % connections.count].response(id: 100 + index, timeout: 120)) ?? ["missing": index]
        }
        let answered = replies.filter { $0["result"] != nil }
        let refused = replies.compactMap { $0["error"] as? [String: Any] }
        #expect(answered.count + refused.count == 200, "every request answered: \(replies.filter { $0["missing"] != nil }.count) missing")
        #expect(answered.count >= 30, "\(answered.count) answered")
        #expect(!refused.isEmpty, "the budget must run out")
        for error in refused {
            #expect(error["code"] as? Int == -32020, "\(error)")
            let data = error["data"] as? [String: Any] ?? [:]
            #expect(data["level"] as? String == "workspace" && data["limit"] as? Int == Self.limit, "\(error)")
            #expect(data["metric"] as? String == "tokens" && data["workspaceId"] as? String == workspaceId)
            for field in ["used", "reserved", "remaining", "needed"] { #expect(data[field] is Int, "\(field) in \(data)") }
            #expect(data["resetAt"] is NSNull, "a budget without a period never resets: \(data)")
        }

        // No phantom refusal: once the storm has settled, what is left can be spent (the last calls
        // with a lowered output limit, when they fit so), until the budget refuses one that no longer fits.
        var followUps = 0
        var lastRefusal: [String: Any]?
        for index in 0..<20 {
            let reply = try Self.call(
                admin, id: 10 + index, "ai/complete",
                ["workspaceId": workspaceId, "model": "fake", "prefix": "let after\(index) = ", "multiline": false])
            if let error = reply["error"] as? [String: Any] {
                #expect(error["code"] as? Int == -32020, "\(error)")
                lastRefusal = error["data"] as? [String: Any]
                break
            }
            followUps += 1
        }
        // (The room left may be less than one call's prompt and smallest output: then the first
        // follow-up is refused, and the refusal below must show that it did not fit.)
        let refusal = try #require(lastRefusal, "the budget must refuse in the end")
        #expect(
            (refusal["remaining"] as? Int ?? 0) < (refusal["needed"] as? Int ?? 0),
            "refused only when it did not fit: \(refusal)")

        let quota = try Self.call(admin, id: 4, "quota/get", ["workspaceId": workspaceId])
        let quotas = try #require((quota["result"] as? [String: Any])?["quotas"] as? [[String: Any]], "\(quota)")
        let budget = try #require(quotas.first { $0["level"] as? String == "workspace" })
        let used = budget["used"] as? Int ?? -1
        // Never over the limit; exactly what the model reported, nothing reserved after the last call.
        #expect(used <= Self.limit, "settled \(used) of \(Self.limit)")
        #expect(used == charged.tokens.withLock { $0 }, "settled \(used), the model reported \(charged.tokens.withLock { $0 })")
        #expect(budget["reserved"] as? Int == 0, "no reservation left behind: \(budget)")
        #expect(charged.calls.withLock { $0 } == answered.count + followUps, "every admitted call reached the model once")
        for (server, _) in servers { server.terminate() }
    }

    @Test func twoHundredConcurrentCompletionsNeverOverspendTheBudget() async throws {
        try await runConcurrentCompletions(processes: 1)
    }

    @Test func twoProcessesOnOneStoreEnforceOneBudget() async throws {
        try await runConcurrentCompletions(processes: 2)
    }

    /// Two processes on one store share one limiter: 60 completions at once, half to each process,
    /// against a workspace limit of one a minute with a burst of 12. Exactly 12 are admitted (one
    /// more for each whole minute the storm took), whichever process each reached.
    @Test func twoProcessesShareOneRateLimit() async throws {
        let charged = Charged()
        let (fake, models) = try await Self.fakeModel(charged: charged)
        defer { Task { try? await fake.shutdown() } }
        let dataDirectory = temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let key = try bootstrapAdmin(dataDirectory: dataDirectory)
        let servers = try Self.servers(2, dataDirectory: dataDirectory, models: models)
        defer { for (server, _) in servers { server.terminate() } }

        let admin = try Self.session(port: servers[0].1, token: key)
        let created = try Self.call(admin, id: 2, "workspace/create", ["name": "limited"])
        let workspaceId = try #require((created["result"] as? [String: Any])?["id"] as? String, "\(created)")
        let started = Date()
        let set = try Self.call(
            admin, id: 3, "quota/set",
            ["level": "workspace", "workspaceId": workspaceId, "metric": "requestsPerMinute", "limit": 1, "burst": 12])
        #expect(set["result"] != nil, "\(set)")

        let connections = try (0..<20).map { index in try Self.session(port: servers[index % 2].1, token: key) }
        for index in 0..<60 {
            let body = try JSONSerialization.data(withJSONObject: [
                "jsonrpc": "2.0", "id": 100 + index, "method": "ai/complete",
                "params": ["workspaceId": workspaceId, "model": "fake", "prefix": "let rate\(index) = "] as [String: Any],
            ])
            connections[index % connections.count].send(WireFormat.frame(String(decoding: body, as: UTF8.self)))
        }
        let replies = (0..<60).map { index in
            (try? connections[index % connections.count].response(id: 100 + index, timeout: 120)) ?? ["missing": index]
        }
        let minutes = Int(Date().timeIntervalSince(started) / 60)
        let answered = replies.filter { $0["result"] != nil }
        let refused = replies.compactMap { $0["error"] as? [String: Any] }
        #expect(answered.count + refused.count == 60, "every request answered")
        // A limiter of each process's own would have admitted 24.
        #expect(answered.count == 12 + minutes, "\(answered.count) admitted of a burst of 12 (\(minutes) whole minutes passed)")
        for error in refused {
            #expect(error["code"] as? Int == -32023, "\(error)")
            let data = error["data"] as? [String: Any] ?? [:]
            #expect(data["source"] as? String == "devmode" && data["level"] as? String == "workspace", "\(data)")
            #expect(data["metric"] as? String == "requestsPerMinute" && data["limit"] as? Int == 1 && data["burst"] as? Int == 12)
            let wait = data["retryAfterMs"] as? Int ?? -1
            #expect(wait > 0 && wait <= 60_000, "the next call is due within the minute: \(data)")
        }
        #expect(charged.calls.withLock { $0 } == answered.count, "a refused call never reaches the model")
    }

    /// A process killed mid-call (SIGKILL: nothing settles) leaves its reservation in the store;
    /// another process sees it held until the lease (`--quota-lease-ms`) runs out, then free.
    @Test func aKilledProcesssReservationIsReclaimedAfterItsLease() async throws {
        let fake = FakeModelServer()
        try await fake.start()
        defer { Task { try? await fake.shutdown() } }
        let (arrivals, arrived) = AsyncStream.makeStream(of: Void.self)
        fake.respond { _ in
            arrived.yield()
            return .hang
        }
        let models = try Self.modelsFile(endpoint: fake.openAIEndpoint)
        let dataDirectory = temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        let key = try bootstrapAdmin(dataDirectory: dataDirectory)
        let lease = 1_500
        let portFile = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-port-\(UUID().uuidString)")
        let server = try ServerProcess(
            arguments: [
                "serve", "--listen", "127.0.0.1:0", "--port-file", portFile.path, "--models", models, "--quota-lease-ms", "\(lease)",
            ], dataDirectory: dataDirectory, environment: ["FAKE_MODEL_KEY": "sk-fake"])
        let port = try waitForPortFile(portFile, server: server)
        let admin = try Self.session(port: port, token: key)
        let created = try Self.call(admin, id: 2, "workspace/create", ["name": "crash"])
        let workspaceId = try #require((created["result"] as? [String: Any])?["id"] as? String)
        let whoami = try Self.call(admin, id: 3, "auth/whoami", [:])
        let userId = try #require((whoami["result"] as? [String: Any])?["userId"] as? String)
        _ = try Self.call(
            admin, id: 4, "quota/set", ["level": "workspace", "workspaceId": workspaceId, "metric": "tokens", "limit": 10_000])
        let body = try JSONSerialization.data(withJSONObject: [
            "jsonrpc": "2.0", "id": 5, "method": "ai/complete",
            "params": ["workspaceId": workspaceId, "model": "fake", "prefix": "let total = "] as [String: Any],
        ])
        // Before the call: its reservation (and lease) starts after this.
        let held = Date()
        admin.send(WireFormat.frame(String(decoding: body, as: UTF8.self)))
        var iterator = arrivals.makeAsyncIterator()
        let waiting = Task {
            try await Task.sleep(for: .seconds(30))
            arrived.yield()  // never wait forever: the reads below then fail and say why
        }
        _ = await iterator.next()
        waiting.cancel()
        kill(server.child.pid, SIGKILL)
        _ = try server.waitForExit()

        // Another process (the admin command) reads the budget.
        let environment = try serverEnvironment(dataDirectory: dataDirectory)
        func reserved() throws -> Int {
            let outcome = try Spawn.run(
                try devmodeBinary().path, ["admin", "quota", "get", "--workspace", workspaceId, "--user", userId],
                environment: environment)
            let json = try JSONSerialization.jsonObject(with: Data(outcome.stdout)) as? [String: Any]
            let quotas = json?["quotas"] as? [[String: Any]] ?? []
            return quotas.first { $0["level"] as? String == "workspace" }?["reserved"] as? Int ?? -1
        }
        let first = try reserved()
        let firstAt = Date().timeIntervalSince(held)
        if firstAt * 1000 < Double(lease) {
            #expect(first > 0, "held while the lease runs (read \(Int(firstAt * 1000)) ms after the call was made)")
        }
        var freed = first == 0
        while !freed && Date().timeIntervalSince(held) < 30 {
            usleep(50_000)
            freed = try reserved() == 0
        }
        #expect(freed, "reclaimed once the lease ran out")
        #expect(Date().timeIntervalSince(held) * 1000 >= Double(lease), "not before the lease ran out")
    }
}
