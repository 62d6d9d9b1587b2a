import DevModeFileSystem
import DevModeGit
import DevModeProtocol
import DevModeStore
import FoundationEssentials
import JSONRPC

#if canImport(Glibc)
import Glibc
#endif

/// The files room: listing, reading, writing, deleting and moving a project's files. Paths are
/// resolved safely (`ProjectPath`), and resolved again under the project's lock before a change;
/// writes are atomic and fsync'd; versions are git blob ids, checked under the lock; every change
/// goes through `ProjectAccess.change`. Blocking work (walks, reads, hashing, fsync'd writes,
/// removes, renames) runs on `BlockingIO`, off the cooperative pool.
final class ProjectFiles: Sendable {
    let settings: ProjectService.Settings
    let access: ProjectAccess
    let repositories: ProjectRepositories

    init(settings: ProjectService.Settings, access: ProjectAccess, repositories: ProjectRepositories) {
        self.settings = settings
        self.access = access
        self.repositories = repositories
    }

    /// Largest file read (or hashed for a listing): four times the write limit.
    var readLimit: Int { settings.maxFileBytes * 4 }

    // MARK: Listing

    /// The project's tree from `path`, breadth first, with each file's size and version. A file's
    /// version is the index's blob id when the file's stat data still match what the index
    /// recorded; otherwise the file is hashed as it streams (files over `readLimit` get none).
    func list(_ request: FileListRequest, by actor: Principal) async throws -> FileListResult {
        let project = try await access.project(request.projectId, for: actor, atLeast: .viewer)
        let start = try ProjectPath.resolve(request.path ?? "", in: project.root, allowRoot: true)
        let depth = request.depth ?? 8
        let maxEntries = request.maxEntries ?? 10_000
        guard (1...64).contains(depth) else { throw ResponseError.invalidParams("depth must be 1…64", field: "depth") }
        guard (1...100_000).contains(maxEntries) else {
            throw ResponseError.invalidParams("maxEntries must be 1…100000", field: "maxEntries")
        }
        let repository = try await repositories.repository(for: project)
        let includeIgnored = request.includeIgnored == true
        let limit = readLimit
        return try await BlockingIO.run {
            guard FileSystem.kind(start.absolute) == .directory else { throw ResponseError.notFound("folder", start.relative) }
            let index = (try? repository.indexSnapshotWaiting(under: start.relative)) ?? GitIndexSnapshot(entries: [:])
            var entries: [FileEntry] = []
            var truncated = false
            let walker = DirectoryWalker(root: project.root, start: start.relative, maxDepth: depth, order: .breadthFirst)
            // Git names a folder with a trailing slash when it matches ignore rules.
            let gitName = { (entry: DirectoryWalker.Entry) in entry.kind == .directory ? entry.path + "/" : entry.path }
            try walker.walk(
                filter: { children in
                    var kept = children.filter { $0.name != ".git" && !$0.name.hasPrefix(".devmode-write-") && $0.kind != .other }
                    if !includeIgnored {
                        let ignored = try repository.ignoredWaiting(kept.map(gitName))
                        kept.removeAll { ignored.contains(gitName($0)) }
                    }
                    return kept
                },
                visit: { entry in
                    // Truncated only when an entry is left out, not when exactly maxEntries exist.
                    guard entries.count < maxEntries else {
                        truncated = true
                        return false
                    }
                    switch entry.kind {
                    case .directory: entries.append(FileEntry(path: entry.path, type: "directory", size: nil, version: nil))
                    case .symlink: entries.append(FileEntry(path: entry.path, type: "symlink", size: nil, version: nil))
                    case .file:
                        let absolute = walker.absolute(entry.path)
                        let stat = Self.stat(absolute)
                        let version = stat.flatMap { index.version(of: entry.path, stat: $0) }
                            ?? (try? GitRepository.blobID(ofFileAt: absolute, limit: limit)) ?? nil
                        entries.append(FileEntry(path: entry.path, type: "file", size: stat?.size, version: version))
                    case .other: break
                    }
                    return true
                })
            return FileListResult(entries: entries, truncated: truncated)
        }
    }

