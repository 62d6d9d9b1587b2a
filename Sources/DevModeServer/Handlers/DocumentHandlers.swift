import DevModeProtocol
import JSONRPC

extension DevModeServer {
    /// LSP document sync. Documents are the session's own; bad input to a notification (an unknown
    /// document, a version that does not increase) is logged and ignored, as notifications get no reply.
    static func registerDocumentHandlers(_ router: inout Router) {
        router.on(DidOpenTextDocumentNotification.self) { notification, context in
            let documents = context.session.documents
            if documents.get(uri: notification.textDocument.uri) != nil {
                context.logger.debug("document opened again: replaced", metadata: ["uri": "\(notification.textDocument.uri)"])
            }
            documents.open(notification.textDocument)
        }
        router.on(DidChangeTextDocumentNotification.self) { notification, context in
            do {
                try context.session.documents.change(
                    uri: notification.textDocument.uri, version: notification.textDocument.version,
                    changes: notification.contentChanges, encoding: context.session.positionEncoding)
            } catch {
                context.logger.warning("didChange ignored", metadata: ["reason": "\(error)"])
            }
        }
        router.on(DidCloseTextDocumentNotification.self) { notification, context in
            if !context.session.documents.close(uri: notification.textDocument.uri) {
                context.logger.warning(
                    "didClose ignored", metadata: ["reason": "no open document '\(notification.textDocument.uri)'"])
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
