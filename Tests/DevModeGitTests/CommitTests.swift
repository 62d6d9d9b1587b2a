import DevModeGit
import Foundation
import Testing

@Suite struct CommitTests {
    @Test func firstCommitOnUnbornHeadIsWhatGitSees() async throws {
        try await withRepository { repo, dir in
            #expect(try await repo.currentBranch() == "main")
            #expect(try await repo.log().isEmpty)
            #expect(try await repo.branches().isEmpty)
            try dir.write("README.md", "# hello\n")
            try dir.write("src/main.swift", "print(1)\n")

            let info = try await repo.commit(message: "Initial commit", author: alice, committer: bob)

            #expect(info.parents.isEmpty)
            #expect(info.summary == "Initial commit")
            #expect(info.message == "Initial commit\n")
            #expect(info.author == alice)
            #expect(info.committer == bob)
            let fields = try git(["log", "--format=%H%x00%an%x00%ae%x00%at%x00%ai%x00%cn%x00%ce%x00%ct%x00%ci%x00%s"], in: dir.path)
            #expect(lines(fields) == [[
                info.id, "Alice Example", "alice@example.com", "1700000000", "2023-11-15 00:13:20 +0200",
                "Bob Committer", "bob@example.com", "1700000100", "2023-11-14 17:15:00 -0500", "Initial commit",
            ].joined(separator: "\0")])
            #expect(try git(["symbolic-ref", "HEAD"], in: dir.path) == "refs/heads/main\n")
            #expect(lines(try git(["ls-tree", "-r", "--name-only", "HEAD"], in: dir.path)) == ["README.md", "src/main.swift"])
            #expect(try git(["status", "--porcelain"], in: dir.path) == "")
            #expect(try await repo.branches() == [GitBranch(name: "main", isHead: true, target: info.id)])
            #expect(try await repo.log() == [info])
            try git(["fsck", "--strict"], in: dir.path)
        }
    }

    @Test func nothingToCommitIsRefusedUnlessAllowed() async throws {
        try await withRepository { repo, dir in
            await #expect(throws: GitError.self) { try await commitAll(repo, "empty") }
            do {
                _ = try await commitAll(repo, "still empty")
            } catch let error as GitError {
                #expect(error.isNothingToCommit)
                #expect(error.message.contains("nothing to commit"))
            }
            let root = try await repo.commit(message: "root", author: alice, committer: alice, allowEmpty: true)
            #expect(lines(try git(["ls-tree", "HEAD"], in: dir.path)).isEmpty)

            try dir.write("a.txt", "a\n")
            let first = try await commitAll(repo, "add a", step: 1)
            #expect(first.parents == [root.id])
            do {
                _ = try await commitAll(repo, "again", step: 2)
                Issue.record("a commit without changes succeeded")
            } catch let error as GitError {
                #expect(error.isNothingToCommit)
            }
            let empty = try await repo.commit(message: "empty on purpose", author: alice, committer: alice, allowEmpty: true)
            #expect(empty.parents == [first.id])
            #expect(try git(["rev-parse", "HEAD"], in: dir.path) == empty.id + "\n")
        }
    }

    @Test func commitWithPathsStagesOnlyThosePaths() async throws {
        try await withRepository { repo, dir in
            try dir.write("keep.txt", "one\n")
            try dir.write("change.txt", "one\n")
            try dir.write("gone.txt", "bye\n")
            try dir.write("lib/a.txt", "a\n")
            try await commitAll(repo, "base")

            // New sizes, not only new bytes: a same-size rewrite within one timestamp tick of the
            // index write is "racily clean" to git's stat check (git's own limit, not this module's).
            try dir.write("keep.txt", "two, longer\n")
            try dir.write("change.txt", "two, longer\n")
            try dir.remove("gone.txt")
            try dir.write("lib/b.txt", "b\n")
            try dir.write("lib/deep/c.txt", "c\n")
            let info = try await repo.commit(message: "some", author: alice, committer: alice,
                                             paths: ["change.txt", "gone.txt", "lib"])

            let changed = lines(try git(["diff-tree", "--no-commit-id", "--name-status", "-r", info.id], in: dir.path))
            #expect(changed == ["M\tchange.txt", "D\tgone.txt", "A\tlib/b.txt", "A\tlib/deep/c.txt"])
            let statusLines = lines(try git(["status", "--porcelain"], in: dir.path))
            #expect(statusLines == [" M keep.txt"], "git status after the commit: \(statusLines)")

            // A deleted directory given as a path is unstaged as a whole.
            try dir.remove("lib")
            let removal = try await repo.commit(message: "drop lib", author: alice, committer: alice, paths: ["lib"])
            #expect(lines(try git(["diff-tree", "--no-commit-id", "--name-status", "-r", removal.id], in: dir.path))
                == ["D\tlib/a.txt", "D\tlib/b.txt", "D\tlib/deep/c.txt"])
        }
    }

    @Test func commitAllStagesAdditionsModificationsAndDeletionsButNotIgnored() async throws {
        try await withRepository { repo, dir in
            try dir.write(".gitignore", "*.log\nbuild/\n")
            try dir.write("a.txt", "a\n")
            try dir.write("b.txt", "b\n")
            try await commitAll(repo, "base")
            try dir.write("a.txt", "a2\n")
            try dir.remove("b.txt")
            try dir.write("new/c.txt", "c\n")
            try dir.write("debug.log", "noise\n")
            try dir.write("build/out.o", "obj\n")
            let info = try await commitAll(repo, "all", step: 1)
            #expect(lines(try git(["diff-tree", "--no-commit-id", "--name-status", "-r", info.id], in: dir.path))
                == ["M\ta.txt", "D\tb.txt", "A\tnew/c.txt"])
            #expect(lines(try git(["status", "--porcelain", "--ignored"], in: dir.path)) == ["!! build/", "!! debug.log"])
        }
    }

    @Test func messageIsCleanedUpLikeGitCommitM() async throws {
        try await withRepository { repo, dir in
            try dir.write("a.txt", "a\n")
            let raw = "\n\n  Subject line   \ncontinues here\n\n\n\nBody  paragraph\t\n# not a comment\n\n\n"
            let info = try await repo.commit(message: raw, author: alice, committer: alice)
            try dir.write("b.txt", "b\n")
            try git(["add", "b.txt"], in: dir.path)
            try git(["commit", "-q", "-m", raw], in: dir.path)
            let cliMessage = try git(["log", "-1", "--format=%B"], in: dir.path)
            let cliSubject = try git(["log", "-1", "--format=%s"], in: dir.path)
            #expect(info.message + "\n" == cliMessage)
            #expect(info.summary + "\n" == cliSubject)
            #expect(try git(["log", "-1", "--format=%B", info.id], in: dir.path) == cliMessage)

            try dir.write("c.txt", "c\n")
            do {
                _ = try await repo.commit(message: " \n\n ", author: alice, committer: alice)
                Issue.record("an empty message was accepted")
            } catch let error as GitError {
                #expect(error.message.contains("empty"))
            }
        }
    }

    @Test func unicodePathsAndContentRoundTrip() async throws {
        try await withRepository { repo, dir in
            let path = "dossier/été 🚀.txt"
            let content = "héllo wörld 🌍\nzweite Zeile\n"
            try dir.write(path, content)
            let info = try await repo.commit(message: "Ünïcode ✓", author: GitSignature(name: "Zoë Ñoño", email: "zoe@example.com"),
                                             committer: alice)
            #expect(try git(["-c", "core.quotePath=false", "ls-tree", "-r", "--name-only", "HEAD"], in: dir.path) == path + "\n")
            #expect(try git(["log", "-1", "--format=%an%x00%s"], in: dir.path) == "Zoë Ñoño\0Ünïcode ✓\n")
            #expect(try await repo.fileAtRevision("HEAD", path: path) == Array(content.utf8))
            #expect(try await repo.log(path: path).map(\.id) == [info.id])
            try dir.write(path, content + "dritte Zeile ✓\n")
            #expect(try await repo.status() == [GitStatusEntry(path: path, index: nil, workdir: .modified)])
        }
    }
}