    /// `lstat` as git's index compares it.
    static func stat(_ path: String) -> GitFileStat? {
        var info = Glibc.stat()
        guard lstat(path, &info) == 0 else { return nil }
        return GitFileStat(
            size: Int(info.st_size), mtimeSeconds: Int(info.st_mtim.tv_sec), mtimeNanoseconds: Int(info.st_mtim.tv_nsec),
            inode: UInt64(info.st_ino), device: UInt64(info.st_dev))
    }

    // MARK: Reading

    func read(_ request: FileReadRequest, by actor: Principal) async throws -> FileReadResult {
        let project = try await access.project(request.projectId, for: actor, atLeast: .viewer)
        let path = try ProjectPath.resolve(request.path, in: project.root)
        let (bytes, version) = try await readVersioned(try path.followingFinalSymlink(in: project.root))
        let (content, encoding) = FileContentCoding.encode(bytes)
        return FileReadResult(path: path.relative, content: content, encoding: encoding, version: version, size: bytes.count)
    }

    /// A file's bytes and version (regular files only, up to `readLimit`), read off the pool.
    func readVersioned(_ path: ProjectPath) async throws -> (bytes: [UInt8], version: String) {
        let limit = readLimit
        return try await BlockingIO.run {
            do {
                let bytes = try FileSystem.read(path.absolute, limit: limit)
                return (bytes, try GitRepository.blobID(of: bytes))
            } catch let error as FileSystem.Failure {
                if error.isMissing { throw ResponseError.notFound("file", path.relative) }
                if error.code == EISDIR { throw ResponseError.conflict("'\(path.relative)' is a folder") }
                if error.code == EFBIG {
                    throw ResponseError.payloadTooLarge("'\(path.relative)'", limit: limit, setting: "maxFileBytes")
                }
                if error.code == ELOOP { throw ProjectPath.refuse(path.relative, "a symlink") }
                throw error
            }
        }
    }

    // MARK: Changes

    func write(_ request: FileWriteRequest, by actor: Principal, origin: Session?) async throws -> FileWriteResult {
        let project = try await access.project(request.projectId, for: actor, atLeast: .member, auditing: FileWriteRequest.method)
        let target = try ProjectPath.resolve(request.path, in: project.root)
        let bytes = try FileContentCoding.decode(request.content, encoding: request.encoding)
        let (access, maxFileBytes) = (self.access, settings.maxFileBytes)
        return try await access.change(project, method: FileWriteRequest.method, target: target.relative, by: actor, origin: origin) {
            // Re-resolve under the lock: a symlink swapped in meanwhile is caught here.
            let path = try ProjectPath.resolve(request.path, in: project.root)
            let kind = FileSystem.kind(path.absolute)
            if kind == .directory || kind == .other { throw ResponseError.conflict("'\(path.relative)' is a folder") }
            let current = kind == nil ? nil : try await self.readVersioned(path)
            if request.createOnly == true, let current {
                throw ResponseError.fileConflict("'\(path.relative)' exists already", currentVersion: current.version)
            }
            if let expected = request.expectedVersion, expected != current?.version {
                throw ResponseError.fileConflict(
                    current == nil ? "'\(path.relative)' does not exist" : "'\(path.relative)' changed since version \(expected)",
                    currentVersion: current?.version)
            }
            guard bytes.count <= maxFileBytes else {
                throw ResponseError.payloadTooLarge("a file of \(bytes.count) bytes", limit: maxFileBytes, setting: "maxFileBytes")
            }
            let growth = bytes.count - (current?.bytes.count ?? 0)
            let version = try await access.withStorage(of: project) {
                if project.kind == .hosted { try await access.checkStorage(project.workspaceId, growingBy: growth) }
                let version = try await Self.perform("write", path) {
                    try FileSystem.writeAtomically(bytes, to: path.absolute)
                    return try GitRepository.blobID(of: bytes)
                }
                access.adjustUsage(project, by: growth)
                return version
            }
            let created = current == nil
            return .init(
                FileWriteResult(path: path.relative, version: version, size: bytes.count, created: created),
                changes: [.init(path: path.relative, type: created ? "created" : "changed", version: version)])
        }
    }

