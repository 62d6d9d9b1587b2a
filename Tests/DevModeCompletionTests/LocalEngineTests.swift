import DevModeAI
import DevModeProtocol
@testable import DevModeServer
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// With no model configured, local mode completes from the folders the editor opened: the local
/// engine learns their source files. A git repository inside the allowed roots becomes a project.
@Suite("Local engine", .timeLimit(.minutes(1)))
struct LocalEngineTests {
    static let billing = """
        struct Line { var amount: Int }

        func computeInvoiceTotal(_ lines: [Line]) -> Int {
            lines.reduce(0) { $0 + $1.amount }
        }

        let march = computeInvoiceTotal(marchLines)
        let april = computeInvoiceTotal(aprilLines)

        """
    static let report = """
        func report() {
            print(computeInvoiceTotal(marchLines))
            print(computeInvoiceTotal(aprilLines))
        }

        """
    static let ledger = """
        func reconcileLedgerEntries(_ entries: [Entry]) -> [Entry] {
            entries.filter { $0.isOpen }
        }

        let open = reconcileLedgerEntries(journal)
        let closed = reconcileLedgerEntries(archive)

        """

    /// A server with nothing but the local model (no registry, no environment).
    static func run(allowedRoot: String? = nil, _ body: (CompletionWorld) async throws -> Void) async throws {
        try await CompletionWorld.run(
            models: { _ in ModelRegistry() },
            configure: { configuration in
                configuration.environment = { _ in nil }
                if let allowedRoot { configuration.projects.allowedRoots = [allowedRoot] }
            }, body)
    }

    /// Waits until the engine of `folder` has learnt its files.
    static func trained(_ world: CompletionWorld, _ folder: String) async throws {
        try await #require(world.server.ai.engines.existing(folder)).trained()
    }

    @Test func rootUriFolderTeachesTheEngineOfANewDocument() async throws {
        let folder = try makeFolder(["Billing.swift": Self.billing, "Reports/Report.swift": Self.report, "notes.bin": "\u{0}\u{1}"])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await Self.run(allowedRoot: folder) { world in
            let (client, _) = try await world.session(rootUri: "file://\(folder)")
            #expect(try await client.send(ModelListRequest()).models.map(\.id) == ["local"])
            // Not a git repository: no project is made of it, and nothing is written to it.
            let workspaceId = try await client.defaultWorkspace()
            #expect(try await client.send(ProjectListRequest(workspaceId: workspaceId)).projects.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: folder + "/.git"))
            try await Self.trained(world, folder)

            let uri = "file://\(folder)/Draft.swift"
            client.open(uri, "let may = computeInv\n")
            let list = try await client.inline(uri, at: point(0, "let may = computeInv".utf16.count))
            let item = try #require(list.items.first)
            #expect(item.insertText.hasPrefix("oiceTotal("), "got \(list.items.map(\.insertText))")
            #expect(item.range == range(point(0, 20), point(0, 20)))
            #expect(world.fake.requests.isEmpty)

            // A document outside the folder knows nothing of it.
            let outside = "file:///elsewhere/Draft.swift"
            client.open(outside, "let may = computeInv\n")
            let elsewhere = try await client.inline(outside, at: point(0, 20))
            #expect(!elsewhere.items.contains { $0.insertText.hasPrefix("oiceTotal") })
        }
    }

