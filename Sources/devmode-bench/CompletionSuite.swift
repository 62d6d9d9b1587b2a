import DevModeAI
import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeStoreSQLite
import Foundation
import JSONRPC

/// `--suite completion`: what the server adds to one `textDocument/inlineCompletion` when the model
/// costs nothing. A `DevModeServer` in process (SQLite in a temp directory, local mode) whose only
/// model is an OpenAI-compatible one served by `InstantProvider` (a fixed completion, at once),
/// driven over an in-memory byte pipe with the real framing, parsing and dispatch. A ~2,000-line
/// document is opened, then request → response is timed, one request at a time:
///   misses: --completion-requests cursors, every one a different place (the cache cannot answer;
///     the provider's call count proves it);
///   type-ahead: at the end of a line, one miss, then the first characters of the completion typed
///     (`didChange`) and asked again, each answered from the cache (the timing includes finishing
///     the edit, which the request waits for), then asked once more with no edit (a plain hit);
/// with `server/info` over the same client as the floor (framing, JSON-RPC, dispatch), and the
/// completion pipeline alone (no server) at the same cursors, to show where the time goes.
struct CompletionSuite {
    static let p50TargetMs = 0.3
    static let p99TargetMs = 1.0

    var requests = 2_000
    var documentLines = 2_000
    var warmUp = 200
    /// Characters typed after each type-ahead miss (each one a cache hit).
    var typedPerMiss = 3
    /// Sets budgets on the tenant, the workspace and the user, and a rate limit for each user,
    /// all too large to refuse, before measuring (`--suite quota`).
    var withBudgets = false

    struct Latency: Codable {
        var samples = 0
        var p50Milliseconds = 0.0
        var p90Milliseconds = 0.0
        var p99Milliseconds = 0.0
        var maxMilliseconds = 0.0
        var meanMilliseconds = 0.0

        init() {}

        init(_ nanoseconds: [UInt64]) {
            guard !nanoseconds.isEmpty else { return }
            samples = nanoseconds.count
            p50Milliseconds = Double(Stats.percentile(nanoseconds, 0.5)) / 1e6
            p90Milliseconds = Double(Stats.percentile(nanoseconds, 0.9)) / 1e6
            p99Milliseconds = Double(Stats.percentile(nanoseconds, 0.99)) / 1e6
            maxMilliseconds = Double(nanoseconds.max() ?? 0) / 1e6
            meanMilliseconds = Stats.mean(nanoseconds) / 1e6
        }
    }

    struct Figures: Codable {
        var documentLines = 0
        var documentBytes = 0
        var miss = Latency()
        /// Misses whose answer had an item (post-processing may drop the fixed completion).
        var missesAnswered = 0
        /// Provider calls during the miss phase: equal to the requests when no cache hit happened.
        var missProviderCalls = 0
        var typeAhead = Latency()
        /// Type-ahead requests answered without a provider call, with the completion's rest.
        var typeAheadServedFromCache = 0
        /// Each type-ahead request asked again at once (no edit between): a plain cache hit.
        var cacheHit = Latency()
        var cacheHitsServedFromCache = 0
        var serverInfo = Latency()
        var pipelineAlone = Latency()
        /// Building the prefix and suffix strings from the document's bytes (what the snapshot copies).
        var prefixSuffixCopy = Latency()
        var p50TargetMilliseconds = CompletionSuite.p50TargetMs
        var p99TargetMilliseconds = CompletionSuite.p99TargetMs
        var pass: [String: Bool] = [:]
    }

    // MARK: The provider and the meter

    /// Answers every call at once with the same short completion.
    struct InstantProvider: ModelProvider {
        static let completion = "value + 1"
        let calls: CallCounter

        func stream(_ request: ProviderRequest) -> AsyncThrowingStream<ProviderEvent, any Error> {
            calls.increment()
            return AsyncThrowingStream { continuation in
                continuation.yield(.text(Self.completion))
                continuation.yield(.usage(TokenUsage(inputTokens: 100, outputTokens: 3)))
                continuation.yield(.finished(reason: "stop"))
                continuation.finish()
            }
        }
    }

    final class CallCounter: Sendable {
        // The code base's one lock type rather than an atomic: the count is read rarely and this is
        // not the measured path's bottleneck (one increment per provider call).
        private let count = LockedState(0)
        func increment() { count.withLock { $0 += 1 } }
        var value: Int { count.withLock { $0 } }
    }

    /// For the pipeline alone: admits everything, records nothing.
    struct NoMeter: CompletionMeter {
        func reserve(model: ModelConfiguration, estimatedInputTokens: Int, maxOutputTokens: Int) async throws
            -> MeterReservation
        {
            MeterReservation(id: "bench", model: model.id, inputTokens: estimatedInputTokens, outputTokens: maxOutputTokens)
        }
        func settle(_ reservation: MeterReservation, usage: TokenUsage, latencyMs: Int, outcome: String) async {}
        func servedFromCache(model: ModelConfiguration) async {}
    }

