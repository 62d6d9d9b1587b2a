import JSONRPC

/// `server/info`: what is running and for how long.
public struct ServerInfoRequest: RequestType, Hashable {
    public static let method = "server/info"
    public typealias Response = ServerInfoResult
    public init() {}
}

public struct ServerInfoResult: ResponseType, Hashable {
    public var name: String
    public var version: String
    public var protocolVersion: String
    /// Seconds since the process started.
    public var uptimeSeconds: Double
    /// Connections open now, this one included.
    public var connections: Int
    /// "stdio" or "tcp".
    public var transport: String
    public var pid: Int

    public init(
        name: String, version: String, protocolVersion: String, uptimeSeconds: Double, connections: Int,
        transport: String, pid: Int
    ) {
        self.name = name
        self.version = version
        self.protocolVersion = protocolVersion
        self.uptimeSeconds = uptimeSeconds
        self.connections = connections
        self.transport = transport
        self.pid = pid
    }
}
