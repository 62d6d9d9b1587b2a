import JSONRPC

/// `textDocument/didClose`: the client closed a document; the session forgets it.
public struct DidCloseTextDocumentNotification: NotificationType, Hashable {
    public static let method = "textDocument/didClose"
    public var textDocument: TextDocumentIdentifier
    public var ordering: MessageOrdering { .update(textDocument.uri) }
    public init(textDocument: TextDocumentIdentifier) {
        self.textDocument = textDocument
    }
}
