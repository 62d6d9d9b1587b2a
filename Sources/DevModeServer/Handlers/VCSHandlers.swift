import DevModeFileSystem
import DevModeGit
import DevModeProtocol
import DevModeStore
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import JSONRPC

extension DevModeServer {
    static func registerVCSHandlers(_ router: inout Router) {
        router.on(VCSStatusRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .viewer)
            let repository = try await projects.repository(for: project)
            return try await projects.git(project) {
                VCSStatusResult(
                    branch: try await repository.currentBranch(),
                    entries: try await repository.status().map {
                        .init(path: $0.path, index: $0.index?.rawValue, workdir: $0.workdir?.rawValue)
                    })
            }
        }

        router.on(VCSCommitRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .member, auditing: VCSCommitRequest.method)
            guard !request.message.trimmed.isEmpty else {
                throw ResponseError.invalidParams("message must not be empty", field: "message")
            }
            let paths = try request.paths?.map { try ProjectPath.resolve($0, in: project.root).relative }
            let signature = try await context.signature()
            let repository = try await projects.repository(for: project)
            let commit = try await projects.change(project, method: VCSCommitRequest.method, target: nil, by: context.actor) {
                let commit = try await projects.git(project) {
                    try await repository.commit(
                        message: request.message, author: signature, committer: signature, paths: paths)
                }
                return (commit, "commit \(commit.id)")
            }
            return CommitInfo(commit)
        }

        router.on(VCSLogRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .viewer)
            let limit = request.limit ?? 50
            guard (1...1000).contains(limit) else { throw ResponseError.invalidParams("limit must be 1…1000", field: "limit") }
            let skip: Int
            if let cursor = request.cursor {
                guard let value = Int(cursor), value >= 0 else {
                    throw ResponseError.invalidParams("cursor is not one this server gave", field: "cursor")
                }
                skip = value
            } else {
                skip = 0
            }
            let path = try request.path.map { try ProjectPath.resolve($0, in: project.root).relative }
            let repository = try await projects.repository(for: project)
            let commits = try await projects.git(project) {
                try await repository.log(revision: request.revision ?? "HEAD", path: path, skip: skip, limit: limit)
            }
            return VCSLogResult(
                commits: commits.map(CommitInfo.init), nextCursor: commits.count == limit ? String(skip + limit) : nil)
        }

        router.on(VCSDiffRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .viewer)
            let paths = try request.paths?.map { try ProjectPath.resolve($0, in: project.root).relative }
            let contextLines = request.contextLines ?? 3
            guard (0...1000).contains(contextLines) else {
                throw ResponseError.invalidParams("contextLines must be 0…1000", field: "contextLines")
            }
            let repository = try await projects.repository(for: project)
            let diff = try await projects.git(project) { () -> GitDiff in
                if let from = request.from {
                    return try await repository.diff(
                        from: from, to: request.to ?? "HEAD", paths: paths, contextLines: contextLines)
                }
                guard request.to == nil else {
                    throw ResponseError.invalidParams("'to' needs 'from' (without both: working tree against HEAD)", field: "from")
                }
                return try await repository.diffWorkingTree(paths: paths, contextLines: contextLines)
            }
            return VCSDiffResult(diff)
        }

        router.on(VCSRestoreRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .member, auditing: VCSRestoreRequest.method)
            let path = try ProjectPath.resolve(request.path, in: project.root)
            let revision = request.revision ?? "HEAD"
            let repository = try await projects.repository(for: project)
            let result = try await projects.change(
                project, method: VCSRestoreRequest.method, target: path.relative, by: context.actor
            ) { () -> (VCSRestoreResult, detail: String?) in
                let bytes = try await projects.git(project) { try await repository.fileAtRevision(revision, path: path.relative) }
                if let bytes {
                    try await projects.checkSizes(project, newBytes: bytes.count, replacing: FileSystem.size(path.absolute) ?? 0)
                }
                try await projects.git(project) { try await repository.restore(path: path.relative, revision: revision) }
                projects.forgetUsage(project.workspaceId)
                return (
                    VCSRestoreResult(path: path.relative, version: try bytes.map { try GitRepository.blobID(of: $0) }),
                    "from \(revision)"
                )
            }
            projects.notify(
                project,
                // No version is also what a restored folder gets: only what is gone now was deleted.
                changes: [
                    .init(
                        path: path.relative, type: FileSystem.kind(path.absolute) == nil ? "deleted" : "changed",
                        version: result.version)
                ],
                cause: VCSRestoreRequest.method, except: context.session)
            return result
        }

        router.on(VCSBranchListRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .viewer)
            let repository = try await projects.repository(for: project)
            return try await projects.git(project) {
                let branches = try await repository.branches()
                return VCSBranchListResult(
                    branches: branches.map { .init(name: $0.name, isCurrent: $0.isHead, target: $0.target) },
                    current: try await repository.currentBranch())
            }
        }

        router.on(VCSBranchCreateRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .member, auditing: VCSBranchCreateRequest.method)
            let repository = try await projects.repository(for: project)
            let branch = try await projects.change(project, method: VCSBranchCreateRequest.method, target: request.name, by: context.actor) {
                let branch = try await projects.git(project) {
                    try await repository.createBranch(request.name, at: request.revision ?? "HEAD")
                }
                return (branch, nil)
            }
            return VCSBranchListResult.Branch(name: branch.name, isCurrent: branch.isHead, target: branch.target)
        }

        router.on(VCSCheckoutRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .member, auditing: VCSCheckoutRequest.method)
            let repository = try await projects.repository(for: project)
            let result = try await projects.change(project, method: VCSCheckoutRequest.method, target: request.branch, by: context.actor) {
                let head = try await projects.git(project) { () -> String in
                    try await repository.checkout(branch: request.branch, force: request.force ?? false)
                    return try await repository.log(limit: 1).first?.id ?? ""
                }
                projects.forgetUsage(project.workspaceId)
                return (VCSCheckoutResult(branch: request.branch, head: head), request.force == true ? "forced" : nil)
            }
            projects.notify(
                project, changes: [.init(path: "", type: "changed", version: nil)], cause: VCSCheckoutRequest.method,
                except: context.session)
            return result
        }
    }
}

