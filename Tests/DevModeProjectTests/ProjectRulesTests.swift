import DevModeGit
import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// Who may do what to a project, what is audited, the size limits, listings, reads, searches, and
/// the life of a hosted project.
@Suite("Project rules")
struct ProjectRulesTests {
    /// Every method that takes a `projectId`, with valid params for `id` (so that only the project
    /// decides the answer).
    static func projectCalls(_ id: String) -> [(method: String, call: (TestClient) async throws -> Void)] {
        [
            (ProjectGetRequest.method, { _ = try await $0.send(ProjectGetRequest(projectId: id)) }),
            (ProjectRenameRequest.method, { _ = try await $0.send(ProjectRenameRequest(projectId: id, name: "renamed")) }),
            (ProjectDeleteRequest.method, { _ = try await $0.send(ProjectDeleteRequest(projectId: id)) }),
            (ProjectWatchRequest.method, { _ = try await $0.send(ProjectWatchRequest(projectId: id)) }),
            (FileListRequest.method, { _ = try await $0.send(FileListRequest(projectId: id)) }),
            (FileReadRequest.method, { _ = try await $0.send(FileReadRequest(projectId: id, path: "README.md")) }),
            (FileWriteRequest.method, { _ = try await $0.send(FileWriteRequest(projectId: id, path: "README.md", content: "x")) }),
            (FileDeleteRequest.method, { _ = try await $0.send(FileDeleteRequest(projectId: id, path: "README.md")) }),
            (FileMoveRequest.method, { _ = try await $0.send(FileMoveRequest(projectId: id, from: "README.md", to: "moved.md")) }),
            (FileSearchRequest.method, { _ = try await $0.send(FileSearchRequest(projectId: id, query: "secret")) }),
            (VCSStatusRequest.method, { _ = try await $0.send(VCSStatusRequest(projectId: id)) }),
            (VCSCommitRequest.method, { _ = try await $0.send(VCSCommitRequest(projectId: id, message: "intrusion")) }),
            (VCSLogRequest.method, { _ = try await $0.send(VCSLogRequest(projectId: id)) }),
            (VCSDiffRequest.method, { _ = try await $0.send(VCSDiffRequest(projectId: id)) }),
            (VCSRestoreRequest.method, { _ = try await $0.send(VCSRestoreRequest(projectId: id, path: "README.md")) }),
            (VCSBranchListRequest.method, { _ = try await $0.send(VCSBranchListRequest(projectId: id)) }),
            (VCSBranchCreateRequest.method, { _ = try await $0.send(VCSBranchCreateRequest(projectId: id, name: "evil")) }),
            (VCSCheckoutRequest.method, { _ = try await $0.send(VCSCheckoutRequest(projectId: id, branch: "main")) }),
        ]
    }

    /// The changes a viewer may not make (the member's equivalents are made in the test).
    static func viewerRefusals(_ id: String) -> [(method: String, call: (TestClient) async throws -> Void)] {
        [
            (FileWriteRequest.method, { _ = try await $0.send(FileWriteRequest(projectId: id, path: "v.txt", content: "v")) }),
            (FileDeleteRequest.method, { _ = try await $0.send(FileDeleteRequest(projectId: id, path: "README.md")) }),
            (FileMoveRequest.method, { _ = try await $0.send(FileMoveRequest(projectId: id, from: "README.md", to: "m.md")) }),
            (VCSCommitRequest.method, { _ = try await $0.send(VCSCommitRequest(projectId: id, message: "by a viewer")) }),
            (VCSRestoreRequest.method, { _ = try await $0.send(VCSRestoreRequest(projectId: id, path: "README.md")) }),
            (VCSCheckoutRequest.method, { _ = try await $0.send(VCSCheckoutRequest(projectId: id, branch: "main")) }),
            (VCSBranchCreateRequest.method, { _ = try await $0.send(VCSBranchCreateRequest(projectId: id, name: "viewer")) }),
            (ProjectRenameRequest.method, { _ = try await $0.send(ProjectRenameRequest(projectId: id, name: "viewer")) }),
            (ProjectDeleteRequest.method, { _ = try await $0.send(ProjectDeleteRequest(projectId: id)) }),
        ]
    }

    // MARK: Roles and audit

