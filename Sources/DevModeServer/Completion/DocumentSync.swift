import DevModeProtocol

/// LSP document sync for a session (`didOpen`, `didChange`): the document limits, and the local
/// engine of the document's folder told of the new text. Bad input answers why it was ignored
/// (notifications get no reply: the handler logs it).
extension CompletionPlacement {
    func open(_ item: TextDocumentItem, session: Session, caller: Caller) async -> String? {
        guard item.text.utf8.count <= maxDocumentBytes else { return "larger than maxDocumentBytes (\(maxDocumentBytes))" }
        guard session.documents.open(item, limit: maxOpenDocuments) else {
            return "more than maxOpenDocuments (\(maxOpenDocuments)) open documents"
        }
        await documentChanged(item.uri, session: session, caller: caller)
        return nil
    }

    /// Applies the changes; a document they take over `maxDocumentBytes` is closed.
    func change(_ notification: DidChangeTextDocumentNotification, session: Session, caller: Caller) async -> String? {
        let uri = notification.textDocument.uri
        do {
            try session.documents.change(
                uri: uri, version: notification.textDocument.version, changes: notification.contentChanges,
                encoding: session.positionEncoding)
        } catch {
            return "\(error)"
        }
        if let size = session.documents.get(uri: uri)?.document.bytes.count, size > maxDocumentBytes {
            closeDocument(uri, session: session)
            return "the document grew larger than maxDocumentBytes (\(maxDocumentBytes)): closed"
        }
        await documentChanged(uri, session: session, caller: caller)
        return nil
    }
}
