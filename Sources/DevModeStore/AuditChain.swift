import DevModeCrypto

/// The audit log's hash chain: each row's hash covers its own fields and the hash of the row before.
public enum AuditChain {
    /// Hex SHA-256 over the row's fields, each length-prefixed (so no two rows encode alike), and
    /// the previous row's hash.
    public static func hash(_ entry: AuditEntry) -> String {
        let fields: [String?] = [
            String(entry.seq), String(entry.at), entry.actor, entry.tenantId, entry.workspaceId, entry.method,
            entry.target, entry.outcome.rawValue, entry.detail, entry.prevHash,
        ]
        var text = "devmode-audit-v1"
        for field in fields {
            if let field {
                text += "|\(field.utf8.count):\(field)"
            } else {
                text += "|-"
            }
        }
        return ByteEncoding.hex(Crypto.sha256(text))
    }
}

/// The chain's anchor outside the database: a secret key that the database never holds, and the
/// first row that was written with it. Each row from `startSeq` on carries HMAC-SHA256(key, its
/// hash), so someone who can write to the database but has not the key cannot rewrite a row and
/// recompute the rows after it (the hash chain alone lets them), nor pass rewritten rows off as
/// older than anchoring by blanking their anchors. The key and `startSeq` live in the audit key file.
public struct AuditAnchor: Sendable, Hashable {
    public static let keyLength = 32
    public let key: [UInt8]
    /// The first row that must carry an anchor: rows before it were written before anchoring began.
    public let startSeq: Int64

    public init(key: [UInt8], startSeq: Int64) {
        precondition(key.count == Self.keyLength, "an audit key is \(Self.keyLength) bytes")
        self.key = key
        self.startSeq = startSeq
    }

    /// Hex HMAC-SHA256 of a row's hash.
    public func anchor(forHash hash: String) -> String {
        ByteEncoding.hex(Crypto.hmacSHA256(key: key, message: Array("devmode-audit-anchor-v1|\(hash)".utf8)))
    }

    /// True when `anchor` is the one this key gives `hash` (compared in constant time).
    public func holds(_ anchor: String, forHash hash: String) -> Bool {
        Crypto.constantTimeEqual(Array(self.anchor(forHash: hash).utf8), Array(anchor.utf8))
    }
}

/// What `audit/verify` found.
public struct AuditVerification: Sendable, Hashable, Codable {
    public struct Problem: Sendable, Hashable, Codable {
        public enum Kind: String, Sendable, Hashable, Codable {
            /// The row's content no longer matches its hash, or the next row's link to it.
            case altered
            /// The row is gone.
            case missing
            /// The row (and, when `detail` says so, the rows after it up to the next good one) does
            /// not carry the anchor the audit key gives its hash, or carries none although it is not
            /// older than anchoring: it was written or rewritten by someone without the key.
            case anchor
            /// The rows carry anchors but no audit key was given, so they cannot be checked.
            case unverifiable
        }
        public var seq: Int64
        public var kind: Kind
        public var detail: String
    }

    public var ok: Bool { problems.isEmpty }
    public var rowsChecked: Int
    public var lastSeq: Int64
    public var problems: [Problem]
    /// Rows that carry an anchor (checked against the key when there is one).
    public var anchoredRows: Int
    /// Rows without an anchor from before anchoring began (not failures).
    public var unanchoredRows: Int
    /// The first row that must be anchored (from the key file); nil when no key was given.
    public var anchorStartSeq: Int64?
}

/// Walks rows in `seq` order, remembering just enough to judge the next one.
struct AuditVerifier {
    /// nil: no key was given; anchors are counted, not checked.
    let anchor: AuditAnchor?
    private var expectedSeq: Int64 = 1
    private var previousHash = Schema.genesisHash
    private var previousSeq: Int64 = 0
    private var rowsChecked = 0
    private var problems: [AuditVerification.Problem] = []
    private var flagged = Set<Int64>()
    private var anchoredRows = 0
    private var unanchoredRows = 0
    /// Runs of consecutive rows that fail their anchors: the first and last row, and why the first failed.
    private var anchorRuns: [(first: Int64, last: Int64, reason: String)] = []
    private var firstUncheckedAnchor: Int64?

