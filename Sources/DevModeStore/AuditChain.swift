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

/// What `audit/verify` found.
public struct AuditVerification: Sendable, Hashable, Codable {
    public struct Problem: Sendable, Hashable, Codable {
        public enum Kind: String, Sendable, Hashable, Codable {
            /// The row's content no longer matches its hash, or the next row's link to it.
            case altered
            /// The row is gone.
            case missing
        }
        public var seq: Int64
        public var kind: Kind
        public var detail: String
    }

    public var ok: Bool { problems.isEmpty }
    public var rowsChecked: Int
    public var lastSeq: Int64
    public var problems: [Problem]
}

/// Walks rows in `seq` order, remembering just enough to judge the next one.
struct AuditVerifier {
    private var expectedSeq: Int64 = 1
    private var previousHash = Schema.genesisHash
    private var previousSeq: Int64 = 0
    private var rowsChecked = 0
    private var problems: [AuditVerification.Problem] = []
    private var flagged = Set<Int64>()

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
        previousHash = row.hash
        previousSeq = row.seq
        expectedSeq = row.seq + 1
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
        return AuditVerification(
            rowsChecked: result.rowsChecked, lastSeq: head.lastSeq, problems: result.problems.sorted { $0.seq < $1.seq })
    }
}
