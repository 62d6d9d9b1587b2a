import JSONRPC

/// `shutdown`: finish what is in flight and refuse new requests; `exit` follows.
public struct ShutdownRequest: RequestType, Hashable {
    public static let method = "shutdown"
    public typealias Response = VoidResponse
    public var ordering: MessageOrdering { .barrier }
    public init() {}
}
