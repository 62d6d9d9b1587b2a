import DevModeAI
import DevModeClock
import DevModeFileSystem
import DevModeGit
import DevModeProtocol
import DevModeStore
import FoundationEssentials
import JSONRPC
import Logging

/// Where a session's documents belong (which workspace, project and local engine), the completion
/// set-up a client makes at `initialize`, and running a completion there: the rules between the
/// completion handlers and `AIService`.
///
/// A document's place is cached in its session for `placeLifetime` on the injected clock, then
/// looked up again (the caller's roles may change, a folder may be opened as a project).
final class CompletionPlacement: Sendable {
    /// How long a document's place is trusted before it is looked up again.
    static let placeLifetime: Duration = .seconds(5)
    /// Most folders of one `initialize` that are set up.
    static let maxFolders = 16

    private let projects: ProjectService
    private let directory: Directory
    private let store: Store
    private let ai: AIService
    let maxDocumentBytes: Int
    let maxOpenDocuments: Int
    let clock: any ServerClock
    private let logger: Logger

    init(
        projects: ProjectService, directory: Directory, store: Store, ai: AIService, maxDocumentBytes: Int,
        maxOpenDocuments: Int, clock: any ServerClock, logger: Logger
    ) {
        self.maxOpenDocuments = maxOpenDocuments
        self.projects = projects
        self.directory = directory
        self.store = store
        self.ai = ai
        self.maxDocumentBytes = maxDocumentBytes
        self.clock = clock
        self.logger = logger
    }

    // MARK: Set-up at initialize

    /// At `initialize`: the client's completion defaults (`initializationOptions.workspaceId`,
    /// `.completionModel`) and, in local mode, the folders it names (`workspaceFolders`, else
    /// `rootUri`/`rootPath`). Only folders inside the allowed roots are used, as by `project/open`:
    /// one that is a git repository opens as a local project, any other still gets a local engine
    /// (nothing is written to it). The engines start learning at once, in the background. Folders
    /// outside the allowed roots, and folders named by remote callers, are never read.
    func setUp(
        _ request: InitializeRequest, session: Session, caller: Caller,
        signature: @Sendable () async throws -> GitSignature
    ) async {
        let options = request.initializationOptions
        let workspaceId = options?["workspaceId"]?.stringValue
        var folders: [CompletionSetup.Folder] = []
        if caller.credential == .local {
            for real in Self.namedFolders(request) {
                guard !folders.contains(where: { $0.root == real }) else { continue }
                guard projects.settings.allows(real) else {
                    logger.notice("folder not learnt: outside the allowed roots (--allowed-root)", metadata: ["folder": "\(real)"])
                    continue
                }
                folders.append(await openFolder(real, workspaceId: workspaceId, caller: caller, signature: signature))
                ai.engines.engine(for: real)
            }
        }
        session.completion.withLock {
            $0.workspaceId = workspaceId
            $0.model = options?["completionModel"]?.stringValue
            $0.folders = folders
        }
    }

    /// The real paths of the existing folders an `initialize` names (at most `maxFolders`).
    static func namedFolders(_ request: InitializeRequest) -> [String] {
        var paths = (request.workspaceFolders ?? []).compactMap { FileURI.path($0.uri) }
        if paths.isEmpty, let root = request.rootUri.flatMap(FileURI.path) ?? request.rootPath { paths = [root] }
        return paths.prefix(maxFolders).compactMap { path in
            guard path.hasPrefix("/"), let real = ProjectPath.realPath(path), FileSystem.kind(real) == .directory else { return nil }
            return real
        }
    }

    /// A folder inside the allowed roots; a git repository is registered as a local project.
    private func openFolder(
        _ real: String, workspaceId: String?, caller: Caller, signature: @Sendable () async throws -> GitSignature
    ) async -> CompletionSetup.Folder {
        var folder = CompletionSetup.Folder(root: real, projectId: nil, workspaceId: workspaceId)
        guard FileSystem.kind(real + "/.git") == .directory else { return folder }
        do {
            let project = try await projects.openLocal(
                root: real, name: nil, workspaceId: workspaceId, by: .caller(caller), signature: try await signature())
            folder.projectId = project.id
            folder.workspaceId = project.workspaceId
        } catch {
            logger.notice("folder not opened as a project", metadata: ["folder": "\(real)", "reason": "\(error)"])
        }
        return folder
    }

