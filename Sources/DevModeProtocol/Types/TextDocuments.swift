import JSONRPC

/// LSP's Position: zero-based line and character, `character` counted in the session's negotiated
/// position encoding (UTF-16 code units unless the client chose utf-8 or utf-32 at `initialize`).
public struct Position: Codable, Sendable, Hashable {
    public var line: Int
    public var character: Int
    public init(line: Int, character: Int) {
        self.line = line
        self.character = character
    }
}

/// LSP's Range (named so as not to shadow Swift.Range): `start` inclusive, `end` exclusive.
public struct TextRange: Codable, Sendable, Hashable {
    public var start: Position
    public var end: Position
    public init(start: Position, end: Position) {
        self.start = start
        self.end = end
    }
}

/// LSP's TextDocumentItem: a document as the client opens it.
public struct TextDocumentItem: Codable, Sendable, Hashable {
    public var uri: String
    public var languageId: String
    public var version: Int
    public var text: String
    public init(uri: String, languageId: String, version: Int, text: String) {
        self.uri = uri
        self.languageId = languageId
        self.version = version
        self.text = text
    }
}

/// LSP's TextDocumentIdentifier.
public struct TextDocumentIdentifier: Codable, Sendable, Hashable {
    public var uri: String
    public init(uri: String) { self.uri = uri }
}

/// LSP's VersionedTextDocumentIdentifier.
public struct VersionedTextDocumentIdentifier: Codable, Sendable, Hashable {
    public var uri: String
    public var version: Int
    public init(uri: String, version: Int) {
        self.uri = uri
        self.version = version
    }
}

/// LSP's TextDocumentContentChangeEvent: the whole text when `range` is absent, else `range` replaced by `text`.
public struct TextDocumentContentChangeEvent: Codable, Sendable, Hashable {
    public var range: TextRange?
    /// LSP's deprecated length of the replaced range; accepted and ignored (`range` decides).
    public var rangeLength: Int?
    public var text: String
    public init(range: TextRange? = nil, rangeLength: Int? = nil, text: String) {
        self.range = range
        self.rangeLength = rangeLength
        self.text = text
    }
}

/// LSP's TextDocumentSyncOptions, as the server advertises them.
public struct TextDocumentSyncOptions: Codable, Sendable, Hashable {
    public var openClose: Bool
    /// LSP's TextDocumentSyncKind: 0 none, 1 full, 2 incremental.
    public var change: Int
    public init(openClose: Bool = true, change: Int = 2) {
        self.openClose = openClose
        self.change = change
    }
}
