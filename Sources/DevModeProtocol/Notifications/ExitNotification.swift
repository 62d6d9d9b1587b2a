import JSONRPC

/// `exit`: ends the session. Over stdio the process exits with status 0 after `shutdown`, 1 otherwise;
/// over TCP the connection closes and the server goes on serving the others.
public struct ExitNotification: NotificationType, Hashable {
    public static let method = "exit"
    public var ordering: MessageOrdering { .barrier }
    public init() {}
}
