import JSONRPC

/// `workspace/executeCommand` (LSP): runs a command the server named in its capabilities. devmode
/// has one, `devmode.completion.accepted` (arguments: the completion id), which LSP clients run
/// when the user accepts an inline completion that carries it; same as `completion/didAccept`.
public struct ExecuteCommandRequest: RequestType, Hashable {
    public static let method = "workspace/executeCommand"
    public typealias Response = VoidResponse
    public var command: String
    public var arguments: [JSONValue]?
    public init(command: String, arguments: [JSONValue]? = nil) {
        self.command = command
        self.arguments = arguments
    }

    public static let acceptCompletionCommand = "devmode.completion.accepted"
}
