import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The bench's own targets for authentication (chosen here: a session's credential is checked once
/// at `initialize` and then re-checked at most every few seconds, so a request should not pay for it).
extension Target {
    /// An authenticated session's extra round trip (p50) over a local one, in µs.
    static let authRoundTripOverheadMicroseconds = 5.0
    /// The most pipelined throughput an authenticated session may lose, as a fraction.
    static let authThroughputLoss = 0.10
    /// `initialize` itself with a credential (key lookup, sign-in audit row), in ms.
    static let authInitializeMilliseconds = 10.0
}

/// Per-request cost of authentication: the same `server/info` workload in a local-mode stdio
/// session, a stdio session with `--require-auth` and an API key, and TCP sessions with an API key
/// and with a session token from `auth/token`; then `initialize` alone with each credential.
struct AuthSuite {
    let plan: Plan
    /// `initialize` samples per credential.
    let initializeSamples: Int

    struct Result {
        /// stdio local, stdio API key, tcp API key, tcp session token (those that ran).
        var variants: [TransportResult] = []
        /// `initialize` alone, per variant label, in ns.
        var initialize: [String: [UInt64]] = [:]
        var failures: [String] = []
        var skipped: String?
    }

    static let stdioLocal = "stdio local"
    static let stdioKey = "stdio API key"
    static let tcpKey = "tcp API key"
    static let tcpToken = "tcp session token"

    func run(watchdog: Watchdog, progress: (String) -> Void) -> Result {
        var result = Result()
        guard let key = plan.token else {
            result.skipped = "this devmode has no `admin bootstrap` (no authentication): nothing to compare"
            return result
        }
        let sessionToken: String
        do {
            sessionToken = try obtainSessionToken(key: key, watchdog: watchdog)
        } catch {
            result.failures.append("auth/token: \(error)")
            return result
        }
        progress("  credentials: an API key from `devmode admin bootstrap`; a session token from `auth/token` (ttl 3600 s)")

        let variants = [
            Plan.Variant(label: Self.stdioLocal, transport: .stdio),
            Plan.Variant(label: Self.stdioKey, transport: .stdio, extraArguments: ["--require-auth"], token: key),
            Plan.Variant(label: Self.tcpKey, transport: .tcp, token: key),
            Plan.Variant(label: Self.tcpToken, transport: .tcp, token: sessionToken),
        ]
        // Launches interleaved (run 1 of each, then run 2 of each…) so that drift in the machine's
        // load spreads over every variant alike.
        var measured = variants.map { TransportResult(transport: $0.transport, label: $0.label) }
        var failed = Set<Int>()
        let batches = Plan.Batches(plan: plan)
        for run in 1...plan.runs {
            for (index, variant) in variants.enumerated() where !failed.contains(index) {
                do {
                    try plan.measureLaunch(
                        variant, run: run, batches: batches, into: &measured[index], watchdog: watchdog, progress: progress)
                } catch {
                    failed.insert(index)
                    result.failures.append("\(variant.label): \(error)")
                    progress("  \(variant.label): FAILED: \(error)")
                }
            }
        }
        result.variants = measured.enumerated().filter { !failed.contains($0.offset) }.map(\.element)

        do {
            let stdio = try stdioInitializeCost(variants: Array(variants[0...1]), watchdog: watchdog)
            result.initialize.merge(stdio) { $1 }
            progress(
                "  initialize over stdio (fresh process each, after a -32002 ping): "
                    + variants[0...1].map { "\($0.label) \(Format.ms2(Stats.median(stdio[$0.label]!))) ms" }
                    .joined(separator: ", "))
        } catch {
            result.failures.append("initialize over stdio: \(error)")
            progress("  initialize over stdio: FAILED: \(error)")
        }
        do {
            let tcp = try tcpInitializeCost(key: key, token: sessionToken, watchdog: watchdog)
            result.initialize.merge(tcp) { $1 }
            progress(
                "  initialize over TCP (new connection to a warm server each): "
                    + [Self.tcpKey, Self.tcpToken].map { "\($0) \(Format.ms2(Stats.median(tcp[$0]!))) ms" }
                    .joined(separator: ", "))
        } catch {
            result.failures.append("initialize over TCP: \(error)")
            progress("  initialize over TCP: FAILED: \(error)")
        }
        return result
    }

    /// A session token, minted by `auth/token` in a TCP session signed in with the API key.
    private func obtainSessionToken(key: String, watchdog: Watchdog) throws -> String {
        let server = try ServerProcess.launch(
            devmode: plan.devmode, transport: .tcp, workDirectory: plan.workDirectory, environment: plan.environment,
            serial: 0, name: "auth-token")
        watchdog.watch(server.pid)
        defer { watchdog.unwatch() }
        var session = BenchSession(server: server, watchdog: watchdog)
        do {
            _ = try session.initialize(id: Plan.initializeID, token: key)
            let result = try session.request(id: 10, method: "auth/token", params: ["ttlSeconds": 3600])
            guard let token = (result as? [String: Any])?["token"] as? String else {
                throw BenchError("auth/token returned no token")
            }
            _ = try session.stop(shutdownID: Plan.shutdownID)
            return token
        } catch {
            server.kill()
            throw error
        }
    }

