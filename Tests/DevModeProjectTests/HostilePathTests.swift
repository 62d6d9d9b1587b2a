import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// Paths a hostile or buggy client might send. Every one is refused as invalid params by every file
/// method, and nothing outside the project (or inside its `.git`) is read, created or changed.
@Suite("Hostile paths")
struct HostilePathTests {
    /// The symlinks planted in the project's folder, by name, and where each points.
    static func links(outside: String, dataDirectory: String) -> [(name: String, target: String)] {
        [
            ("toSentinel", outside + "/sentinel.txt"),  // a file outside, absolute
            ("toOutside", outside),  // a folder outside
            ("toDataSentinel", "../../sentinel.txt"),  // a file outside, relative
            ("toGitDir", ".git"),  // into .git
            ("toGitConfig", ".git/config"),
            ("toGitHooks", ".git/hooks"),
            ("chain1", "chain2"),  // inside → inside → outside
            ("chain2", outside + "/sentinel.txt"),
            ("dirChain", "toOutside"),  // a folder link to a folder link that leaves
            ("dangling", "no-such-file"),
            ("danglingOutside", outside + "/missing.txt"),
            ("toFilesystemRoot", "/"),
            ("toParent", ".."),
            // Legitimate: inside, pointing inside.
            ("innerLink", "inner.txt"),
            ("innerDirLink", "innerDir"),
        ]
    }

    static func corpus(outside: String, dataDirectory: String) -> [String] {
        let longPath = Array(repeating: String(repeating: "d", count: 200), count: 21).joined(separator: "/")
        return [
            // Climbing out.
            "../x", "a/../../x", "..", "../", "a/..", "innerDir/../../x", "../../sentinel.txt", "~/../x",
            "../" + (dataDirectory as NSString).lastPathComponent + "/sentinel.txt",
            // Dot components and empty ones.
            ".", "./a", "a/./b", "a//b", "a/", "innerDir/", "/", "//", "",
            // Absolute paths.
            "/etc/passwd", outside + "/sentinel.txt", dataDirectory + "/sentinel.txt", "/tmp/x",
            // Windows separators.
            "..\\x", "a\\b", "innerDir\\f.txt", "\\etc\\passwd",
            // Control characters.
            "a\u{0}b", "inner.txt\u{0}", "a\u{1}b", "a\nb", "a\rb", "a\tb", "a\u{1B}[31mb", "a\u{7F}b",
            // The repository's own folder, in any case.
            ".git", ".git/", ".git/config", ".git/HEAD", ".git/hooks/pre-commit", "a/.git/hooks/x", ".GIT/config",
            ".Git/HEAD", "sub/.gIt", ".git\\config",
            // Over-long.
            String(repeating: "n", count: 256), "a/" + String(repeating: "é", count: 128), longPath,
            // Through symlinks.
            "toSentinel", "toOutside/x", "toOutside/sentinel.txt", "toOutside/newdir/x", "toDataSentinel",
            "toGitDir", "toGitDir/config", "toGitConfig", "toGitHooks/pre-commit", "chain1", "chain2",
            "dirChain/x", "dirChain/sentinel.txt", "dangling", "danglingOutside", "toFilesystemRoot/etc/passwd",
            "toFilesystemRoot/tmp/x", "toParent/x", "toParent/" + "sentinel.txt",
        ]
    }