    /// The workspace a completion or model request works in: the one named, else the one the
    /// client named at `initialize`, else the caller's first.
    func workspace(named: String?, session: Session, caller: Caller) async throws -> String {
        if let named { return named }
        if let chosen = session.completion.withLock({ $0.workspaceId }) { return chosen }
        return try await directory.defaultWorkspace(for: .caller(caller))
    }

    // MARK: Completing

    /// Completes at `position` of an open document: takes the snapshot, lets later edits of the
    /// document through (`OrderingRelease`: they need not wait for the model), and completes there.
    /// `supersede`: a newer request for the same document of this session cancels this one.
    func complete(
        _ uri: String, at position: Position, model: String?, supersede: Bool, session: Session, caller: Caller
    ) async throws -> (snapshot: CompletionSnapshot, completed: AIService.Completed) {
        let snapshot = try CompletionSnapshot(uri, at: position, in: session)
        OrderingRelease.release()
        return (snapshot, try await complete(snapshot, model: model, supersede: supersede, session: session, caller: caller))
    }

    /// Completes at a snapshot: finds where the document belongs, picks the model, gathers other
    /// open documents of the same workspace as context for remote models, and runs the pipeline.
    func complete(
        _ snapshot: CompletionSnapshot, model requested: String?, supersede: Bool, session: Session, caller: Caller
    ) async throws -> AIService.Completed {
        let place = try await place(of: snapshot.uri, session: session, caller: caller)
        session.usedWorkspace(place.workspaceId)
        let model = try await ai.completionModel(
            requested: requested, sessionDefault: session.completion.withLock { $0.model }, workspaceId: place.workspaceId)
        var related: [ContextSource] = []
        if model.provider != .local {
            for open in session.documents.all().prefix(21) where open.uri != snapshot.uri {
                let bytes = open.document.bytes
                guard bytes.count <= 256 << 10 else { continue }
                // Another workspace's code never goes to a model this workspace chose: that one
                // may keep to other models (or to the local one).
                guard let other = try? await self.place(of: open.uri, session: session, caller: caller),
                    other.workspaceId == place.workspaceId
                else { continue }
                related.append(ContextSource(path: FileURI.displayPath(open.uri), text: String(decoding: bytes, as: UTF8.self)))
                if related.count == 20 { break }
            }
        }
        return try await ai.complete(
            AIService.Request(
                key: supersede ? "\(session.id)\u{0}\(snapshot.uri)" : nil, caller: caller, workspaceId: place.workspaceId,
                engineKey: place.engineKey, path: place.path, language: snapshot.languageId, prefix: snapshot.prefix,
                suffix: snapshot.suffix, related: related, model: model, multiline: nil, maxCandidates: 3))
    }

    /// `ai/complete`: a completion of text given in the request, placed in the project it names
    /// (the caller must read it) or else in the workspace named (or the session's), learnt from the
    /// first folder the client named at `initialize` for it (local mode), else from the session's
    /// own open documents.
    func complete(_ request: AICompleteRequest, session: Session, caller: Caller) async throws -> AIService.Completed {
        let place = try await place(of: request, session: session, caller: caller)
        session.usedWorkspace(place.workspaceId)
        let maxCandidates = request.maxCandidates ?? 3
        guard (1...10).contains(maxCandidates) else {
            throw ResponseError.invalidParams("maxCandidates must be 1…10", field: "maxCandidates")
        }
        guard request.prefix.utf8.count + (request.suffix?.utf8.count ?? 0) <= maxDocumentBytes else {
            throw ResponseError.payloadTooLarge("prefix and suffix", limit: maxDocumentBytes, setting: "maxDocumentBytes")
        }
        let model = try await ai.completionModel(
            requested: request.model, sessionDefault: session.completion.withLock { $0.model }, workspaceId: place.workspaceId)
        return try await ai.complete(
            AIService.Request(
                key: nil, caller: caller, workspaceId: place.workspaceId, engineKey: place.engineKey, path: place.path,
                language: request.language, prefix: request.prefix, suffix: request.suffix ?? "", related: [],
                model: model, multiline: request.multiline, maxCandidates: maxCandidates))
    }

