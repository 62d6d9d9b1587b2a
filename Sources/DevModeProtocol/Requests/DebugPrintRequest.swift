import JSONRPC

/// `debug/print`: writes `text` to the process's standard output the careless ways (Swift's
/// `print`, C's `puts`, `write(1, …)`). Only served with `--enable-debug-methods`: it proves that
/// nothing but protocol bytes reaches stdout in stdio mode.
public struct DebugPrintRequest: RequestType, Hashable {
    public static let method = "debug/print"
    public typealias Response = DebugPrintResult
    public var text: String
    public init(text: String) { self.text = text }
}

public struct DebugPrintResult: ResponseType, Hashable {
    public var printed: Int
    public init(printed: Int) { self.printed = printed }
}
