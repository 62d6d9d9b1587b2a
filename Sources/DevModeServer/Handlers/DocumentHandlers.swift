import DevModeProtocol
import JSONRPC

extension DevModeServer {
    /// LSP document sync. Documents are the session's own; bad input to a notification (an unknown
    /// document, a version that does not increase, too many or too large documents) is logged and
    /// ignored, as notifications get no reply. Edits feed the local engine of the document's folder.
    static func registerDocumentHandlers(_ router: inout Router) {
        router.on(DidOpenTextDocumentNotification.self) { notification, context in
            if let ignored = await context.server.placement.open(notification.textDocument, session: context.session, caller: context.caller) {
                context.logger.warning("didOpen ignored", metadata: ["reason": "\(ignored)"])
            }
        }
        router.on(DidChangeTextDocumentNotification.self) { notification, context in
            if let ignored = await context.server.placement.change(notification, session: context.session, caller: context.caller) {
                context.logger.warning("didChange ignored", metadata: ["uri": "\(notification.textDocument.uri)", "reason": "\(ignored)"])
            }
        }
        router.on(DidCloseTextDocumentNotification.self) { notification, context in
            let uri = notification.textDocument.uri
            if !context.server.placement.closeDocument(uri, session: context.session) {
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
