import DevModeFileSystem
import DevModeGit
import DevModeProtocol
import DevModeStore
import FoundationEssentials
import JSONRPC

/// The history room: vcs/* over libgit2 (which runs on each repository's own queue). Changes go
/// through `ProjectAccess.change`; a restore is held to the file size limit and, for hosted
/// projects, the workspace's storage, whether it restores a file or a folder.
final class ProjectHistory: Sendable {
    let settings: ProjectService.Settings
    let access: ProjectAccess
    let repositories: ProjectRepositories

    init(settings: ProjectService.Settings, access: ProjectAccess, repositories: ProjectRepositories) {
        self.settings = settings
        self.access = access
        self.repositories = repositories
    }

    struct Status: Sendable {
        var branch: String?
        var entries: [GitStatusEntry]
    }

    struct Log: Sendable {
        var commits: [GitCommitInfo]
        var nextCursor: String?
    }

    struct Branches: Sendable {
        var branches: [GitBranch]
        var current: String?
    }

    private func open(_ id: String, _ actor: Principal, _ minimum: Role, auditing method: String? = nil) async throws
        -> (Project, GitRepository)
    {
        let project = try await access.project(id, for: actor, atLeast: minimum, auditing: method)
        return (project, try await repositories.repository(for: project))
    }

    func status(_ request: VCSStatusRequest, by actor: Principal) async throws -> Status {
        let (project, repository) = try await open(request.projectId, actor, .viewer)
        return try await Self.git(project) {
            Status(branch: try await repository.currentBranch(), entries: try await repository.status())
        }
    }

    func commit(_ request: VCSCommitRequest, by actor: Principal, signature: GitSignature) async throws -> GitCommitInfo {
        let (project, repository) = try await open(request.projectId, actor, .member, auditing: VCSCommitRequest.method)
        guard !request.message.trimmed.isEmpty else { throw ResponseError.invalidParams("message must not be empty", field: "message") }
        let paths = try request.paths?.map { try ProjectPath.resolve($0, in: project.root).relative }
        return try await access.change(project, method: VCSCommitRequest.method, target: nil, by: actor, origin: nil) {
            let commit = try await Self.git(project) {
                try await repository.commit(message: request.message, author: signature, committer: signature, paths: paths)
            }
            return .init(commit, detail: "commit \(commit.id)")
        }
    }

    func log(_ request: VCSLogRequest, by actor: Principal) async throws -> Log {
        let (project, repository) = try await open(request.projectId, actor, .viewer)
        let limit = request.limit ?? 50
        guard (1...1000).contains(limit) else { throw ResponseError.invalidParams("limit must be 1…1000", field: "limit") }
        var skip = 0
        if let cursor = request.cursor {
            guard let value = Int(cursor), value >= 0 else {
                throw ResponseError.invalidParams("cursor is not one this server gave", field: "cursor")
            }
            skip = value
        }
        let path = try request.path.map { try ProjectPath.resolve($0, in: project.root).relative }
        let commits = try await Self.git(project) {
            try await repository.log(revision: request.revision ?? "HEAD", path: path, skip: skip, limit: limit)
        }
        return Log(commits: commits, nextCursor: commits.count == limit ? String(skip + limit) : nil)
    }

    func diff(_ request: VCSDiffRequest, by actor: Principal) async throws -> GitDiff {
        let (project, repository) = try await open(request.projectId, actor, .viewer)
        let paths = try request.paths?.map { try ProjectPath.resolve($0, in: project.root).relative }
        let contextLines = request.contextLines ?? 3
        guard (0...1000).contains(contextLines) else {
            throw ResponseError.invalidParams("contextLines must be 0…1000", field: "contextLines")
        }
        return try await Self.git(project) { () -> GitDiff in
            if let from = request.from {
                return try await repository.diff(from: from, to: request.to ?? "HEAD", paths: paths, contextLines: contextLines)
            }
            guard request.to == nil else {
                throw ResponseError.invalidParams("'to' needs 'from' (without both: working tree against HEAD)", field: "from")
            }
            return try await repository.diffWorkingTree(paths: paths, contextLines: contextLines)
        }
    }

