import DevModeProtocol
import JSONRPC

/// The documents one session's client has open (LSP's model: they are the client's own, never
/// shared with other sessions, and forgotten when the session ends).
public final class DocumentStore: Sendable {
    public struct OpenDocument: Sendable, Hashable {
        public var uri: String
        public var languageId: String
        public var version: Int
        public var document: TextDocument
    }

    /// Why a notification was ignored (logged; notifications get no reply).
    public enum Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        case notOpen(String)
        case versionNotIncreasing(uri: String, current: Int, received: Int)

        public var description: String {
            switch self {
            case .notOpen(let uri): "no open document '\(uri)'"
            case .versionNotIncreasing(let uri, let current, let received):
                "version \(received) of '\(uri)' does not follow the current version \(current)"
            }
        }
    }

    private let documents = LockedState<[String: OpenDocument]>([:])

    public init() {}

    /// Opens (or, when the client opens it again, replaces) a document.
    /// Opens a document unless `limit` documents are open already (replacing an open one is always
    /// allowed); false when refused. Checked and opened under one lock: opens of different
    /// documents run concurrently.
    public func open(_ item: TextDocumentItem, limit: Int) -> Bool {
        let document = OpenDocument(
            uri: item.uri, languageId: item.languageId, version: item.version, document: TextDocument(item.text))
        return documents.withLock { documents in
            guard documents[item.uri] != nil || documents.count < limit else { return false }
            documents[item.uri] = document
            return true
        }
    }

    /// Applies a `didChange`'s edits in order; refuses an unknown document or a version that does not increase.
    public func change(
        uri: String, version: Int, changes: [TextDocumentContentChangeEvent], encoding: PositionEncoding
    ) throws(Refusal) {
        let refusal: Refusal? = documents.withLock { documents in
            guard var open = documents[uri] else { return .notOpen(uri) }
            guard version > open.version else {
                return .versionNotIncreasing(uri: uri, current: open.version, received: version)
            }
            // Drop the table's copy first so the edits mutate a uniquely referenced buffer.
            documents[uri] = nil
            for change in changes { open.document.apply(change, encoding: encoding) }
            open.version = version
            documents[uri] = open
            return nil
        }
        if let refusal { throw refusal }
    }

    /// Closes a document; false when it was not open.
    @discardableResult
    public func close(uri: String) -> Bool {
        documents.withLock { $0.removeValue(forKey: uri) } != nil
    }

    public func get(uri: String) -> OpenDocument? {
        documents.withLock { $0[uri] }
    }

    public var count: Int { documents.withLock { $0.count } }

    /// Every open document (no order).
    public func all() -> [OpenDocument] {
        documents.withLock { Array($0.values) }
    }
}