    private func place(of request: AICompleteRequest, session: Session, caller: Caller) async throws -> DocumentPlace {
        if let projectId = request.projectId {
            let project = try await projects.project(projectId, for: .caller(caller), atLeast: .viewer)
            if let workspaceId = request.workspaceId, workspaceId != project.workspaceId {
                throw ResponseError.invalidParams("the project is not in workspace '\(workspaceId)'", field: "projectId")
            }
            let path = try request.path.map { try ProjectPath.resolve($0, in: project.root).relative } ?? "untitled"
            return DocumentPlace(workspaceId: project.workspaceId, projectId: project.id, engineKey: project.root, path: path)
        }
        let workspaceId = try await workspace(named: request.workspaceId, session: session, caller: caller)
        _ = try await directory.workspace(id: workspaceId, for: .caller(caller))
        let folder = session.completion.withLock { setup in
            setup.folders.first { $0.workspaceId == nil || $0.workspaceId == workspaceId }
        }
        return DocumentPlace(
            workspaceId: workspaceId, projectId: folder?.projectId, engineKey: folder?.root ?? session.looseDocumentsKey,
            path: request.path ?? "untitled")
    }

    // MARK: Where a document belongs

    /// The place of the session's document `uri`, from the session's cache while it is younger
    /// than `placeLifetime`.
    func place(of uri: String, session: Session, caller: Caller) async throws -> DocumentPlace {
        let now = clock.now
        if let cached = session.completion.withLock({ $0.places[uri] }), now - cached.at < Self.placeLifetime {
            return cached.place
        }
        let place = try await findPlace(of: uri, session: session, caller: caller)
        session.completion.withLock { $0.places[uri] = (place, now) }
        return place
    }

    private func findPlace(of uri: String, session: Session, caller: Caller) async throws -> DocumentPlace {
        if uri.hasPrefix(FileURI.devmodeScheme) {
            // devmode://WORKSPACE/PROJECT/PATH
            let parts = uri.dropFirst(FileURI.devmodeScheme.count).split(separator: "/", maxSplits: 2)
            guard parts.count == 3, let path = FileURI.percentDecoded(String(parts[2])) else {
                throw ResponseError.invalidParams("a devmode URI is devmode://WORKSPACE/PROJECT/PATH", field: "textDocument.uri")
            }
            let project = try await projects.project(String(parts[1]), for: .caller(caller), atLeast: .viewer)
            guard project.workspaceId == parts[0] else { throw ResponseError.notFound("project", String(parts[1])) }
            let relative = try ProjectPath.resolve(path, in: project.root).relative
            return DocumentPlace(workspaceId: project.workspaceId, projectId: project.id, engineKey: project.root, path: relative)
        }
        if let raw = FileURI.path(uri) {
            // The real path of its folder, as projects and folders are registered by real path.
            let path =
                ProjectPath.realPath(Paths.parent(raw)).map { $0 == "/" ? "/" + Paths.lastComponent(raw) : $0 + "/" + Paths.lastComponent(raw) }
                ?? raw
            let folders = session.completion.withLock { $0.folders }
            if let folder = folders.filter({ path != $0.root && Paths.isInside(path, $0.root) }).max(by: { $0.root.count < $1.root.count }) {
                let workspaceId: String
                if let known = folder.workspaceId {
                    workspaceId = known
                } else {
                    workspaceId = try await workspace(named: nil, session: session, caller: caller)
                }
                return DocumentPlace(
                    workspaceId: workspaceId, projectId: folder.projectId, engineKey: folder.root,
                    path: Self.relative(path, to: folder.root))
            }
            if let project = try await localProject(containing: path, caller: caller) {
                return DocumentPlace(
                    workspaceId: project.workspaceId, projectId: project.id, engineKey: project.root,
                    path: Self.relative(path, to: project.root))
            }
        }
        return DocumentPlace(
            workspaceId: try await workspace(named: nil, session: session, caller: caller), projectId: nil,
            engineKey: session.looseDocumentsKey, path: FileURI.displayPath(uri))
    }

