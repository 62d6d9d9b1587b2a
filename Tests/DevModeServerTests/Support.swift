import DevModeCrypto
import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeStoreSQLite
import DevModeTestSupport
import Foundation
import JSONRPC
import Logging
import Testing

// Helpers shared by the server tests: error capture, servers on a chosen database, clock or logger,
// and a log handler that keeps what it is given.

/// A request on a session that was cut off must not be served. The client either hears the
/// server's -32010 (the request was read before the connection closed) or finds the connection
/// closed (-32803 from the client's own side): either way the caller gets nothing.
func expectRefusedOrClosed<T>(
    _ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async {
    let error = await rpcError(sourceLocation: sourceLocation, body)
    #expect(
        error?.code == .unauthenticated || error?.code == .requestFailed,
        "\(what): expected -32010 or a closed connection, got \(error.map { "\($0.code.rawValue) \($0.message)" } ?? "success")",
        sourceLocation: sourceLocation)
}

/// Params for an object-scoped request: its sample params with the id field set.
func params(_ type: any ObjectScopedRequest.Type, id: String) -> JSONValue {
    var object = type.sampleParams
    object[type.objectIDField] = .string(id)
    return .object(object)
}

/// A fresh id of the same shape as `id` (same prefix, same length) that names nothing.
func missingID(like id: String) -> String {
    let prefix = id.split(separator: "_").first.map(String.init) ?? "obj"
    return Identifier.make(prefix)
}

/// `value` with every occurrence of `id` replaced by a placeholder, to compare error shapes.
func redacting(_ id: String, in value: JSONValue?) -> JSONValue? {
    guard let value else { return nil }
    switch value {
    case .string(let text): return .string(text.replacingOccurrences(of: id, with: "<id>"))
    case .array(let items): return .array(items.map { redacting(id, in: $0) ?? .null })
    case .object(let fields): return .object(fields.mapValues { redacting(id, in: $0) ?? .null })
    default: return value
    }
}

/// A server on a fresh database (SQLite in its own temporary directory, or PostgreSQL under
/// DEVMODE_TEST_STORE=postgres), with what closes it.
struct ScratchServer {
    let server: DevModeServer
    let directory: URL

    var path: String { directory.appendingPathComponent("devmode.sqlite3").path }

    static func open(
        configuration: ServerConfiguration = ServerConfiguration(enableDebugMethods: true),
        clock: @escaping @Sendable () -> Int64 = Store.systemClock,
        logger: Logger = Logger(label: "devmode.test") { _ in SwiftLogNoOpLogHandler() },
        directory: URL? = nil
    ) async throws -> ScratchServer {
        let directory =
            directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("devmode-server-test-\(UUID().uuidString)")
        let store = Store(
            driver: try await TestStore.makeDriver(sqlitePath: directory.appendingPathComponent("devmode.sqlite3").path),
            clock: clock)
        var configuration = configuration
        if configuration.projects.dataDirectory == StoreLocation.defaultDataDirectory {
            // Hosted projects beside the database, never in the user's real data directory.
            configuration.projects.dataDirectory = directory.path
        }
        let server = try await DevModeServer.open(configuration: configuration, store: store, logger: logger)
        return ScratchServer(server: server, directory: directory)
    }

    /// Closes the database; `remove` also deletes its directory.
    func close(remove: Bool = true) async {
        await server.close()
        if remove { try? FileManager.default.removeItem(at: directory) }
    }
}

/// Runs `body` on a fresh `ScratchServer` and closes it afterwards, also when `body` throws (a
/// database dropped without `close()` stops the whole test process).
func withScratchServer<T>(
    configuration: ServerConfiguration = ServerConfiguration(enableDebugMethods: true),
    clock: @escaping @Sendable () -> Int64 = Store.systemClock,
    logger: Logger = Logger(label: "devmode.test") { _ in SwiftLogNoOpLogHandler() },
    _ body: (ScratchServer) async throws -> T
) async throws -> T {
    let scratch = try await ScratchServer.open(configuration: configuration, clock: clock, logger: logger)
    do {
        let result = try await body(scratch)
        await scratch.close()
        return result
    } catch {
        await scratch.close()
        throw error
    }
}

/// A wall clock that a test can move forward, for a `Store`.
final class ManualClock: Sendable {
    private let offset = LockedState<Int64>(0)

    func advance(seconds: Int64) { offset.withLock { $0 += seconds * 1000 } }

    var now: @Sendable () -> Int64 {
        { [offset] in Store.systemClock() + offset.withLock { $0 } }
    }
}

/// Session tokens made by hand, for forgery tests.
enum Tokens {
    static func part(_ json: String) -> String { ByteEncoding.base64URL(Array(json.utf8)) }

    static func claims(_ claims: SessionToken.Claims) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return ByteEncoding.base64URL(Array(try! encoder.encode(claims)))
    }

    /// `header.payload.signature` with an HMAC-SHA256 signature under `secret`, whatever the header says.
    static func make(header: String, payload: String, secret: [UInt8]) -> String {
        let input = part(header) + "." + payload
        return input + "." + ByteEncoding.base64URL(Crypto.hmacSHA256(key: secret, message: Array(input.utf8)))
    }
}

/// Keeps every log record (message, metadata, error) as text, for secret scanning.
final class LogCapture: Sendable {
    private let records = LockedState<[String]>([])

    var all: [String] { records.withLock { $0 } }

    func append(_ record: String) { records.withLock { $0.append(record) } }

    func logger(label: String = "devmode.test") -> Logger {
        var logger = Logger(label: label) { label in CapturingLogHandler(label: label, capture: self) }
        logger.logLevel = .trace
        return logger
    }
}

struct CapturingLogHandler: LogHandler {
    let label: String
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let error = event.error.map { " error=\($0)" } ?? ""
        capture.append("\(event.level) \(label): \(event.message) \(fields)\(error)")
    }
}
