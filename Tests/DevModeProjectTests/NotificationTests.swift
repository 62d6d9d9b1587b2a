import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// Watching sessions hear what other sessions change; the author hears nothing of its own change;
/// a session that stops watching hears nothing more.
@Suite("File change notifications")
struct NotificationTests {
    /// The next change notification; fails (instead of hanging) when none comes in a long while.
    func next(_ client: TestClient, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws
        -> ProjectDidChangeFilesNotification
    {
        try #require(
            await pendingChange(client, within: .seconds(20)), "no project/didChangeFiles for \(what)",
            sourceLocation: sourceLocation)
    }

    typealias Change = ProjectDidChangeFilesNotification.Change

    @Test func watchersHearOtherSessionsChangesAndAuthorsHearNothing() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            let watcher = world.viewerA  // a viewer may watch
            let author = world.memberA
            let sameUser = try await world.connect(world.fixture.memberA)  // the author's user, another session
            #expect(try await watcher.send(ProjectWatchRequest(projectId: id)).watching)
            #expect(try await author.send(ProjectWatchRequest(projectId: id, watch: true)).watching)
            #expect(try await sameUser.send(ProjectWatchRequest(projectId: id)).watching)
            let readme = try await world.read("README.md")

            // Created.
            let created = try await world.write("docs/new.txt", "new\n", as: author)
            var heard = try await next(watcher, "a new file")
            #expect(heard.projectId == id && heard.cause == "file/write")
            #expect(heard.changes == [Change(path: "docs/new.txt", type: "created", version: created.version)])
            // Sessions are told, not users: the author's other session hears it too; then it stops.
            #expect(try await next(sameUser, "a new file (same user)").changes == heard.changes)
            #expect(try await sameUser.send(ProjectWatchRequest(projectId: id, watch: false)).watching == false)

            // Changed.
            let changed = try await world.write("docs/new.txt", "newer\n", as: author, expectedVersion: created.version)
            heard = try await next(watcher, "a changed file")
            #expect(heard.cause == "file/write")
            #expect(heard.changes == [Change(path: "docs/new.txt", type: "changed", version: changed.version)])

            // Moved: the old path goes, the new one comes (with the content's version, when given).
            _ = try await author.send(FileMoveRequest(projectId: id, from: "docs/new.txt", to: "docs/moved.txt"))
            heard = try await next(watcher, "a move")
            #expect(heard.cause == "file/move")
            #expect(heard.changes.map(\.path) == ["docs/new.txt", "docs/moved.txt"])
            #expect(heard.changes.map(\.type) == ["deleted", "created"])
            #expect(heard.changes[0].version == nil)
            #expect(heard.changes[1].version == nil || heard.changes[1].version == changed.version)

            // Deleted.
            _ = try await author.send(FileDeleteRequest(projectId: id, path: "docs/moved.txt", expectedVersion: changed.version))
            heard = try await next(watcher, "a delete")
            #expect(heard.cause == "file/delete")
            #expect(heard.changes == [Change(path: "docs/moved.txt", type: "deleted", version: nil)])

            // Restored from HEAD after an edit.
            let edited = try await world.write("README.md", "scribbled\n", as: author)
            heard = try await next(watcher, "an edit before the restore")
            #expect(heard.changes == [Change(path: "README.md", type: "changed", version: edited.version)])
            let restored = try await author.send(VCSRestoreRequest(projectId: id, path: "README.md"))
            #expect(restored.version == readme.version)
            heard = try await next(watcher, "a restore")
            #expect(heard.cause == "vcs/restore")
            #expect(heard.changes == [Change(path: "README.md", type: "changed", version: readme.version)])

            // A branch switch changes everything.
            _ = try await author.send(VCSBranchCreateRequest(projectId: id, name: "other"))
            _ = try await author.send(VCSCheckoutRequest(projectId: id, branch: "other"))
            heard = try await next(watcher, "a checkout")
            #expect(heard.cause == "vcs/checkout" && heard.changes.count == 1)

            // The author heard none of its own changes: the first thing it hears is another session's
            // write, made after all of the above (notifications on a connection keep their order).
            let marker = try await world.write("marker.txt", "from the other session\n", as: sameUser)
            let authorHeard = try await next(author, "another session's write")
            #expect(authorHeard.changes == [Change(path: "marker.txt", type: "created", version: marker.version)])
            #expect(authorHeard.cause == "file/write")
            #expect(try await next(watcher, "the marker").changes.map(\.path) == ["marker.txt"])

