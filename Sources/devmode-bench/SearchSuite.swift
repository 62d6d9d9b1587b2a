import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeStoreSQLite
import Foundation
import JSONRPC

/// `--suite search`: `file/search` in a `DevModeServer` in process (SQLite in a temp directory,
/// local mode), two clients over in-memory pipes. A generated project of --search-files files
/// (~40 lines each; every 100th holds the word searched for) and two files of "a"×18 + "!" and
/// "a"×20 + "!":
///   catastrophic: `(a+)+$` over each of the two files (issue 9: 10 s and 74 s before);
///   plain: --search-requests literal searches over the project, kept `maxSearchesPerSession` in
///     flight by one client, while the other sends `server/info` one at a time: how long the
///     other client waited (max and p99) is the starvation figure (issue 9: 24.5 s before).
struct SearchSuite {
    var files = 1_500
    var requests = 1_000

    struct Figures {
        var catastrophic18Ms = 0.0
        var catastrophic20Ms = 0.0
        var plainTotalSeconds = 0.0
        var plainMatchesEach = 0
        var plainRefused = 0
        var otherClient = CompletionSuite.Latency()
    }

    func run(workDirectory: String, progress: (String) -> Void) async throws -> Figures {
        var figures = Figures()
        let directory = workDirectory + "/search"
        let projectRoot = directory + "/project"
        try FileManager.default.createDirectory(atPath: projectRoot, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try generate(projectRoot)

        var projects = ProjectService.Settings(dataDirectory: directory + "/data")
        projects.allowedRoots = [directory]
        let configuration = ServerConfiguration(localMode: true, projects: projects)
        let store = Store(driver: try SQLiteDriver(path: directory + "/devmode.sqlite3"))
        let server = try await DevModeServer.open(configuration: configuration, store: store)
        var tasks: [Task<Void, Never>] = []
        func client() -> Connection {
            let (clientEnd, serverEnd) = InMemoryTransport.pair()
            let (serverConnection, _) = server.makeConnection(transport: "memory", framing: .contentLength, local: true)
            let client = Connection(
                registry: MessageRegistry(requests: [], notifications: []), handler: CompletionSuite.QuietClient(),
                framing: .contentLength)
            tasks.append(Task { await serverConnection.run(input: serverEnd.reader, output: serverEnd.writer) })
            tasks.append(Task { await client.run(input: clientEnd.reader, output: clientEnd.writer) })
            return client
        }
        let searcher = client()
        let other = client()
        var failure: (any Error)?
        do {
            for connection in [searcher, other] {
                _ = try await connection.send(InitializeRequest())
                connection.send(InitializedNotification())
            }
            let project = try await searcher.send(ProjectOpenRequest(path: projectRoot))
            try await measure(searcher: searcher, other: other, projectId: project.id, figures: &figures, progress: progress)
        } catch {
            failure = error
        }
        searcher.close()
        other.close()
        for task in tasks { await task.value }
        await server.close()
        if let failure { throw failure }
        return figures
    }

    private func generate(_ root: String) throws {
        for index in 0..<files {
            let folder = root + "/src/module\(index / 100)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            var text = "// File \(index)\nimport Foundation\n\n"
            for line in 0..<36 {
                text += "func function\(line)_\(index)(value: Int) -> Int { return value * \(line) + \(index) }\n"
            }
            if index % 100 == 0 { text += "let needle = \"found\"\n" }
            try text.write(toFile: folder + "/File\(index).swift", atomically: false, encoding: .utf8)
        }
        for count in [18, 20] {
            try FileManager.default.createDirectory(atPath: root + "/a\(count)", withIntermediateDirectories: true)
            try (String(repeating: "a", count: count) + "!\n").write(
                toFile: root + "/a\(count)/input.txt", atomically: false, encoding: .utf8)
        }
    }

    private func measure(
        searcher: Connection, other: Connection, projectId: String, figures: inout Figures, progress: (String) -> Void
    ) async throws {
        for count in [18, 20] {
            let start = ContinuousClock.now
            let result = try await searcher.send(
                FileSearchRequest(projectId: projectId, query: "(a+)+$", regex: true, path: "a\(count)", timeoutMs: 30_000))
            let elapsed = Double((ContinuousClock.now - start) / .microseconds(1)) / 1000
            if count == 18 { figures.catastrophic18Ms = elapsed } else { figures.catastrophic20Ms = elapsed }
            progress("(a+)+$ over \(count) a's: \(String(format: "%.2f", elapsed)) ms, \(result.matches.count) matches")
        }
        let window = SearchService.Settings().maxSearchesPerSession
        let done = LockedState(false)
        // The other client: server/info one at a time until the searches are done.
        let waits = Task { () -> [UInt64] in
            var samples: [UInt64] = []
            while !done.withLock({ $0 }) {
                let start = ContinuousClock.now.self
                _ = try? await other.send(ServerInfoRequest())
                let elapsed = ContinuousClock.now - start
                samples.append(UInt64(elapsed / .nanoseconds(1)))
            }
            return samples
        }
        let start = ContinuousClock.now
        let outcome = try await withThrowingTaskGroup(of: (Int, Bool).self) { group -> (matches: Int, refused: Int) in
            var sent = 0
            var matches = 0
            var refused = 0
            func add() {
                group.addTask {
                    do {
                        let result = try await searcher.send(FileSearchRequest(projectId: projectId, query: "needle"))
                        return (result.matches.count, false)
                    } catch let error as ResponseError where error.code == .tooManyRequests {
                        return (0, true)
                    }
                }
                sent += 1
            }
            while sent < min(window, requests) { add() }
            while let (count, wasRefused) = try await group.next() {
                matches = count
                if wasRefused { refused += 1 }
                if sent < requests { add() }
            }
            return (matches, refused)
        }
        figures.plainTotalSeconds = Double((ContinuousClock.now - start) / .microseconds(1)) / 1e6
        done.withLock { $0 = true }
        figures.otherClient = CompletionSuite.Latency(await waits.value)
        figures.plainMatchesEach = outcome.matches
        figures.plainRefused = outcome.refused
    }

    func table(_ figures: Figures) -> String {
        func ms(_ value: Double) -> String { String(format: "%.2f ms", value) }
        return [
            "what                                              before (issue 9)   now",
            "(a+)+$ over \"a\"*18 + \"!\"                           10 s               \(ms(figures.catastrophic18Ms))",
            "(a+)+$ over \"a\"*20 + \"!\"                           74 s               \(ms(figures.catastrophic20Ms))",
            "\(requests) plain searches over \(files) files (\(figures.plainMatchesEach) matches each, \(figures.plainRefused) refused): "
                + String(format: "%.2f s", figures.plainTotalSeconds),
            "other client's server/info meanwhile: \(figures.otherClient.samples) answered, p50 \(ms(figures.otherClient.p50Milliseconds)), "
                + "p99 \(ms(figures.otherClient.p99Milliseconds)), max \(ms(figures.otherClient.maxMilliseconds)) (before: stalled 24.5 s)",
        ].joined(separator: "\n")
    }
}