    /// The innermost local project holding `path` that the caller may read.
    private func localProject(containing path: String, caller: Caller) async throws -> Project? {
        var ancestors: [String] = []
        var folder = Paths.parent(path)
        while folder != "/" && folder != "." && ancestors.count < 64 {
            ancestors.append(folder)
            folder = Paths.parent(folder)
        }
        let candidates = ancestors
        let found = try await store.read { transaction -> Project? in
            for ancestor in candidates {
                if let project = try transaction.project(root: ancestor), project.kind == .local { return project }
            }
            return nil
        }
        guard let found else { return nil }
        return try? await projects.project(found.id, for: .caller(caller), atLeast: .viewer)
    }

    static func relative(_ path: String, to root: String) -> String {
        String(path.dropFirst(root == "/" ? 1 : root.count + 1))
    }

    // MARK: Documents and the local engines

    /// Lets the local engine of the document's folder learn its current text (after a quiet
    /// period). Only engines already in use learn; the session's loose documents always do.
    func documentChanged(_ uri: String, session: Session, caller: Caller) async {
        guard let place = try? await place(of: uri, session: session, caller: caller) else { return }
        let engines = ai.engines
        guard place.engineKey == session.looseDocumentsKey || engines.exists(place.engineKey) else { return }
        let documents = session.documents
        engines.documentChanged(root: place.engineKey, path: place.path) { documents.get(uri: uri)?.document.text }
    }

    /// Forgets an open document: its text, its place, and its unsaved text in the local engine
    /// (the saved file is learnt again). False when it was not open.
    @discardableResult
    func closeDocument(_ uri: String, session: Session) -> Bool {
        guard session.documents.close(uri: uri) else { return false }
        let place = session.completion.withLock { $0.places.removeValue(forKey: uri)?.place }
        if let place { ai.engines.documentClosed(root: place.engineKey, path: place.path) }
        return true
    }

    /// A session ended: the unsaved text of its documents is forgotten by the folders' engines,
    /// and the engine of its loose documents is dropped (with the edits still waiting to be learnt).
    func sessionEnded(_ session: Session) {
        let places = session.completion.withLock { setup in
            defer { setup.places.removeAll() }
            return setup.places.values.map(\.place)
        }
        for place in places where place.engineKey != session.looseDocumentsKey {
            ai.engines.documentClosed(root: place.engineKey, path: place.path)
        }
        ai.engines.drop(session.looseDocumentsKey)
    }
}

/// A document at the cursor, as a completion needs it.
struct CompletionSnapshot: Sendable {
    /// Most prefix and suffix a completion looks at (the context builder keeps far less).
    static let prefixBytes = 128 << 10
    static let suffixBytes = 32 << 10

    var uri: String
    var languageId: String
    var position: Position
    /// The identifier being typed at the cursor (what a completion list item replaces) and where it starts.
    var word: String
    var wordStart: Position
    var prefix: String
    var suffix: String

    /// The session's open document `uri` at `position` (in the session's position encoding).
    init(_ uri: String, at position: Position, in session: Session) throws {
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
        var start = max(0, offset - Self.prefixBytes)
        while start < offset, bytes[start] & 0xC0 == 0x80 { start += 1 }
        var end = min(bytes.count, offset + Self.suffixBytes)
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
        self.uri = uri
        self.languageId = open.languageId
        self.position = document.position(of: offset, encoding: encoding)
        self.word = String(decoding: bytes[wordStart..<offset], as: UTF8.self)
        self.wordStart = document.position(of: wordStart, encoding: encoding)
        self.prefix = String(decoding: bytes[start..<offset], as: UTF8.self)
        self.suffix = String(decoding: bytes[offset..<end], as: UTF8.self)
    }
}
