import DevModeGit
import Foundation
import Testing

@Suite struct DiffTests {
    /// Two commits that differ in every way a diff can show.
    private func history(_ repo: GitRepository, _ dir: Scratch) async throws -> (GitCommitInfo, GitCommitInfo) {
        let long = (1...40).map { "line \($0) of a file with enough text to be recognised when it moves\n" }.joined()
        try dir.write("modified.txt", (1...30).map { "row \($0)\n" }.joined())
        try dir.write("deleted.txt", "this file goes away\n")
        try dir.write("old-name.txt", long)
        try dir.write("no-eol.txt", "first\nlast without newline")
        try dir.write("image.bin", bytes: [0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02, 0x00, 0xff])
        try dir.write("ünïcödé.txt", "grüße\n")
        let first = try await commitAll(repo, "first", step: 1)

        var rows = (1...30).map { "row \($0)\n" }
        rows[2] = "row three, changed\n"
        rows.insert("inserted after 14\n", at: 14)
        rows.remove(at: 27)
        try dir.write("modified.txt", rows.joined())
        try dir.remove("deleted.txt")
        try dir.remove("old-name.txt")
        try dir.write("new-name.txt", long + "one more line\n")
        try dir.write("no-eol.txt", "first\nlast now with newline\n")
        try dir.write("image.bin", bytes: [0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x03, 0x00, 0xfe])
        try dir.write("ünïcödé.txt", "grüße\nschöne Grüße 🌍\n")
        try dir.write("added/new.txt", "brand new\n")
        let second = try await commitAll(repo, "second", step: 2)
        return (first, second)
    }

    @Test func patchTextIsExactlyGitDiff() async throws {
        try await withRepository { repo, dir in
            let (a, b) = try await history(repo, dir)
            let diff = try await repo.diff(from: a.id, to: b.id)
            #expect(diff.patch == (try git(["diff", a.id, b.id], in: dir.path)))
            #expect(diff.patch.contains("Binary files a/image.bin and b/image.bin differ"))
            #expect(diff.patch.contains("rename from old-name.txt"))

            let reverse = try await repo.diff(from: b.id, to: a.id)
            #expect(reverse.patch == (try git(["diff", b.id, a.id], in: dir.path)))

            let narrow = try await repo.diff(from: a.id, to: b.id, contextLines: 0)
            #expect(narrow.patch == (try git(["diff", "-U0", a.id, b.id], in: dir.path)))
            let wide = try await repo.diff(from: "HEAD~1", to: "HEAD", contextLines: 10)
            #expect(wide.patch == (try git(["diff", "-U10", "HEAD~1", "HEAD"], in: dir.path)))

            let limited = try await repo.diff(from: a.id, to: b.id, paths: ["modified.txt", "added"])
            #expect(limited.patch == (try git(["diff", a.id, b.id, "--", "modified.txt", "added"], in: dir.path)))
            #expect(limited.files.map(\.newPath) == ["added/new.txt", "modified.txt"])
        }
    }

    @Test func filesAgreeWithNumstatAndHunksDescribeTheLines() async throws {
        try await withRepository { repo, dir in
            let (a, b) = try await history(repo, dir)
            let diff = try await repo.diff(from: a.id, to: b.id)

            // `git diff --numstat -z`: "added\tdeleted\tpath\0", renames "added\tdeleted\t\0old\0new\0".
            let fields = try git(["diff", "--numstat", "-z", a.id, b.id], in: dir.path).split(separator: "\0").map(String.init)
            var expected: [String] = []
            var i = 0
            while i < fields.count {
                let parts = fields[i].split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                if parts[2].isEmpty {
                    expected.append("\(parts[0]) \(parts[1]) \(fields[i + 1]) -> \(fields[i + 2])")
                    i += 3
                } else {
                    expected.append("\(parts[0]) \(parts[1]) \(parts[2])")
                    i += 1
                }
            }
            let ours = diff.files.map { file in
                let counts = file.isBinary ? "- -" : "\(file.additions) \(file.deletions)"
                return file.status == "renamed" ? "\(counts) \(file.oldPath) -> \(file.newPath)" : "\(counts) \(file.newPath)"
            }
            #expect(ours.sorted() == expected.sorted())

            let byPath = Dictionary(uniqueKeysWithValues: diff.files.map { ($0.newPath, $0) })
            #expect(byPath["added/new.txt"]?.status == "added")
            #expect(byPath["deleted.txt"]?.status == "deleted")
            #expect(byPath["new-name.txt"]?.status == "renamed")
            #expect(byPath["new-name.txt"]?.oldPath == "old-name.txt")
            #expect(byPath["image.bin"]?.isBinary == true)
            #expect(byPath["image.bin"]?.hunks.isEmpty == true)
            #expect(byPath["modified.txt"]?.isBinary == false)

            let modified = try #require(byPath["modified.txt"])
            #expect(modified.hunks.count == 3)
            let firstHunk = modified.hunks[0]
            #expect(firstHunk.header == "@@ -1,6 +1,6 @@")
            #expect((firstHunk.oldStart, firstHunk.oldLines, firstHunk.newStart, firstHunk.newLines) == (1, 6, 1, 6))
            #expect(firstHunk.lines.map(\.origin) == [" ", " ", "-", "+", " ", " ", " "])
            #expect(firstHunk.lines[2] == GitDiffLine(origin: "-", content: "row 3", oldLine: 3, newLine: nil))
            #expect(firstHunk.lines[3] == GitDiffLine(origin: "+", content: "row three, changed", oldLine: nil, newLine: 3))
            #expect(firstHunk.lines[4] == GitDiffLine(origin: " ", content: "row 4", oldLine: 4, newLine: 4))

            let eol = try #require(byPath["no-eol.txt"])
            let eolLines = eol.hunks.flatMap(\.lines)
            #expect(eolLines.map(\.origin) == [" ", "-", "+"])
            #expect(eolLines[1].missingNewline)
            #expect(!eolLines[2].missingNewline)

            let unicode = try #require(byPath["ünïcödé.txt"])
            #expect(unicode.hunks.flatMap(\.lines).last?.content == "schöne Grüße 🌍")
        }
    }

