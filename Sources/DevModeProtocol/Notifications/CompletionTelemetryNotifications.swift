import JSONRPC

/// `completion/didShow`: the client showed a completion to the user.
public struct CompletionDidShowNotification: NotificationType, Hashable {
    public static let method = "completion/didShow"
    public var completionId: String
    public init(completionId: String) { self.completionId = completionId }
}

/// `completion/didAccept`: the user accepted a completion, whole or (with `acceptedLength`, in
/// characters of the item's text) in part.
public struct CompletionDidAcceptNotification: NotificationType, Hashable {
    public static let method = "completion/didAccept"
    public var completionId: String
    public var acceptedLength: Int?
    public init(completionId: String, acceptedLength: Int? = nil) {
        self.completionId = completionId
        self.acceptedLength = acceptedLength
    }
}

/// `completion/didReject`: the user dismissed completions (typed on, pressed escape).
public struct CompletionDidRejectNotification: NotificationType, Hashable {
    public static let method = "completion/didReject"
    public var completionIds: [String]
    public init(completionIds: [String]) { self.completionIds = completionIds }
}