    /// Ignores whatever the server sends unasked (telemetry notifications).
    struct QuietClient: MessageHandler {
        func handle(request: any RequestType, id: RequestID, from connection: Connection) async throws -> any ResponseType {
            throw ResponseError.methodNotFound(type(of: request).method)
        }
        func handle(notification: any NotificationType, from connection: Connection) async {}
    }

    static let model = ModelConfiguration(
        id: "bench-instant", provider: .openai, endpoint: "http://127.0.0.1:9/v1",
        capabilities: ModelConfiguration.Capabilities(chat: false, fillInTheMiddle: true), contextWindow: 16_384,
        maxOutputTokens: 64)

    // MARK: The document

    /// A Swift file of about `lines` lines: small functions, each a little different.
    static func document(lines: Int) -> String {
        var text = "import Foundation\n\n"
        var index = 0
        // Each function below is 9 lines.
        while 2 + index * 9 < lines - 9 {
            text += """
                /// Adds up the values above \(index), scaled.
                func computeTotal\(index)(values: [Int], scale: Int) -> Int {
                    var total = \(index % 7)
                    for value in values where value > \(index) {
                        total += value * scale
                    }
                    return total + \(index * 3)
                }


                """
            index += 1
        }
        return text
    }

    /// Line start offsets (UTF-8) of `bytes`, and each line's length without its newline.
    static func lines(_ bytes: [UInt8]) -> [(start: Int, length: Int)] {
        var result: [(Int, Int)] = []
        var start = 0
        for i in 0...bytes.count where i == bytes.count || bytes[i] == 10 {
            result.append((start, i - start))
            start = i + 1
        }
        return result
    }

    // MARK: Running

    func run(workDirectory: String, progress: (String) -> Void) async throws -> Figures {
        var figures = Figures()
        let directory = workDirectory + "/completion"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let calls = CallCounter()
        var configuration = ServerConfiguration(
            localMode: true,
            projects: ProjectService.Settings(dataDirectory: directory + "/data"),
            models: ModelRegistry(models: [Self.model], defaultModels: [Self.model.id]))
        configuration.providerOverride = { _ in InstantProvider(calls: calls) }
        let store = Store(driver: try SQLiteDriver(path: directory + "/devmode.sqlite3"))
        let server = try await DevModeServer.open(configuration: configuration, store: store)

        // The client: the same few lines as DevModeTestSupport's TestClient.
        let (clientEnd, serverEnd) = InMemoryTransport.pair()
        let (serverConnection, _) = server.makeConnection(transport: "memory", framing: .contentLength, local: true)
        let client = Connection(
            registry: MessageRegistry(requests: [], notifications: []), handler: QuietClient(), framing: .contentLength)
        let serverTask = Task { await serverConnection.run(input: serverEnd.reader, output: serverEnd.writer) }
        let clientTask = Task { await client.run(input: clientEnd.reader, output: clientEnd.writer) }

        var failure: (any Error)?
        do {
            try await measure(client: client, calls: calls, directory: directory, figures: &figures, progress: progress)
        } catch {
            failure = error
        }
        client.close()
        await clientTask.value
        await serverTask.value
        await server.close()
        if let failure { throw failure }

        try await measurePipelineAlone(figures: &figures, progress: progress)
        figures.pass = [
            "missP50": figures.miss.p50Milliseconds <= Self.p50TargetMs,
            "missP99": figures.miss.p99Milliseconds <= Self.p99TargetMs,
            "typeAheadP50": figures.typeAhead.p50Milliseconds <= Self.p50TargetMs,
            "typeAheadP99": figures.typeAhead.p99Milliseconds <= Self.p99TargetMs,
            "cacheHitP50": figures.cacheHit.p50Milliseconds <= Self.p50TargetMs,
            "cacheHitP99": figures.cacheHit.p99Milliseconds <= Self.p99TargetMs,
        ]
        return figures
    }

    /// Cursors for the misses: distinct (line, column) pairs, after at least one character of a
    /// non-empty line; the warm-up's first, then the measured ones.
    func missCursors(_ lines: [(start: Int, length: Int)], count: Int) -> [(line: Int, column: Int)] {
        var random = LocalEngineSuite.SplitMix(state: 2_026)
        var seen = Set<Int>()
        var cursors: [(Int, Int)] = []
        let candidates = lines.indices.filter { lines[$0].length > 0 }
        while cursors.count < count {
            let line = candidates[random.below(candidates.count)]
            let column = 1 + random.below(lines[line].length)
            guard seen.insert(line << 20 | column).inserted else { continue }
            cursors.append((line, column))
        }
        return cursors
    }

