import ArgumentParser
import DevModeProtocol
import DevModeServer
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import JSONRPC
import JSONRPCNIO
import Logging

struct Call: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call one method on a running server and print its result as JSON.",
        discussion: """
            Connects, sends 'initialize' (with --token as initializationOptions.token), the call,
            then 'shutdown' and 'exit'. The result goes to stdout; an error goes to stderr as JSON
            and the exit status is 1 (2 when the server cannot be reached).
            """
    )

    @Argument(help: "The method, e.g. server/info.")
    var method: String

    @Argument(help: "The params as a JSON object (default: none).")
    var params: String?

    @Option(help: "The server's HOST:PORT.")
    var connect: HostPort = HostPort(argument: "127.0.0.1:7420")!

    @Option(help: "An API key or session token (env: DEVMODE_TOKEN).")
    var token: String?

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        _ = try logging.bootstrap()
        var parsedParams: JSONValue?
        if let params {
            do {
                parsedParams = try JSONDecoder().decode(JSONValue.self, from: Data(params.utf8))
            } catch {
                throw ValidationError("params are not valid JSON: \(params)")
            }
        }
        let token = self.token ?? Environment.value("DEVMODE_TOKEN")
        let method = self.method
        let outcome: Result<JSONValue, ResponseError>
        do {
            outcome = try await TCPClient.withConnection(host: connect.host, port: connect.port) { reader, writer in
                let connection = Connection(
                    registry: MessageRegistry(requests: [], notifications: []), handler: IgnoringHandler(),
                    framing: .contentLength, logger: Logger(label: "devmode.call"))
                async let running: Void = connection.run(input: reader, output: writer)
                defer { connection.close() }
                var options: JSONValue?
                if let token { options = ["token": .string(token)] }
                let result: Result<JSONValue, ResponseError>
                do {
                    _ = try await connection.send(
                        InitializeRequest(
                            processId: Int(ProcessInfo.processInfo.processIdentifier),
                            clientInfo: ClientInfo(name: "devmode call", version: DevModeVersion.current),
                            initializationOptions: options))
                    connection.send(InitializedNotification())
                    result = .success(try await connection.send(method: method, params: parsedParams))
                } catch let error as ResponseError {
                    result = .failure(error)
                }
                _ = try? await connection.send(ShutdownRequest())
                connection.send(ExitNotification())
                connection.close()
                await running
                return result
            }
        } catch {
            Output.standardError("devmode call: cannot reach \(connect): \(error)\n")
            throw ExitCode(2)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        switch outcome {
        case .success(let value):
            Output.standardOutput(try encoder.encode(value) + Data("\n".utf8))
        case .failure(let error):
            Output.standardError(try encoder.encode(error) + Data("\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// `devmode call` serves nothing: the server's notifications are ignored, its requests refused.
struct IgnoringHandler: MessageHandler {
    func handle(request: any RequestType, id: RequestID, from connection: Connection) async throws -> any ResponseType {
        throw ResponseError.methodNotFound(type(of: request).method)
    }
    func handle(notification: any NotificationType, from connection: Connection) async {}
}
