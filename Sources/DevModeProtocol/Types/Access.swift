import JSONRPC

/// The kinds of object a request can name by id.
public enum ObjectKind: String, Sendable, Hashable, CaseIterable {
    case tenant, user, workspace, apiKey, project
}

/// A request that names one object by id. The server checks the caller's rights on that object;
/// an object in another tenant answers exactly like a missing one. The isolation test is generated
/// from these declarations, so a new method that takes an id is covered by declaring it here.
public protocol ObjectScopedRequest: RequestType {
    /// The params field that holds the object's id.
    static var objectIDField: String { get }
    static var objectKind: ObjectKind { get }
    /// Changes the object: a viewer of the workspace is refused with forbidden.
    static var isWrite: Bool { get }
    /// Valid params apart from the id field (which the test fills in).
    static var sampleParams: [String: JSONValue] { get }
}

extension ObjectScopedRequest {
    public static var sampleParams: [String: JSONValue] { [:] }
}
