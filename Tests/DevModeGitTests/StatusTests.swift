import DevModeGit
import Foundation
import Testing

@Suite struct StatusTests {
    /// `git status --porcelain=v1 -z -uall`, as "XY path" (renames "XY old -> new") lines.
    private func cliStatus(_ dir: Scratch) throws -> [String] {
        let fields = try git(["status", "--porcelain=v1", "-z", "--untracked-files=all"], in: dir.path)
            .split(separator: "\0", omittingEmptySubsequences: true).map(String.init)
        var result: [String] = []
        var i = 0
        while i < fields.count {
            let field = fields[i]
            let code = String(field.prefix(2))
            let path = String(field.dropFirst(3))
            if code.hasPrefix("R") || code.hasPrefix("C") {
                result.append("\(code) \(fields[i + 1]) -> \(path)")
                i += 2
            } else {
                result.append("\(code) \(path)")
                i += 1
            }
        }
        return result.sorted()
    }

    private func porcelain(_ entries: [GitStatusEntry]) -> [String] {
        func letter(_ status: GitFileStatus?) -> String {
            switch status {
            case nil: " "
            case .added: "A"
            case .modified: "M"
            case .deleted: "D"
            case .renamed: "R"
            case .typechange: "T"
            case .untracked: "?"
            case .ignored: "!"
            case .conflicted: "U"
            }
        }
        return entries.map { entry in
            let code = entry.workdir == .untracked ? "??" : letter(entry.index) + letter(entry.workdir)
            if let old = entry.oldPath { return "\(code) \(old) -> \(entry.path)" }
            return "\(code) \(entry.path)"
        }.sorted()
    }

    @Test func statusAgreesWithGitStatusPorcelain() async throws {
        try await withRepository { repo, dir in
            #expect(try await repo.status().isEmpty)
            try dir.write(".gitignore", "*.log\n")
            try dir.write("modified.txt", "one\n")
            try dir.write("staged.txt", "one\n")
            try dir.write("both.txt", "one\n")
            try dir.write("deleted.txt", "one\n")
            try dir.write("staged-deleted.txt", "one\n")
            try dir.write("to-rename.txt", "a fairly long line so that rename detection has content to match\nand another\n")
            try dir.write("exec.sh", "#!/bin/sh\n")
            try dir.write("small.txt", "one\ntwo\nthree\n")
            try dir.write("half.txt", (1...12).map { "line number \($0) here\n" }.joined())
            try await commitAll(repo, "base")
            #expect(try await repo.status().isEmpty)

            // New sizes too: a same-size rewrite in the same timestamp tick as the index write is
            // racily clean to git's stat check (git's limit), and the CLI comparison would flake.
            try dir.write("modified.txt", "two, longer\n")
            try dir.write("staged.txt", "two, longer\n")
            try git(["add", "staged.txt"], in: dir.path)
            try dir.write("both.txt", "two, longer\n")
            try git(["add", "both.txt"], in: dir.path)
            try dir.write("both.txt", "three, longer still\n")
            try dir.remove("deleted.txt")
            try git(["rm", "-q", "staged-deleted.txt"], in: dir.path)
            try git(["mv", "to-rename.txt", "renamed.txt"], in: dir.path)
            // git pairs the small file (67% similar) but not the half-changed one (below 50%);
            // libgit2's own similarity metric would pair both.
            try git(["mv", "small.txt", "small-renamed.txt"], in: dir.path)
            try dir.write("small-renamed.txt", "one\ntwo\nTHREE\n")
            try git(["mv", "half.txt", "half-renamed.txt"], in: dir.path)
            try dir.write("half-renamed.txt", (1...12).map { $0 % 2 == 0 ? "changed \($0)\n" : "line number \($0) here\n" }.joined())
            try git(["add", "small-renamed.txt", "half-renamed.txt"], in: dir.path)
            try dir.write("added.txt", "new\n")
            try git(["add", "added.txt"], in: dir.path)
            try dir.write("untracked/deep/file.txt", "u\n")
            try dir.write("untracked-top.txt", "u\n")
            try dir.write("debug.log", "ignored\n")
            try dir.write("ünï/çødé.txt", "u\n")

            let entries = try await repo.status()
            #expect(porcelain(entries) == (try cliStatus(dir)))
            #expect(entries.contains(GitStatusEntry(path: "both.txt", index: .modified, workdir: .modified)))
            #expect(entries.contains(GitStatusEntry(path: "renamed.txt", oldPath: "to-rename.txt", index: .renamed, workdir: nil)))
            #expect(entries.contains(GitStatusEntry(path: "untracked/deep/file.txt", index: nil, workdir: .untracked)))
            #expect(entries.contains(GitStatusEntry(path: "small-renamed.txt", oldPath: "small.txt", index: .renamed, workdir: nil)))
            #expect(entries.contains(GitStatusEntry(path: "half-renamed.txt", index: .added, workdir: nil)))
            #expect(!entries.contains { $0.path == "debug.log" })
            #expect(entries.map(\.path) == entries.map(\.path).sorted())
        }
    }

    @Test func conflictedFilesAreReported() async throws {
        try await withRepository { repo, dir in
            try dir.write("file.txt", "base\n")
            try await commitAll(repo, "base")
            _ = try await repo.createBranch("other")
            try dir.write("file.txt", "main side\n")
            try await commitAll(repo, "main change", step: 1)
            try await repo.checkout(branch: "other")
            try dir.write("file.txt", "other side\n")
            try await commitAll(repo, "other change", step: 2)
            try await repo.checkout(branch: "main")
            #expect(throws: GitCLIError.self) { try git(["merge", "-q", "other"], in: dir.path) }
            #expect(try await repo.status() == [GitStatusEntry(path: "file.txt", index: .conflicted, workdir: .conflicted)])
            #expect(try cliStatus(dir) == ["UU file.txt"])

            // Committing with the conflict unresolved is refused by libgit2.
            do {
                _ = try await repo.commit(message: "too early", author: alice, committer: alice, paths: [])
                Issue.record("committed an index with conflicts")
            } catch let error as GitError {
                #expect(error.function == "git_index_write_tree")
                #expect(error.isConflict)
            }
            // Resolved and committed: a merge commit, and the merge state is gone.
            try dir.write("file.txt", "resolved\n")
            let merge = try await commitAll(repo, "Merge branch 'other'", step: 3)
            #expect(merge.parents.count == 2)
            #expect(merge.parents == lines(try git(["rev-parse", "HEAD^1", "other"], in: dir.path)))
            #expect(!dir.exists(".git/MERGE_HEAD"))
            #expect(try git(["status", "--porcelain"], in: dir.path) == "")
        }
    }
}