            // Nothing else is waiting for either of them.
            _ = try await author.send(ProjectGetRequest(projectId: id))
            _ = try await watcher.send(ProjectGetRequest(projectId: id))
            let extraAuthor = await pendingChange(author)
            #expect(extraAuthor == nil, "the author heard: \(String(describing: extraAuthor))")
            let extraWatcher = await pendingChange(watcher)
            #expect(extraWatcher == nil, "the watcher heard more: \(String(describing: extraWatcher))")
        }
    }

    @Test func afterUnwatchingNothingMoreArrives() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            let watcher = world.viewerA
            let author = world.memberA
            _ = try await watcher.send(ProjectWatchRequest(projectId: id))
            try await world.write("one.txt", "1\n", as: author)
            #expect(try await next(watcher, "while watching").changes.map(\.path) == ["one.txt"])

            // Stop; changes follow, in this project and in another one the watcher never watched.
            #expect(try await watcher.send(ProjectWatchRequest(projectId: id, watch: false)).watching == false)
            try await world.write("unheard.txt", "x\n", as: author)
            _ = try await author.send(FileDeleteRequest(projectId: id, path: "one.txt"))
            let other = try await author.send(ProjectCreateRequest(workspaceId: world.fixture.workspaceA.id, name: "other"))
            _ = try await author.send(
                FileWriteRequest(projectId: other.id, path: "elsewhere.txt", content: "y\n"))

            // Watching again: the first thing heard is the change made after it, nothing from before.
            _ = try await watcher.send(ProjectWatchRequest(projectId: id))
            try await world.write("two.txt", "2\n", as: author)
            let heard = try await next(watcher, "after watching again")
            #expect(heard.changes.map(\.path) == ["two.txt"] && heard.projectId == id)

            // Stop again; a later change, then a round trip on the watcher's own connection (anything
            // sent to it before would be ahead of that answer), and nothing is queued.
            _ = try await watcher.send(ProjectWatchRequest(projectId: id, watch: false))
            try await world.write("late.txt", "late\n", as: author)
            _ = try await author.send(FileMoveRequest(projectId: id, from: "late.txt", to: "later.txt"))
            _ = try await watcher.send(FileListRequest(projectId: id))
            let extra = await pendingChange(watcher)
            #expect(extra == nil, "heard after unwatching: \(String(describing: extra))")
        }
    }

    @Test func restoringAFolderIsAChangeNotADeletion() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            try await world.write("src/a.swift", "a\n")
            try await world.write("src/b.swift", "b\n")
            try await world.commit("Sources")
            try await world.write("src/a.swift", "edited\n")
            _ = try await world.memberA.send(FileDeleteRequest(projectId: id, path: "src/b.swift"))
            _ = try await world.viewerA.send(ProjectWatchRequest(projectId: id))

            _ = try await world.memberA.send(VCSRestoreRequest(projectId: id, path: "src"))
            #expect(try await world.read("src/a.swift").content == "a\n")
            #expect(try await world.read("src/b.swift").content == "b\n")
            let heard = try await next(world.viewerA, "a restored folder")
            #expect(heard.cause == "vcs/restore")
            #expect(heard.changes.map(\.path) == ["src"])
            #expect(heard.changes.map(\.type) == ["changed"], "the restored folder was announced as \(heard.changes)")

            // A file that did not exist at the revision is removed, and announced as deleted.
            try await world.write("src/new.swift", "n\n")
            #expect(try await next(world.viewerA, "a new file").changes.map(\.type) == ["created"])
            let removed = try await world.memberA.send(VCSRestoreRequest(projectId: id, path: "src/new.swift"))
            #expect(removed.version == nil)
            #expect(try await next(world.viewerA, "a removed file").changes == [Change(path: "src/new.swift", type: "deleted", version: nil)])
        }
    }

    @Test func onlyPeopleWhoMaySeeAProjectMayWatchIt() async throws {
        try await ProjectWorld.run { world in
            await expectError(.notFound) { try await world.adminB.send(ProjectWatchRequest(projectId: world.projectId)) }
            // So tenant B's admin hears nothing of tenant A's changes.
            try await world.write("secret.txt", "s\n")
            _ = try await world.adminB.send(AuthWhoAmIRequest())
            #expect(await pendingChange(world.adminB) == nil)
        }
    }
}
