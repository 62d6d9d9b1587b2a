import DevModeStore

/// What a forger with write access to the database, but not the audit key, can do to the audit log:
/// for the tests that prove the chain's anchors catch it.
public enum AuditForgery {
    /// Changes row `seq` with `edit`, then recomputes the hash of that row and of every row after it,
    /// and the chain's head, so that the hash chain holds again: the database alone no longer shows
    /// the change. `blankAnchors`: also erases the rewritten rows' anchors, to pass them off as rows
    /// written before anchoring began. Returns the number of rows rewritten.
    @discardableResult
    public static func rewrite(
        _ store: Store, from seq: Int64, blankAnchors: Bool = false, _ edit: @escaping @Sendable (inout AuditEntry) -> Void
    ) async throws -> Int {
        try await store.write { transaction in
            let rows = try transaction.auditRows(afterSeq: seq - 1, limit: 1_000_000)
            guard var previousHash = rows.first?.prevHash else { return 0 }
            for row in rows {
                var forged = row
                if forged.seq == seq { edit(&forged) }
                forged.prevHash = previousHash
                forged.hash = AuditChain.hash(forged)
                try transaction.connection.execute(
                    """
                    UPDATE audit_log SET at = ?, actor = ?, tenant_id = ?, workspace_id = ?, method = ?, target = ?,
                        outcome = ?, detail = ?, prev_hash = ?, hash = ?\(blankAnchors ? ", anchor = NULL" : "")
                    WHERE seq = ?
                    """,
                    .integer(forged.at), .text(forged.actor), .optionalText(forged.tenantId),
                    .optionalText(forged.workspaceId), .text(forged.method), .optionalText(forged.target),
                    .text(forged.outcome.rawValue), .optionalText(forged.detail), .text(forged.prevHash),
                    .text(forged.hash), .integer(forged.seq))
                previousHash = forged.hash
            }
            try transaction.connection.execute("UPDATE audit_head SET last_hash = ? WHERE id = 1", .text(previousHash))
            return rows.count
        }
    }
}
