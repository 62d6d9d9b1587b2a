import Foundation

/// Everything measured for one transport, over all its launches.
struct TransportResult {
    let transport: Transport
    /// The column's name: the transport, or the variant in the auth suite.
    let label: String
    var initializeNanoseconds: [UInt64] = []
    /// Launch to a writable connection: `Process.run()` returning (stdio), or connected (TCP).
    var connectNanoseconds: [UInt64] = []
    var roundTripNanoseconds: [UInt64] = []
    var pipelines: [PipelineResult] = []
    var roundTripContextSwitches = 0
    var idleRSS: [Int] = []
    var idleAnonymousRSS: [Int] = []
    var idleFileRSS: [Int] = []
    var loadedRSS: [Int] = []
    var peakRSS: [Int] = []
    var idleThreads = 0
    var loadedThreads = 0
    var exitStatuses: [Int] = []
    var errors = ErrorTally()

    init(transport: Transport, label: String? = nil) {
        self.transport = transport
        self.label = label ?? transport.rawValue
    }

    var medianPipeline: PipelineResult {
        pipelines.sorted { $0.requestsPerSecond < $1.requestsPerSecond }[pipelines.count / 2]
    }
}

enum Stats {
    /// Nearest-rank percentile.
    static func percentile(_ values: [UInt64], _ fraction: Double) -> UInt64 {
        let sorted = values.sorted()
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    static func mean(_ values: [UInt64]) -> Double {
        Double(values.reduce(0, +)) / Double(values.count)
    }
}

enum Format {
    static func us(_ nanoseconds: UInt64) -> String { String(format: "%.1f", Double(nanoseconds) / 1e3) }
    static func us(_ nanoseconds: Double) -> String { String(format: "%.1f", nanoseconds / 1e3) }
    static func ms(_ nanoseconds: UInt64) -> String { String(format: "%.1f", Double(nanoseconds) / 1e6) }
    static func mb(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1_048_576) }
    static func rate(_ perSecond: Double) -> String {
        let whole = Int(perSecond.rounded())
        var digits = Array(String(whole))
        var index = digits.count - 3
        while index > 0 {
            digits.insert(",", at: index)
            index -= 3
        }
        return String(digits)
    }
}

/// The targets on the reference machine (2 cores).
enum Target {
    static let stdioRoundTripP50Microseconds = 50.0
    static let requestsPerSecond = 50_000.0
    static let initializeMilliseconds = 100.0
    static let idleRSSMegabytes = 30.0
}

enum Report {
    private struct Row {
        var label: String
        var target: String
        var cells: [String]
    }