    @Test func viewersReadMembersChangeAndEveryChangeAndRefusalIsAudited() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            let viewer = world.viewerA
            let member = world.memberA
            let git = GitCLI(root: world.root)
            try await world.write("src/app.swift", "let secret = 42\n")
            let first = try await world.commit("App")

            // A viewer reads everything.
            #expect(try await viewer.send(ProjectListRequest(workspaceId: world.fixture.workspaceA.id)).projects.map(\.id) == [id])
            #expect(try await viewer.send(ProjectGetRequest(projectId: id)).name == "app")
            #expect(try await viewer.send(FileListRequest(projectId: id)).entries.contains { $0.path == "src/app.swift" })
            #expect(try await viewer.send(FileReadRequest(projectId: id, path: "src/app.swift")).content == "let secret = 42\n")
            #expect(try await viewer.send(FileSearchRequest(projectId: id, query: "secret")).matches.map(\.path) == ["src/app.swift"])
            #expect(try await viewer.send(VCSLogRequest(projectId: id)).commits.first?.id == first.id)
            #expect(try await viewer.send(VCSStatusRequest(projectId: id)).entries.isEmpty)
            _ = try await viewer.send(VCSDiffRequest(projectId: id, from: "HEAD~1", to: "HEAD"))
            #expect(try await viewer.send(VCSBranchListRequest(projectId: id)).current == "main")

            // …and changes nothing.
            let before = snapshot(world.root)
            for (method, call) in Self.viewerRefusals(id) {
                await expectError(.forbidden, "\(method) as a viewer") { try await call(viewer) }
            }
            #expect(snapshot(world.root) == before, "a viewer's refused request changed the project")
            #expect(try git.run(["rev-parse", "HEAD"]) == first.id + "\n")
            #expect(try git.run(["branch", "--format=%(refname:short)"]) == "main\n")

            // A member changes files and history, but may not rename or delete the project.
            let written = try await world.write("notes.txt", "n\n")
            _ = try await member.send(FileMoveRequest(projectId: id, from: "notes.txt", to: "moved.txt"))
            let commit = try await world.commit("Member's commit")
            #expect(try git.run(["log", "-1", "--format=%an %s"]) == "\(world.fixture.memberA.user.name) Member's commit\n")
            _ = try await member.send(FileDeleteRequest(projectId: id, path: "moved.txt"))
            _ = try await member.send(VCSRestoreRequest(projectId: id, path: "moved.txt"))
            #expect(try await world.read("moved.txt").version == written.version)
            _ = try await member.send(VCSBranchCreateRequest(projectId: id, name: "topic"))
            _ = try await member.send(VCSCheckoutRequest(projectId: id, branch: "topic"))
            await expectError(.forbidden) { try await member.send(ProjectRenameRequest(projectId: id, name: "mine")) }
            await expectError(.forbidden) { try await member.send(ProjectDeleteRequest(projectId: id)) }
            // A refusal inside the change (a stale version) is audited too.
            await expectError(.conflict) {
                try await member.send(FileWriteRequest(projectId: id, path: "moved.txt", content: "x", expectedVersion: first.id))
            }

