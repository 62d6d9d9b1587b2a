import JSONRPC

/// `debug/sleep`: waits, then answers. Only served with `--enable-debug-methods`; tests and
/// benchmarks use it to hold a request in flight (cancellation, shutdown grace, limits).
public struct DebugSleepRequest: RequestType, Hashable {
    public static let method = "debug/sleep"
    public typealias Response = DebugSleepResult
    public var milliseconds: Int
    public init(milliseconds: Int) { self.milliseconds = milliseconds }
}

public struct DebugSleepResult: ResponseType, Hashable {
    public var slept: Int
    public init(slept: Int) { self.slept = slept }
}
