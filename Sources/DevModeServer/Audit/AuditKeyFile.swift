import DevModeCrypto
import DevModeFileSystem
import DevModeStore

#if canImport(Glibc)
import Glibc
#endif

/// The audit key file: the secret that anchors the audit chain outside the database, and the first
/// row anchored with it (`AuditAnchor`). Kept in the data directory (`audit.key`, mode 0600) unless
/// `--audit-key-file` names another place; never in the database, so write access to the database
/// alone cannot forge anchors. Every process that writes to one database must use the same file.
///
/// The file is three lines of text:
///
///     devmode audit key v1
///     key <32 random bytes, hex>
///     start <the first sequence number anchored with it>
public enum AuditKeyFile {
    public static let fileName = "audit.key"
    static let header = "devmode audit key v1"

    public static func defaultPath(dataDirectory: String) -> String {
        dataDirectory + "/" + fileName
    }

    /// Why the key file cannot be used: the message says what an operator should do.
    public struct Failure: Error, CustomStringConvertible {
        public let path: String
        public let message: String
        public var description: String { message }
    }

    /// What a server (and an admin command that writes) does as it opens a store: reads the key
    /// file and anchors `store` with it. When the file is missing and no row of the log carries an
    /// anchor, it creates the file (a new key; anchoring starts at the next row). It refuses, with
    /// a message, when the file is missing although rows carry anchors (a new key would leave them
    /// uncheckable and let rewritten rows pass as older than anchoring), and when the key does not
    /// give the newest anchored row its anchor (another database's key, or that row was rewritten).
    @discardableResult
    public static func open(path: String, store: Store) async throws -> AuditAnchor {
        let newest = try await store.read { try $0.newestAnchoredAuditRow() }
        let anchor: AuditAnchor
        if let existing = try await BlockingIO.run({ try read(path) }) {
            anchor = existing
        } else {
            if let newest {
                throw Failure(
                    path: path,
                    message: "the audit key file \(path) is missing, but the audit log is anchored with a key "
                        + "(rows up to \(newest.seq)); restore the file, or name it with --audit-key-file. devmode "
                        + "does not start a new key over an anchored log: its anchors could no longer be checked")
            }
            let next = try await store.read { try $0.auditHead() }.lastSeq + 1
            let created = AuditAnchor(key: Crypto.randomBytes(AuditAnchor.keyLength), startSeq: next)
            anchor = try await BlockingIO.run { try create(created, at: path) }
        }
        if let newest, let stored = newest.anchor, !anchor.holds(stored, forHash: newest.hash) {
            throw Failure(
                path: path,
                message: "the audit key in \(path) does not give row \(newest.seq) of the audit log its anchor: the "
                    + "file belongs to another database, or the row was rewritten; check with "
                    + "'devmode admin audit verify --audit-key-file PATH' and the right key file")
        }
        store.anchorAudit(with: anchor)
        return anchor
    }

    /// The key in the file at `path`; nil when there is no file.
    public static func read(_ path: String) throws -> AuditAnchor? {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.read(path, limit: 4096)
        } catch let error as FileSystem.Failure where error.isMissing {
            return nil
        } catch {
            throw Failure(path: path, message: "cannot read the audit key file: \(error)")
        }
        guard let anchor = decode(String(decoding: bytes, as: UTF8.self)) else {
            throw Failure(path: path, message: "\(path) is not a devmode audit key file (\(header))")
        }
        return anchor
    }

    /// Writes `anchor` to a new file at `path` (mode 0600, atomically); when another process made
    /// the file first, returns the key in that file instead.
    static func create(_ anchor: AuditAnchor, at path: String) throws -> AuditAnchor {
        do {
            try FileSystem.writeAtomically(Array(encode(anchor).utf8), to: path, mode: 0o600, overwrite: false)
            return anchor
        } catch let error as FileSystem.Failure where error.isExisting {
            guard let winner = try read(path) else { throw Failure(path: path, message: "the audit key file vanished") }
            return winner
        } catch {
            throw Failure(path: path, message: "cannot create the audit key file: \(error)")
        }
    }

    static func encode(_ anchor: AuditAnchor) -> String {
        "\(header)\nkey \(ByteEncoding.hex(anchor.key))\nstart \(anchor.startSeq)\n"
    }

    static func decode(_ text: String) -> AuditAnchor? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard lines.count == 3, lines[0] == header, lines[1].hasPrefix("key "), lines[2].hasPrefix("start "),
            let key = hexBytes(String(lines[1].dropFirst(4))), key.count == AuditAnchor.keyLength,
            let start = Int64(lines[2].dropFirst(6)), start >= 1
        else { return nil }
        return AuditAnchor(key: key, startSeq: start)
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }
}