    /// `initialize` alone over stdio: one fresh process per sample (a session initializes once).
    /// A `server/info` first must answer -32002, so the process is up and reading before the clock
    /// starts. Variants alternate sample by sample.
    private func stdioInitializeCost(variants: [Plan.Variant], watchdog: Watchdog) throws -> [String: [UInt64]] {
        var samples: [String: [UInt64]] = [:]
        for sample in 1...initializeSamples {
            for variant in variants {
                let server = try ServerProcess.launch(
                    devmode: plan.devmode, transport: .stdio, workDirectory: plan.workDirectory,
                    environment: plan.environment, serial: 500 + sample, extraArguments: variant.extraArguments,
                    name: "init-" + variant.slug)
                watchdog.watch(server.pid)
                var session = BenchSession(server: server, watchdog: watchdog)
                do {
                    try session.pingUninitialized(id: 5)
                    let elapsed = try session.timedInitialize(id: Plan.initializeID, token: variant.token)
                    _ = try session.stop(shutdownID: Plan.shutdownID)
                    watchdog.unwatch()
                    samples[variant.label, default: []].append(elapsed)
                } catch {
                    watchdog.unwatch()
                    server.kill()
                    throw BenchError("\(variant.label): \(error)\n--- server log (tail) ---\n\(server.logTail())")
                }
            }
        }
        return samples
    }

    /// `initialize` alone over TCP: one server, a new connection per sample (after a -32002 ping on
    /// it); the server's first session (with the key) warms it up and is not counted.
    private func tcpInitializeCost(key: String, token: String, watchdog: Watchdog) throws -> [String: [UInt64]] {
        let server = try ServerProcess.launch(
            devmode: plan.devmode, transport: .tcp, workDirectory: plan.workDirectory, environment: plan.environment,
            serial: 900, name: "init-tcp")
        watchdog.watch(server.pid)
        defer { watchdog.unwatch() }
        var session = BenchSession(server: server, watchdog: watchdog)
        var samples: [String: [UInt64]] = [:]
        do {
            _ = try session.initialize(id: Plan.initializeID, token: key)
            guard let address = server.tcpAddress else { throw BenchError("no TCP address") }
            // One more of each, uncounted: the first use of each kind of credential.
            for round in 0...initializeSamples {
                for (label, credential) in [(Self.tcpKey, key), (Self.tcpToken, token)] {
                    var client = try RawClient(host: address.host, port: address.port)
                    defer { client.close() }
                    let ping = try client.call(Wire.request(id: 5, method: "server/info", params: nil), id: 5)
                    guard ping.reply.kind == .error, ping.reply.errorCode == -32002 else {
                        throw BenchError("expected -32002 before initialize, got: \(ping.reply.text.prefix(300))")
                    }
                    let answer = try client.call(Wire.initialize(id: 1, token: credential), id: 1)
                    guard answer.reply.kind == .result else {
                        throw BenchError("initialize with the \(label) failed: \(answer.reply.text.prefix(300))")
                    }
                    watchdog.tick()
                    if round > 0 { samples[label, default: []].append(answer.nanoseconds) }
                }
            }
            _ = try session.stop(shutdownID: Plan.shutdownID)
            return samples
        } catch {
            server.kill()
            throw BenchError("\(error)\n--- server log (tail) ---\n\(server.logTail())")
        }
    }

    // MARK: Report