    @Test func aGitRepositoryInTheAllowedRootsBecomesAProject() async throws {
        // A space in the folder's name: the document URIs are percent-encoded.
        let allowed = try makeFolder(["ledger app/Sources/Ledger.swift": Self.ledger])
        defer { try? FileManager.default.removeItem(atPath: allowed) }
        let repo = allowed + "/ledger app"
        try gitInit(repo)
        let repoURI = "file://" + allowed + "/ledger%20app"
        try await Self.run(allowedRoot: allowed) { world in
            let (client, _) = try await world.session(workspaceFolders: [WorkspaceFolder(uri: repoURI, name: "ledger app")])
            let workspaceId = try await client.defaultWorkspace()
            let projects = try await client.send(ProjectListRequest(workspaceId: workspaceId)).projects
            #expect(projects.map(\.root) == [repo])
            #expect(projects.map(\.kind) == ["local"])
            let project = try #require(projects.first)
            try await Self.trained(world, repo)

            // A document under it completes from its files.
            let uri = repoURI + "/Sources/Draft.swift"
            client.open(uri, "let pending = reconcileLed\n")
            let cursor = point(0, "let pending = reconcileLed".utf16.count)
            let list = try await client.inline(uri, at: cursor)
            #expect(list.items.first?.insertText.hasPrefix("gerEntries(") == true, "got \(list.items.map(\.insertText))")

            // ai/complete in the project uses its engine; without a project, the engine of the first
            // folder the session named at initialize.
            let inProject = try await client.send(
                AICompleteRequest(prefix: "let pending = reconcileLed", language: "swift", path: "Sources/Draft.swift", projectId: project.id))
            #expect(inProject.model == "local")
            #expect(inProject.candidates.first?.hasPrefix("gerEntries(") == true, "got \(inProject.candidates)")
            let inFolder = try await client.send(AICompleteRequest(prefix: "let pending = reconcileLed", language: "swift"))
            #expect(inFolder.candidates.first?.hasPrefix("gerEntries(") == true, "got \(inFolder.candidates)")

            // Another session that named no folder: a document under the repository still maps to
            // the project, through the project's root.
            let (other, _) = try await world.session()
            other.open(uri, "let pending = reconcileLed\n")
            let found = try await other.inline(uri, at: cursor)
            #expect(found.items.first?.insertText.hasPrefix("gerEntries(") == true, "got \(found.items.map(\.insertText))")
            // There, ai/complete without a project knows nothing of it.
            let loose = try await other.send(AICompleteRequest(prefix: "let pending = reconcileLed", language: "swift"))
            #expect(!loose.candidates.contains { $0.hasPrefix("gerEntries") }, "got \(loose.candidates)")
        }
    }

    /// `--allowed-root` confines what the engines learn, as it confines `project/open`: a folder
    /// outside it (here with a planted secret) is neither registered nor read, and completions in
    /// it offer nothing from it.
    @Test func aFolderOutsideTheAllowedRootsIsNeitherRegisteredNorLearnt() async throws {
        let allowed = try makeFolder([:])
        let outside = try makeFolder([
            "Sources/Ledger.swift": Self.ledger, "settings.py": "DATABASE_PASSWORD_SECRET = 'hunter2-planted-outside'\n",
        ])
        defer {
            try? FileManager.default.removeItem(atPath: allowed)
            try? FileManager.default.removeItem(atPath: outside)
        }
        try gitInit(outside)
        try await Self.run(allowedRoot: allowed) { world in
            let (client, _) = try await world.session(workspaceFolders: [WorkspaceFolder(uri: "file://\(outside)", name: "ledger")])
            let workspaceId = try await client.defaultWorkspace()
            #expect(try await client.send(ProjectListRequest(workspaceId: workspaceId)).projects.isEmpty)
            #expect(!world.server.ai.engines.exists(outside))
            let uri = "file://\(outside)/Sources/Draft.swift"
            client.open(uri, "let pending = reconcileLed\n")
            let list = try await client.inline(uri, at: point(0, 26))
            #expect(!list.items.contains { $0.insertText.hasPrefix("gerEntries") }, "got \(list.items.map(\.insertText))")
            let secret = try await client.send(AICompleteRequest(prefix: "DATABASE_PASSWORD_SEC", language: "python"))
            #expect(!secret.candidates.contains { $0.contains("hunter2") }, "got \(secret.candidates)")
            #expect(!world.server.ai.engines.exists(outside))
        }
        // The same folder inside the allowed roots is learnt (what the refusal above is measured against).
        try await Self.run(allowedRoot: outside) { world in
            let (client, _) = try await world.session(rootUri: "file://\(outside)")
            try await Self.trained(world, outside)
            let secret = try await client.send(AICompleteRequest(prefix: "DATABASE_PASSWORD_SEC", language: "python"))
            #expect(secret.candidates.contains { $0.contains("hunter2") }, "got \(secret.candidates)")
        }
    }
}
