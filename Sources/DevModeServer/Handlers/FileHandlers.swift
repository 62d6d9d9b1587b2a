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
    static func registerFileHandlers(_ router: inout Router) {
        router.on(FileListRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .viewer)
            let start = try ProjectPath.resolve(request.path ?? "", in: project.root, allowRoot: true)
            let depth = request.depth ?? 8
            let maxEntries = request.maxEntries ?? 10_000
            guard (1...64).contains(depth) else { throw ResponseError.invalidParams("depth must be 1…64", field: "depth") }
            guard (1...100_000).contains(maxEntries) else {
                throw ResponseError.invalidParams("maxEntries must be 1…100000", field: "maxEntries")
            }
            guard FileSystem.kind(start.absolute) == .directory else { throw ResponseError.notFound("folder", start.relative) }
            var entries: [FileEntry] = []
            var truncated = false
            var queue: [(String, Int)] = [(start.relative, 1)]
            while !queue.isEmpty && !truncated {
                let (folder, level) = queue.removeFirst()
                let absolute = folder.isEmpty ? project.root : project.root + "/" + folder
                let names = ((try? FileManager.default.contentsOfDirectory(atPath: absolute)) ?? []).sorted()
                var children: [(String, FileSystem.Kind)] = []
                for name in names where name != ".git" && !name.hasPrefix(".devmode-write-") {
                    let relative = folder.isEmpty ? name : folder + "/" + name
                    if let kind = FileSystem.kind(project.root + "/" + relative) { children.append((relative, kind)) }
                }
                if request.includeIgnored != true {
                    let ignored = try await projects.repository(for: project).ignored(
                        children.map { $0.1 == .directory ? $0.0 + "/" : $0.0 })
                    children.removeAll { ignored.contains($0.1 == .directory ? $0.0 + "/" : $0.0) }
                }
                for (relative, kind) in children {
                    if entries.count >= maxEntries {
                        truncated = true
                        break
                    }
                    switch kind {
                    case .directory:
                        entries.append(FileEntry(path: relative, type: "directory", size: nil, version: nil))
                        if level < depth { queue.append((relative, level + 1)) }
                    case .file:
                        let full = project.root + "/" + relative
                        let bytes = try? FileSystem.read(full, limit: projects.settings.maxFileBytes * 4)
                        entries.append(
                            FileEntry(
                                path: relative, type: "file", size: FileSystem.size(full),
                                version: bytes.flatMap { try? GitRepository.blobID(of: $0) }))
                    case .symlink:
                        entries.append(FileEntry(path: relative, type: "symlink", size: nil, version: nil))
                    case .other:
                        break
                    }
                }
            }
            return FileListResult(entries: entries, truncated: truncated)
        }

        router.on(FileReadRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .viewer)
            let path = try ProjectPath.resolve(request.path, in: project.root)
            let bytes = try projects.readFile(path.followingFinalSymlink(in: project.root))
            let (content, encoding) = FileContentCoding.encode(bytes)
            return FileReadResult(
                path: path.relative, content: content, encoding: encoding, version: try GitRepository.blobID(of: bytes),
                size: bytes.count)
        }

        router.on(FileWriteRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .member, auditing: FileWriteRequest.method)
            let path = try ProjectPath.resolve(request.path, in: project.root)
            let bytes = try FileContentCoding.decode(request.content, encoding: request.encoding)
            let result = try await projects.change(
                project, method: FileWriteRequest.method, target: path.relative, by: context.actor
            ) { () -> (FileWriteResult, detail: String?) in
                // Re-resolve under the lock: a symlink swapped in meanwhile is caught here.
                let path = try ProjectPath.resolve(request.path, in: project.root)
                let kind = FileSystem.kind(path.absolute)
                if kind == .directory || kind == .other {
                    throw ResponseError.conflict("'\(path.relative)' is a folder")
                }
                let current = kind == nil ? nil : try projects.readFile(path)
                let currentVersion = try current.map { try GitRepository.blobID(of: $0) }
                if request.createOnly == true, current != nil {
                    throw ResponseError.fileConflict("'\(path.relative)' exists already", currentVersion: currentVersion)
                }
                if let expected = request.expectedVersion, expected != currentVersion {
                    throw ResponseError.fileConflict(
                        current == nil
                            ? "'\(path.relative)' does not exist" : "'\(path.relative)' changed since version \(expected)",
                        currentVersion: currentVersion)
                }
                try await projects.checkSizes(project, newBytes: bytes.count, replacing: current?.count ?? 0)
                try projects.perform("write", path) { try FileSystem.writeAtomically(bytes, to: path.absolute) }
                projects.adjustUsage(project, by: bytes.count - (current?.count ?? 0))
                let version = try GitRepository.blobID(of: bytes)
                return (FileWriteResult(path: path.relative, version: version, size: bytes.count, created: current == nil), nil)
            }
            projects.notify(
                project,
                changes: [.init(path: result.path, type: result.created ? "created" : "changed", version: result.version)],
                cause: FileWriteRequest.method, except: context.session)
            return result
        }

        router.on(FileDeleteRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .member, auditing: FileDeleteRequest.method)
            let path = try ProjectPath.resolve(request.path, in: project.root)
            try await projects.change(project, method: FileDeleteRequest.method, target: path.relative, by: context.actor) {
                let path = try ProjectPath.resolve(request.path, in: project.root)
                guard let kind = FileSystem.kind(path.absolute) else { throw ResponseError.notFound("file", path.relative) }
                var size = 0
                if kind == .file {
                    let current = try projects.readFile(path)
                    size = current.count
                    let currentVersion = try GitRepository.blobID(of: current)
                    if let expected = request.expectedVersion, expected != currentVersion {
                        throw ResponseError.fileConflict(
                            "'\(path.relative)' changed since version \(expected)", currentVersion: currentVersion)
                    }
                }
                do {
                    try FileSystem.remove(path.absolute)
                } catch let error as FileSystem.Failure where error.isExisting {
                    throw ResponseError.conflict("the folder '\(path.relative)' is not empty")
                } catch let error as FileSystem.Failure {
                    throw ResponseError(
                        code: .requestFailed,
                        message: "Request failed: could not delete '\(path.relative)': \(String(cString: strerror(error.code)))")
                }
                projects.adjustUsage(project, by: -size)
                return ((), nil)
            }
            projects.notify(
                project, changes: [.init(path: path.relative, type: "deleted", version: nil)], cause: FileDeleteRequest.method,
                except: context.session)
            return DeletedResult(deleted: true)
        }

        router.on(FileMoveRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .member, auditing: FileMoveRequest.method)
            let from = try ProjectPath.resolve(request.from, in: project.root)
            let to = try ProjectPath.resolve(request.to, in: project.root)
            try await projects.change(
                project, method: FileMoveRequest.method, target: "\(from.relative) -> \(to.relative)", by: context.actor
            ) {
                let from = try ProjectPath.resolve(request.from, in: project.root)
                let to = try ProjectPath.resolve(request.to, in: project.root)
                guard FileSystem.kind(from.absolute) != nil else { throw ResponseError.notFound("file", from.relative) }
                do {
                    try FileSystem.move(from.absolute, to: to.absolute, overwrite: request.overwrite ?? false)
                } catch let error as FileSystem.Failure where error.isExisting {
                    throw ResponseError.conflict("'\(to.relative)' exists already (pass overwrite: true to replace it)")
                } catch let error as FileSystem.Failure {
                    // A folder into itself, a file onto a folder, a file in the way: the client's to hear.
                    throw ResponseError(
                        code: .requestFailed,
                        message: "Request failed: could not move '\(from.relative)' to '\(to.relative)': \(String(cString: strerror(error.code)))")
                }
                return ((), nil)
            }
            projects.notify(
                project,
                changes: [.init(path: from.relative, type: "deleted", version: nil), .init(path: to.relative, type: "created", version: nil)],
                cause: FileMoveRequest.method, except: context.session)
            return FileMoveResult(from: from.relative, to: to.relative)
        }

        router.on(FileSearchRequest.self) { request, context in
            try await context.server.search.search(request, by: context.actor, in: context.session)
        }
    }
}

extension ProjectService {
    /// Reads a file of the project (regular files only, up to four times the write limit).
    func readFile(_ path: ProjectPath) throws -> [UInt8] {
        do {
            return try FileSystem.read(path.absolute, limit: settings.maxFileBytes * 4)
        } catch let error as FileSystem.Failure {
            if error.isMissing { throw ResponseError.notFound("file", path.relative) }
            if error.code == EISDIR { throw ResponseError.conflict("'\(path.relative)' is a folder") }
            if error.code == EFBIG {
                throw ResponseError.payloadTooLarge("'\(path.relative)'", limit: settings.maxFileBytes * 4, setting: "maxFileBytes")
            }
            if error.code == ELOOP { throw ProjectPath.refuse(path.relative, "a symlink") }
            throw error
        }
    }

    /// A filesystem step whose failure the client should hear about plainly.
    func perform(_ operation: String, _ path: ProjectPath, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as FileSystem.Failure {
            throw ResponseError(
                code: .requestFailed, message: "Request failed: could not \(operation) '\(path.relative)': \(String(cString: strerror(error.code)))")
        }
    }
}
