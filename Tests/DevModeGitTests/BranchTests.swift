import DevModeGit
import Foundation
import Testing

@Suite struct BranchTests {
    @Test func createListAndCheckoutBranches() async throws {
        try await withRepository { repo, dir in
            try dir.write("shared.txt", "shared\n")
            try dir.write("file.txt", "on main\n")
            let base = try await commitAll(repo, "base", step: 1)

            let feature = try await repo.createBranch("feature/x")
            #expect(feature == GitBranch(name: "feature/x", isHead: false, target: base.id))
            #expect(try await repo.branches() == [
                GitBranch(name: "feature/x", isHead: false, target: base.id),
                GitBranch(name: "main", isHead: true, target: base.id),
            ])

            try await repo.checkout(branch: "feature/x")
            #expect(try await repo.currentBranch() == "feature/x")
            #expect(try git(["rev-parse", "--abbrev-ref", "HEAD"], in: dir.path) == "feature/x\n")
            try dir.write("file.txt", "on feature\n")
            try dir.write("only-on-feature.txt", "f\n")
            let onFeature = try await commitAll(repo, "feature work", step: 2)
            #expect(try git(["rev-parse", "feature/x"], in: dir.path) == onFeature.id + "\n")
            #expect(try git(["rev-parse", "main"], in: dir.path) == base.id + "\n")

            try await repo.checkout(branch: "main")
            #expect(dir.read("file.txt") == "on main\n")
            #expect(!dir.exists("only-on-feature.txt"))
            #expect(try git(["status", "--porcelain"], in: dir.path) == "")
            #expect(try await repo.branches().map(\.isHead) == [false, true])

            // A change the switch does not touch is carried over, as with `git switch`.
            try dir.write("shared.txt", "edited, not committed\n")
            try await repo.checkout(branch: "feature/x")
            #expect(dir.read("file.txt") == "on feature\n")
            #expect(dir.read("shared.txt") == "edited, not committed\n")
            #expect(try git(["status", "--porcelain"], in: dir.path) == " M shared.txt\n")

            // From an older commit.
            let old = try await repo.createBranch("old", at: base.id)
            #expect(old.target == base.id)
        }
    }

    @Test func checkoutRefusesToLoseUncommittedChangesUnlessForced() async throws {
        try await withRepository { repo, dir in
            try dir.write("file.txt", "main\n")
            try await commitAll(repo, "base", step: 1)
            _ = try await repo.createBranch("other")
            try await repo.checkout(branch: "other")
            try dir.write("file.txt", "other\n")
            try await commitAll(repo, "other", step: 2)
            try await repo.checkout(branch: "main")

            try dir.write("file.txt", "precious local edit\n")
            do {
                try await repo.checkout(branch: "other")
                Issue.record("checkout overwrote an uncommitted change")
            } catch let error as GitError {
                #expect(error.isConflict)
                #expect(error.function == "git_checkout_tree")
                #expect(error.message.contains("file.txt"))
            }
            #expect(dir.read("file.txt") == "precious local edit\n")
            #expect(try await repo.currentBranch() == "main")

            // An untracked file in the way is a conflict too.
            try dir.write("file.txt", "main\n")
            try dir.write("new.txt", "untracked here\n")
            try await repo.checkout(branch: "other")
            try dir.write("blocker.txt", "committed on other\n")
            _ = try await repo.commit(message: "blocker", author: alice, committer: alice, paths: ["blocker.txt"])
            try await repo.checkout(branch: "main")
            try dir.write("blocker.txt", "untracked on main\n")
            await #expect(throws: GitError.self) { try await repo.checkout(branch: "other") }

            try dir.write("file.txt", "precious local edit\n")
            try await repo.checkout(branch: "other", force: true)
            #expect(try await repo.currentBranch() == "other")
            #expect(dir.read("file.txt") == "other\n")
            #expect(dir.read("blocker.txt") == "committed on other\n")
            #expect(dir.read("new.txt") == "untracked here\n")
            #expect(try git(["status", "--porcelain"], in: dir.path) == "?? new.txt\n")
        }
    }

    @Test func branchErrors() async throws {
        try await withRepository { repo, dir in
            do {
                _ = try await repo.createBranch("early")
                Issue.record("a branch was created on an unborn HEAD")
            } catch let error as GitError {
                #expect(error.isUnbornHead)
            }
            try dir.write("a.txt", "a\n")
            try await commitAll(repo, "a")
            do {
                _ = try await repo.createBranch("main")
                Issue.record("an existing branch was created again")
            } catch let error as GitError {
                #expect(error.isAlreadyExists)
                #expect(error.function == "git_branch_create")
            }
            do {
                _ = try await repo.createBranch("bad..name")
                Issue.record("an invalid branch name was accepted")
            } catch let error as GitError {
                #expect(error.isInvalidSpec)
            }
            do {
                try await repo.checkout(branch: "nope")
                Issue.record("checked out a missing branch")
            } catch let error as GitError {
                #expect(error.isNotFound)
                #expect(error.function == "git_branch_lookup")
            }
        }
    }

    @Test func restoreWritesTheRevisionsFileIntoTheWorkingTreeOnly() async throws {
        try await withRepository { repo, dir in
            try dir.write("file.txt", "version 1\n")
            try dir.write("keep.txt", "keep\n")
            let first = try await commitAll(repo, "one", step: 1)
            try dir.write("file.txt", "version 2\n")
            try dir.write("later.txt", "added later\n")
            try dir.write("dir/a.txt", "a2\n")
            try await commitAll(repo, "two", step: 2)

            // Local edit undone.
            try dir.write("file.txt", "scribbles\n")
            try await repo.restore(path: "file.txt", revision: "HEAD")
            #expect(dir.read("file.txt") == "version 2\n")
            #expect(try await repo.status().isEmpty)

            // An older version, not staged.
            try await repo.restore(path: "file.txt", revision: first.id)
            #expect(dir.read("file.txt") == "version 1\n")
            #expect(try git(["diff", "--cached", "--name-only"], in: dir.path) == "")
            #expect(try git(["status", "--porcelain"], in: dir.path) == " M file.txt\n")

            // Absent at that revision: deleted.
            try await repo.restore(path: "later.txt", revision: first.id)
            #expect(!dir.exists("later.txt"))
            try dir.write("scratch.txt", "never committed\n")
            try await repo.restore(path: "scratch.txt", revision: "HEAD")
            #expect(!dir.exists("scratch.txt"))

            // A deleted file comes back; a directory comes back as a whole.
            try await repo.restore(path: "later.txt", revision: "HEAD")
            #expect(dir.read("later.txt") == "added later\n")
            try dir.remove("dir")
            try await repo.restore(path: "dir", revision: "HEAD")
            #expect(dir.read("dir/a.txt") == "a2\n")
            // Restoring a directory to a revision without it removes its tracked files only.
            try dir.write("dir/mine.txt", "not committed\n")
            try await repo.restore(path: "dir", revision: first.id)
            #expect(!dir.exists("dir/a.txt"))
            #expect(dir.read("dir/mine.txt") == "not committed\n")
            try dir.remove("dir/mine.txt")
            try await repo.restore(path: "dir/", revision: "HEAD")
            #expect(dir.read("dir/a.txt") == "a2\n")
            #expect(dir.read("keep.txt") == "keep\n")
            #expect(try git(["status", "--porcelain"], in: dir.path) == " M file.txt\n")
        }
    }
}
