import JSONRPC

// Message types for the decoding and connection tests.

struct EchoRequest: RequestType, Hashable {
    static let method = "test/echo"
    typealias Response = EchoResult
    var text: String
}

struct EchoResult: ResponseType, Hashable {
    var text: String
}

/// Holds a request in flight: waits for the gate `name` to open (or `milliseconds`, when given),
/// honouring cancellation unless `ignoresCancellation`. `order` picks its `MessageOrdering`:
/// nil (concurrent), `"barrier"`, `"update:KEY"` or `"read:KEY"`.
struct SleepRequest: RequestType, Hashable {
    static let method = "test/sleep"
    typealias Response = EchoResult
    var name: String
    var milliseconds: Int?
    var ignoresCancellation: Bool?
    var order: String?

    init(name: String, milliseconds: Int? = nil, ignoresCancellation: Bool? = nil, order: String? = nil) {
        self.name = name
        self.milliseconds = milliseconds
        self.ignoresCancellation = ignoresCancellation
        self.order = order
    }

    var ordering: MessageOrdering { MessageOrdering(testSpelling: order) }
}

/// Throws an error that is not a `ResponseError`, carrying `secret`: it must not reach the peer.
struct FailRequest: RequestType, Hashable {
    static let method = "test/fail"
    typealias Response = VoidResponse
    var secret: String
}

/// Throws this `ResponseError` as is: the peer gets it unchanged.
struct RejectRequest: RequestType, Hashable {
    static let method = "test/reject"
    typealias Response = VoidResponse
    var code: Int
    var message: String
}

/// Waits until `parties` rendezvous requests named `name` are running at once.
struct RendezvousRequest: RequestType, Hashable {
    static let method = "test/rendezvous"
    typealias Response = VoidResponse
    var name: String
    var parties: Int
    var order: String?
    var ordering: MessageOrdering { MessageOrdering(testSpelling: order) }
}

/// Records `key:value` when handled, after waiting `milliseconds` or for gate `gate` when given.
struct RecordNotification: NotificationType, Hashable {
    static let method = "test/record"
    var key: String
    var value: Int
    var milliseconds: Int?
    var gate: String?
    var opens: String?
    var order: String?

    init(key: String, value: Int, milliseconds: Int? = nil, gate: String? = nil, opens: String? = nil, order: String? = nil) {
        self.key = key
        self.value = value
        self.milliseconds = milliseconds
        self.gate = gate
        self.opens = opens
        self.order = order
    }

    var ordering: MessageOrdering { MessageOrdering(testSpelling: order ?? "update:\(key)") }
}

/// Params with nested objects and arrays, to check the field paths of `-32602`.
struct NestedRequest: RequestType, Hashable {
    static let method = "test/nested"
    typealias Response = VoidResponse
    struct Inner: Codable, Hashable {
        var b: Int
    }
    struct Item: Codable, Hashable {
        var name: String
    }
    var a: Inner
    var tags: [Int]
    var items: [Item]
}

/// A method whose own params have a field called `params` (as a "run this command" method would).
struct CommandRequest: RequestType, Hashable {
    static let method = "test/command"
    typealias Response = VoidResponse
    var command: String
    var params: NestedRequest.Inner
}

/// Every field optional: params may be left out.
struct OptionalParamsRequest: RequestType, Hashable {
    static let method = "test/optional"
    typealias Response = VoidResponse
    var verbose: Bool?
    var name: String?
}

/// Accepts any JSON value (for the nesting tests).
struct AnyValueRequest: RequestType, Hashable {
    static let method = "test/any"
    typealias Response = JSONValue
    var value: JSONValue
}

extension MessageOrdering {
    init(testSpelling: String?) {
        switch testSpelling {
        case nil: self = .concurrent
        case "barrier": self = .barrier
        case let spelling? where spelling.hasPrefix("update:"): self = .update(String(spelling.dropFirst(7)))
        case let spelling? where spelling.hasPrefix("read:"): self = .read(String(spelling.dropFirst(5)))
        case let spelling?: fatalError("unknown ordering \(spelling)")
        }
    }
}

let testRegistry = MessageRegistry(
    requests: [
        EchoRequest.self, SleepRequest.self, FailRequest.self, RejectRequest.self, RendezvousRequest.self,
        NestedRequest.self, CommandRequest.self, OptionalParamsRequest.self, AnyValueRequest.self,
    ],
    notifications: [RecordNotification.self])
