import DevModeGit
import Foundation
import Testing

@Suite struct LogTests {
    /// A history with a side branch merged back, each commit a minute after the previous one so
    /// the order is defined. Made with the git CLI so `log` reads history it did not write.
    private func history(_ dir: Scratch) throws {
        var minute = 0
        func commit(_ message: String) throws {
            minute += 1
            let date = "\(1_700_000_000 + minute * 60) +0000"
            try git(["add", "-A"], in: dir.path)
            try git(["commit", "-q", "--allow-empty", "-m", message], in: dir.path,
                    environment: ["GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date])
        }
        try git(["init", "-q", "-b", "main"], in: dir.path)
        for i in 1...12 {
            try dir.write("common.txt", "version \(i)\n")
            if i % 3 == 0 { try dir.write("src/every-third.txt", "v\(i)\n") }
            if i == 5 { try dir.write("src/lib/deep.txt", "deep\n") }
            try commit("main \(i)")
        }
        try git(["checkout", "-q", "-b", "side", "HEAD~4"], in: dir.path)
        for i in 1...4 {
            try dir.write("side.txt", "side \(i)\n")
            if i == 2 { try dir.write("src/side-file.txt", "added on side\n") }
            try commit("side \(i)")
        }
        try git(["checkout", "-q", "main"], in: dir.path)
        try dir.write("common.txt", "after\n")
        try commit("main after branch")
        minute += 1
        let date = "\(1_700_000_000 + minute * 60) +0000"
        try git(["merge", "-q", "--no-ff", "-m", "merge side", "side"], in: dir.path,
                environment: ["GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date])
        try dir.remove("src/lib/deep.txt")
        try commit("drop deep")
        try commit("empty at the end")
    }

    private func ids(_ arguments: [String], _ dir: Scratch) throws -> [String] {
        lines(try git(["log", "--format=%H"] + arguments, in: dir.path))
    }

    @Test func logIsGitLog() async throws {
        let dir = try Scratch()
        try history(dir)
        try await withOpenRepository(at: dir.path) { repo in
            let all = try await repo.log(limit: 1000)
            #expect(all.map(\.id) == (try ids([], dir)))
            #expect(all.count == 20)
            #expect(try await repo.log(limit: 5).map(\.id) == (try ids(["-5"], dir)))
            #expect(try await repo.log(skip: 3, limit: 4).map(\.id) == (try ids(["--skip=3", "-4"], dir)))
            #expect(try await repo.log(revision: "side").map(\.id) == (try ids(["side"], dir)))
            #expect(try await repo.log(revision: "HEAD~2").map(\.id) == (try ids(["HEAD~2"], dir)))
            #expect(try await repo.log(revision: "main~3..side").map(\.id) == (try ids(["main~3..side"], dir)))

            let merge = try #require(all.first { $0.summary == "merge side" })
            #expect(merge.parents == lines(try git(["rev-parse", "\(merge.id)^1", "\(merge.id)^2"], in: dir.path)))
            let head = try #require(all.first)
            let fields = try git(["log", "-1", "--format=%an%x00%ae%x00%at%x00%cn%x00%ct%x00%B"], in: dir.path)
            let expected = [
                head.author.name, head.author.email, "\(Int(head.author.time.timeIntervalSince1970))",
                head.committer.name, "\(Int(head.committer.time.timeIntervalSince1970))", head.message,
            ].joined(separator: "\0")
            #expect(fields == expected + "\n")
            #expect(head.author.name == "CLI Author")
            #expect(head.committer.name == "CLI Committer")
        }
    }

    @Test func logOfAPathIsGitLogDashDashPath() async throws {
        let dir = try Scratch()
        try history(dir)
        try await withOpenRepository(at: dir.path) { repo in
            let paths = ["common.txt", "side.txt", "src/every-third.txt", "src", "src/lib", "src/lib/deep.txt", "src/",
                         "src/side-file.txt", "missing.txt"]
            for path in paths {
                let ours = try await repo.log(path: path, limit: 1000).map(\.id)
                #expect(ours == (try ids(["--", path], dir)), "log -- \(path)")
            }
            #expect(try await repo.log(path: "common.txt", skip: 2, limit: 3).map(\.id)
                == (try ids(["--skip=2", "-3", "--", "common.txt"], dir)))
            #expect(try await repo.log(revision: "side", path: "src").map(\.id) == (try ids(["side", "--", "src"], dir)))
        }
    }

    @Test func logOfAPathSeesModeChanges() async throws {
        try await withRepository { repo, dir in
            try dir.write("run.sh", "#!/bin/sh\n")
            try await commitAll(repo, "add", step: 1)
            try git(["update-index", "--chmod=+x", "run.sh"], in: dir.path)
            try git(["commit", "-q", "-m", "make executable"], in: dir.path)
            #expect(try await repo.log(path: "run.sh").map(\.summary) == ["make executable", "add"])
        }
    }
}