            // The tenant admin finds every change as a success and every refusal as denied.
            let audit = try await world.adminA.send(AuditQueryRequest(limit: 500)).entries
            let memberName = "user:\(world.fixture.memberA.user.id)"
            let viewerName = "user:\(world.fixture.viewerA.user.id)"
            func rows(_ method: String, _ actor: String, _ outcome: String) -> [AuditEntryInfo] {
                audit.filter {
                    $0.method == method && $0.actor == actor && $0.outcome == outcome && ($0.target ?? "").hasPrefix(id)
                }
            }
            for method in [
                FileWriteRequest.method, FileMoveRequest.method, FileDeleteRequest.method, VCSCommitRequest.method,
                VCSRestoreRequest.method, VCSBranchCreateRequest.method, VCSCheckoutRequest.method,
            ] {
                #expect(!rows(method, memberName, "success").isEmpty, "no success row for the member's \(method)")
            }
            #expect(rows(VCSCommitRequest.method, memberName, "success").contains { $0.detail?.contains(commit.id) == true })
            #expect(rows(FileMoveRequest.method, memberName, "success").contains { $0.target == "\(id):notes.txt -> moved.txt" })
            #expect(rows(FileWriteRequest.method, memberName, "denied").count == 1, "the stale write was not audited as denied")
            for (method, _) in Self.viewerRefusals(id) {
                #expect(!rows(method, viewerName, "denied").isEmpty, "no denied row for the viewer's \(method)")
                #expect(rows(method, viewerName, "success").isEmpty)
            }
            for method in [ProjectRenameRequest.method, ProjectDeleteRequest.method] {
                #expect(!rows(method, memberName, "denied").isEmpty, "no denied row for the member's \(method)")
            }
            // And the chain of rows is intact.
            #expect(try await world.connect(world.fixture.serverAdmin).send(AuditVerifyRequest()).ok)
        }
    }

    @Test func anotherTenantsProjectAnswersLikeAMissingOne() async throws {
        try await ProjectWorld.run { world in
            // Tenant B's project, with a file.
            let foreign = try await world.adminB.send(
                ProjectCreateRequest(
                    workspaceId: world.fixture.workspaceB.id, name: "b-app", files: [FileContent(path: "README.md", content: "B\n")]))
            let before = snapshot(world.root(of: foreign.id))
            let missing = Identifier.make("prj")
            let attacker = world.adminA  // the most powerful person of tenant A
            for ((method, call), (_, callMissing)) in zip(Self.projectCalls(foreign.id), Self.projectCalls(missing)) {
                let foreignError = await expectError(.notFound, "\(method) on tenant B's project") { try await call(attacker) }
                // Same answer as for a project that does not exist (ids aside).
                let absent = await expectError(.notFound, "\(method) on no project") { try await callMissing(attacker) }
                #expect(
                    foreignError?.message.replacingOccurrences(of: foreign.id, with: "<id>")
                        == absent?.message.replacingOccurrences(of: missing, with: "<id>"),
                    "\(method): '\(foreignError?.message ?? "-")' vs '\(absent?.message ?? "-")'")
                #expect(foreignError?.data?["kind"] == absent?.data?["kind"])
            }
            await expectError(.notFound) {
                try await attacker.send(ProjectListRequest(workspaceId: world.fixture.workspaceB.id))
            }
            await expectError(.notFound) {
                try await attacker.send(ProjectCreateRequest(workspaceId: world.fixture.workspaceB.id, name: "planted"))
            }
            // Tenant B's project is untouched and still works for B.
            #expect(snapshot(world.root(of: foreign.id)) == before)
            #expect(try await world.adminB.send(FileReadRequest(projectId: foreign.id, path: "README.md")).content == "B\n")
            #expect(try await world.adminB.send(ProjectListRequest(workspaceId: world.fixture.workspaceB.id)).projects.map(\.name) == ["b-app"])
        }
    }

    // MARK: Limits

    @Test func fileSizeAndWorkspaceStorageLimits() async throws {
        var configuration = ServerConfiguration()
        configuration.projects.maxFileBytes = 1000
        configuration.projects.workspaceStorageBytes = 8000
        try await ProjectWorld.run(configuration: configuration) { world in
            let id = world.projectId

            // One file: at the limit is fine, one byte over is refused and nothing is written.
            try await world.write("max.txt", String(repeating: "m", count: 1000))
            let tooBig = await expectError(.payloadTooLarge) { try await world.write("big.txt", String(repeating: "b", count: 1001)) }
            #expect(tooBig?.data?["limit"]?.intValue == 1000)
            #expect(FileState.of(world.root + "/big.txt") == nil)
            let tooBigBase64 = await expectError(.payloadTooLarge) {
                try await world.memberA.send(
                    FileWriteRequest(projectId: id, path: "big.bin", content: Data(count: 1001).base64EncodedString(), encoding: "base64"))
            }
            #expect(tooBigBase64?.data?["limit"]?.intValue == 1000)
            await expectError(.payloadTooLarge) {
                try await world.memberA.send(
                    ProjectCreateRequest(
                        workspaceId: world.fixture.workspaceA.id, name: "too-big",
                        files: [FileContent(path: "big.txt", content: String(repeating: "b", count: 1001))]))
            }

            // The workspace fills up: the write that would go over is refused with the limit and the use.
            var written: [String] = []
            var refusal: ResponseError?
            for index in 0..<20 {
                let path = "fill-\(index).txt"
                if let error = await rpcError({ try await world.write(path, String(repeating: "f", count: 900)) }) {
                    refusal = error
                    #expect(FileState.of(world.root + "/" + path) == nil)
                    break
                }
                written.append(path)
            }
            let quota = try #require(refusal, "8000 bytes of storage held 20 files of 900 bytes")
            #expect(quota.code == .quotaExceeded)
            #expect(quota.data?["limit"]?.intValue == 8000)
            let used = try #require(quota.data?["used"]?.intValue)
            #expect(used > written.count * 900 && used <= 8000 && used + 900 > 8000, "used: \(used)")
            #expect(written.count >= 5)
            // The same quota covers the workspace's other projects.
            let second = try await world.memberA.send(ProjectCreateRequest(workspaceId: world.fixture.workspaceA.id, name: "second"))
            await expectError(.quotaExceeded) {
                try await world.memberA.send(
                    FileWriteRequest(projectId: second.id, path: "more.txt", content: String(repeating: "s", count: 900)))
            }
            // Shrinking a file is always allowed; deleting frees room.
            try await world.write(written[0], "small\n")
            _ = try await world.memberA.send(FileDeleteRequest(projectId: id, path: written[1]))
            try await world.write("after-delete.txt", String(repeating: "a", count: 800))
        }
    }

    @Test func projectCreateCountsAgainstWorkspaceStorage() async throws {
        var configuration = ServerConfiguration()
        configuration.projects.maxFileBytes = 1000
        configuration.projects.workspaceStorageBytes = 8000
        try await ProjectWorld.run(configuration: configuration) { world in
            // Initial files are written to disk like any other: they may not take the workspace over its storage.
            let files = (0..<12).map { FileContent(path: "f\($0).txt", content: String(repeating: "x", count: 1000)) }
            let error = await rpcError {
                try await world.memberA.send(
                    ProjectCreateRequest(workspaceId: world.fixture.workspaceA.id, name: "bulk", files: files))
            }
            #expect(error?.code == .quotaExceeded, "a 12000-byte project was created in an 8000-byte workspace")
            if error != nil {
                let projects = try await world.memberA.send(ProjectListRequest(workspaceId: world.fixture.workspaceA.id)).projects
                #expect(projects.map(\.name) == ["app"])
                #expect(try FileManager.default.contentsOfDirectory(atPath: world.dataDirectory + "/projects") == [world.projectId])
            }
        }
    }

    @Test func impossibleWritesAndMovesAnswerPlainlyAndChangeNothing() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            let member = world.memberA
            try await world.write("dir/a.txt", "a\n")
            try await world.write("other.txt", "o\n")
            let before = snapshot(world.root)
            // Each is the client's mistake, told as such (not as the server's internal error), naming the path.
            let attempts: [(String, String, () async throws -> Void)] = [
                ("a file under a file", "README.md/x", { try await world.write("README.md/x", "x") }),
                ("a folder into itself", "dir/sub", {
                    _ = try await member.send(FileMoveRequest(projectId: id, from: "dir", to: "dir/sub"))
                }),
                ("a file onto a folder", "dir", {
                    _ = try await member.send(FileMoveRequest(projectId: id, from: "other.txt", to: "dir", overwrite: true))
                }),
                ("a move under a file", "README.md/y", {
                    _ = try await member.send(FileMoveRequest(projectId: id, from: "other.txt", to: "README.md/y"))
                }),
            ]
            for (what, path, attempt) in attempts {
                let error = await rpcError { try await attempt() }
                // -32803 (LSP's RequestFailed): a valid request the filesystem refused; no data.
                #expect(error?.code == .requestFailed, "\(what): \(error.map { "\($0.code.rawValue) \($0.message)" } ?? "success")")
                #expect(error?.data == nil, "\(what): \(String(describing: error?.data))")
                #expect(error?.message.contains(path) == true, "\(what): \(error?.message ?? "-")")
            }
            #expect(snapshot(world.root) == before)
            // A write onto a folder is a conflict.
            await expectError(.conflict) { try await world.write("dir", "x") }
        }
    }

    // MARK: Listing, reading, searching

    @Test func listingHonoursGitignoreAndNeverShowsGit() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            let member = world.memberA
            for (path, content) in [
                (".gitignore", "build/\n*.log\n"), ("build/out.o", "o"), ("debug.log", "log"), ("src/a.swift", "a"),
                ("src/b.log", "b"), ("src/deep/c.swift", "c"),
            ] {
                try await world.write(path, content)
            }
            let listed = try await member.send(FileListRequest(projectId: id)).entries
            #expect(
                Set(listed.map(\.path))
                    == [".gitignore", "README.md", "src", "src/a.swift", "src/deep", "src/deep/c.swift"])
            #expect(listed.first { $0.path == "src" }?.type == "directory")
            let file = listed.first { $0.path == "src/a.swift" }
            let version = try GitRepository.blobID(of: Array("a".utf8))
            #expect(file?.type == "file" && file?.size == 1 && file?.version == version)

            let everything = try await member.send(FileListRequest(projectId: id, includeIgnored: true)).entries
            #expect(Set(everything.map(\.path)).isSuperset(of: ["build", "build/out.o", "debug.log", "src/b.log"]))
            for entries in [listed, everything] {
                #expect(!entries.contains { $0.path == ".git" || $0.path.hasPrefix(".git/") }, "\(entries.map(\.path))")
            }
            // Depth, a starting folder, and a cut-off list.
            #expect(Set(try await member.send(FileListRequest(projectId: id, depth: 1)).entries.map(\.path)) == [".gitignore", "README.md", "src"])
            #expect(Set(try await member.send(FileListRequest(projectId: id, path: "src")).entries.map(\.path)) == ["src/a.swift", "src/deep", "src/deep/c.swift"])
            let cut = try await member.send(FileListRequest(projectId: id, maxEntries: 2))
            #expect(cut.entries.count == 2 && cut.truncated)
            #expect(try await member.send(FileListRequest(projectId: id)).truncated == false)
            await expectError(.notFound) { try await member.send(FileListRequest(projectId: id, path: "nope")) }
        }
    }

    @Test func readsGiveTextOrBase64AndGitVersions() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            let member = world.memberA
            let git = GitCLI(root: world.root)
            let binary: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0xFF, 0xFE, 0x41]
            let samples: [(path: String, bytes: [UInt8], encoding: String)] = [
                ("text.txt", Array("héllo, wörld ✓\nsecond line\n".utf8), "utf-8"),
                ("empty.txt", [], "utf-8"),
                ("image.png", binary, "base64"),
                ("latin1.txt", [0x63, 0x61, 0x66, 0xE9, 0x0A], "base64"),  // not UTF-8
                ("nul.txt", Array("a\u{0}b".utf8), "base64"),
            ]
            for sample in samples {
                let written = try await member.send(
                    FileWriteRequest(projectId: id, path: sample.path, content: Data(sample.bytes).base64EncodedString(), encoding: "base64"))
                let read = try await member.send(FileReadRequest(projectId: id, path: sample.path))
                #expect(read.encoding == sample.encoding, "\(sample.path)")
                let bytes = read.encoding == "base64" ? Data(base64Encoded: read.content).map { [UInt8]($0) } : Array(read.content.utf8)
                #expect(bytes == sample.bytes, "\(sample.path)")
                #expect(read.size == sample.bytes.count)
                #expect(FileState.of(world.root + "/" + sample.path)?.bytes == sample.bytes)
                let hashed = try git.run(["hash-object", sample.path]).trimmingCharacters(in: .newlines)
                #expect(read.version == hashed && written.version == hashed, "\(sample.path)")
            }
            #expect(try await member.send(FileReadRequest(projectId: id, path: "empty.txt")).version == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
            // Listing carries the same versions.
            let listed = try await member.send(FileListRequest(projectId: id)).entries
            for sample in samples {
                #expect(listed.first { $0.path == sample.path }?.version == (try GitRepository.blobID(of: sample.bytes)))
            }
            // Text written as text comes back as written.
            try await world.write("unicode.md", "# Ünïcödé 🚀\n")
            #expect(try await world.read("unicode.md").content == "# Ünïcödé 🚀\n")
            await expectError(.invalidParams) {
                try await member.send(FileWriteRequest(projectId: id, path: "bad.bin", content: "%%%", encoding: "base64"))
            }
            await expectError(.notFound) { try await world.read("missing.txt") }
            // A folder is not a file.
            try await world.write("folder/inside.txt", "i\n")
            await expectError(.conflict) { try await world.read("folder") }
        }
    }

    @Test func searchLiteralRegexAndTruncation() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            let member = world.memberA
            try await world.write(".gitignore", "build/\n")
            try await world.write("src/a.swift", "let alpha = 1\nlet beta = alpha + 2\n")
            try await world.write("src/b.swift", "// Alpha\nfunc alphabet() {}\n")
            try await world.write("notes.md", String(repeating: "alpha\n", count: 10))
            try await world.write("build/gen.swift", "let alpha = 0\n")  // ignored
            _ = try await member.send(
                FileWriteRequest(projectId: id, path: "blob.bin", content: Data(Array("alpha\u{0}".utf8)).base64EncodedString(), encoding: "base64"))

            typealias Match = FileSearchResult.Match
            func found(_ request: FileSearchRequest) async throws -> FileSearchResult {
                try await member.send(request)
            }
            let literal = try await found(FileSearchRequest(projectId: id, query: "alpha"))
            let expected: [Match] =
                (0..<10).map { Match(path: "notes.md", line: $0, character: 0, text: "alpha") } + [
                    Match(path: "src/a.swift", line: 0, character: 4, text: "let alpha = 1"),
                    Match(path: "src/a.swift", line: 1, character: 11, text: "let beta = alpha + 2"),
                    Match(path: "src/b.swift", line: 1, character: 5, text: "func alphabet() {}"),
                ]
            #expect(literal.matches == expected)
            #expect(!literal.truncated && !literal.timedOut)

            let anyCase = try await found(FileSearchRequest(projectId: id, query: "ALPHA", caseSensitive: false))
            #expect(anyCase.matches.count == 14)
            #expect(anyCase.matches.contains(Match(path: "src/b.swift", line: 0, character: 3, text: "// Alpha")))

            let regex = try await found(FileSearchRequest(projectId: id, query: #"^let \w+ = \w+ \+ \d$"#, regex: true))
            #expect(regex.matches == [Match(path: "src/a.swift", line: 1, character: 0, text: "let beta = alpha + 2")])
            // A regex metacharacter is literal without `regex`.
            #expect(try await found(FileSearchRequest(projectId: id, query: "alpha + 2")).matches.count == 1)
            #expect(try await found(FileSearchRequest(projectId: id, query: "alph.", regex: false)).matches.isEmpty)

            let inFolder = try await found(FileSearchRequest(projectId: id, query: "alpha", path: "src"))
            #expect(Set(inFolder.matches.map(\.path)) == ["src/a.swift", "src/b.swift"])

            let cut = try await found(FileSearchRequest(projectId: id, query: "alpha", maxResults: 5))
            #expect(cut.matches == Array(expected.prefix(5)) && cut.truncated)
            // Exactly as many results as asked for: nothing was left out.
            let exact = try await found(FileSearchRequest(projectId: id, query: "alpha", maxResults: expected.count))
            #expect(exact.matches == expected)
            #expect(!exact.truncated, "truncated although every match was returned")

            await expectError(.invalidParams) { try await found(FileSearchRequest(projectId: id, query: "(", regex: true)) }
            await expectError(.invalidParams) { try await found(FileSearchRequest(projectId: id, query: "")) }
            await expectError(.invalidParams) { try await found(FileSearchRequest(projectId: id, query: "a", maxResults: 0)) }
        }
    }

    // MARK: Creating and deleting projects

    @Test func projectCreateWithFilesAndDuplicateNames() async throws {
        try await ProjectWorld.run { world in
            let member = world.memberA
            let workspace = world.fixture.workspaceA.id
            let logo: [UInt8] = [0x00, 0x01, 0xFF, 0x7F, 0x80]
            let site = try await member.send(
                ProjectCreateRequest(
                    workspaceId: workspace, name: "site",
                    files: [
                        FileContent(path: "index.html", content: "<h1>Hi</h1>\n"),
                        FileContent(path: "css/style.css", content: "h1 { color: red }\n", encoding: "utf-8"),
                        FileContent(path: "img/logo.bin", content: Data(logo).base64EncodedString(), encoding: "base64"),
                    ]))
            #expect(site.name == "site" && site.kind == "hosted" && site.branch == "main" && site.root == nil)
            let read = try await member.send(FileReadRequest(projectId: site.id, path: "index.html"))
            #expect(read.content == "<h1>Hi</h1>\n")
            let logoRead = try await member.send(FileReadRequest(projectId: site.id, path: "img/logo.bin"))
            #expect(logoRead.encoding == "base64" && Data(base64Encoded: logoRead.content).map { [UInt8]($0) } == logo)

            // One commit holding exactly those files, by the creator; a clean tree.
            let git = GitCLI(root: world.root(of: site.id))
            #expect(try git.run(["log", "--format=%an %s"]) == "\(world.fixture.memberA.user.name) Initial commit\n")
            #expect(try git.run(["ls-files"]) == "css/style.css\nimg/logo.bin\nindex.html\n")
            #expect(try git.run(["status", "--porcelain"]) == "")
            #expect(try git.run(["symbolic-ref", "--short", "HEAD"]) == "main\n")

            // Without files: a README named after the project.
            let readme = try await member.send(ProjectCreateRequest(workspaceId: workspace, name: "plain"))
            #expect(try await member.send(FileReadRequest(projectId: readme.id, path: "README.md")).content == "# plain\n")

            // A taken name, or a bad initial path: refused, and no folder is left behind.
            let folders = try FileManager.default.contentsOfDirectory(atPath: world.dataDirectory + "/projects").sorted()
            await expectError(.conflict) { try await member.send(ProjectCreateRequest(workspaceId: workspace, name: "site")) }
            await expectError(.invalidParams) {
                try await member.send(
                    ProjectCreateRequest(workspaceId: workspace, name: "escape", files: [FileContent(path: "../x", content: "x")]))
            }
            await expectError(.invalidParams) {
                try await member.send(
                    ProjectCreateRequest(workspaceId: workspace, name: "hooked", files: [FileContent(path: ".git/hooks/post-commit", content: "x")]))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: world.dataDirectory + "/projects").sorted() == folders)
            #expect(FileState.of(world.dataDirectory + "/x") == nil && FileState.of(world.dataDirectory + "/projects/x") == nil)
            let names = try await member.send(ProjectListRequest(workspaceId: workspace)).projects.map(\.name).sorted()
            #expect(names == ["app", "plain", "site"])
            // A viewer may not create projects.
            await expectError(.forbidden) { try await world.viewerA.send(ProjectCreateRequest(workspaceId: workspace, name: "v")) }
        }
    }

    @Test func projectDeleteRemovesAHostedProjectsFolder() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            let root = world.root
            try await world.write("data.txt", "d\n")
            #expect(FileManager.default.fileExists(atPath: root + "/.git/HEAD"))
            await expectError(.forbidden) { try await world.memberA.send(ProjectDeleteRequest(projectId: id)) }
            #expect(FileManager.default.fileExists(atPath: root + "/data.txt"))

            #expect(try await world.adminA.send(ProjectDeleteRequest(projectId: id)).deleted)
            #expect(!FileManager.default.fileExists(atPath: root))
            await expectError(.notFound) { try await world.memberA.send(ProjectGetRequest(projectId: id)) }
            await expectError(.notFound) { try await world.read("data.txt") }
            await expectError(.notFound) { try await world.write("data.txt", "again\n") }
            #expect(!FileManager.default.fileExists(atPath: root), "a write to a deleted project recreated its folder")
            #expect(try await world.memberA.send(ProjectListRequest(workspaceId: world.fixture.workspaceA.id)).projects.isEmpty)
            // The name is free again.
            let again = try await world.memberA.send(ProjectCreateRequest(workspaceId: world.fixture.workspaceA.id, name: "app"))
            #expect(again.id != id)
            let audit = try await world.adminA.send(AuditQueryRequest(method: ProjectDeleteRequest.method, limit: 50)).entries
            #expect(audit.contains { $0.target == id && $0.outcome == "success" && $0.actor == "user:\(world.fixture.adminA.user.id)" })
        }
    }
}