    private func measure(
        client: Connection, calls: CallCounter, directory: String, figures: inout Figures, progress: (String) -> Void
    ) async throws {
        let text = Self.document(lines: documentLines)
        let bytes = Array(text.utf8)
        let lines = Self.lines(bytes)
        figures.documentLines = lines.count
        figures.documentBytes = bytes.count
        let uri = URL(fileURLWithPath: directory + "/Big.swift").absoluteString
        let document = TextDocumentIdentifier(uri: uri)

        _ = try await client.send(InitializeRequest(clientInfo: ClientInfo(name: "devmode-bench")))
        client.send(InitializedNotification())
        if withBudgets {
            let seen = try await client.send(QuotaGetRequest())
            for (level, user) in [("tenant", nil), ("workspace", nil), ("user", seen.userId)] as [(String, String?)] {
                _ = try await client.send(
                    QuotaSetRequest(
                        level: level, workspaceId: level == "tenant" ? nil : seen.workspaceId, userId: user, metric: "tokens",
                        limit: 1 << 50))
            }
            _ = try await client.send(
                QuotaSetRequest(level: "user", workspaceId: seen.workspaceId, metric: "requestsPerMinute", limit: 1 << 30))
        }
        client.send(
            DidOpenTextDocumentNotification(
                textDocument: TextDocumentItem(uri: uri, languageId: "swift", version: 1, text: text)))

        func complete(_ line: Int, _ column: Int) async throws -> (UInt64, InlineCompletionList) {
            let request = InlineCompletionRequest(
                textDocument: document, position: Position(line: line, character: column),
                context: InlineCompletionContext(triggerKind: 2))
            let t0 = LocalEngineSuite.now()
            let answer = try await client.send(request)
            return (LocalEngineSuite.now() - t0, answer)
        }

        // Warm-up: the first requests find the document's place and the workspace's models, and
        // fill the caches the server keeps for a few seconds. Then server/info as the floor.
        let cursors = missCursors(lines, count: warmUp + requests)
        for (line, column) in cursors.prefix(warmUp) { _ = try await complete(line, column) }
        var floor: [UInt64] = []
        for _ in 0..<requests {
            let t0 = LocalEngineSuite.now()
            _ = try await client.send(ServerInfoRequest())
            floor.append(LocalEngineSuite.now() - t0)
        }
        figures.serverInfo = Latency(floor)

        // Misses.
        let callsBefore = calls.value
        var missTimes: [UInt64] = []
        missTimes.reserveCapacity(requests)
        for (line, column) in cursors.dropFirst(warmUp) {
            let (elapsed, answer) = try await complete(line, column)
            missTimes.append(elapsed)
            if !answer.items.isEmpty { figures.missesAnswered += 1 }
        }
        figures.missProviderCalls = calls.value - callsBefore
        figures.miss = Latency(missTimes)
        progress(
            "  misses: p50 \(String(format: "%.3f", figures.miss.p50Milliseconds)) ms over \(missTimes.count) cursors, "
                + "\(figures.missProviderCalls) provider calls, \(figures.missesAnswered) answered")

        // Type-ahead: a miss at the end of a line, then its completion typed a character at a time.
        var hitTimes: [UInt64] = []
        var repeatTimes: [UInt64] = []
        var version = 1
        var random = LocalEngineSuite.SplitMix(state: 7_777)
        var typedLengths = lines.map(\.length)
        var rounds = 0
        while hitTimes.count < requests, rounds < requests * 4 {
            rounds += 1
            let line = random.below(lines.count)
            guard lines[line].length > 0 else { continue }
            var column = typedLengths[line]
            let (_, seed) = try await complete(line, column)
            guard var expected = seed.items.first?.insertText, !expected.isEmpty else { continue }
            for _ in 0..<typedPerMiss where expected.count > 1 && hitTimes.count < requests {
                let typed = String(expected.removeFirst())
                version += 1
                let at = Position(line: line, character: column)
                client.send(
                    DidChangeTextDocumentNotification(
                        textDocument: VersionedTextDocumentIdentifier(uri: uri, version: version),
                        contentChanges: [TextDocumentContentChangeEvent(range: TextRange(start: at, end: at), text: typed)]))
                column += typed.utf16.count
                typedLengths[line] = column
                let before = calls.value
                let (elapsed, answer) = try await complete(line, column)
                hitTimes.append(elapsed)
                if calls.value == before, answer.items.first?.insertText == expected { figures.typeAheadServedFromCache += 1 }
                // The same cursor again, nothing typed in between: the cache's own cost.
                let (again, repeated) = try await complete(line, column)
                repeatTimes.append(again)
                if calls.value == before, repeated.items.first?.insertText == expected { figures.cacheHitsServedFromCache += 1 }
            }
        }
        figures.typeAhead = Latency(hitTimes)
        figures.cacheHit = Latency(repeatTimes)
        progress(
            "  type-ahead: p50 \(String(format: "%.3f", figures.typeAhead.p50Milliseconds)) ms over \(hitTimes.count) "
                + "requests, \(figures.typeAheadServedFromCache) from the cache; the same cursor again: p50 "
                + "\(String(format: "%.3f", figures.cacheHit.p50Milliseconds)) ms, \(figures.cacheHitsServedFromCache) from the cache")
        _ = try await client.send(ShutdownRequest())
    }

