import JSONRPC

/// `initialized`: the client has read the `initialize` result.
public struct InitializedNotification: NotificationType, Hashable {
    public static let method = "initialized"
    public var ordering: MessageOrdering { .barrier }
    public init() {}
}
