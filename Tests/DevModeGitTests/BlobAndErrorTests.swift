import DevModeGit
import Foundation
import Testing

@Suite struct BlobAndErrorTests {
    @Test(arguments: [
        [UInt8](), Array("hello\n".utf8), Array("héllo wörld 🌍".utf8), [0, 1, 2, 0xff, 0xfe, 0, 10],
        Array(repeating: 0x61, count: 100_000),
    ])
    func blobIDIsGitHashObject(bytes: [UInt8]) throws {
        let scratch = try Scratch()
        let expected = try git(["hash-object", "--stdin"], in: scratch.path, input: bytes)
        #expect(try GitRepository.blobID(of: bytes) + "\n" == expected)
    }

    @Test func blobsAndFilesAtRevisions() async throws {
        try await withRepository { repo, dir in
            let binary: [UInt8] = [0, 159, 146, 150, 0xff, 10, 13]
            try dir.write("bin/data.bin", bytes: binary)
            try dir.write("text.txt", "one\n")
            let first = try await commitAll(repo, "one", step: 1)
            try dir.write("text.txt", "two\n")
            try await commitAll(repo, "two", step: 2)

            #expect(try await repo.fileAtRevision("HEAD", path: "text.txt") == Array("two\n".utf8))
            #expect(try await repo.fileAtRevision(first.id, path: "text.txt") == Array("one\n".utf8))
            #expect(try await repo.fileAtRevision("HEAD~1", path: "text.txt") == Array("one\n".utf8))
            #expect(try await repo.fileAtRevision("main", path: "bin/data.bin") == binary)
            #expect(try await repo.fileAtRevision("HEAD", path: "missing.txt") == nil)
            #expect(try await repo.fileAtRevision("HEAD", path: "bin") == nil)
            #expect(try await repo.fileAtRevision("HEAD", path: "text.txt/below") == nil)

            let id = try GitRepository.blobID(of: binary)
            #expect(try git(["rev-parse", "HEAD:bin/data.bin"], in: dir.path) == id + "\n")
            #expect(try await repo.readBlob(id: id) == binary)
            #expect(try await repo.readBlob(id: String(id.prefix(10))) == binary)

            do {
                _ = try await repo.readBlob(id: try GitRepository.blobID(of: Array("never stored".utf8)))
                Issue.record("read a blob that is not stored")
            } catch let error as GitError {
                #expect(error.isNotFound)
                #expect(error.function == "git_blob_lookup_prefix")
            }
            do {
                _ = try await repo.fileAtRevision("no-such-branch", path: "text.txt")
                Issue.record("resolved a missing revision")
            } catch let error as GitError {
                #expect(error.isNotFound)
                #expect(error.function == "git_revparse_single")
                #expect(error.message.contains("no-such-branch"))
            }
        }
    }

    @Test func openingANonRepositoryNamesTheCFunction() async throws {
        let scratch = try Scratch()
        do {
            let repo = try await GitRepository.open(at: scratch.path)
            await repo.close()
            Issue.record("opened a directory that is no repository")
        } catch let error as GitError {
            #expect(error.function == "git_repository_open")
            #expect(error.isNotFound)
            #expect(error.message.contains(scratch.path))
            #expect(error.klass != 0)
            #expect(error.description.contains("git_repository_open"))
        }
        // Nor is a folder inside a repository: parents are not searched.
        try await withRepository { _, dir in
            try dir.write("sub/file.txt", "x\n")
            await #expect(throws: GitError.self) { try await GitRepository.open(at: dir.path + "/sub") }
        }
    }

    @Test func createRefusesAnExistingRepositoryAndMakesMissingDirectories() async throws {
        let scratch = try Scratch()
        let path = scratch.path + "/nested/project"
        let repo = try await GitRepository.create(at: path, initialBranch: "trunk")
        #expect(repo.workdir == path)
        #expect(try await repo.currentBranch() == "trunk")
        await repo.close()
        #expect(try git(["symbolic-ref", "HEAD"], in: path) == "refs/heads/trunk\n")
        do {
            let again = try await GitRepository.create(at: path)
            await again.close()
            Issue.record("created a repository over an existing one")
        } catch let error as GitError {
            #expect(error.isAlreadyExists)
            #expect(error.function == "git_repository_init_ext")
        }
        let reopened = try await GitRepository.open(at: path)
        #expect(reopened.workdir == path)
        await reopened.close()
    }

    @Test func unbornHeadIsReportedAsSuch() async throws {
        try await withRepository { repo, dir in
            do {
                _ = try await repo.fileAtRevision("HEAD", path: "a.txt")
                Issue.record("read a file from an unborn HEAD")
            } catch let error as GitError {
                #expect(error.isUnbornHead)
            }
            await #expect(throws: GitError.self) { try await repo.diff(from: "HEAD", to: "HEAD") }
            #expect(try await repo.log().isEmpty)
            #expect(try await repo.currentBranch() == "main")
        }
    }

    @Test func aClosedRepositoryThrows() async throws {
        let scratch = try Scratch()
        let repo = try await GitRepository.create(at: scratch.path)
        await repo.close()
        await repo.close()
        do {
            _ = try await repo.status()
            Issue.record("a closed repository answered")
        } catch let error as GitError {
            #expect(error.isClosed)
        }
    }
}
