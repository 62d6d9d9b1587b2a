import DevModeProtocol
import JSONRPC

extension DevModeServer {
    /// LSP document sync. Documents are the session's own; bad input to a notification (an unknown
    /// document, a version that does not increase, too many or too large documents) is logged and
    /// ignored, as notifications get no reply. Edits feed the local engine of the document's folder.
    static func registerDocumentHandlers(_ router: inout Router) {
        router.on(DidOpenTextDocumentNotification.self) { notification, context in
            let documents = context.session.documents
            let item = notification.textDocument
            let configuration = context.server.configuration
            guard item.text.utf8.count <= configuration.maxDocumentBytes else {
                context.logger.warning(
                    "didOpen ignored", metadata: ["reason": "larger than maxDocumentBytes (\(configuration.maxDocumentBytes))"])
                return
            }
            guard documents.open(item, limit: configuration.maxOpenDocuments) else {
                context.logger.warning(
                    "didOpen ignored",
                    metadata: ["reason": "more than maxOpenDocuments (\(configuration.maxOpenDocuments)) open documents"])
                return
            }
            await context.learn(item.uri)
        }
        router.on(DidChangeTextDocumentNotification.self) { notification, context in
            do {
                try context.session.documents.change(
                    uri: notification.textDocument.uri, version: notification.textDocument.version,
                    changes: notification.contentChanges, encoding: context.session.positionEncoding)
            } catch {
                context.logger.warning("didChange ignored", metadata: ["reason": "\(error)"])
                return
            }
            if let size = context.session.documents.get(uri: notification.textDocument.uri)?.document.bytes.count,
                size > context.server.configuration.maxDocumentBytes
            {
                context.closeDocument(notification.textDocument.uri)
                context.logger.warning(
                    "document closed: it grew larger than maxDocumentBytes",
                    metadata: ["uri": "\(notification.textDocument.uri)"])
                return
            }
            await context.learn(notification.textDocument.uri)
        }
        router.on(DidCloseTextDocumentNotification.self) { notification, context in
            let uri = notification.textDocument.uri
            if !context.closeDocument(uri) {
                context.logger.warning("didClose ignored", metadata: ["reason": "no open document '\(uri)'"])
            }
        }
        router.on(DocumentGetRequest.self) { request, context in
            guard let open = context.session.documents.get(uri: request.uri) else {
                throw ResponseError.notFound("document", request.uri)
            }
            return DocumentGetResult(
                uri: open.uri, languageId: open.languageId, version: open.version, text: open.document.text)
        }
    }
}

extension RequestContext {
    /// Forgets an open document: its text, its place, and its unsaved text in the local engine
    /// (the saved file is learnt again). False when it was not open.
    @discardableResult
    func closeDocument(_ uri: String) -> Bool {
        guard session.documents.close(uri: uri) else { return false }
        let place = session.completion.withLock { $0.places.removeValue(forKey: uri)?.place }
        if let place { server.ai.engines.documentClosed(root: place.engineKey, path: place.path) }
        return true
    }

    /// Lets the local engine of the document's folder learn its current text (after a quiet
    /// period). Only engines already in use learn; the session's loose documents always do.
    func learn(_ uri: String) async {
        guard let place = try? await place(of: uri) else { return }
        let engines = server.ai.engines
        guard place.engineKey == session.looseDocumentsKey || engines.exists(place.engineKey) else { return }
        let documents = session.documents
        engines.documentChanged(root: place.engineKey, path: place.path) { documents.get(uri: uri)?.document.text }
    }
}
