import ArgumentParser
import DevModeServer
import Logging

@main
struct DevModeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devmode",
        abstract: "The dev-mode server: JSON-RPC over stdio and TCP for editors, desktop shells and scripts.",
        version: DevModeVersion.current,
        subcommands: [Serve.self, Call.self, Admin.self]
    )
}

struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. Logs go to stderr. (env: DEVMODE_LOG_LEVEL)")
    var logLevel: String?

    @Option(
        help: """
            Most bytes of log lines waiting for stderr (logQueueBytes). Logging never makes the server wait: \
            when stderr is a pipe nobody reads, lines beyond this are dropped and counted.
            """)
    var logQueueBytes: Int = LogOutput.Settings().maxQueuedBytes

    /// The process's log output, once bootstrapped (flushed, briefly, at exit).
    nonisolated(unsafe) static var output: LogOutput?

    func validate() throws {
        if logQueueBytes < 1 { throw ValidationError("--log-queue-bytes must be at least 1") }
    }

    /// Logs go to stderr through a bounded queue and a writer thread of their own (`LogOutput`):
    /// a full stderr pipe drops lines, it never blocks a request.
    func bootstrap() throws -> Logger.Level {
        let text = logLevel ?? Environment.value("DEVMODE_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ValidationError("unknown log level '\(text)'")
        }
        let output = LogOutput(settings: LogOutput.Settings(maxQueuedBytes: logQueueBytes))
        Self.output = output
        LoggingSystem.bootstrap { label in output.handler(label: label, level: level) }
        return level
    }
}

enum Environment {
    static func value(_ name: String) -> String? {
        guard let pointer = getenv(name) else { return nil }
        return String(cString: pointer)
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// HOST:PORT, with `[v6]:port` accepted.
struct HostPort: ExpressibleByArgument, CustomStringConvertible, Sendable {
    var host: String
    var port: Int

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":") else { return nil }
        var host = String(argument[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = Int(argument[argument.index(after: colon)...]), (0...65535).contains(port), !host.isEmpty
        else { return nil }
        self.host = host
        self.port = port
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The CLI's output, straight to the file descriptors (no full Foundation in this process).
enum Output {
    static func standardOutput(_ bytes: some Sequence<UInt8>) { write(STDOUT_FILENO, Array(bytes)) }
    static func standardError(_ text: String) { write(STDERR_FILENO, Array(text.utf8)) }
    static func standardError(_ bytes: some Sequence<UInt8>) { write(STDERR_FILENO, Array(bytes)) }

    private static func write(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }
}
