import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

@main
struct DevModeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devmode-bench",
        abstract: "Measure a real devmode server: transport, authentication, audit log and version control.",
        discussion: """
            --suite picks the groups (default all), each printed as a table with its targets:

            transport: launches `devmode serve` --runs times per transport. Each launch measures the \
            time from just before the launch to the `initialize` reply and the resident memory after \
            it; then --round-trips `server/info` requests one at a time and --requests pipelined with \
            --window outstanding, each after a warm-up; then the memory again. Round trips are pooled \
            over all launches; throughput is the median launch. Every reply is checked by id, and every \
            error reply is counted and shown.

            auth: the same workload (--runs launches each, interleaved) over stdio in local mode, over \
            stdio with --require-auth and an API key, and over TCP with an API key and with a session \
            token from `auth/token`; the differences are an authenticated session's per-request \
            overhead. Then `initialize` alone with each credential (--initialize-samples each).

            audit: audit rows appended per second in process through DevModeStore on SQLite (a temp \
            directory) and PostgreSQL (--postgres or DEVMODE_TEST_POSTGRES_URL; a schema of its own, \
            dropped afterwards): --audit-rows one at a time, then as many from --audit-tasks tasks; \
            then `verifyAudit` over the chain.

            git: `file/write` + `vcs/commit` of one file through devmode (stdio, local mode) against \
            `git add` + `git commit` on a clone (--git-repeats each); then `vcs/log` limit 500 against \
            `git log -500` on a history of --log-commits commits made with `git fast-import` \
            (--log-runs each).

            local-engine: the embedded `local` completion engine in process (no server): ~100k lines of \
            swift-nio learnt, `complete` timed at 2,000 random cursors; then quality on swift-nio's \
            Sources with 10% of the files held out (exact match, prefix match, characters saved).

            completion: the server's own cost of one `textDocument/inlineCompletion`: a DevModeServer in \
            process (SQLite in a temp directory) whose model answers at once, an in-memory client, a \
            ~2,000-line document; --completion-requests misses at distinct cursors and as many \
            type-ahead cache hits, request to response, against p50 ≤ 0.3 ms and p99 ≤ 1 ms; with \
            server/info and the pipeline alone beside them.

            search: `file/search` in a DevModeServer in process: `(a+)+$` over "a"×18 + "!" and ×20, then \
            1,000 literal searches over a generated 1,500-file project kept maxSearchesPerSession in flight \
            by one client while another sends server/info one at a time (how long it waited).

            hostile (not part of all): issue 10's hostile peers at the issue's sizes against a fresh \
            `devmode serve --listen` per case (batch bombs, idle and never-reading connections, 2,000 \
            idle sockets, slowloris, descriptor exhaustion, a bad-key storm, an undrained stderr, a full \
            batch, framing spam, a 15 MB NDJSON line); each prints the server's CPU and memory, what \
            the peers got, and the longest wait of a well-behaved client beside them. \
            --hostile-cases picks cases by name.

            The load average is printed before each group.
            """
    )

    @Option(help: "The devmode binary (default: the devmode next to this executable).")
    var devmode: String?

    @Option(help: "transport, auth, audit, git, local-engine, completion, search or all (repeat or comma-separate for several).")
    var suite: [String] = ["all"]

    @Option(help: "Pipelined server/info requests per launch (measured; a warm-up comes first).")
    var requests: Int = 20_000

    @Option(help: "One-at-a-time server/info round trips per launch (measured; a warm-up comes first).")
    var roundTrips: Int = 2_000

    @Option(help: "Server launches per transport (and per auth variant).")
    var runs: Int = 5

    @Option(help: "Requests outstanding at once when pipelining (the server allows 100 per connection).")
    var window: Int = 64

    @Option(help: "stdio, tcp or both (transport suite).")
    var transport: TransportChoice = .both

    @Option(help: "auth: server launches per variant (default: --runs).")
    var authRuns: Int?

    @Option(help: "auth: `initialize` samples per credential.")
    var initializeSamples: Int = 11

    @Option(help: "audit: rows appended one at a time, and again from the concurrent tasks, per database.")
    var auditRows: Int = 5_000

    @Option(help: "audit: concurrent appending tasks.")
    var auditTasks: Int = 8

    @Option(help: "audit: a PostgreSQL URL (default: $DEVMODE_TEST_POSTGRES_URL; neither: PostgreSQL is skipped).")
    var postgres: String?

    @Option(help: "git: write-and-commit rounds per side.")
    var gitRepeats: Int = 30

    @Option(help: "git: files in the commit benchmark's repository.")
    var gitFiles: Int = 100

    @Option(help: "git: commits in the log benchmark's history.")
    var logCommits: Int = 10_000

    @Option(help: "git: vcs/log and git log runs per side.")
    var logRuns: Int = 15

    @Option(help: "completion: inline completions timed per kind (misses, type-ahead hits).")
    var completionRequests: Int = 2_000
    @Option(help: "search: literal file/search requests over the generated project.")
    var searchRequests: Int = 1_000
    @Option(help: "search: files in the generated project.")
    var searchFiles: Int = 1_500

    @Option(help: "hostile: the cases to run, comma-separated (default: all of them).")
    var hostileCases: [String] = []

    @Flag(help: "Also print the figures as one JSON object (last line of the output).")
    var json = false

    enum TransportChoice: String, ExpressibleByArgument, CaseIterable {
        case stdio, tcp, both
        var transports: [Transport] {
            switch self {
            case .stdio: [.stdio]
            case .tcp: [.tcp]
            case .both: [.stdio, .tcp]
            }
        }
    }

    enum Suite: String, CaseIterable {
        case transport, auth, audit, git
        case localEngine = "local-engine"
        case completion
        case search
        case quota
        /// Not part of `all`: it attacks a server for minutes (issue 10's cases).
        case hostile
    }

    /// The suites asked for, in their fixed order.
    var suites: [Suite] {
        let names = Set(suite.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        if names.contains("all") { return Suite.allCases.filter { $0 != .hostile || names.contains("hostile") } }
        return Suite.allCases.filter { names.contains($0.rawValue) }
    }

    func validate() throws {
        guard requests >= 1, requests <= 100_000_000 else { throw ValidationError("--requests must be 1...100000000") }
        guard roundTrips >= 1, roundTrips <= 900_000 else { throw ValidationError("--round-trips must be 1...900000") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        let known = Set(Suite.allCases.map(\.rawValue) + ["all"])
        for name in suite.flatMap({ $0.split(separator: ",") }).map({ $0.trimmingCharacters(in: .whitespaces).lowercased() })
        where !known.contains(name) {
            throw ValidationError("unknown --suite '\(name)': transport, auth, audit, git, local-engine, completion, search, quota, all or hostile")
        }
        for name in hostileCases.flatMap({ $0.split(separator: ",") }).map({ $0.trimmingCharacters(in: .whitespaces) })
        where !HostileSuite.caseNames.contains(name) {
            throw ValidationError("unknown --hostile-cases '\(name)': " + HostileSuite.caseNames.joined(separator: ", "))
        }
        if let authRuns { guard authRuns >= 1 else { throw ValidationError("--auth-runs must be at least 1") } }
        guard initializeSamples >= 1 else { throw ValidationError("--initialize-samples must be at least 1") }
        guard auditRows >= 1, auditTasks >= 1 else { throw ValidationError("--audit-rows and --audit-tasks must be at least 1") }
        guard completionRequests >= 1 else { throw ValidationError("--completion-requests must be at least 1") }
        guard gitRepeats >= 1, gitFiles >= 1, logCommits >= 500, logRuns >= 1 else {
            throw ValidationError("--git-repeats, --git-files and --log-runs must be at least 1; --log-commits at least 500")
        }
    }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        let binary = devmode ?? Self.siblingDevmode()
        let suites = self.suites
        // The in-process suites need no devmode binary.
        guard Set(suites).isSubset(of: [.localEngine, .completion, .search, .quota]) || FileManager.default.isExecutableFile(atPath: binary) else {
            throw ValidationError("no executable devmode at \(binary)")
        }
        let workDirectory = NSTemporaryDirectory() + "devmode-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: workDirectory) }

        let environment = ServerProcess.environment(dataDirectory: workDirectory + "/data")
        // TCP sessions authenticate (stdio ones act as the local user): get a key before any timing.
        let needsKey =
            (suites.contains(.transport) && transport.transports.contains(.tcp)) || suites.contains(.auth)
            || suites.contains(.hostile)
        let token = needsKey ? try bootstrapCredential(devmode: binary, environment: environment) : nil
        let plan = Plan(
            devmode: binary, requests: requests, roundTrips: roundTrips, runs: runs, window: window,
            workDirectory: workDirectory, environment: environment, token: token)
        print("devmode-bench: \(binary)")
        print(
            "client build: \(Self.clientBuild); \(ProcessInfo.processInfo.activeProcessorCount) cores; suites: "
                + suites.map(\.rawValue).joined(separator: ", "))
        print(
            "data directory: \(workDirectory)/data (private, removed afterwards); TCP credential: "
                + (token == nil ? "none" : "an API key from `devmode admin bootstrap`"))
        var report = Report.Combined()
        var failures: [String] = []
        let watchdog = Watchdog(silenceSeconds: 20)

        func header(_ suite: Suite) {
            let (line, values) = Machine.loadLine(suite.rawValue)
            print("")
            print(line)
            report.loadAverage[suite.rawValue] = values
        }

        if suites.contains(.transport) {
            header(.transport)
            print(
                "\(runs) launches per transport; \(roundTrips) round trips and \(requests) pipelined requests "
                    + "(window \(window)) per launch")
            var results: [TransportResult] = []
            for transport in transport.transports {
                do {
                    results.append(try plan.measure(transport, watchdog: watchdog, progress: { print($0) }))
                } catch {
                    failures.append("\(transport.rawValue): \(error)")
                    print("\(transport.rawValue): FAILED: \(error)")
                }
            }
            print("")
            print(Report.table(results))
            for result in results where result.errors.errorResponses > 0 {
                print("\(result.label): \(result.errors.errorResponses) error replies; by code: \(result.errors.byCode)")
                for example in result.errors.examples { print("  \(example)") }
            }
            report.transportResults = results
        }

        if suites.contains(.auth) {
            header(.auth)
            var authPlan = plan
            authPlan.runs = authRuns ?? runs
            print(
                "\(authPlan.runs) launches per variant (interleaved); \(roundTrips) round trips and \(requests) "
                    + "pipelined requests (window \(window)) per launch; \(initializeSamples) initialize samples per credential")
            let auth = AuthSuite(plan: authPlan, initializeSamples: initializeSamples)
            let result = auth.run(watchdog: watchdog, progress: { print($0) })
            print("")
            print(auth.table(result))
            failures += result.failures.map { "auth: \($0)" }
            for failure in result.failures { print("auth: FAILED: \(failure)") }
            report.auth = auth.figures(result)
        }

        if suites.contains(.audit) {
            header(.audit)
            let url = postgres ?? ProcessInfo.processInfo.environment["DEVMODE_TEST_POSTGRES_URL"]
            print("\(auditRows) rows one at a time, then \(auditRows / auditTasks * auditTasks) from \(auditTasks) tasks, per database")
            let audit = AuditSuite(rows: auditRows, concurrency: auditTasks, postgresURL: url, workDirectory: workDirectory)
            let result = await audit.run(progress: { print($0) })
            print("")
            print(audit.table(result))
            failures += result.failures.map { "audit: \($0)" }
            for failure in result.failures { print("audit: FAILED: \(failure)") }
            report.audit = audit.figures(result)
        }

        if suites.contains(.git) {
            header(.git)
            print(
                "commit: \(gitRepeats) rounds per side on \(gitFiles) files; log: limit 500 on \(logCommits) imported "
                    + "commits, \(logRuns) runs per side")
            let git = GitSuite(plan: plan, repeats: gitRepeats, files: gitFiles, commits: logCommits, logRuns: logRuns)
            let result = git.run(watchdog: watchdog, progress: { print($0) })
            print("")
            print(git.table(result))
            failures += result.failures.map { "git: \($0)" }
            for failure in result.failures { print("git: FAILED: \(failure)") }
            report.git = git.figures(result)
        }

        var localEngine: LocalEngineSuite.Figures?
        if suites.contains(.localEngine) {
            header(.localEngine)
            let suite = LocalEngineSuite()
            print("\(suite.repository) HEAD: latency on ~\(suite.latencyLines) lines, quality on Sources with 10% held out")
            do {
                let figures = try suite.run(workDirectory: workDirectory, progress: { print($0) })
                print("")
                print(suite.table(figures))
                for example in figures.examples { print("  e.g. \(example)") }
                localEngine = figures
            } catch {
                failures.append("local-engine: \(error)")
                print("local-engine: FAILED: \(error)")
            }
        }

        var completion: CompletionSuite.Figures?
        if suites.contains(.completion) {
            header(.completion)
            let suite = CompletionSuite(requests: completionRequests)
            print(
                "DevModeServer in process over an in-memory pipe, a model that answers at once; \(completionRequests) "
                    + "misses and \(completionRequests) type-ahead hits, one at a time")
            do {
                let figures = try await suite.run(workDirectory: workDirectory, progress: { print($0) })
                print("")
                print(suite.table(figures))
                completion = figures
            } catch {
                failures.append("completion: \(error)")
                print("completion: FAILED: \(error)")
            }
        }

        if suites.contains(.search) {
            header(.search)
            let suite = SearchSuite(files: max(1, searchFiles), requests: max(1, searchRequests))
            do {
                let figures = try await suite.run(workDirectory: workDirectory, progress: { print($0) })
                print("")
                print(suite.table(figures))
            } catch {
                failures.append("search: \(error)")
                print("search: FAILED: \(error)")
            }
        }

        if suites.contains(.quota) {
            header(.quota)
            let url = postgres ?? ProcessInfo.processInfo.environment["DEVMODE_TEST_POSTGRES_URL"]
            let suite = QuotaSuite(postgresURL: url, workDirectory: workDirectory, completionRequests: completionRequests)
            let result = await suite.run(progress: { print($0) })
            print("")
            print(suite.table(result))
            failures += result.failures.map { "quota: \($0)" }
            for failure in result.failures { print("quota: FAILED: \(failure)") }
        }

        if suites.contains(.hostile) {
            header(.hostile)
            guard let token else { throw ValidationError("the hostile suite needs a devmode with `admin bootstrap`") }
            let names = hostileCases.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
            let suite = HostileSuite(
                devmode: binary, workDirectory: workDirectory, environment: environment, key: token,
                only: names.isEmpty ? nil : Set(names))
            let results = suite.run(progress: { print($0) })
            print("")
            print(suite.table(results))
            for result in results where result.figures.contains(where: { $0.label == "FAILED" }) {
                failures.append("hostile \(result.name)")
            }
        }

        if json {
            report.failures = failures
            let combined = LocalEngineSuite.merge(json: try Report.json(report, devmode: binary, plan: plan), figures: localEngine)
            print(CompletionSuite.merge(json: combined, figures: completion))
        }
        if !failures.isEmpty { throw ExitCode(2) }
    }

    static var clientBuild: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    /// The `devmode` beside this executable (SwiftPM puts every product in the same folder).
    static func siblingDevmode() -> String {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return executable.deletingLastPathComponent().appendingPathComponent("devmode").path
    }
}

