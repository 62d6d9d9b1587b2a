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
            try await context.server.projects.files.list(request, by: context.actor)
        }

        router.on(FileReadRequest.self) { request, context in
            try await context.server.projects.files.read(request, by: context.actor)
        }

        router.on(FileWriteRequest.self) { request, context in
            try await context.server.projects.files.write(request, by: context.actor, origin: context.session)
        }

        router.on(FileDeleteRequest.self) { request, context in
            try await context.server.projects.files.delete(request, by: context.actor, origin: context.session)
        }

        router.on(FileMoveRequest.self) { request, context in
            try await context.server.projects.files.move(request, by: context.actor, origin: context.session)
        }

        router.on(FileSearchRequest.self) { request, context in
            let projects = context.server.projects
            let project = try await projects.project(request.projectId, for: context.actor, atLeast: .viewer)
            return try await projects.search(project, request)
        }
    }
}

extension ProjectService {
    func search(_ project: Project, _ request: FileSearchRequest) async throws -> FileSearchResult {
        let maxResults = request.maxResults ?? 200
        let timeout = request.timeoutMs ?? 2000
        guard (1...5000).contains(maxResults) else {
            throw ResponseError.invalidParams("maxResults must be 1…5000", field: "maxResults")
        }
        guard (1...30_000).contains(timeout) else { throw ResponseError.invalidParams("timeoutMs must be 1…30000", field: "timeoutMs") }
        guard !request.query.isEmpty else { throw ResponseError.invalidParams("query must not be empty", field: "query") }
        let caseSensitive = request.caseSensitive ?? true
        let expression: Regex<AnyRegexOutput>?
        if request.regex == true {
            do {
                let pattern = try Regex(request.query)
                expression = caseSensitive ? pattern : pattern.ignoresCase()
            } catch {
                throw ResponseError.invalidParams("query is not a valid regular expression", field: "query")
            }
        } else {
            expression = nil
        }
        let start = try ProjectPath.resolve(request.path ?? "", in: project.root, allowRoot: true)
        let deadline = ContinuousClock.now + .milliseconds(timeout)
        let repository = try await repository(for: project)
        var files: [String] = []
        var folders = [start.relative]
        while let folder = folders.popLast() {
            let absolute = folder.isEmpty ? project.root : project.root + "/" + folder
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: absolute)) ?? []).sorted()
            var children: [(String, FileSystem.Kind)] = []
            for name in names where name != ".git" {
                let relative = folder.isEmpty ? name : folder + "/" + name
                if let kind = FileSystem.kind(project.root + "/" + relative), kind == .file || kind == .directory {
                    children.append((relative, kind))
                }
            }
            let ignored = try await repository.ignored(children.map { $0.1 == .directory ? $0.0 + "/" : $0.0 })
            for (relative, kind) in children.reversed() where !ignored.contains(kind == .directory ? relative + "/" : relative) {
                if kind == .directory { folders.append(relative) } else { files.append(relative) }
            }
        }
        var matches: [FileSearchResult.Match] = []
        var truncated = false
        var timedOut = false
        let needle = caseSensitive ? request.query : request.query.lowercased()
        search: for file in files.sorted() {
            if ContinuousClock.now > deadline {
                timedOut = true
                break
            }
            guard let bytes = try? FileSystem.read(project.root + "/" + file, limit: settings.maxFileBytes),
                !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self)
            else { continue }
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let lineText = String(line)
                var columns: [Int] = []
                if let expression {
                    columns = lineText.matches(of: expression).map {
                        lineText.utf16.distance(from: lineText.startIndex, to: $0.range.lowerBound)
                    }
                } else {
                    let haystack = caseSensitive ? lineText : lineText.lowercased()
                    var from = haystack.startIndex
                    while from < haystack.endIndex, let found = haystack[from...].firstRange(of: needle) {
                        columns.append(haystack.utf16.distance(from: haystack.startIndex, to: found.lowerBound))
                        from = found.upperBound
                    }
                }
                for column in columns {
                    // Truncated only when a match is left out, not when exactly maxResults exist.
                    if matches.count >= maxResults {
                        truncated = true
                        break search
                    }
                    matches.append(.init(path: file, line: number, character: column, text: String(lineText.prefix(500))))
                }
            }
        }
        return FileSearchResult(matches: matches, truncated: truncated, timedOut: timedOut)
    }
}