    init(anchor: AuditAnchor?) {
        self.anchor = anchor
    }

    private mutating func report(_ seq: Int64, _ kind: AuditVerification.Problem.Kind, _ detail: String) {
        guard flagged.insert(seq).inserted else { return }
        problems.append(.init(seq: seq, kind: kind, detail: detail))
    }

    mutating func check(_ row: AuditEntry) {
        rowsChecked += 1
        let gap = row.seq > expectedSeq
        if gap {
            for seq in expectedSeq..<row.seq {
                report(seq, .missing, "row \(seq) was deleted")
            }
        }
        if AuditChain.hash(row) != row.hash {
            report(row.seq, .altered, "the row's content does not match its hash")
        }
        if !gap && row.prevHash != previousHash && previousSeq > 0 {
            // The previous row's stored hash was rewritten to match an edit: this row still holds the
            // original, so the previous row is the one that changed.
            report(previousSeq, .altered, "row \(row.seq) was chained to a different version of this row")
        } else if !gap && row.prevHash != previousHash {
            report(row.seq, .altered, "the first row is not chained to the genesis hash")
        }
        checkAnchor(row)
        previousHash = row.hash
        previousSeq = row.seq
        expectedSeq = row.seq + 1
    }

    /// A rewrite of one row and every row after it (hashes recomputed) passes the chain checks above;
    /// without the key it cannot carry good anchors. Consecutive failing rows make one run, named by
    /// its first row, so a rewrite of a long tail is one problem.
    private mutating func checkAnchor(_ row: AuditEntry) {
        guard let anchor else {
            if row.anchor == nil {
                unanchoredRows += 1
            } else {
                anchoredRows += 1
                if firstUncheckedAnchor == nil { firstUncheckedAnchor = row.seq }
            }
            return
        }
        let failure: String?
        if let stored = row.anchor {
            anchoredRows += 1
            failure = anchor.holds(stored, forHash: row.hash) ? nil : "its anchor does not match its hash under the audit key"
        } else if row.seq >= anchor.startSeq {
            failure = "it has no anchor, but every row from \(anchor.startSeq) on is anchored"
        } else {
            unanchoredRows += 1
            failure = nil
        }
        guard let failure else { return }
        if let last = anchorRuns.last, last.last + 1 == row.seq {
            anchorRuns[anchorRuns.count - 1].last = row.seq
        } else {
            anchorRuns.append((row.seq, row.seq, failure))
        }
    }

    func finish(head: (lastSeq: Int64, lastHash: String)) -> AuditVerification {
        var result = self
        if head.lastSeq >= result.expectedSeq {
            for seq in result.expectedSeq...head.lastSeq {
                result.report(seq, .missing, "row \(seq) was deleted")
            }
        } else if head.lastSeq == result.previousSeq && head.lastHash != result.previousHash && result.previousSeq > 0 {
            result.report(result.previousSeq, .altered, "the last row does not match the chain's head")
        }
        // A row already named altered or missing is not named again for its anchor: the chain's
        // problem says more. (An edited row fails both; only a rewrite that keeps the chain whole
        // is left to the anchors.)
        for run in result.anchorRuns {
            var first = run.first
            while first <= run.last && result.flagged.contains(first) { first += 1 }
            guard first <= run.last else { continue }
            let reason = first == run.first ? run.reason : "its anchor is wrong or missing"
            let detail =
                first == run.last
                ? "row \(first) was written without the audit key: \(reason)"
                : "rows \(first)…\(run.last) were written without the audit key (row \(first): \(reason))"
            result.report(first, .anchor, detail)
        }
        if let first = result.firstUncheckedAnchor {
            result.problems.append(.init(
                seq: first, kind: .unverifiable, detail:
                "\(result.anchoredRows) rows from \(first) on carry anchors, but no audit key was given: they cannot be checked"))
        }
        return AuditVerification(
            rowsChecked: result.rowsChecked, lastSeq: head.lastSeq, problems: result.problems.sorted { $0.seq < $1.seq },
            anchoredRows: result.anchoredRows, unanchoredRows: result.unanchoredRows, anchorStartSeq: result.anchor?.startSeq)
    }
}