    func delete(_ request: FileDeleteRequest, by actor: Principal, origin: Session?) async throws -> DeletedResult {
        let project = try await access.project(request.projectId, for: actor, atLeast: .member, auditing: FileDeleteRequest.method)
        let target = try ProjectPath.resolve(request.path, in: project.root)
        let access = self.access
        return try await access.change(project, method: FileDeleteRequest.method, target: target.relative, by: actor, origin: origin) {
            let path = try ProjectPath.resolve(request.path, in: project.root)
            guard let kind = FileSystem.kind(path.absolute) else { throw ResponseError.notFound("file", path.relative) }
            var size = 0
            if kind == .file {
                let current = try await self.readVersioned(path)
                if let expected = request.expectedVersion, expected != current.version {
                    throw ResponseError.fileConflict(
                        "'\(path.relative)' changed since version \(expected)", currentVersion: current.version)
                }
                size = current.bytes.count
            }
            let freed = size
            try await access.withStorage(of: project) {
                do {
                    try await BlockingIO.run { try FileSystem.remove(path.absolute) }
                } catch let error as FileSystem.Failure where error.isExisting {
                    throw ResponseError.conflict("the folder '\(path.relative)' is not empty")
                } catch let error as FileSystem.Failure {
                    throw Self.failure("delete", path, error)
                }
                access.adjustUsage(project, by: -freed)
            }
            return .init(DeletedResult(deleted: true), changes: [.init(path: path.relative, type: "deleted", version: nil)])
        }
    }

    func move(_ request: FileMoveRequest, by actor: Principal, origin: Session?) async throws -> FileMoveResult {
        let project = try await access.project(request.projectId, for: actor, atLeast: .member, auditing: FileMoveRequest.method)
        let source = try ProjectPath.resolve(request.from, in: project.root)
        let destination = try ProjectPath.resolve(request.to, in: project.root)
        return try await access.change(
            project, method: FileMoveRequest.method, target: "\(source.relative) -> \(destination.relative)", by: actor,
            origin: origin
        ) {
            let from = try ProjectPath.resolve(request.from, in: project.root)
            let to = try ProjectPath.resolve(request.to, in: project.root)
            guard FileSystem.kind(from.absolute) != nil else { throw ResponseError.notFound("file", from.relative) }
            do {
                try await BlockingIO.run { try FileSystem.move(from.absolute, to: to.absolute, overwrite: request.overwrite ?? false) }
            } catch let error as FileSystem.Failure where error.isExisting {
                throw ResponseError.conflict("'\(to.relative)' exists already (pass overwrite: true to replace it)")
            } catch let error as FileSystem.Failure {
                // A folder into itself, a file onto a folder, a file in the way: the client's to hear.
                throw ResponseError(
                    code: .requestFailed,
                    message: "Request failed: could not move '\(from.relative)' to '\(to.relative)': \(String(cString: strerror(error.code)))")
            }
            return .init(
                FileMoveResult(from: from.relative, to: to.relative),
                changes: [.init(path: from.relative, type: "deleted", version: nil), .init(path: to.relative, type: "created", version: nil)])
        }
    }

    // MARK: Helpers

    /// A blocking filesystem step, off the pool; its failure is told to the client plainly.
    static func perform<T: Sendable>(_ operation: String, _ path: ProjectPath, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await BlockingIO.run(body)
        } catch let error as FileSystem.Failure {
            throw failure(operation, path, error)
        }
    }

    static func failure(_ operation: String, _ path: ProjectPath, _ error: FileSystem.Failure) -> ResponseError {
        ResponseError(
            code: .requestFailed, message: "Request failed: could not \(operation) '\(path.relative)': \(String(cString: strerror(error.code)))")
    }
}
