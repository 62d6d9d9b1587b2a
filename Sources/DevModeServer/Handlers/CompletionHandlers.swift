import DevModeFileSystem
import DevModeAI
import DevModeProtocol
import DevModeStore
import FoundationEssentials
import JSONRPC

extension DevModeServer {
    static func registerCompletionHandlers(_ router: inout Router) {
        router.on(InlineCompletionRequest.self) { request, context in
            let snapshot = try context.snapshot(request.textDocument.uri, at: request.position)
            // The snapshot is taken: later edits of the document need not wait for the model.
            OrderingRelease.release()
            let completed = try await context.complete(snapshot, model: request.model, supersede: true)
            return InlineCompletionList(
                items: completed.items.map { item in
                    InlineCompletionItem(
                        insertText: item.text, range: TextRange(start: snapshot.position, end: snapshot.position),
                        command: .acceptCompletion(item.id), completionId: item.id)
                })
        }
        router.on(CompletionRequest.self) { request, context in
            let snapshot = try context.snapshot(request.textDocument.uri, at: request.position)
            OrderingRelease.release()
            let completed = try await context.complete(snapshot, model: request.model, supersede: true)
            let range = TextRange(start: snapshot.wordStart, end: snapshot.position)
            return CompletionList(
                isIncomplete: true,
                items: completed.items.enumerated().map { index, item in
                    let newText = snapshot.word + item.text
                    let firstLine = newText.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? newText
                    return CompletionItem(
                        label: firstLine.count > 80 ? String(firstLine.prefix(79)) + "…" : firstLine, kind: 1,
                        detail: "devmode · \(completed.model)", filterText: newText,
                        sortText: String(repeating: "0", count: max(0, 4 - String(index).count)) + String(index),
                        textEdit: TextEdit(range: range, newText: newText),
                        command: .acceptCompletion(item.id), data: CompletionItemData(completionId: item.id))
                })
        }
        router.on(AICompleteRequest.self) { request, context in
            let place: DocumentPlace
            if let projectId = request.projectId {
                let project = try await context.server.projects.project(projectId, for: context.actor, atLeast: .viewer)
                if let workspaceId = request.workspaceId, workspaceId != project.workspaceId {
                    throw ResponseError.invalidParams("the project is not in workspace '\(workspaceId)'", field: "projectId")
                }
                let path = try request.path.map { try ProjectPath.resolve($0, in: project.root).relative } ?? "untitled"
                place = DocumentPlace(workspaceId: project.workspaceId, projectId: project.id, engineKey: project.root, path: path)
            } else {
                let workspaceId = try await context.completionWorkspace(request.workspaceId)
                _ = try await context.server.directory.workspace(id: workspaceId, for: context.actor)
                // Learnt from the first folder the client named at initialize (local mode), else from
                // the session's own open documents.
                let folder = context.session.completion.withLock { setup in
                    setup.folders.first { $0.workspaceId == nil || $0.workspaceId == workspaceId }
                }
                place = DocumentPlace(
                    workspaceId: workspaceId, projectId: folder?.projectId,
                    engineKey: folder?.root ?? context.session.looseDocumentsKey, path: request.path ?? "untitled")
            }
            let maxCandidates = request.maxCandidates ?? 3
            guard (1...10).contains(maxCandidates) else {
                throw ResponseError.invalidParams("maxCandidates must be 1…10", field: "maxCandidates")
            }
            let limit = context.server.configuration.maxDocumentBytes
            guard request.prefix.utf8.count + (request.suffix?.utf8.count ?? 0) <= limit else {
                throw ResponseError.payloadTooLarge("prefix and suffix", limit: limit, setting: "maxDocumentBytes")
            }
            let ai = context.server.ai
            let model = try await ai.completionModel(
                requested: request.model, sessionDefault: context.session.completion.withLock { $0.model },
                workspaceId: place.workspaceId)
            let completed = try await ai.complete(
                AIService.Request(
                    key: nil, caller: context.caller, workspaceId: place.workspaceId,
                    engineKey: place.engineKey, path: place.path,
                    language: request.language, prefix: request.prefix, suffix: request.suffix ?? "", related: [],
                    model: model, multiline: request.multiline, maxCandidates: maxCandidates))
            return AICompleteResult(
                completionId: completed.items.first?.id ?? Identifier.make("cmp"), model: completed.model,
                candidates: completed.items.map(\.text), cached: completed.cached,
                usage: CompletionUsage(inputTokens: completed.usage.inputTokens, outputTokens: completed.usage.outputTokens))
        }
        router.on(ExecuteCommandRequest.self) { request, context in
            guard request.command == ExecuteCommandRequest.acceptCompletionCommand else {
                throw ResponseError.invalidParams("unknown command '\(request.command)'", field: "command")
            }
            guard let id = request.arguments?.first?.stringValue else {
                throw ResponseError.invalidParams("the command takes the completion id", field: "arguments")
            }
            let length = request.arguments?.dropFirst().first.flatMap { value -> Int? in
                if case .int(let n) = value { return n }
                return nil
            }
            context.server.ai.telemetry(.accepted(length: length), completionId: id, caller: context.caller)
            return VoidResponse()
        }
        router.on(CompletionDidShowNotification.self) { notification, context in
            context.server.ai.telemetry(.shown, completionId: notification.completionId, caller: context.caller)
        }
        router.on(CompletionDidAcceptNotification.self) { notification, context in
            context.server.ai.telemetry(
                .accepted(length: notification.acceptedLength), completionId: notification.completionId, caller: context.caller)
        }
        router.on(CompletionDidRejectNotification.self) { notification, context in
            for id in notification.completionIds.prefix(100) {
                context.server.ai.telemetry(.rejected, completionId: id, caller: context.caller)
            }
        }
    }
}

