import JSONRPC

/// `document/get`: the text the session holds for an open document (for scripts and tests).
public struct DocumentGetRequest: RequestType, Hashable {
    public static let method = "document/get"
    public typealias Response = DocumentGetResult
    public var uri: String
    public var ordering: MessageOrdering { .read(uri) }
    public init(uri: String) {
        self.uri = uri
    }
}

public struct DocumentGetResult: ResponseType, Hashable {
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
