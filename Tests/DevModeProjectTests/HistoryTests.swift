import DevModeGit
import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// History through RPC (commit, log, diff, restore, branches, checkout, status), checked against
/// what the git command line says about the same repository.
@Suite("History against git")
struct HistoryTests {
    static let first = """
        struct Greeter {
            let name: String
            func greet() -> String { "Hello, \\(name)" }
        }

        func main() {
            print(Greeter(name: "world").greet())
        }

        """
    static let second = """
        struct Greeter {
            let name: String
            func greet() -> String { "Hi there, \\(name)!" }
        }

        func main() {
            print(Greeter(name: "devmode").greet())
            print("done")
        }

        """

    @Test func logDiffRestoreAndStatusAgreeWithGit() async throws {
        try await ProjectWorld.run(files: [FileContent(path: "README.md", content: "# app\n")]) { world in
            let id = world.projectId
            let member = world.memberA
            let git = GitCLI(root: world.root)

            let v1 = try await world.write("Sources/main.swift", Self.first)
            let a = try await world.commit("First version\n\nWith a body.")
            let v2 = try await world.write("Sources/main.swift", Self.second, expectedVersion: v1.version)
            let b = try await world.commit("Second version")
            #expect(b.parents == [a.id])
            #expect(a.summary == "First version" && a.message == "First version\n\nWith a body.\n")
            #expect(a.author.name == world.fixture.memberA.user.name)

            // vcs/log is git log: ids, authors and subjects, newest first.
            let log = try await member.send(VCSLogRequest(projectId: id)).commits
            let gitLog = try git.run(["log", "--format=%H%x00%an%x00%ae%x00%s"])
                .split(separator: "\n").map { $0.split(separator: "\0", omittingEmptySubsequences: false).map(String.init) }
            #expect(log.count == 3)
            #expect(log.map(\.id) == gitLog.map { $0[0] })
            #expect(log.map(\.author.name) == gitLog.map { $0[1] })
            #expect(log.map(\.author.email) == gitLog.map { $0[2] })
            #expect(log.map(\.summary) == gitLog.map { $0[3] })
            #expect(log.map(\.summary) == ["Second version", "First version", "Initial commit"])
            #expect(try git.run(["cat-file", "-p", a.id]).hasSuffix("\n\nFirst version\n\nWith a body.\n"))

            // vcs/diff between the two commits is git diff, byte for byte.
            let diff = try await member.send(VCSDiffRequest(projectId: id, from: a.id, to: b.id))
            let gitDiff = try git.run(["diff", "--no-color", a.id, b.id])
            #expect(!gitDiff.isEmpty)
            #expect(diff.patch == gitDiff)
            let file = try #require(diff.files.first)
            #expect(diff.files.count == 1 && file.newPath == "Sources/main.swift" && file.status == "modified")
            let numstat = try git.run(["diff", "--numstat", a.id, b.id]).split(separator: "\t").prefix(2).map { Int($0) }
            #expect([file.additions, file.deletions] == numstat)
            // And with other context sizes too.
            let narrow = try await member.send(VCSDiffRequest(projectId: id, from: a.id, to: b.id, contextLines: 0))
            #expect(narrow.patch == (try git.run(["diff", "--no-color", "-U0", a.id, b.id])))

            // The versions are git's blob ids.
            #expect(try git.run(["rev-parse", "\(a.id):Sources/main.swift"]) == v1.version + "\n")
            #expect(try git.run(["rev-parse", "\(b.id):Sources/main.swift"]) == v2.version + "\n")
            #expect(try git.run(["status", "--porcelain"]) == "")

            // Restore the first version: file/read gives its content and version; git sees it modified.
            let restored = try await member.send(VCSRestoreRequest(projectId: id, path: "Sources/main.swift", revision: a.id))
            #expect(restored.version == v1.version)
            let read = try await world.read("Sources/main.swift")
            #expect(read.content == Self.first && read.version == v1.version)
            #expect(try git.run(["show", "\(a.id):Sources/main.swift"]) == Self.first)
            #expect(try git.run(["hash-object", "Sources/main.swift"]) == v1.version + "\n")
            #expect(try git.run(["status", "--porcelain"]) == " M Sources/main.swift\n")
            let status = try await member.send(VCSStatusRequest(projectId: id))
            #expect(status.branch == "main")
            #expect(status.entries == [.init(path: "Sources/main.swift", index: nil, workdir: "modified")])
            // The working-tree diff is git diff HEAD.
            let working = try await member.send(VCSDiffRequest(projectId: id))
            #expect(working.patch == (try git.run(["diff", "--no-color", "HEAD"])))

            // Restoring a file that did not exist at a revision removes it.
            try await world.write("extra.txt", "extra\n")
            let removed = try await member.send(VCSRestoreRequest(projectId: id, path: "extra.txt", revision: a.id))
            #expect(removed.version == nil)
            await expectError(.notFound) { try await world.read("extra.txt") }
        }
    }