/// What to run, shared by both transports.
struct Plan {
    var devmode: String
    var requests: Int
    var roundTrips: Int
    var runs: Int
    var window: Int
    var workDirectory: String
    var environment: [String: String]
    /// The credential for TCP sessions, if the server has authentication.
    var token: String?

    // Disjoint id ranges, so a stray reply can never be mistaken for the one awaited.
    static let initializeID = 1
    static let shutdownID = 2
    static let roundTripWarmUpFirstID = 1_000_000
    static let roundTripFirstID = 2_000_000
    static let pipelineWarmUpFirstID = 3_000_000
    static let pipelineFirstID = 100_000_000

    /// How one column of a table launches its servers: the transport, extra `serve` flags and the
    /// credential sent in `initialize` (nil: none, which only a local-mode stdio session accepts).
    struct Variant {
        var label: String
        var transport: Transport
        var extraArguments: [String] = []
        var token: String?
        /// For file names: the label without spaces.
        var slug: String { label.replacingOccurrences(of: " ", with: "-") }
    }

    /// The transport suite's variant: stdio in local mode, TCP with the bootstrap key.
    func variant(_ transport: Transport) -> Variant {
        Variant(label: transport.rawValue, transport: transport, token: transport == .tcp ? token : nil)
    }

    func measure(_ transport: Transport, watchdog: Watchdog, progress: (String) -> Void) throws -> TransportResult {
        let variant = variant(transport)
        var result = TransportResult(transport: transport, label: variant.label)
        let batches = Batches(plan: self)
        for run in 1...runs {
            try measureLaunch(variant, run: run, batches: batches, into: &result, watchdog: watchdog, progress: progress)
        }
        return result
    }

