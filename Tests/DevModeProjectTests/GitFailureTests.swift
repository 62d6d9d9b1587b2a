import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// What git refuses or fails reaches the client as the spec says: a damaged repository is -32803
/// (the message says what git said, without server paths), an unmerged index -32013, a taken
/// project name -32013.
@Suite("Git failures and taken project names")
struct GitFailureTests {
    /// `.git/HEAD` overwritten with garbage (a damaged repository): every vcs method answers -32803.
    @Test func everyVCSMethodAnswersRequestFailedOnADamagedRepository() async throws {
        try await ProjectWorld.run { world in
            try await world.write("a.txt", "one\n")
            let first = try await world.commit("First")
            _ = try await world.memberA.send(VCSBranchCreateRequest(projectId: world.projectId, name: "side"))
            try Data("this is not a reference\n".utf8).write(to: URL(fileURLWithPath: world.root + "/.git/HEAD"))
            let id = world.projectId
            let calls: [(String, () async throws -> Any)] = [
                ("vcs/status", { try await world.memberA.send(VCSStatusRequest(projectId: id)) }),
                ("vcs/log", { try await world.memberA.send(VCSLogRequest(projectId: id)) }),
                ("vcs/diff", { try await world.memberA.send(VCSDiffRequest(projectId: id, from: first.id)) }),
                ("vcs/branchList", { try await world.memberA.send(VCSBranchListRequest(projectId: id)) }),
                ("vcs/branchCreate", { try await world.memberA.send(VCSBranchCreateRequest(projectId: id, name: "other")) }),
                ("vcs/restore", { try await world.memberA.send(VCSRestoreRequest(projectId: id, path: "a.txt")) }),
                ("vcs/commit", { try await world.memberA.send(VCSCommitRequest(projectId: id, message: "Second")) }),
                ("vcs/checkout", { try await world.memberA.send(VCSCheckoutRequest(projectId: id, branch: "side")) }),
            ]
            #expect(calls.count == 8)
            for (method, call) in calls {
                let error = await expectError(.requestFailed, method) { try await call() }
                #expect(error?.message.hasPrefix("Request failed: git: ") == true, "\(method): \(error?.message ?? "")")
                #expect(error?.message.contains(world.dataDirectory) == false, "\(method) told a server path")
                #expect(error?.data == nil, "\(method)")
            }
        }
    }

    /// A merge left with conflicts by the git command line: committing another path cannot write
    /// a tree from the unmerged index, a conflict (-32013) and no commit.
    @Test func committingOverAnUnmergedIndexIsAConflict() async throws {
        try await ProjectWorld.run { world in
            try await world.write("c.txt", "base\n")
            try await world.write("other.txt", "x\n")
            let base = try await world.commit("Base")
            let git = GitCLI(root: world.root)
            let identity = ["-c", "user.name=Git", "-c", "user.email=git@example.com"]
            try git.run(["checkout", "-q", "-b", "side"])
            try Data("side\n".utf8).write(to: URL(fileURLWithPath: world.root + "/c.txt"))
            try git.run(identity + ["commit", "-q", "-am", "Side"])
            try git.run(["checkout", "-q", "-"])
            try Data("main\n".utf8).write(to: URL(fileURLWithPath: world.root + "/c.txt"))
            try git.run(identity + ["commit", "-q", "-am", "Main"])
            let (status, _, _) = try git.runRaw(identity + ["merge", "side"])
            #expect(status == 1, "the merge was meant to stop on a conflict")

            try await world.write("other.txt", "y\n")
            let error = await expectError(.conflict, "an unmerged index") {
                try await world.commit("Other", paths: ["other.txt"])
            }
            #expect(error?.message.hasPrefix("Conflict: ") == true, "\(error?.message ?? "")")
            let log = try await world.memberA.send(VCSLogRequest(projectId: world.projectId, limit: 3))
            #expect(log.commits.map(\.summary).first == "Main", "a commit was made: \(log.commits.map(\.summary))")
            #expect(log.commits.contains { $0.id == base.id })
        }
    }

    @Test func renamingAProjectOntoATakenNameIsAConflict() async throws {
        try await ProjectWorld.run { world in
            let other = try await world.memberA.send(ProjectCreateRequest(workspaceId: world.fixture.workspaceA.id, name: "lib"))
            let error = await expectError(.conflict, "a taken project name") {
                try await world.adminA.send(ProjectRenameRequest(projectId: other.id, name: world.project.name))
            }
            #expect(error?.message == "Conflict: the workspace has a project named '\(world.project.name)' already")
            #expect(try await world.adminA.send(ProjectGetRequest(projectId: other.id)).name == "lib")
        }
    }
}
