import JSONRPC

/// `textDocument/didOpen`: the client opened a document; the session holds its text from now on.
public struct DidOpenTextDocumentNotification: NotificationType, Hashable {
    public static let method = "textDocument/didOpen"
    public var textDocument: TextDocumentItem
    public var ordering: MessageOrdering { .update(textDocument.uri) }
    public init(textDocument: TextDocumentItem) {
        self.textDocument = textDocument
    }
}