    @Test func logByPathAndPaging() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            let member = world.memberA
            let git = GitCLI(root: world.root)
            for round in 1...7 {
                try await world.write(round % 2 == 0 ? "even.txt" : "odd.txt", "round \(round)\n")
                try await world.commit("Round \(round)")
            }
            let all = try git.run(["log", "--format=%H"]).split(separator: "\n").map(String.init)
            #expect(all.count == 8)

            // Only the commits that touched a path, as git log -- path.
            let even = try await member.send(VCSLogRequest(projectId: id, path: "even.txt")).commits.map(\.id)
            #expect(even == (try git.run(["log", "--format=%H", "--", "even.txt"])).split(separator: "\n").map(String.init))
            #expect(even.count == 3)

            // Pages of 3 follow each other without gaps or repeats, and the last one says so.
            var pages: [[String]] = []
            var cursor: String?
            repeat {
                let page = try await member.send(VCSLogRequest(projectId: id, cursor: cursor, limit: 3))
                pages.append(page.commits.map(\.id))
                cursor = page.nextCursor
            } while cursor != nil && pages.count < 10
            #expect(pages.map(\.count) == [3, 3, 2])
            #expect(pages.flatMap { $0 } == all)

            // Paging by path too.
            let oddFirst = try await member.send(VCSLogRequest(projectId: id, path: "odd.txt", limit: 2))
            let oddRest = try await member.send(
                VCSLogRequest(projectId: id, path: "odd.txt", cursor: oddFirst.nextCursor, limit: 2))
            #expect(
                (oddFirst.commits + oddRest.commits).map(\.id)
                    == (try git.run(["log", "--format=%H", "--", "odd.txt"])).split(separator: "\n").map(String.init))
            await expectError(.invalidParams) { try await member.send(VCSLogRequest(projectId: id, cursor: "garbage")) }
            await expectError(.invalidParams) { try await member.send(VCSLogRequest(projectId: id, limit: 0)) }
        }
    }

    @Test func branchesAndCheckout() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            let member = world.memberA
            let git = GitCLI(root: world.root)
            try await world.write("notes.txt", "one\n")
            let base = try await world.commit("One")

            let feature = try await member.send(VCSBranchCreateRequest(projectId: id, name: "feature"))
            #expect(feature.name == "feature" && feature.target == base.id && !feature.isCurrent)
            #expect(try git.run(["rev-parse", "refs/heads/feature"]) == base.id + "\n")
            #expect(try git.run(["symbolic-ref", "--short", "HEAD"]) == "main\n")
            // A taken name is a conflict; a name git cannot have is invalid params.
            await expectError(.conflict) { try await member.send(VCSBranchCreateRequest(projectId: id, name: "feature")) }
            await expectError(.invalidParams) { try await member.send(VCSBranchCreateRequest(projectId: id, name: "bad..name")) }
            await expectError(.notFound) { try await member.send(VCSBranchCreateRequest(projectId: id, name: "x", revision: "no-such-rev")) }
            #expect(try git.run(["branch", "--format=%(refname:short)"]) == "feature\nmain\n")

            // Main moves on.
            try await world.write("notes.txt", "two\n")
            let onMain = try await world.commit("Two")
            let branches = try await member.send(VCSBranchListRequest(projectId: id))
            #expect(branches.current == "main")
            #expect(branches.branches.map(\.name) == ["feature", "main"])
            #expect(branches.branches.first { $0.name == "main" }?.target == onMain.id)

            // An uncommitted change the switch would overwrite: refused, and nothing changes.
            try await world.write("notes.txt", "dirty\n")
            let refused = await expectError(.conflict) {
                try await member.send(VCSCheckoutRequest(projectId: id, branch: "feature"))
            }
            #expect(refused?.message.contains("notes.txt") == true)
            #expect(try await world.read("notes.txt").content == "dirty\n")
            #expect(try git.run(["symbolic-ref", "--short", "HEAD"]) == "main\n")
            #expect(try git.run(["status", "--porcelain"]) == " M notes.txt\n")

            // With force it switches, and the working tree is the branch's.
            let switched = try await member.send(VCSCheckoutRequest(projectId: id, branch: "feature", force: true))
            #expect(switched.branch == "feature" && switched.head == base.id)
            #expect(try await world.read("notes.txt").content == "one\n")
            #expect(try git.run(["symbolic-ref", "--short", "HEAD"]) == "feature\n")
            #expect(try git.run(["status", "--porcelain"]) == "")
            #expect(try await member.send(VCSStatusRequest(projectId: id)).branch == "feature")
            #expect(try await member.send(ProjectGetRequest(projectId: id)).branch == "feature")

            // A clean switch back needs no force.
            _ = try await member.send(VCSCheckoutRequest(projectId: id, branch: "main"))
            #expect(try await world.read("notes.txt").content == "two\n")
            await expectError(.notFound) { try await member.send(VCSCheckoutRequest(projectId: id, branch: "nope")) }
        }
    }

    @Test func statusAfterEditsAndCommitWithPaths() async throws {
        try await ProjectWorld.run(files: [FileContent(path: "keep.txt", content: "keep\n"), FileContent(path: "gone.txt", content: "gone\n")]) { world in
            let id = world.projectId
            let member = world.memberA
            let git = GitCLI(root: world.root)

            try await world.write("a.txt", "a\n")
            try await world.write("b.txt", "b\n")
            try await world.write("keep.txt", "kept, changed\n")
            _ = try await member.send(FileDeleteRequest(projectId: id, path: "gone.txt"))
            let status = try await member.send(VCSStatusRequest(projectId: id)).entries
            let byPath = Dictionary(uniqueKeysWithValues: status.map { ($0.path, $0.workdir) })
            #expect(byPath == ["a.txt": "untracked", "b.txt": "untracked", "keep.txt": "modified", "gone.txt": "deleted"])
            #expect(status.allSatisfy { $0.index == nil })
            #expect(
                Set(try git.run(["status", "--porcelain"]).split(separator: "\n").map(String.init))
                    == ["?? a.txt", "?? b.txt", " M keep.txt", " D gone.txt"])

            // Commit only a.txt and the deletion: the rest stays uncommitted.
            let commit = try await world.commit("Add a, drop gone", paths: ["a.txt", "gone.txt"])
            #expect(try git.run(["rev-parse", "HEAD"]) == commit.id + "\n")
            #expect(
                Set(try git.run(["show", "--name-status", "--format=", "HEAD"]).split(separator: "\n").map(String.init))
                    == ["A\ta.txt", "D\tgone.txt"])
            #expect(
                Set(try git.run(["status", "--porcelain"]).split(separator: "\n").map(String.init)) == ["?? b.txt", " M keep.txt"])
            let after = try await member.send(VCSStatusRequest(projectId: id)).entries
            #expect(Set(after.map(\.path)) == ["b.txt", "keep.txt"])

            // Committing everything leaves a clean tree; committing again has nothing to commit.
            try await world.commit("The rest")
            #expect(try git.run(["status", "--porcelain"]) == "")
            #expect(try await member.send(VCSStatusRequest(projectId: id)).entries.isEmpty)
            #expect(try git.run(["ls-files"]) == "a.txt\nb.txt\nkeep.txt\n")
            let again = await expectError(.requestFailed, "an empty commit") { try await world.commit("Nothing") }
            #expect(again?.message == "Request failed: git: nothing to commit: the tree is the same as HEAD's")
            #expect(again?.data == nil)
            await expectError(.invalidParams) { try await world.commit("   ") }
            await expectError(.invalidParams) { try await world.commit("x", paths: [".git/config"]) }
        }
    }
}