    /// The same misses through `CompletionPipeline` alone (no server, no JSON): the part of the
    /// request that is the pipeline's (context, provider call, post-processing, cache store).
    private func measurePipelineAlone(figures: inout Figures, progress: (String) -> Void) async throws {
        let text = Self.document(lines: documentLines)
        let bytes = Array(text.utf8)
        let lines = Self.lines(bytes)
        let cursors = missCursors(lines, count: warmUp + requests)
        let calls = CallCounter()
        let pipeline = CompletionPipeline(providers: { _ in InstantProvider(calls: calls) })
        var copies: [UInt64] = []
        var times: [UInt64] = []
        for (index, (line, column)) in cursors.enumerated() {
            let offset = lines[line].start + column
            // As the server's snapshot does: up to 128 KiB before the cursor and 32 KiB after.
            let t0 = LocalEngineSuite.now()
            let prefix = String(decoding: bytes[max(0, offset - (128 << 10))..<offset], as: UTF8.self)
            let suffix = String(decoding: bytes[offset..<min(bytes.count, offset + (32 << 10))], as: UTF8.self)
            let t1 = LocalEngineSuite.now()
            let job = CompletionJob(
                key: "bench", model: Self.model, path: "Big.swift", language: "swift", prefix: prefix, suffix: suffix,
                meter: NoMeter())
            _ = try await pipeline.complete(job)
            let t2 = LocalEngineSuite.now()
            if index >= warmUp {
                copies.append(t1 - t0)
                times.append(t2 - t1)
            }
        }
        figures.pipelineAlone = Latency(times)
        figures.prefixSuffixCopy = Latency(copies)
        progress("  pipeline alone: p50 \(String(format: "%.3f", figures.pipelineAlone.p50Milliseconds)) ms")
    }

    // MARK: Report

    func table(_ f: Figures) -> String {
        var table = Table(columns: ["p50", "p90", "p99", "max"])
        func ms(_ value: Double) -> String { String(format: "%.3f", value) }
        func row(_ label: String, _ latency: Latency, targets: Bool) {
            table.add(
                label, targets ? "p50 ≤ \(Self.p50TargetMs), p99 ≤ \(Int(Self.p99TargetMs))" : "",
                [
                    Table.cell(ms(latency.p50Milliseconds), targets ? latency.p50Milliseconds <= Self.p50TargetMs : nil),
                    ms(latency.p90Milliseconds),
                    Table.cell(ms(latency.p99Milliseconds), targets ? latency.p99Milliseconds <= Self.p99TargetMs : nil),
                    ms(latency.maxMilliseconds),
                ])
        }
        row("inlineCompletion, cache miss (ms)", f.miss, targets: true)
        row("inlineCompletion, type-ahead hit (ms)", f.typeAhead, targets: true)
        row("  same cursor again, no edit (ms)", f.cacheHit, targets: true)
        row("  floor: server/info, same client (ms)", f.serverInfo, targets: false)
        row("  pipeline alone, same misses (ms)", f.pipelineAlone, targets: false)
        row("  prefix + suffix strings copied (ms)", f.prefixSuffixCopy, targets: false)
        var lines = [table.render()]
        lines.append(
            "document: \(f.documentLines) lines, \(f.documentBytes) bytes; misses: \(f.miss.samples) requests, "
                + "\(f.missProviderCalls) provider calls, \(f.missesAnswered) with an item; type-ahead: "
                + "\(f.typeAhead.samples) requests (each after a didChange typing one character), "
                + "\(f.typeAheadServedFromCache) answered from the cache; again: \(f.cacheHitsServedFromCache) from the cache")
        return lines.joined(separator: "\n")
    }

    /// Adds the figures to the report's JSON object (one line) under "completion".
    static func merge(json: String, figures: Figures?) -> String {
        guard let figures,
            var object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any],
            let encoded = try? JSONEncoder().encode(figures),
            let value = try? JSONSerialization.jsonObject(with: encoded)
        else { return json }
        object["completion"] = value
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return json }
        return String(decoding: data, as: UTF8.self)
    }
}