    /// The requests of one launch, encoded once.
    struct Batches {
        let roundTripWarmUp: RequestBatch
        let roundTrip: RequestBatch
        let pipelineWarmUp: RequestBatch
        let pipeline: RequestBatch

        init(plan: Plan) {
            roundTripWarmUp = RequestBatch(firstID: Plan.roundTripWarmUpFirstID, count: min(500, plan.roundTrips))
            roundTrip = RequestBatch(firstID: Plan.roundTripFirstID, count: plan.roundTrips)
            pipelineWarmUp = RequestBatch(firstID: Plan.pipelineWarmUpFirstID, count: min(5_000, plan.requests))
            pipeline = RequestBatch(firstID: Plan.pipelineFirstID, count: plan.requests)
        }
    }

    /// One launch: initialize, round trips, pipelined throughput, memory; added to `result`.
    func measureLaunch(
        _ variant: Variant, run: Int, batches: Batches, into result: inout TransportResult, watchdog: Watchdog,
        progress: (String) -> Void
    ) throws {
        let server = try ServerProcess.launch(
            devmode: devmode, transport: variant.transport, workDirectory: workDirectory, environment: environment,
            serial: run, extraArguments: variant.extraArguments, name: variant.slug)
        watchdog.watch(server.pid)
        var session = BenchSession(server: server, watchdog: watchdog)
        do {
            let initialize = try session.initialize(id: Self.initializeID, token: variant.token)
            let idle = try server.usage()

            _ = try session.roundTrips(batches.roundTripWarmUp)
            let (samples, roundTripSwitches) = try session.roundTrips(batches.roundTrip)

            _ = try session.pipelined(batches.pipelineWarmUp, window: window)
            let pipeline = try session.pipelined(batches.pipeline, window: window)
            let loaded = try server.usage()

            let status = try session.stop(shutdownID: Self.shutdownID)
            watchdog.unwatch()

            result.initializeNanoseconds.append(initialize)
            result.connectNanoseconds.append(server.connectNanoseconds)
            result.idleRSS.append(idle.residentBytes)
            result.idleThreads = max(result.idleThreads, idle.threads)
            result.roundTripNanoseconds.append(contentsOf: samples)
            result.roundTripContextSwitches += roundTripSwitches
            result.idleAnonymousRSS.append(idle.anonymousBytes)
            result.idleFileRSS.append(idle.fileBytes)
            result.pipelines.append(pipeline)
            result.loadedRSS.append(loaded.residentBytes)
            result.peakRSS.append(loaded.peakResidentBytes)
            result.loadedThreads = max(result.loadedThreads, loaded.threads)
            result.exitStatuses.append(status.map(Int.init) ?? -1)
            result.errors.merge(session.errors)
            progress(
                "  \(variant.label) launch \(run)/\(runs): initialize \(Format.ms(initialize)) ms, "
                    + "round trip p50 \(Format.us(Stats.percentile(samples, 0.5))) µs, "
                    + "\(Format.rate(pipeline.requestsPerSecond)) req/s, "
                    + "RSS \(Format.mb(idle.residentBytes)) → \(Format.mb(loaded.residentBytes)) MB, "
                    + "exit \(status.map(String.init) ?? "killed")")
        } catch {
            watchdog.unwatch()
            server.kill()
            let log = server.logTail()
            throw BenchError(
                "\(variant.label) launch \(run): \(error)" + (log.isEmpty ? "" : "\n--- server log (tail) ---\n\(log)"))
        }
    }
}
