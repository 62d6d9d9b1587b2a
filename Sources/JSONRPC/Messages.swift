/// How a message must be ordered against the others on its connection.
///
/// Messages are started in the order they arrive; this says which earlier ones must have *finished*
/// first. Unrelated work runs concurrently; work on one document stays in order.
public enum MessageOrdering: Sendable, Hashable {
    /// Waits only for earlier barriers.
    case concurrent
    /// Reads a keyed resource (a document): waits for earlier `.update`s of the same key.
    case read(String)
    /// Changes a keyed resource: waits for every earlier message with the same key.
    case update(String)
    /// Waits for everything before it, and everything after it waits for it (`initialize`, `shutdown`).
    case barrier
}

/// A message type: its params are the type's own stored properties (as in sourcekit-lsp).
public protocol MessageType: Codable, Sendable {
    static var method: String { get }
    var ordering: MessageOrdering { get }
}

extension MessageType {
    public var ordering: MessageOrdering { .concurrent }
}

/// The result of a request.
public protocol ResponseType: Codable, Sendable {}

public protocol RequestType: MessageType {
    associatedtype Response: ResponseType
}

public protocol NotificationType: MessageType {}

/// A result that is JSON `null` (`shutdown`, for one).
public struct VoidResponse: ResponseType, Hashable {
    public init() {}
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encodeNil()
    }
}

extension JSONValue: ResponseType {}

/// `$/cancelRequest`: handled by the connection itself, ahead of every queue.
public struct CancelRequestNotification: NotificationType, Hashable {
    public static let method = "$/cancelRequest"
    public var id: RequestID
    public init(id: RequestID) { self.id = id }
}

/// The message types a peer understands, by method name. Decoding looks params up here, so a
/// message is decoded once, straight into its type.
public struct MessageRegistry: Sendable {
    public private(set) var requests: [String: any RequestType.Type] = [:]
    public private(set) var notifications: [String: any NotificationType.Type] = [:]

    public init(requests: [any RequestType.Type], notifications: [any NotificationType.Type]) {
        for type in requests { self.requests[type.method] = type }
        for type in notifications { self.notifications[type.method] = type }
        self.notifications[CancelRequestNotification.method] = CancelRequestNotification.self
    }

    public var methods: Set<String> { Set(requests.keys).union(notifications.keys) }

    /// Only these methods (and `$/cancelRequest`): anything else decodes as method-not-found.
    public func restricted(to methods: Set<String>) -> MessageRegistry {
        var restricted = self
        restricted.requests = requests.filter { methods.contains($0.key) }
        restricted.notifications = notifications.filter {
            methods.contains($0.key) || $0.key == CancelRequestNotification.method
        }
        return restricted
    }
}