    func table(_ result: Result) -> String {
        var lines: [String] = []
        if let skipped = result.skipped { return "auth: skipped: \(skipped)" }
        let byLabel = Dictionary(result.variants.map { ($0.label, $0) }, uniquingKeysWith: { $1 })
        let labels = [Self.stdioLocal, Self.stdioKey, Self.tcpKey, Self.tcpToken].filter {
            byLabel[$0] != nil || result.initialize[$0] != nil
        }
        var table = Table(columns: labels)
        func row(_ label: String, _ target: String = "", _ make: (TransportResult) -> String) {
            table.add(label, target, labels.map { byLabel[$0].map(make) ?? "–" })
        }
        row("server/info round trip p50 (µs)") { Format.us(Stats.percentile($0.roundTripNanoseconds, 0.5)) }
        row("server/info round trip p99 (µs)") { Format.us(Stats.percentile($0.roundTripNanoseconds, 0.99)) }
        row("server/info round trip mean (µs)") { Format.us(Stats.mean($0.roundTripNanoseconds)) }
        row("pipelined, 1 connection (req/s, median)") { Format.rate($0.medianPipeline.requestsPerSecond) }
        row("  slowest – fastest launch (req/s)") { result in
            let rates = result.pipelines.map(\.requestsPerSecond)
            return "\(Format.rate(rates.min()!)) – \(Format.rate(rates.max()!))"
        }
        row("  server CPU per request (µs)") {
            Format.us(Double($0.medianPipeline.serverCPUNanoseconds) / Double($0.medianPipeline.requests))
        }
        row("RSS after initialize, max (MB)") { Format.mb($0.idleRSS.max()!) }
        row("error replies (all phases)", "0") { Table.cell("\($0.errors.errorResponses)", $0.errors.errorResponses == 0) }
        row("initialize after launch, median (ms)") { Format.ms($0.initializeNanoseconds.sorted()[($0.initializeNanoseconds.count - 1) / 2]) }
        table.add(
            "initialize alone, median (ms)", "≤ 10 (credential)",
            labels.map { label in
                guard let samples = result.initialize[label] else { return "–" }
                let median = Stats.median(samples)
                return Table.cell(
                    Format.ms2(median),
                    label == Self.stdioLocal ? nil : Double(median) / 1e6 <= Target.authInitializeMilliseconds)
            })
        table.add(
            "initialize alone, p90 / max (ms)", "",
            labels.map { label in
                guard let samples = result.initialize[label] else { return "–" }
                return "\(Format.ms2(Stats.percentile(samples, 0.9))) / \(Format.ms2(samples.max()!))"
            })
        table.add(
            "  measured on", "",
            labels.map { byLabel[$0]?.transport == .tcp || $0.hasPrefix("tcp") ? "new connection" : "fresh process" })
        lines.append(table.render())

        // The differences: what an authenticated session costs per request.
        var overhead = Table(columns: ["difference"])
        for (name, base, other) in [("stdio: API key − local", Self.stdioLocal, Self.stdioKey), ("tcp: session token − API key", Self.tcpKey, Self.tcpToken)] {
            guard let a = byLabel[base], let b = byLabel[other] else { continue }
            let p50 = Double(Stats.percentile(b.roundTripNanoseconds, 0.5)) - Double(Stats.percentile(a.roundTripNanoseconds, 0.5))
            let p99 = Double(Stats.percentile(b.roundTripNanoseconds, 0.99)) - Double(Stats.percentile(a.roundTripNanoseconds, 0.99))
            let mean = Stats.mean(b.roundTripNanoseconds) - Stats.mean(a.roundTripNanoseconds)
            let rate = b.medianPipeline.requestsPerSecond / a.medianPipeline.requestsPerSecond - 1
            let cpu = Double(b.medianPipeline.serverCPUNanoseconds) / Double(b.medianPipeline.requests)
                - Double(a.medianPipeline.serverCPUNanoseconds) / Double(a.medianPipeline.requests)
            overhead.add(
                "\(name), round trip p50 (µs)", "≤ +5",
                Table.cell(Format.signedUs(p50), p50 / 1e3 <= Target.authRoundTripOverheadMicroseconds))
            overhead.add("\(name), round trip p99 (µs)", "", Format.signedUs(p99))
            overhead.add("\(name), round trip mean (µs)", "", Format.signedUs(mean))
            overhead.add(
                "\(name), pipelined req/s", "≥ −10%", Table.cell(Format.percent(rate), rate >= -Target.authThroughputLoss))
            overhead.add("\(name), server CPU per request (µs)", "", Format.signedUs(cpu))
        }
        for (name, base, other) in [("stdio: API key − local", Self.stdioLocal, Self.stdioKey), ("tcp: session token − API key", Self.tcpKey, Self.tcpToken)] {
            guard let a = result.initialize[base], let b = result.initialize[other] else { continue }
            overhead.add(
                "\(name), initialize median (ms)", "",
                String(format: "%+.2f", (Double(Stats.median(b)) - Double(Stats.median(a))) / 1e6))
        }
        lines.append("")
        lines.append(overhead.render())
        for variant in result.variants where variant.errors.errorResponses > 0 {
            lines.append("\(variant.label): \(variant.errors.errorResponses) error replies; by code: \(variant.errors.byCode)")
            for example in variant.errors.examples { lines.append("  \(example)") }
        }
        return lines.joined(separator: "\n")
    }

    struct VariantFigures: Encodable {
        var roundTripP50Microseconds: Double
        var roundTripP99Microseconds: Double
        var roundTripMeanMicroseconds: Double
        var requestsPerSecondMedian: Double
        var requestsPerSecondPerLaunch: [Double]
        var serverCPUMicrosecondsPerRequest: Double
        var errorReplies: Int
        var initializeAfterLaunchMillisecondsPerLaunch: [Double]
    }

