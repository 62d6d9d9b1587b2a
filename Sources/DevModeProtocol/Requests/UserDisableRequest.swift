import JSONRPC

/// `user/disable` (tenant admin, server admin): the user's credentials stop working at once,
/// their open sessions included. `disabled: false` enables the user again.
public struct UserDisableRequest: ObjectScopedRequest, Hashable {
    public static let method = "user/disable"
    public typealias Response = UserInfo
    public static let objectIDField = "userId"
    public static let objectKind = ObjectKind.user
    public static let isWrite = true
    public var userId: String
    public var disabled: Bool?
    public init(userId: String, disabled: Bool? = nil) {
        self.userId = userId
        self.disabled = disabled
    }
}