extension LSPCommand {
    /// The command an accepted completion item runs (`workspace/executeCommand`).
    static func acceptCompletion(_ id: String) -> LSPCommand {
        LSPCommand(title: "Accept completion", command: ExecuteCommandRequest.acceptCompletionCommand, arguments: [.string(id)])
    }
}

/// A document at the cursor, as a completion needs it.
struct CompletionSnapshot: Sendable {
    var uri: String
    var languageId: String
    var position: Position
    /// The identifier being typed at the cursor (what a completion list item replaces) and where it starts.
    var word: String
    var wordStart: Position
    var prefix: String
    var suffix: String
}

extension RequestContext {
    /// Most prefix and suffix a completion looks at (the context builder keeps far less).
    static let snapshotPrefixBytes = 128 << 10
    static let snapshotSuffixBytes = 32 << 10

    func snapshot(_ uri: String, at position: Position) throws -> CompletionSnapshot {
        guard let open = session.documents.get(uri: uri) else { throw ResponseError.notFound("document", uri) }
        let document = open.document
        let encoding = session.positionEncoding
        guard position.line >= 0, position.character >= 0, position.line < document.lineCount else {
            throw ResponseError.invalidParams(
                "position \(position.line):\(position.character) is outside the document (\(document.lineCount) lines)",
                field: "position")
        }
        let offset = document.offset(of: position, encoding: encoding)
        let bytes = document.bytes
        var start = max(0, offset - Self.snapshotPrefixBytes)
        while start < offset, bytes[start] & 0xC0 == 0x80 { start += 1 }
        var end = min(bytes.count, offset + Self.snapshotSuffixBytes)
        while end > offset, end < bytes.count, bytes[end] & 0xC0 == 0x80 { end -= 1 }
        var wordStart = offset
        while wordStart > 0 {
            let byte = bytes[wordStart - 1]
            let isWord =
                byte >= 0x80 || byte == UInt8(ascii: "_") || (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
            guard isWord else { break }
            wordStart -= 1
        }
        while wordStart < offset, bytes[wordStart] & 0xC0 == 0x80 { wordStart += 1 }
        return CompletionSnapshot(
            uri: uri, languageId: open.languageId, position: document.position(of: offset, encoding: encoding),
            word: String(decoding: bytes[wordStart..<offset], as: UTF8.self),
            wordStart: document.position(of: wordStart, encoding: encoding),
            prefix: String(decoding: bytes[start..<offset], as: UTF8.self),
            suffix: String(decoding: bytes[offset..<end], as: UTF8.self))
    }

    /// Completes at a snapshot: finds where the document belongs, picks the model, gathers other
    /// open documents of the same workspace as context for remote models, and runs the pipeline.
    /// `supersede`: a newer request for the same document of this session cancels this one.
    func complete(_ snapshot: CompletionSnapshot, model requested: String?, supersede: Bool) async throws
        -> AIService.Completed
    {
        let place = try await place(of: snapshot.uri)
        let ai = server.ai
        let model = try await ai.completionModel(
            requested: requested, sessionDefault: session.completion.withLock { $0.model }, workspaceId: place.workspaceId)
        var related: [ContextSource] = []
        if model.provider != .local {
            for open in session.documents.all().prefix(21) where open.uri != snapshot.uri {
                let bytes = open.document.bytes
                guard bytes.count <= 256 << 10 else { continue }
                // Another workspace's code never goes to a model this workspace chose: that one
                // may keep to other models (or to the local one).
                guard let other = try? await self.place(of: open.uri), other.workspaceId == place.workspaceId else { continue }
                related.append(ContextSource(path: Self.displayPath(open.uri), text: String(decoding: bytes, as: UTF8.self)))
                if related.count == 20 { break }
            }
        }
        return try await ai.complete(
            AIService.Request(
                key: supersede ? "\(session.id)\u{0}\(snapshot.uri)" : nil, caller: caller, workspaceId: place.workspaceId,
                engineKey: place.engineKey, path: place.path, language: snapshot.languageId, prefix: snapshot.prefix,
                suffix: snapshot.suffix, related: related, model: model, multiline: nil, maxCandidates: 3))
    }

    static func displayPath(_ uri: String) -> String {
        FileURI.path(uri).map(Paths.lastComponent) ?? uri
    }

    // MARK: Where a document belongs

    /// How long a document's place is trusted before it is looked up again (roles may change).
    static let placeLifetime: Duration = .seconds(5)

    func place(of uri: String) async throws -> DocumentPlace {
        if let cached = session.completion.withLock({ $0.places[uri] }), ContinuousClock.now - cached.at < Self.placeLifetime {
            return cached.place
        }
        let place = try await findPlace(of: uri)
        session.completion.withLock { $0.places[uri] = (place, .now) }
        return place
    }

    private func findPlace(of uri: String) async throws -> DocumentPlace {
        if uri.hasPrefix(FileURI.devmodeScheme) {
            // devmode://WORKSPACE/PROJECT/PATH
            let parts = uri.dropFirst(FileURI.devmodeScheme.count).split(separator: "/", maxSplits: 2)
            guard parts.count == 3, let path = FileURI.percentDecoded(String(parts[2])) else {
                throw ResponseError.invalidParams("a devmode URI is devmode://WORKSPACE/PROJECT/PATH", field: "textDocument.uri")
            }
            let project = try await server.projects.project(String(parts[1]), for: actor, atLeast: .viewer)
            guard project.workspaceId == parts[0] else { throw ResponseError.notFound("project", String(parts[1])) }
            let relative = try ProjectPath.resolve(path, in: project.root).relative
            return DocumentPlace(workspaceId: project.workspaceId, projectId: project.id, engineKey: project.root, path: relative)
        }
        if let raw = FileURI.path(uri) {
            // The real path of its folder, as projects and folders are registered by real path.
            let path = ProjectPath.realPath(Paths.parent(raw)).map { $0 == "/" ? "/" + Paths.lastComponent(raw) : $0 + "/" + Paths.lastComponent(raw) } ?? raw
            let folders = session.completion.withLock { $0.folders }
            if let folder = folders.filter({ path != $0.root && Paths.isInside(path, $0.root) }).max(by: { $0.root.count < $1.root.count }) {
                let workspaceId: String
                if let known = folder.workspaceId { workspaceId = known } else { workspaceId = try await completionWorkspace(nil) }
                return DocumentPlace(
                    workspaceId: workspaceId, projectId: folder.projectId, engineKey: folder.root,
                    path: Self.relative(path, to: folder.root))
            }
            if let project = try await localProject(containing: path) {
                return DocumentPlace(
                    workspaceId: project.workspaceId, projectId: project.id, engineKey: project.root,
                    path: Self.relative(path, to: project.root))
            }
        }
        return DocumentPlace(
            workspaceId: try await completionWorkspace(nil), projectId: nil, engineKey: session.looseDocumentsKey,
            path: Self.displayPath(uri))
    }

    /// The innermost local project holding `path` that the caller may read.
    private func localProject(containing path: String) async throws -> Project? {
        var ancestors: [String] = []
        var folder = Paths.parent(path)
        while folder != "/" && folder != "." && ancestors.count < 64 {
            ancestors.append(folder)
            folder = Paths.parent(folder)
        }
        let candidates = ancestors
        let found = try await server.store.read { transaction -> Project? in
            for ancestor in candidates {
                if let project = try transaction.project(root: ancestor), project.kind == .local { return project }
            }
            return nil
        }
        guard let found else { return nil }
        return try? await server.projects.project(found.id, for: actor, atLeast: .viewer)
    }

    static func relative(_ path: String, to root: String) -> String {
        String(path.dropFirst(root == "/" ? 1 : root.count + 1))
    }
}

/// `file://` URIs to paths and back, percent-encoding included.
enum FileURI {
    static let devmodeScheme = "devmode://"

