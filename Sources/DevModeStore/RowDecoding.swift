import DevModeCrypto

extension SQLValue {
    public var int64: Int64? {
        switch self {
        case .integer(let value): return value
        case .real(let value): return Int64(exactly: value)
        case .text(let value): return Int64(value)
        case .null: return nil
        }
    }

    public var int: Int? { int64.map { Int($0) } }

    public var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    public var bool: Bool { (int64 ?? 0) != 0 }

    public static func optionalText(_ value: String?) -> SQLValue { value.map { .text($0) } ?? .null }
    public static func optionalInteger(_ value: Int64?) -> SQLValue { value.map { .integer($0) } ?? .null }
    public static func bool(_ value: Bool) -> SQLValue { .integer(value ? 1 : 0) }
}

extension Tenant {
    init(row: SQLRow) {
        self.init(id: row["id"].text ?? "", name: row["name"].text ?? "", createdAt: row["created_at"].int64 ?? 0)
    }
}

extension User {
    init(row: SQLRow) {
        self.init(
            id: row["id"].text ?? "", tenantId: row["tenant_id"].text ?? "", name: row["name"].text ?? "",
            email: row["email"].text, isServerAdmin: row["is_server_admin"].bool, isTenantAdmin: row["is_tenant_admin"].bool,
            disabledAt: row["disabled_at"].int64, createdAt: row["created_at"].int64 ?? 0)
    }
}

extension Workspace {
    init(row: SQLRow) {
        self.init(
            id: row["id"].text ?? "", tenantId: row["tenant_id"].text ?? "", name: row["name"].text ?? "",
            description: row["description"].text, createdAt: row["created_at"].int64 ?? 0,
            updatedAt: row["updated_at"].int64 ?? 0)
    }
}

extension Membership {
    init(row: SQLRow) {
        self.init(
            workspaceId: row["workspace_id"].text ?? "", userId: row["user_id"].text ?? "",
            role: Role(rawValue: row["role"].text ?? "") ?? .viewer, createdAt: row["created_at"].int64 ?? 0)
    }
}

extension APIKeyRecord {
    init(row: SQLRow) {
        let scopes = (row["scopes"].text ?? "").split(separator: " ").map(String.init)
        self.init(
            id: row["id"].text ?? "", userId: row["user_id"].text ?? "", tenantId: row["tenant_id"].text ?? "",
            name: row["name"].text ?? "", prefix: row["prefix"].text ?? "", hash: row["hash"].text ?? "",
            scopes: scopes, createdAt: row["created_at"].int64 ?? 0, expiresAt: row["expires_at"].int64,
            revokedAt: row["revoked_at"].int64, lastUsedAt: row["last_used_at"].int64)
    }
}

extension AuditEntry {
    init(row: SQLRow) {
        self.init(
            seq: row["seq"].int64 ?? 0, at: row["at"].int64 ?? 0, actor: row["actor"].text ?? "",
            tenantId: row["tenant_id"].text, workspaceId: row["workspace_id"].text, method: row["method"].text ?? "",
            target: row["target"].text, outcome: AuditOutcome(rawValue: row["outcome"].text ?? "") ?? .failed,
            detail: row["detail"].text, prevHash: row["prev_hash"].text ?? "", hash: row["hash"].text ?? "",
            anchor: row["anchor"].text)
    }
}

/// Random, prefixed identifiers: `ten_…`, `usr_…`, `wsp_…`, `key_…`.
public enum Identifier {
    public static func make(_ prefix: String) -> String {
        prefix + "_" + base32(Crypto.randomBytes(10))
    }

    private static let alphabet = Array("abcdefghijkmnopqrstuvwxyz23456789".utf8).prefix(32)

    static func base32(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                out.append(alphabet[alphabet.startIndex + Int((buffer >> UInt32(bits)) & 31)])
            }
        }
        if bits > 0 { out.append(alphabet[alphabet.startIndex + Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Project {
    init(row: SQLRow) {
        self.init(
            id: row["id"].text ?? "", workspaceId: row["workspace_id"].text ?? "", tenantId: row["tenant_id"].text ?? "",
            name: row["name"].text ?? "", kind: Kind(rawValue: row["kind"].text ?? "") ?? .hosted, root: row["root"].text ?? "",
            createdAt: row["created_at"].int64 ?? 0)
    }
}
