import JSONRPC

/// `textDocument/completion`: the same completions as a completion list, for clients without
/// inline completion. Each item replaces the word being typed with the word and the completion.
public struct CompletionRequest: RequestType, Hashable {
    public static let method = "textDocument/completion"
    public typealias Response = CompletionList
    public var textDocument: TextDocumentIdentifier
    public var position: Position
    public var context: CompletionContext?
    /// devmode's own: the model to use.
    public var model: String?
    public var ordering: MessageOrdering { .read(textDocument.uri) }
    public init(textDocument: TextDocumentIdentifier, position: Position, context: CompletionContext? = nil, model: String? = nil) {
        self.textDocument = textDocument
        self.position = position
        self.context = context
        self.model = model
    }
}

/// LSP's CompletionContext: 1 invoked, 2 trigger character, 3 re-triggered for an incomplete list.
public struct CompletionContext: Codable, Sendable, Hashable {
    public var triggerKind: Int
    public var triggerCharacter: String?
    public init(triggerKind: Int, triggerCharacter: String? = nil) {
        self.triggerKind = triggerKind
        self.triggerCharacter = triggerCharacter
    }
}

public struct CompletionList: ResponseType, Hashable {
    /// Always true: typing on asks again (the completion depends on every character).
    public var isIncomplete: Bool
    public var items: [CompletionItem]
    public init(isIncomplete: Bool, items: [CompletionItem]) {
        self.isIncomplete = isIncomplete
        self.items = items
    }
}

/// LSP's CompletionItem (the fields devmode fills).
public struct CompletionItem: Codable, Sendable, Hashable {
    public var label: String
    /// LSP's CompletionItemKind: 1 text, 15 snippet, …; devmode sends 1.
    public var kind: Int?
    public var detail: String?
    public var filterText: String?
    public var sortText: String?
    public var textEdit: TextEdit?
    public var command: LSPCommand?
    /// The item's id for `completion/didShow|didAccept|didReject`.
    public var data: CompletionItemData?
    public init(
        label: String, kind: Int? = nil, detail: String? = nil, filterText: String? = nil, sortText: String? = nil,
        textEdit: TextEdit? = nil, command: LSPCommand? = nil, data: CompletionItemData? = nil
    ) {
        self.label = label
        self.kind = kind
        self.detail = detail
        self.filterText = filterText
        self.sortText = sortText
        self.textEdit = textEdit
        self.command = command
        self.data = data
    }
}

public struct CompletionItemData: Codable, Sendable, Hashable {
    public var completionId: String
    public init(completionId: String) { self.completionId = completionId }
}

/// LSP's TextEdit.
public struct TextEdit: Codable, Sendable, Hashable {
    public var range: TextRange
    public var newText: String
    public init(range: TextRange, newText: String) {
        self.range = range
        self.newText = newText
    }
}