    @Test func workingTreeDiffIsGitDiffHeadPlusUntrackedFiles() async throws {
        try await withRepository { repo, dir in
            _ = try await history(repo, dir)
            #expect(try await repo.diffWorkingTree() == GitDiff(patch: "", files: []))

            try dir.write("modified.txt", "replaced entirely\n")
            try dir.write("ünïcödé.txt", "staged change\n")
            try git(["add", "ünïcödé.txt"], in: dir.path)
            try dir.write("ünïcödé.txt", "staged change\nthen an unstaged one\n")
            try dir.remove("no-eol.txt")
            try dir.write("staged-new.txt", "staged new file\n")
            try git(["add", "staged-new.txt"], in: dir.path)
            let tracked = try await repo.diffWorkingTree()
            #expect(tracked.patch == (try git(["diff", "HEAD"], in: dir.path)))

            try dir.write("untracked/dir/file.txt", "one\ntwo\n")
            try dir.write(".gitignore", "*.log\n")
            try dir.write("ignored.log", "x\n")
            let all = try await repo.diffWorkingTree()
            let untracked = try #require(all.files.first { $0.newPath == "untracked/dir/file.txt" })
            #expect(untracked.status == "added")
            #expect(untracked.additions == 2)
            #expect(untracked.hunks.first?.lines.map(\.content) == ["one", "two"])
            #expect(!all.files.contains { $0.newPath == "ignored.log" })
            // Untracked files print as git prints a new file.
            try git(["add", "-A"], in: dir.path)
            #expect(all.patch == (try git(["diff", "--cached", "HEAD"], in: dir.path)))

            let onlyOne = try await repo.diffWorkingTree(paths: ["untracked"])
            #expect(onlyOne.files.map(\.newPath) == ["untracked/dir/file.txt"])
        }
    }

    @Test func workingTreeDiffOnUnbornHeadShowsEverythingAsAdded() async throws {
        try await withRepository { repo, dir in
            try dir.write("a.txt", "a\n")
            try dir.write("b/c.txt", "c\n")
            let diff = try await repo.diffWorkingTree()
            #expect(diff.files.map(\.newPath) == ["a.txt", "b/c.txt"])
            #expect(diff.files.allSatisfy { $0.status == "added" && $0.additions == 1 })
        }
    }

    @Test func modesEmptyFilesBinaryAdditionsExactRenamesAndSymlinksPrintAsGitPrintsThem() async throws {
        try await withRepository { repo, dir in
            try dir.write("script.sh", "#!/bin/sh\necho hi\n")
            try dir.write("moved/original.txt", "exactly the same content\n")
            try dir.write("old.bin", bytes: [0, 1, 2, 3])
            try dir.write("target.txt", "t\n")
            try dir.write("was-empty.txt", "")
            let first = try await commitAll(repo, "first", step: 1)
            try dir.remove("was-empty.txt")

            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path + "/script.sh")
            try git(["mv", "moved/original.txt", "moved/renamed.txt"], in: dir.path)
            try git(["rm", "-q", "old.bin"], in: dir.path)
            try dir.write("empty.txt", "")
            try dir.write("new.bin", bytes: [0xff, 0, 0xfe, 0])
            try FileManager.default.createSymbolicLink(atPath: dir.path + "/link", withDestinationPath: "target.txt")
            try git(["add", "-A"], in: dir.path)
            try git(["commit", "-q", "-m", "second"], in: dir.path)

            let diff = try await repo.diff(from: first.id, to: "HEAD")
            #expect(diff.patch == (try git(["diff", first.id, "HEAD"], in: dir.path)))
            #expect(diff.patch.contains("old mode 100644\nnew mode 100755"))
            #expect(diff.patch.contains("similarity index 100%"))
            #expect(diff.patch.contains("new file mode 120000"))
            // Limited to one side, the empty files are a plain addition and deletion.
            for path in ["empty.txt", "was-empty.txt"] {
                let one = try await repo.diff(from: first.id, to: "HEAD", paths: [path])
                #expect(one.patch == (try git(["diff", first.id, "HEAD", "--", path], in: dir.path)))
                #expect(!one.patch.contains("---"))
            }
            let byPath = Dictionary(uniqueKeysWithValues: diff.files.map { ($0.newPath, $0) })
            #expect(byPath["new.bin"]?.isBinary == true)
            #expect(byPath["new.bin"]?.status == "added")
            #expect(byPath["old.bin"]?.status == "deleted")
            #expect(byPath["empty.txt"]?.hunks == [])
            #expect(byPath["moved/renamed.txt"]?.oldPath == "moved/original.txt")
            #expect(byPath["script.sh"]?.status == "modified")
        }
    }
}
