import Foundation
import Testing

/// A fresh `devmode serve --stdio` with nothing configured (a new data directory, no model
/// registry) completes code offline: the embedded `local` engine learns the folder the client
/// names at `initialize`.
@Suite("devmode serve: local completion with nothing configured")
struct LocalCompletionEndToEndTests {
    /// Identifiers that occur only in these files: a completion that continues them was learnt here.
    static let sources = [
        "Geometry.swift": """
            struct ParallelogramShape {
                var width: Double
                var height: Double

                func computeParallelogramArea() -> Double {
                    width * height
                }
            }

            func makeParallelogramShape(width: Double, height: Double) -> ParallelogramShape {
                ParallelogramShape(width: width, height: height)
            }

            """,
        "main.swift": """
            let shape = makeParallelogramShape(width: 3, height: 4)
            print(shape.computeParallelogramArea())

            """,
    ]

    /// A temporary folder holding `sources`, and its parent (the allowed root).
    static func makeFolder() throws -> (root: String, folder: String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-e2e-local-\(UUID().uuidString)")
        let folder = root.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (name, text) in sources {
            try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return (root.path, folder.path)
    }

    static func json(_ object: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes]), as: UTF8.self)
    }

    @Test func inlineCompletionInANewDocumentContinuesWhatTheFolderTaught() throws {
        let (root, folder) = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // DEVMODE_MODELS empty: no registry from the environment; the data directory is new.
        let server = try ServerProcess(
            arguments: ["serve", "--stdio", "--allowed-root", root], environment: ["DEVMODE_MODELS": ""])
        defer { try? FileManager.default.removeItem(atPath: server.dataDirectory) }
        let folderURI = URL(fileURLWithPath: folder).absoluteString
        server.send(
            try Self.json([
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": [
                    "processId": NSNull(), "capabilities": [:], "rootUri": folderURI,
                    "workspaceFolders": [["uri": folderURI, "name": "project"]],
                ],
            ]))
        let capabilities = try #require(
            (try server.response(id: 1)["result"] as? [String: Any])?["capabilities"] as? [String: Any])
        #expect(capabilities["inlineCompletionProvider"] as? Bool == true)
        server.send(initializedJSON)

        // Only `local` is there, and it is the default.
        server.send(#"{"jsonrpc":"2.0","id":2,"method":"model/list","params":{}}"#)
        let models = try #require(try server.response(id: 2)["result"] as? [String: Any])
        let ids = (models["models"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
        #expect(ids == ["local"])
        #expect(models["defaultCompletionModel"] as? String == "local")

        // A new, unsaved document in the folder, the cursor after a partly typed identifier.
        let uri = URL(fileURLWithPath: folder).appendingPathComponent("Report.swift").absoluteString
        let text = "let other = makeParallelo"
        server.send(
            try Self.json([
                "jsonrpc": "2.0", "method": "textDocument/didOpen",
                "params": ["textDocument": ["uri": uri, "languageId": "swift", "version": 1, "text": text]],
            ]))
        let cursor = ["line": 0, "character": text.utf16.count]
        server.send(
            try Self.json([
                "jsonrpc": "2.0", "id": 3, "method": "textDocument/inlineCompletion",
                "params": ["textDocument": ["uri": uri], "position": cursor, "context": ["triggerKind": 2]],
            ]))
        let reply = try server.response(id: 3)
        let items = try #require((reply["result"] as? [String: Any])?["items"] as? [[String: Any]], "\(reply)")
        let first = try #require(items.first, "no inline completion")
        let insertText = try #require(first["insertText"] as? String)
        // The rest of `makeParallelogramShape(width: …`, as main.swift and Geometry.swift spell it.
        #expect(insertText.hasPrefix("gramShape(width:"), "\(insertText)")
        let range = try #require(first["range"] as? [String: Any])
        #expect(range["start"] as? [String: Int] == cursor)
        #expect(range["end"] as? [String: Int] == cursor)
        #expect((first["completionId"] as? String)?.isEmpty == false)

        server.send(#"{"jsonrpc":"2.0","id":4,"method":"shutdown"}"#)
        _ = try server.response(id: 4)
        server.send(#"{"jsonrpc":"2.0","method":"exit"}"#)
        #expect(try server.waitForExit() == 0)
    }
}