    @Test func everyHostilePathIsRefusedByEveryFileMethodAndNothingOutsideChanges() async throws {
        let outside = try makeTemporaryDirectory("devmode-outside")
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try await ProjectWorld.run { world in
            let member = world.memberA
            let id = world.projectId
            let root = world.root
            let data = world.dataDirectory

            // A sentinel file and folder outside the project, and one in the data directory itself.
            try Data("outside: do not touch\n".utf8).write(to: URL(fileURLWithPath: outside + "/sentinel.txt"))
            try FileManager.default.createDirectory(atPath: outside + "/dir", withIntermediateDirectories: true)
            try Data("inner outside\n".utf8).write(to: URL(fileURLWithPath: outside + "/dir/inner.txt"))
            try Data("data dir: do not touch\n".utf8).write(to: URL(fileURLWithPath: data + "/sentinel.txt"))

            // Legitimate content inside, then the symlinks.
            try await world.write("inner.txt", "inner\n")
            try await world.write("innerDir/f.txt", "f\n")
            let victim = try await world.write("victim.txt", "victim\n")
            for (name, target) in Self.links(outside: outside, dataDirectory: data) {
                try FileManager.default.createSymbolicLink(atPath: root + "/" + name, withDestinationPath: target)
            }

            let corpus = Self.corpus(outside: outside, dataDirectory: data)
            #expect(corpus.count >= 30)
            #expect(Set(corpus).count == corpus.count, "the corpus has duplicates")

            func outsideState() -> [String: FileState?] { snapshot(outside) }
            func dataState() -> [String: FileState?] {
                snapshot(data, skipping: ["projects/\(id)"]).filter { !$0.key.hasPrefix("devmode.sqlite3") }
            }
            let sentinelBefore = try #require(FileState.of(outside + "/sentinel.txt"))
            let dataSentinelBefore = try #require(FileState.of(data + "/sentinel.txt"))
            let passwdBefore = FileState.of("/etc/passwd")
            let outsideBefore = outsideState()
            let dataBefore = dataState()
            let projectBefore = snapshot(root)
            // The snapshots see what they guard (else the comparisons below could not fail).
            #expect(projectBefore[".git/config"] != nil && projectBefore["toSentinel"] != nil)
            #expect(outsideBefore["sentinel.txt"] != nil && outsideBefore["dir/inner.txt"] != nil)
            #expect(dataBefore["sentinel.txt"] != nil)

            var refusals = 0
            for path in Self.corpus(outside: outside, dataDirectory: data) {
                let shown = path.debugDescription.prefix(80)
                let calls: [(String, () async throws -> Void)] = [
                    ("file/read", { _ = try await member.send(FileReadRequest(projectId: id, path: path)) }),
                    ("file/write", { _ = try await member.send(FileWriteRequest(projectId: id, path: path, content: "pwned\n")) }),
                    ("file/write createOnly", {
                        _ = try await member.send(FileWriteRequest(projectId: id, path: path, content: "pwned\n", createOnly: true))
                    }),
                    ("file/delete", { _ = try await member.send(FileDeleteRequest(projectId: id, path: path)) }),
                    ("file/move from", { _ = try await member.send(FileMoveRequest(projectId: id, from: path, to: "moved.txt")) }),
                    ("file/move to", {
                        _ = try await member.send(FileMoveRequest(projectId: id, from: "victim.txt", to: path, overwrite: true))
                    }),
                    ("vcs/restore", { _ = try await member.send(VCSRestoreRequest(projectId: id, path: path)) }),
                ]
                for (method, call) in calls {
                    let error = await expectError(.invalidParams, "\(method) \(shown)") { try await call() }
                    if let error {
                        refusals += 1
                        #expect(!error.message.contains(data), "\(method) \(shown): the answer shows a server path")
                    }
                }
                // Listings and searches that start at such a folder are refused too ("" is the root there).
                if !path.isEmpty {
                    await expectError(.invalidParams, "file/list \(shown)") {
                        try await member.send(FileListRequest(projectId: id, path: path))
                    }
                    await expectError(.invalidParams, "file/search \(shown)") {
                        try await member.send(FileSearchRequest(projectId: id, query: "do not touch", path: path))
                    }
                }
            }
            #expect(refusals == corpus.count * 7)

            // Nothing outside changed or appeared; the project itself is as it was (no half-made
            // folders, no `moved.txt`, the victim in place, `.git` untouched, every link intact).
            #expect(FileState.of(outside + "/sentinel.txt") == sentinelBefore)
            #expect(FileState.of(data + "/sentinel.txt") == dataSentinelBefore)
            #expect(FileState.of("/etc/passwd") == passwdBefore)
            let outsideAfter = outsideState()
            #expect(outsideAfter == outsideBefore, "outside: \(Set(outsideAfter.keys).symmetricDifference(outsideBefore.keys))")
            let dataAfter = dataState()
            #expect(dataAfter == dataBefore, "data directory: \(Set(dataAfter.keys).symmetricDifference(dataBefore.keys))")
            let projectAfter = snapshot(root)
            #expect(projectAfter == projectBefore, "project: \(Set(projectAfter.keys).symmetricDifference(projectBefore.keys))")
            for (key, value) in projectAfter where projectBefore[key] != value {
                Issue.record("changed inside the project: \(key)")
            }
            #expect(try await world.read("victim.txt").version == victim.version)
        }
    }

    @Test func symlinksThatStayInsideTheProjectStillWork() async throws {
        try await ProjectWorld.run { world in
            let root = world.root
            let inner = try await world.write("inner.txt", "inner\n")
            try await world.write("innerDir/f.txt", "f\n")
            try FileManager.default.createSymbolicLink(atPath: root + "/innerDirLink", withDestinationPath: "innerDir")
            try FileManager.default.createSymbolicLink(atPath: root + "/innerLink", withDestinationPath: "inner.txt")

            // A folder link that stays inside reads and writes through.
            #expect(try await world.read("innerDirLink/f.txt").content == "f\n")
            let written = try await world.write("innerDirLink/g.txt", "g\n")
            #expect(written.created)
            #expect(FileState.of(root + "/innerDir/g.txt")?.bytes.text == "g\n")

            // A file link that stays inside reads as its target.
            let read = try await world.read("innerLink")
            #expect(read.content == "inner\n")
            #expect(read.version == inner.version)

            // Listing shows the links as links, never their targets' contents twice.
            let entries = try await world.memberA.send(FileListRequest(projectId: world.projectId)).entries
            #expect(entries.first { $0.path == "innerLink" }?.type == "symlink")
            #expect(entries.first { $0.path == "innerDirLink" }?.type == "symlink")
        }
    }
}