    /// The path of a `file://` URI (`file:///a/b`, `file://localhost/a/b`); nil for anything else.
    static func path(_ uri: String) -> String? {
        guard uri.hasPrefix("file://") else { return nil }
        var rest = uri.dropFirst("file://".count)
        if rest.hasPrefix("localhost/") { rest = rest.dropFirst("localhost".count) }
        guard rest.hasPrefix("/") else { return nil }
        return percentDecoded(String(rest))
    }

    /// `%20` → space; nil when an escape is broken or the bytes are not UTF-8 (or hold a NUL).
    static func percentDecoded(_ text: String) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        guard !bytes.contains(0) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension RequestContext {
    /// At `initialize`: the client's completion defaults (`initializationOptions.workspaceId`,
    /// `.completionModel`) and, in local mode, the folders it names (`workspaceFolders`, else
    /// `rootUri`/`rootPath`). A folder that is a git repository inside the allowed roots opens as a
    /// local project; any other folder still gets a local engine (nothing is written to it). The
    /// engines start learning at once. Folders named by remote callers are never read.
    func setUpCompletion(_ request: InitializeRequest) async {
        let options = request.initializationOptions
        let workspaceId = options?["workspaceId"]?.stringValue
        let model = options?["completionModel"]?.stringValue
        var folders: [CompletionSetup.Folder] = []
        if caller.credential == .local {
            var paths = (request.workspaceFolders ?? []).compactMap { FileURI.path($0.uri) }
            if paths.isEmpty, let root = request.rootUri.flatMap(FileURI.path) ?? request.rootPath { paths = [root] }
            for path in paths.prefix(16) {
                guard path.hasPrefix("/"), let real = ProjectPath.realPath(path), FileSystem.kind(real) == .directory,
                    !folders.contains(where: { $0.root == real })
                else { continue }
                var folder = CompletionSetup.Folder(root: real, projectId: nil, workspaceId: workspaceId)
                if server.projects.settings.allows(real), FileSystem.kind(real + "/.git") == .directory {
                    do {
                        let project = try await server.projects.openLocal(
                            root: real, name: nil, workspaceId: workspaceId, by: actor, signature: try await signature())
                        folder.projectId = project.id
                        folder.workspaceId = project.workspaceId
                    } catch {
                        logger.notice("folder not opened as a project", metadata: ["folder": "\(real)", "reason": "\(error)"])
                    }
                }
                folders.append(folder)
                _ = server.ai.engines.engine(for: real)
            }
        }
        session.completion.withLock {
            $0.workspaceId = workspaceId
            $0.model = model
            $0.folders = folders
        }
    }
}
