import JSONRPC

/// `audit/verify` (server admin): walks the whole hash chain, checks each row's anchor against the
/// audit key, and names every edited, deleted or rewritten row.
public struct AuditVerifyRequest: RequestType, Hashable {
    public static let method = "audit/verify"
    public typealias Response = AuditVerifyResult
    public init() {}
}

public struct AuditVerifyResult: ResponseType, Hashable {
    public struct Problem: Codable, Sendable, Hashable {
        public var seq: Int
        /// "altered", "missing", "anchor" (written or rewritten without the audit key; a run of such
        /// rows is one problem, named by its first row) or "unverifiable" (anchors but no key).
        public var kind: String
        public var detail: String
        public init(seq: Int, kind: String, detail: String) {
            self.seq = seq
            self.kind = kind
            self.detail = detail
        }
    }
    public var ok: Bool
    public var rowsChecked: Int
    public var lastSeq: Int
    public var problems: [Problem]
    /// Rows that carry an anchor.
    public var anchoredRows: Int
    /// Rows from before anchoring began, which carry none (not a failure).
    public var unanchoredRows: Int
    /// The first row that must carry an anchor (from the audit key file); absent without a key.
    public var anchorStartSeq: Int?
    public init(
        ok: Bool, rowsChecked: Int, lastSeq: Int, problems: [Problem], anchoredRows: Int, unanchoredRows: Int,
        anchorStartSeq: Int?
    ) {
        self.ok = ok
        self.rowsChecked = rowsChecked
        self.lastSeq = lastSeq
        self.problems = problems
        self.anchoredRows = anchoredRows
        self.unanchoredRows = unanchoredRows
        self.anchorStartSeq = anchorStartSeq
    }
}
