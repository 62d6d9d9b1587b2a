import DevModeGit
import Foundation
import Testing

@Suite struct ConcurrencyTests {
    @Test func twentyConcurrentTasksOnOneRepositoryAllSucceed() async throws {
        try await withRepository { repo, dir in
            try dir.write("base.txt", "base\n")
            let base = try await commitAll(repo, "base")
            for i in 0..<20 { try dir.write("files/\(i).txt", "file \(i)\n") }

            let results = try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<20 {
                    group.addTask {
                        switch i % 5 {
                        case 0:
                            // Each commit stages a different file, so none is empty.
                            let info = try await repo.commit(message: "file \(i)", author: alice, committer: alice,
                                                             paths: ["files/\(i).txt"])
                            return "commit \(info.id)"
                        case 1:
                            return "status \(try await repo.status().count)"
                        case 2:
                            return "log \(try await repo.log(limit: 100).count)"
                        case 3:
                            let diff = try await repo.diffWorkingTree()
                            let blob = try await repo.fileAtRevision(base.id, path: "base.txt")
                            return "diff \(diff.files.count) \(blob?.count ?? -1)"
                        default:
                            let branch = try await repo.createBranch("b\(i)", at: base.id)
                            return "branch \(branch.name) \(try await repo.branches().count)"
                        }
                    }
                }
                var all: [String] = []
                for try await result in group { all.append(result) }
                return all
            }

            #expect(results.count == 20)
            #expect(results.filter { $0.hasPrefix("commit") }.count == 4)
            #expect(Int(try git(["rev-list", "--count", "HEAD"], in: dir.path).dropLast()) == 5)
            #expect(try await repo.branches().count == 5)
            try git(["fsck", "--strict"], in: dir.path)
        }
    }

    @Test func manyRepositoriesInParallel() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    try await withRepository { repo, dir in
                        for step in 0..<5 {
                            try dir.write("f.txt", "repo \(i) step \(step)\n")
                            try await commitAll(repo, "step \(step)", step: step)
                        }
                        #expect(try await repo.log().count == 5)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
