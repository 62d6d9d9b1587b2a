import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

@main
struct DevModeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devmode-bench",
        abstract: "Measure a real devmode server: round trip, pipelined throughput, start-up time and memory.",
        discussion: """
            Launches `devmode serve` --runs times per transport. Each launch measures the time from \
            just before the launch to the `initialize` reply and the resident memory after it; then \
            --round-trips `server/info` requests one at a time and --requests pipelined with --window \
            outstanding, each after a warm-up; then the memory again. Round trips are pooled over all \
            launches; throughput is the median launch. Every reply is checked by id, and every error \
            reply is counted and shown.
            """
    )

    @Option(help: "The devmode binary (default: the devmode next to this executable).")
    var devmode: String?

    @Option(help: "Pipelined server/info requests per launch (measured; a warm-up comes first).")
    var requests: Int = 20_000

    @Option(help: "One-at-a-time server/info round trips per launch (measured; a warm-up comes first).")
    var roundTrips: Int = 2_000

    @Option(help: "Server launches per transport.")
    var runs: Int = 5

    @Option(help: "Requests outstanding at once when pipelining (the server allows 100 per connection).")
    var window: Int = 64

    @Option(help: "stdio, tcp or both.")
    var transport: TransportChoice = .both

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

    func validate() throws {
        guard requests >= 1, requests <= 100_000_000 else { throw ValidationError("--requests must be 1...100000000") }
        guard roundTrips >= 1, roundTrips <= 900_000 else { throw ValidationError("--round-trips must be 1...900000") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let binary = devmode ?? Self.siblingDevmode()
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ValidationError("no executable devmode at \(binary)")
        }
        let workDirectory = NSTemporaryDirectory() + "devmode-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: workDirectory) }

        let environment = ServerProcess.environment(dataDirectory: workDirectory + "/data")
        // TCP sessions authenticate (stdio ones act as the local user): get a key before any timing.
        let token = transport.transports.contains(.tcp)
            ? try bootstrapCredential(devmode: binary, environment: environment) : nil
        let plan = Plan(
            devmode: binary, requests: requests, roundTrips: roundTrips, runs: runs, window: window,
            workDirectory: workDirectory, environment: environment, token: token)
        print("devmode-bench: \(binary)")
        print(
            "client build: \(Self.clientBuild); \(ProcessInfo.processInfo.activeProcessorCount) cores; "
                + "\(runs) launches per transport; \(roundTrips) round trips and \(requests) pipelined requests "
                + "(window \(window)) per launch")
        print(
            "data directory: \(workDirectory)/data (private, removed afterwards); TCP credential: "
                + (token == nil ? "none" : "an API key from `devmode admin bootstrap`"))
        var results: [TransportResult] = []
        var failures: [String] = []
        let watchdog = Watchdog(silenceSeconds: 20)
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
            print("\(result.transport.rawValue): \(result.errors.errorResponses) error replies; by code: \(result.errors.byCode)")
            for example in result.errors.examples { print("  \(example)") }
        }
        if json {
            print(try Report.json(results, devmode: binary, plan: plan, failures: failures))
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

    func measure(_ transport: Transport, watchdog: Watchdog, progress: (String) -> Void) throws -> TransportResult {
        let roundTripWarmUp = RequestBatch(firstID: Self.roundTripWarmUpFirstID, count: min(500, roundTrips))
        let roundTripBatch = RequestBatch(firstID: Self.roundTripFirstID, count: roundTrips)
        let pipelineWarmUp = RequestBatch(firstID: Self.pipelineWarmUpFirstID, count: min(5_000, requests))
        let pipelineBatch = RequestBatch(firstID: Self.pipelineFirstID, count: requests)

        var result = TransportResult(transport: transport)
        for run in 1...runs {
            let server = try ServerProcess.launch(
                devmode: devmode, transport: transport, workDirectory: workDirectory, environment: environment,
                serial: run)
            watchdog.watch(server.pid)
            var session = BenchSession(server: server, watchdog: watchdog)
            do {
                let initialize = try session.initialize(id: Self.initializeID, token: transport == .tcp ? token : nil)
                let idle = try server.usage()

                _ = try session.roundTrips(roundTripWarmUp)
                let (samples, roundTripSwitches) = try session.roundTrips(roundTripBatch)

                _ = try session.pipelined(pipelineWarmUp, window: window)
                let pipeline = try session.pipelined(pipelineBatch, window: window)
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
                    "  \(transport.rawValue) launch \(run)/\(runs): initialize \(Format.ms(initialize)) ms, "
                        + "round trip p50 \(Format.us(Stats.percentile(samples, 0.5))) µs, "
                        + "\(Format.rate(pipeline.requestsPerSecond)) req/s, "
                        + "RSS \(Format.mb(idle.residentBytes)) → \(Format.mb(loaded.residentBytes)) MB, "
                        + "exit \(status.map(String.init) ?? "killed")")
            } catch {
                watchdog.unwatch()
                server.kill()
                let log = server.logTail()
                throw BenchError("launch \(run): \(error)" + (log.isEmpty ? "" : "\n--- server log (tail) ---\n\(log)"))
            }
        }
        return result
    }
}
