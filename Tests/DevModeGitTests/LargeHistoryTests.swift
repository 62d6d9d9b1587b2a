import DevModeGit
import Foundation
import Testing

@Suite struct LargeHistoryTests {
    /// 6,000 commits written by `git fast-import` into one pack: over 2^14 packed objects, where
    /// git starts abbreviating ids to 8 digits, and enough history for the walk to matter.
    private func bigHistory(_ dir: Scratch) throws {
        try git(["init", "-q", "-b", "main"], in: dir.path)
        var stream = ""
        for i in 0..<6000 {
            let message = "change \(i)\n"
            stream += "commit refs/heads/main\nmark :\(i + 1)\n"
            stream += "author Dev <dev@example.com> \(1_600_000_000 + i * 60) +0000\n"
            stream += "committer Dev <dev@example.com> \(1_600_000_000 + i * 60) +0000\n"
            stream += "data \(message.utf8.count)\n\(message)"
            if i > 0 { stream += "from :\(i)\n" }
            let file = "dir\(i % 10)/file\(i % 50).txt"
            let content = String(repeating: "line of \(file)\n", count: 10) + "edit \(i)\n"
            stream += "M 100644 inline \(file)\ndata \(content.utf8.count)\n\(content)\n"
        }
        try git(["fast-import", "--quiet"], in: dir.path, input: Array(stream.utf8))
        try git(["reset", "-q", "--hard"], in: dir.path)
    }

    @Test func bigPackedHistoryMatchesGit() async throws {
        let dir = try Scratch()
        try bigHistory(dir)
        try await withOpenRepository(at: dir.path) { repo in
            let log = try await repo.log(limit: 500)
            #expect(log.map(\.id) == lines(try git(["log", "-500", "--format=%H"], in: dir.path)))
            #expect(log.first?.summary == "change 5999")

            let page = try await repo.log(skip: 5900, limit: 500)
            #expect(page.count == 100)
            #expect(page.last?.parents == [])

            let byPath = try await repo.log(path: "dir3/file13.txt", limit: 50)
            #expect(byPath.map(\.id) == lines(try git(["log", "-50", "--format=%H", "--", "dir3/file13.txt"], in: dir.path)))

            // `index abcdef01..` with 8 digits, as git prints for a repository this size.
            let diff = try await repo.diff(from: "HEAD~3", to: "HEAD")
            let expected = try git(["diff", "HEAD~3", "HEAD"], in: dir.path)
            #expect(diff.patch == expected)
            let indexLines = lines(expected).filter { $0.hasPrefix("index ") }
            #expect(!indexLines.isEmpty)
            #expect(indexLines.allSatisfy { $0.split(separator: " ")[1].count == 8 + 2 + 8 })
        }
    }

    @Test func equalCommitDatesAreOrderedAsGitOrdersThem() async throws {
        let dir = try Scratch()
        try git(["init", "-q", "-b", "main"], in: dir.path)
        let date = ["GIT_AUTHOR_DATE": "1700000000 +0000", "GIT_COMMITTER_DATE": "1700000000 +0000"]
        try git(["commit", "-q", "--allow-empty", "-m", "root"], in: dir.path, environment: date)
        for branch in ["a", "b", "c"] {
            try git(["checkout", "-q", "-b", branch, "main"], in: dir.path)
            for i in 0..<3 {
                try git(["commit", "-q", "--allow-empty", "-m", "\(branch)\(i)"], in: dir.path, environment: date)
            }
        }
        try git(["checkout", "-q", "main"], in: dir.path)
        try git(["merge", "-q", "--no-ff", "-m", "merge all", "a", "b", "c"], in: dir.path, environment: date)
        try await withOpenRepository(at: dir.path) { repo in
            let ours = try await repo.log().map(\.id)
            #expect(ours == lines(try git(["log", "--format=%H"], in: dir.path)))
            #expect(ours.count == 11)
        }
    }
}