extension ProjectService {
    /// Runs git work, turning libgit2's errors into protocol errors (without server paths).
    func git<T: Sendable>(_ project: Project, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as GitError {
            let message = error.message.replacing(project.root + "/", with: "").replacing(project.root, with: ".")
            if error.isNotFound { throw ResponseError(code: .notFound, message: "Not found: \(message)") }
            // A branch that exists already is a conflict, like any object that exists already.
            if error.isConflict || error.isAlreadyExists {
                throw ResponseError.conflict(message)
            }
            // A branch name or revision git cannot parse is the client's params.
            if error.isInvalidSpec { throw ResponseError.invalidParams(message) }
            throw ResponseError(code: .requestFailed, message: "Request failed: git: \(message)")
        }
    }
}

extension CommitInfo {
    init(_ commit: GitCommitInfo) {
        self.init(
            id: commit.id, parents: commit.parents, summary: commit.summary, message: commit.message,
            author: Person(name: commit.author.name, email: commit.author.email, time: Timestamp.iso(commit.author.time)),
            committer: Person(
                name: commit.committer.name, email: commit.committer.email, time: Timestamp.iso(commit.committer.time)))
    }
}

extension Timestamp {
    static func iso(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: false))
    }
}

extension VCSDiffResult {
    init(_ diff: GitDiff) {
        self.init(
            patch: diff.patch,
            files: diff.files.map { file in
                File(
                    oldPath: file.oldPath, newPath: file.newPath, status: file.status, isBinary: file.isBinary,
                    additions: file.additions, deletions: file.deletions,
                    hunks: file.hunks.map { hunk in
                        Hunk(
                            header: hunk.header, oldStart: hunk.oldStart, oldLines: hunk.oldLines, newStart: hunk.newStart,
                            newLines: hunk.newLines,
                            lines: hunk.lines.map {
                                Line(origin: $0.origin, content: $0.content, oldLine: $0.oldLine, newLine: $0.newLine)
                            })
                    })
            })
    }
}
