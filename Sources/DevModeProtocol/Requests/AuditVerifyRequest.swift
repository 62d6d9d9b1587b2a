import JSONRPC

/// `audit/verify` (server admin): walks the whole hash chain and names every edited or deleted row.
public struct AuditVerifyRequest: RequestType, Hashable {
    public static let method = "audit/verify"
    public typealias Response = AuditVerifyResult
    public init() {}
}

public struct AuditVerifyResult: ResponseType, Hashable {
    public struct Problem: Codable, Sendable, Hashable {
        public var seq: Int
        /// "altered" or "missing".
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
    public init(ok: Bool, rowsChecked: Int, lastSeq: Int, problems: [Problem]) {
        self.ok = ok
        self.rowsChecked = rowsChecked
        self.lastSeq = lastSeq
        self.problems = problems
    }
}