    static func table(_ results: [TransportResult]) -> String {
        guard !results.isEmpty else { return "no results" }
        func verdict(_ ok: Bool) -> String { ok ? "PASS" : "MISS" }
        func cell(_ value: String, _ ok: Bool?) -> String {
            guard let ok else { return value }
            return value.padding(toLength: 10, withPad: " ", startingAt: 0) + verdict(ok)
        }
        var rows: [Row] = []
        func add(_ label: String, _ target: String, _ make: (TransportResult) -> String) {
            rows.append(Row(label: label, target: target, cells: results.map(make)))
        }

        add("server/info round trip p50 (µs)", "≤ 50 (stdio)") { result in
            let p50 = Stats.percentile(result.roundTripNanoseconds, 0.5)
            return cell(
                Format.us(p50),
                result.transport == .stdio ? Double(p50) / 1e3 <= Target.stdioRoundTripP50Microseconds : nil)
        }
        add("server/info round trip p99 (µs)", "") { Format.us(Stats.percentile($0.roundTripNanoseconds, 0.99)) }
        add("server/info round trip mean (µs)", "") { Format.us(Stats.mean($0.roundTripNanoseconds)) }
        add("  server context switches per round trip", "") { result in
            String(format: "%.1f", Double(result.roundTripContextSwitches) / Double(result.roundTripNanoseconds.count))
        }
        add("pipelined, 1 connection (req/s, median)", "≥ 50,000") { result in
            let rate = result.medianPipeline.requestsPerSecond
            return cell(Format.rate(rate), rate >= Target.requestsPerSecond && result.errors.errorResponses == 0)
        }
        add("  slowest – fastest launch (req/s)", "") { result in
            let rates = result.pipelines.map(\.requestsPerSecond)
            return "\(Format.rate(rates.min()!)) – \(Format.rate(rates.max()!))"
        }
        add("  server CPU per request (µs)", "") { result in
            let pipeline = result.medianPipeline
            return Format.us(Double(pipeline.serverCPUNanoseconds) / Double(pipeline.requests))
        }
        add("  client CPU per request (µs)", "") { result in
            let pipeline = result.medianPipeline
            return Format.us(Double(pipeline.clientCPUNanoseconds) / Double(pipeline.requests))
        }
        add("  server context switches per request", "") { result in
            let pipeline = result.medianPipeline
            return String(format: "%.2f", Double(pipeline.serverContextSwitches) / Double(pipeline.requests))
        }
        add("  replies per read() / requests per write()", "") { result in
            let pipeline = result.medianPipeline
            return String(
                format: "%.1f / %.1f", Double(pipeline.requests) / Double(pipeline.reads),
                Double(pipeline.requests) / Double(pipeline.writes))
        }
        add("error replies (all phases)", "0") { cell("\($0.errors.errorResponses)", $0.errors.errorResponses == 0) }
        add("initialize after launch, median (ms)", "≤ 100") { result in
            let median = Stats.percentile(result.initializeNanoseconds, 0.5)
            return cell(Format.ms(median), Double(median) / 1e6 <= Target.initializeMilliseconds)
        }
        add("initialize after launch, max (ms)", "≤ 100") { result in
            let slowest = result.initializeNanoseconds.max()!
            return cell(Format.ms(slowest), Double(slowest) / 1e6 <= Target.initializeMilliseconds)
        }
        add("  of which launch → connected, median (ms)", "") { result in
            Format.ms(Stats.percentile(result.connectNanoseconds, 0.5))
        }
        add("RSS after initialize, max (MB)", "≤ 30") { result in
            let rss = result.idleRSS.max()!
            return cell(Format.mb(rss), Double(rss) / 1_048_576 <= Target.idleRSSMegabytes)
        }
        add("  of which anonymous / mapped files (MB)", "") { result in
            "\(Format.mb(result.idleAnonymousRSS.max()!)) / \(Format.mb(result.idleFileRSS.max()!))"
        }
        add("RSS after throughput run, max (MB)", "") { Format.mb($0.loadedRSS.max()!) }
        add("peak RSS (VmHWM), max (MB)", "") { Format.mb($0.peakRSS.max()!) }
        add("server threads idle / loaded", "") { "\($0.idleThreads) / \($0.loadedThreads)" }
        add("server exit status per launch", "0") { result in
            cell(result.exitStatuses.map(String.init).joined(separator: ","), result.exitStatuses.allSatisfy { $0 == 0 })
        }

        let labelWidth = rows.map(\.label.count).max()! + 2
        let targetWidth = max(rows.map(\.target.count).max()!, 6) + 2
        let cellWidth = max(rows.flatMap(\.cells).map(\.count).max()!, 10) + 3
        func line(_ label: String, _ target: String, _ cells: [String]) -> String {
            label.padding(toLength: labelWidth, withPad: " ", startingAt: 0)
                + target.padding(toLength: targetWidth, withPad: " ", startingAt: 0)
                + cells.map { $0.padding(toLength: cellWidth, withPad: " ", startingAt: 0) }.joined()
        }
        var lines = [line("", "target", results.map(\.label))]
        lines.append(String(repeating: "-", count: labelWidth + targetWidth + cellWidth * results.count))
        lines += rows.map { line($0.label, $0.target, $0.cells) }
        return lines.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }
            .joined(separator: "\n")
    }

    /// Everything the suites measured, for `--json`.
    struct Combined {
        var transportResults: [TransportResult] = []
        var auth: AuthSuite.Figures?
        var audit: AuditSuite.Figures?
        var git: GitSuite.Figures?
        var loadAverage: [String: [Double]] = [:]
        var failures: [String] = []
    }

    private struct JSONReport: Encodable {
        var devmode: String
        var clientBuild: String
        var cores: Int
        var runs: Int
        var requests: Int
        var roundTrips: Int
        var window: Int
        var targets: Targets
        var transports: [String: TransportFigures]
        var failures: [String]
        /// Load average (1, 5, 15 min) before each group.
        var loadAverage: [String: [Double]]
        var auth: AuthSuite.Figures?
        var audit: AuditSuite.Figures?
        var git: GitSuite.Figures?
    }

    private struct Targets: Encodable {
        var stdioRoundTripP50Microseconds = Target.stdioRoundTripP50Microseconds
        var requestsPerSecond = Target.requestsPerSecond
        var initializeMilliseconds = Target.initializeMilliseconds
        var idleRSSMegabytes = Target.idleRSSMegabytes
    }

    private struct TransportFigures: Encodable {
        var roundTripP50Microseconds: Double
        var roundTripP99Microseconds: Double
        var roundTripMeanMicroseconds: Double
        var roundTripSamples: Int
        var roundTripServerContextSwitchesPerRequest: Double
        var requestsPerSecondMedian: Double
        var requestsPerSecondPerLaunch: [Double]
        var serverCPUMicrosecondsPerRequest: Double
        var clientCPUMicrosecondsPerRequest: Double
        var pipelinedServerContextSwitchesPerRequest: Double
        var errorReplies: Int
        var errorRepliesByCode: [String: Int]
        var initializeMillisecondsMedian: Double
        var initializeMillisecondsMax: Double
        var initializeMillisecondsPerLaunch: [Double]
        var connectedMillisecondsPerLaunch: [Double]
        var idleRSSMegabytesMax: Double
        var idleAnonymousRSSMegabytesMax: Double
        var idleFileRSSMegabytesMax: Double
        var loadedRSSMegabytesMax: Double
        var peakRSSMegabytesMax: Double
        var exitStatuses: [Int]
        var pass: [String: Bool]
    }

    static func json(_ combined: Combined, devmode: String, plan: Plan) throws -> String {
        let results = combined.transportResults
        var transports: [String: TransportFigures] = [:]
        for result in results {
            let median = result.medianPipeline
            let p50 = Double(Stats.percentile(result.roundTripNanoseconds, 0.5)) / 1e3
            let rate = median.requestsPerSecond
            let initializeMedian = Double(Stats.percentile(result.initializeNanoseconds, 0.5)) / 1e6
            let idle = Double(result.idleRSS.max()!) / 1_048_576
            var pass = [
                "requestsPerSecond": rate >= Target.requestsPerSecond && result.errors.errorResponses == 0,
                "initializeMilliseconds": initializeMedian <= Target.initializeMilliseconds,
                "idleRSSMegabytes": idle <= Target.idleRSSMegabytes,
            ]
            if result.transport == .stdio { pass["stdioRoundTripP50Microseconds"] = p50 <= Target.stdioRoundTripP50Microseconds }
            transports[result.label] = TransportFigures(
                roundTripP50Microseconds: p50,
                roundTripP99Microseconds: Double(Stats.percentile(result.roundTripNanoseconds, 0.99)) / 1e3,
                roundTripMeanMicroseconds: Stats.mean(result.roundTripNanoseconds) / 1e3,
                roundTripSamples: result.roundTripNanoseconds.count,
                roundTripServerContextSwitchesPerRequest: Double(result.roundTripContextSwitches)
                    / Double(result.roundTripNanoseconds.count),
                requestsPerSecondMedian: rate,
                requestsPerSecondPerLaunch: result.pipelines.map(\.requestsPerSecond),
                serverCPUMicrosecondsPerRequest: Double(median.serverCPUNanoseconds) / Double(median.requests) / 1e3,
                clientCPUMicrosecondsPerRequest: Double(median.clientCPUNanoseconds) / Double(median.requests) / 1e3,
                pipelinedServerContextSwitchesPerRequest: Double(median.serverContextSwitches) / Double(median.requests),
                errorReplies: result.errors.errorResponses,
                errorRepliesByCode: Dictionary(uniqueKeysWithValues: result.errors.byCode.map { ("\($0.key)", $0.value) }),
                initializeMillisecondsMedian: initializeMedian,
                initializeMillisecondsMax: Double(result.initializeNanoseconds.max()!) / 1e6,
                initializeMillisecondsPerLaunch: result.initializeNanoseconds.map { Double($0) / 1e6 },
                connectedMillisecondsPerLaunch: result.connectNanoseconds.map { Double($0) / 1e6 },
                idleRSSMegabytesMax: idle,
                idleAnonymousRSSMegabytesMax: Double(result.idleAnonymousRSS.max()!) / 1_048_576,
                idleFileRSSMegabytesMax: Double(result.idleFileRSS.max()!) / 1_048_576,
                loadedRSSMegabytesMax: Double(result.loadedRSS.max()!) / 1_048_576,
                peakRSSMegabytesMax: Double(result.peakRSS.max()!) / 1_048_576,
                exitStatuses: result.exitStatuses,
                pass: pass)
        }
        let report = JSONReport(
            devmode: devmode, clientBuild: DevModeBench.clientBuild,
            cores: ProcessInfo.processInfo.activeProcessorCount, runs: plan.runs, requests: plan.requests,
            roundTrips: plan.roundTrips, window: plan.window, targets: Targets(), transports: transports,
            failures: combined.failures, loadAverage: combined.loadAverage, auth: combined.auth, audit: combined.audit,
            git: combined.git)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }
}