    struct Figures: Encodable {
        var variants: [String: VariantFigures]
        /// `initialize` alone, per variant, in ms (stdio: fresh process; tcp: new connection).
        var initializeMilliseconds: [String: [Double]]
        var initializeMillisecondsMedian: [String: Double]
        var stdioKeyMinusLocal: [String: Double]
        var tcpTokenMinusKey: [String: Double]
        var pass: [String: Bool]
        var failures: [String]
        var skipped: String?
    }

    func figures(_ result: Result) -> Figures {
        var variants: [String: VariantFigures] = [:]
        for variant in result.variants {
            let median = variant.medianPipeline
            variants[variant.label] = VariantFigures(
                roundTripP50Microseconds: Double(Stats.percentile(variant.roundTripNanoseconds, 0.5)) / 1e3,
                roundTripP99Microseconds: Double(Stats.percentile(variant.roundTripNanoseconds, 0.99)) / 1e3,
                roundTripMeanMicroseconds: Stats.mean(variant.roundTripNanoseconds) / 1e3,
                requestsPerSecondMedian: median.requestsPerSecond,
                requestsPerSecondPerLaunch: variant.pipelines.map(\.requestsPerSecond),
                serverCPUMicrosecondsPerRequest: Double(median.serverCPUNanoseconds) / Double(median.requests) / 1e3,
                errorReplies: variant.errors.errorResponses,
                initializeAfterLaunchMillisecondsPerLaunch: variant.initializeNanoseconds.map { Double($0) / 1e6 })
        }
        func difference(_ base: String, _ other: String) -> [String: Double] {
            var out: [String: Double] = [:]
            if let a = variants[base], let b = variants[other] {
                out["roundTripP50Microseconds"] = b.roundTripP50Microseconds - a.roundTripP50Microseconds
                out["roundTripP99Microseconds"] = b.roundTripP99Microseconds - a.roundTripP99Microseconds
                out["roundTripMeanMicroseconds"] = b.roundTripMeanMicroseconds - a.roundTripMeanMicroseconds
                out["requestsPerSecondRatio"] = b.requestsPerSecondMedian / a.requestsPerSecondMedian
                out["serverCPUMicrosecondsPerRequest"] = b.serverCPUMicrosecondsPerRequest - a.serverCPUMicrosecondsPerRequest
            }
            if let a = result.initialize[base], let b = result.initialize[other] {
                out["initializeMillisecondsMedian"] = (Double(Stats.median(b)) - Double(Stats.median(a))) / 1e6
            }
            return out
        }
        let stdio = difference(Self.stdioLocal, Self.stdioKey)
        let tcp = difference(Self.tcpKey, Self.tcpToken)
        var pass: [String: Bool] = [:]
        for (name, values) in [("stdioKeyMinusLocal", stdio), ("tcpTokenMinusKey", tcp)] {
            if let p50 = values["roundTripP50Microseconds"] {
                pass["\(name).roundTripP50"] = p50 <= Target.authRoundTripOverheadMicroseconds
            }
            if let ratio = values["requestsPerSecondRatio"] { pass["\(name).throughput"] = ratio - 1 >= -Target.authThroughputLoss }
        }
        for (label, samples) in result.initialize where label != Self.stdioLocal {
            pass["initialize.\(label)"] = Double(Stats.median(samples)) / 1e6 <= Target.authInitializeMilliseconds
        }
        return Figures(
            variants: variants,
            initializeMilliseconds: result.initialize.mapValues { $0.map { Double($0) / 1e6 } },
            initializeMillisecondsMedian: result.initialize.mapValues { Double(Stats.median($0)) / 1e6 },
            stdioKeyMinusLocal: stdio, tcpTokenMinusKey: tcp, pass: pass, failures: result.failures,
            skipped: result.skipped)
    }
}

/// A bare TCP connection for short exchanges (the auth suite's extra sessions).
struct RawClient {
    let fd: Int32
    var reader: ResponseReader

    init(host: String, port: Int) throws {
        fd = try connectTCP(host: host, port: port)
        reader = ResponseReader(fd: fd, capacity: 64 << 10)
    }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw BenchError("write failed: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    /// Writes one request and waits for the reply with `id`; the time is write to reply.
    mutating func call(_ bytes: [UInt8], id: Int) throws -> (nanoseconds: UInt64, reply: Reply) {
        let started = monotonicNanoseconds()
        try write(bytes)
        let message = try reader.nextBlocking()
        let finished = monotonicNanoseconds()
        let text = reader.text(message.body)
        guard message.id == id else { throw BenchError("expected the reply to id \(id), got: \(text.prefix(300))") }
        return (finished - started, Reply(kind: message.kind, text: text))
    }

    func close() { Glibc.close(fd) }
}
