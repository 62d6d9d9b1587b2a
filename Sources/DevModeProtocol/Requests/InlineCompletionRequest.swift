import JSONRPC

/// `textDocument/inlineCompletion` (LSP 3.18): ghost text at the cursor of an open document.
/// Ordered as a read of the document (it sees every edit sent before it), but an edit sent after it
/// does not wait for the model: the request takes its snapshot and lets go. A newer completion
/// request for the same document supersedes this one (answered -32801, its upstream call closed).
public struct InlineCompletionRequest: RequestType, Hashable {
    public static let method = "textDocument/inlineCompletion"
    public typealias Response = InlineCompletionList
    public var textDocument: TextDocumentIdentifier
    public var position: Position
    public var context: InlineCompletionContext?
    /// devmode's own: the model to use (else the session's, else the workspace's default).
    public var model: String?
    public var ordering: MessageOrdering { .read(textDocument.uri) }
    public init(
        textDocument: TextDocumentIdentifier, position: Position, context: InlineCompletionContext? = nil,
        model: String? = nil
    ) {
        self.textDocument = textDocument
        self.position = position
        self.context = context
        self.model = model
    }
}

/// LSP's InlineCompletionContext: 1 invoked (explicitly asked), 2 automatic (while typing).
public struct InlineCompletionContext: Codable, Sendable, Hashable {
    public var triggerKind: Int
    public var selectedCompletionInfo: SelectedCompletionInfo?
    public init(triggerKind: Int, selectedCompletionInfo: SelectedCompletionInfo? = nil) {
        self.triggerKind = triggerKind
        self.selectedCompletionInfo = selectedCompletionInfo
    }
}

/// LSP's SelectedCompletionInfo: the item selected in the client's completion widget.
public struct SelectedCompletionInfo: Codable, Sendable, Hashable {
    public var range: TextRange
    public var text: String
    public init(range: TextRange, text: String) {
        self.range = range
        self.text = text
    }
}

public struct InlineCompletionList: ResponseType, Hashable {
    public var items: [InlineCompletionItem]
    public init(items: [InlineCompletionItem]) { self.items = items }
}

/// LSP's InlineCompletionItem; `command` reports acceptance (`devmode.completion.accepted`), and
/// `completionId` (devmode's own) names the item in `completion/didShow|didAccept|didReject`.
public struct InlineCompletionItem: Codable, Sendable, Hashable {
    public var insertText: String
    public var filterText: String?
    public var range: TextRange?
    public var command: LSPCommand?
    public var completionId: String
    public init(insertText: String, filterText: String? = nil, range: TextRange?, command: LSPCommand?, completionId: String) {
        self.insertText = insertText
        self.filterText = filterText
        self.range = range
        self.command = command
        self.completionId = completionId
    }
}