    /// Restores a file or a folder from `revision`. Every file it brings back is held to
    /// `maxFileBytes`, and the growth (restored sizes less what the working tree holds there now) to
    /// the workspace's storage, checked and spent under the workspace's storage lock.
    func restore(_ request: VCSRestoreRequest, by actor: Principal, origin: Session?) async throws -> VCSRestoreResult {
        let (project, repository) = try await open(request.projectId, actor, .member, auditing: VCSRestoreRequest.method)
        let path = try ProjectPath.resolve(request.path, in: project.root)
        let revision = request.revision ?? "HEAD"
        let (access, maxFileBytes) = (self.access, settings.maxFileBytes)
        return try await access.change(project, method: VCSRestoreRequest.method, target: path.relative, by: actor, origin: origin) {
            let files = try await Self.git(project) { try await repository.files(atRevision: revision, under: path.relative) }
            if let largest = files.max(by: { $0.size < $1.size }), largest.size > maxFileBytes {
                throw ResponseError.payloadTooLarge("a file of \(largest.size) bytes", limit: maxFileBytes, setting: "maxFileBytes")
            }
            try await access.withStorage(of: project) {
                if project.kind == .hosted {
                    let root = project.root
                    let growth = try await BlockingIO.run {
                        files.reduce(0) { $0 + $1.size - (FileSystem.size(root + "/" + $1.path) ?? 0) }
                    }
                    try await access.checkStorage(project.workspaceId, growingBy: growth)
                }
                try await Self.git(project) { try await repository.restore(path: path.relative, revision: revision) }
                access.forgetUsage(project.workspaceId)
            }
            let version = files.count == 1 && files[0].path == path.relative ? files[0].blobID : nil
            // No version is also what a restored folder gets: only what is gone now was deleted.
            let type = FileSystem.kind(path.absolute) == nil ? "deleted" : "changed"
            return .init(
                VCSRestoreResult(path: path.relative, version: version), detail: "from \(revision)",
                changes: [.init(path: path.relative, type: type, version: version)])
        }
    }

    func branches(_ request: VCSBranchListRequest, by actor: Principal) async throws -> Branches {
        let (project, repository) = try await open(request.projectId, actor, .viewer)
        return try await Self.git(project) {
            Branches(branches: try await repository.branches(), current: try await repository.currentBranch())
        }
    }

    func createBranch(_ request: VCSBranchCreateRequest, by actor: Principal) async throws -> GitBranch {
        let (project, repository) = try await open(request.projectId, actor, .member, auditing: VCSBranchCreateRequest.method)
        return try await access.change(project, method: VCSBranchCreateRequest.method, target: request.name, by: actor, origin: nil) {
            .init(try await Self.git(project) { try await repository.createBranch(request.name, at: request.revision ?? "HEAD") })
        }
    }

    func checkout(_ request: VCSCheckoutRequest, by actor: Principal, origin: Session?) async throws -> VCSCheckoutResult {
        let (project, repository) = try await open(request.projectId, actor, .member, auditing: VCSCheckoutRequest.method)
        let access = self.access
        return try await access.change(project, method: VCSCheckoutRequest.method, target: request.branch, by: actor, origin: origin) {
            let head = try await access.withStorage(of: project) {
                let head = try await Self.git(project) { () -> String in
                    try await repository.checkout(branch: request.branch, force: request.force ?? false)
                    return try await repository.log(limit: 1).first?.id ?? ""
                }
                access.forgetUsage(project.workspaceId)
                return head
            }
            return .init(
                VCSCheckoutResult(branch: request.branch, head: head), detail: request.force == true ? "forced" : nil,
                changes: [.init(path: "", type: "changed", version: nil)])
        }
    }

    /// Runs git work, turning libgit2's errors into protocol errors (without server paths).
    static func git<T: Sendable>(_ project: Project, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as GitError {
            let message = error.message.replacing(project.root + "/", with: "").replacing(project.root, with: ".")
            if error.isNotFound { throw ResponseError(code: .notFound, message: "Not found: \(message)") }
            // A branch that exists already is a conflict, like any object that exists already.
            if error.isConflict || error.isAlreadyExists { throw ResponseError.conflict(message) }
            // A branch name or revision git cannot parse is the client's params.
            if error.isInvalidSpec { throw ResponseError.invalidParams(message) }
            throw ResponseError(code: .requestFailed, message: "Request failed: git: \(message)")
        }
    }
}
