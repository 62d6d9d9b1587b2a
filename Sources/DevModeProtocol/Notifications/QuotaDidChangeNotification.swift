import JSONRPC

/// `quota/didChange` (server to client): a model call's settlement took a budget that applies to
/// this session's calls to or past one of its thresholds; `quota` is the budget as that left it.
public struct QuotaDidChangeNotification: NotificationType, Hashable {
    public static let method = "quota/didChange"
    /// A client takes them in the order they were sent: a later notice is the newer state.
    public var ordering: MessageOrdering { .update(Self.method) }
    /// The percentage of the limit reached (the highest, when one call passed several).
    public var threshold: Int
    public var quota: QuotaInfo
    public init(threshold: Int, quota: QuotaInfo) {
        self.threshold = threshold
        self.quota = quota
    }
}
