import DevModeClock
import DevModeFileSystem
import DevModeGit
import DevModeProtocol
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import JSONRPC

/// `file/search`: who may search, how many searches a session may have in flight, and the search
/// itself, which runs on a bounded pool of its own (`SearchPool`), never on Swift's cooperative
/// pool, with a matcher whose time is linear (`SearchPattern`) and a deadline checked inside
/// files and lines (`SearchBudget`). One tenant's searches therefore cannot hold the threads that
/// serve every other request, and no pattern runs past its `timeoutMs`.
public final class SearchService: Sendable {
    public struct Settings: Sendable {
        /// Threads that run searches, shared by every session (`searchThreads`).
        public var threads: Int
        /// Most `file/search` requests one session may have in flight (`maxSearchesPerSession`);
        /// one more answers -32021 with `data: {limit, setting: "maxSearchesPerSession"}`.
        public var maxSearchesPerSession: Int
        /// Steps of matching work between two reads of the clock (see `SearchBudget`).
        public var stepsPerCheck: Int
        /// Runs on the pool's thread as each search starts, before any work; nil in production.
        /// Tests hold searches in flight with it.
        public var willSearch: (@Sendable () -> Void)?

        public init(
            threads: Int = 2, maxSearchesPerSession: Int = 4, stepsPerCheck: Int = 16_384, willSearch: (@Sendable () -> Void)? = nil
        ) {
            self.threads = threads
            self.maxSearchesPerSession = maxSearchesPerSession
            self.stepsPerCheck = stepsPerCheck
            self.willSearch = willSearch
        }
    }

    let settings: Settings
    /// The server's clock (`ServerConfiguration.clock`): `timeoutMs` is measured on it.
    private let clock: any ServerClock
    private let projects: ProjectService
    private let pool: SearchPool
    /// Searches in flight per session id.
    private let inFlight = LockedState<[Int: Int]>([:])

    init(settings: Settings, projects: ProjectService, clock: any ServerClock) {
        self.settings = settings
        self.clock = clock
        self.projects = projects
        self.pool = SearchPool(threads: max(1, settings.threads))
    }

    /// Searches a project's files for `request.query` as `session`'s caller, columns in the
    /// session's position encoding.
    func search(_ request: FileSearchRequest, by actor: Principal, in session: Session) async throws -> FileSearchResult {
        let project = try await projects.project(request.projectId, for: actor, atLeast: .viewer)
        let maxResults = request.maxResults ?? 200
        let timeout = request.timeoutMs ?? 2000
        guard (1...5000).contains(maxResults) else {
            throw ResponseError.invalidParams("maxResults must be 1…5000", field: "maxResults")
        }
        guard (1...30_000).contains(timeout) else { throw ResponseError.invalidParams("timeoutMs must be 1…30000", field: "timeoutMs") }
        guard !request.query.isEmpty else { throw ResponseError.invalidParams("query must not be empty", field: "query") }
        let caseSensitive = request.caseSensitive ?? true
        let pattern: SearchPattern
        if request.regex == true {
            do {
                pattern = try SearchPattern.regex(request.query, caseInsensitive: !caseSensitive)
            } catch {
                throw ResponseError.invalidParams("query is not a supported regular expression: \(error.message)", field: "query")
            }
        } else {
            pattern = SearchPattern.literal(request.query, caseInsensitive: !caseSensitive)
        }
        let start = try ProjectPath.resolve(request.path ?? "", in: project.root, allowRoot: true)
        let repository = try await projects.repository(for: project)
        try acquire(session.id)
        defer { release(session.id) }
        let job = SearchJob(
            root: project.root, start: start.relative, repository: repository, pattern: pattern,
            plainBytes: request.regex != true && caseSensitive ? Array(request.query.utf8) : nil,
            maxResults: maxResults, maxFileBytes: projects.settings.maxFileBytes, encoding: session.positionEncoding)
        let clock = self.clock
        let deadline = clock.now + .milliseconds(timeout)
        let stepsPerCheck = settings.stepsPerCheck
        let willSearch = settings.willSearch
        let outcome = await pool.run { cancelled in
            willSearch?()
            var budget = SearchBudget(clock: clock, deadline: deadline, cancelled: cancelled, stepsPerCheck: stepsPerCheck)
            return Result { try job.run(budget: &budget) }
        }
        try Task.checkCancellation()
        return try outcome.get()
    }

    private func acquire(_ session: Int) throws {
        let limit = settings.maxSearchesPerSession
        let admitted = inFlight.withLock { counts -> Bool in
            let used = counts[session, default: 0]
            guard used < limit else { return false }
            counts[session] = used + 1
            return true
        }
        guard admitted else { throw ResponseError.tooManySearches(limit: limit) }
    }

    private func release(_ session: Int) {
        inFlight.withLock { counts in
            let left = counts[session, default: 1] - 1
            counts[session] = left > 0 ? left : nil
        }
    }
}

extension ResponseError {
    /// -32021: the session has `maxSearchesPerSession` searches in flight; retry when one answers.
    static func tooManySearches(limit: Int) -> ResponseError {
        ResponseError(
            code: .tooManyRequests,
            message: "Too many searches in flight on this session (limit \(limit)); retry when one of them answers",
            data: ["limit": .int(limit), "setting": "maxSearchesPerSession"])
    }
}

/// One search's blocking work, run on a pool thread: the walk, the reads and the matching.
struct SearchJob: Sendable {
    let root: String
    let start: String
    let repository: GitRepository
    let pattern: SearchPattern
    /// The query's bytes for a case-sensitive literal: matched on the bytes, no decoding needed.
    let plainBytes: [UInt8]?
    let maxResults: Int
    let maxFileBytes: Int
    let encoding: PositionEncoding

    func run(budget: inout SearchBudget) throws -> FileSearchResult {
        var matches: [FileSearchResult.Match] = []
        var truncated = false
        for file in try files(budget: &budget).sorted() {
            guard budget.check() else { break }
            guard let bytes = try? FileSystem.read(root + "/" + file, limit: maxFileBytes), Self.isText(bytes) else {
                continue
            }
            if !scan(bytes, path: file, into: &matches, budget: &budget) {
                truncated = budget.stop == nil
                break
            }
        }
        return FileSearchResult(matches: matches, truncated: truncated, timedOut: budget.stop == .timedOut)
    }

    /// The files under `start` that git does not ignore (`.git` never), through the one walker.
    private func files(budget: inout SearchBudget) throws -> [String] {
        var files: [String] = []
        let repository = self.repository
        try DirectoryWalker(root: root, start: start, order: .depthFirst).walk(
            filter: { entries in
                let kept = entries.filter { $0.name != ".git" && ($0.kind == .file || $0.kind == .directory) }
                let names = kept.map { $0.kind == .directory ? $0.path + "/" : $0.path }
                let ignored = try repository.ignoredWaiting(names)
                return zip(kept, names).filter { !ignored.contains($0.1) }.map(\.0)
            },
            visit: { entry in
                if entry.kind == .file { files.append(entry.path) }
                return budget.spend(1)
            })
        return files
    }

    /// UTF-8 without NUL bytes.
    static func isText(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return true }
            return memchr(base, 0, buffer.count) == nil
        } && String(validating: bytes, as: UTF8.self) != nil
    }

    /// Adds the file's matches; false when the search must stop (out of results or of budget).
    private func scan(_ bytes: [UInt8], path: String, into matches: inout [FileSearchResult.Match], budget: inout SearchBudget)
        -> Bool
    {
        if let plainBytes, Self.find(plainBytes, in: bytes, from: 0, to: bytes.count, budget: &budget) == nil {
            return budget.stop == nil
        }
        var matcher = plainBytes == nil ? SearchMatcher(pattern) : nil
        var scalars: [UInt32] = []
        var number = 0
        var lineStart = 0
        while lineStart < bytes.count {
            let (lineEnd, nextStart) = Self.lineEnd(in: bytes, from: lineStart)
            guard budget.spend((lineEnd - lineStart) / 16 + 1) else { return false }
            let wanted = maxResults - matches.count + 1  // one more than fits tells `truncated`
            let columns: [Int]
            if let plainBytes {
                var offsets: [Int] = []
                var from = lineStart
                while offsets.count < wanted, let found = Self.find(plainBytes, in: bytes, from: from, to: lineEnd, budget: &budget) {
                    offsets.append(found - lineStart)
                    from = found + plainBytes.count
                }
                columns = Self.columns(byteOffsets: offsets, line: bytes[lineStart..<lineEnd], encoding: encoding)
            } else {
                Self.decode(bytes[lineStart..<lineEnd], folding: pattern.caseInsensitive, into: &scalars)
                let starts = matcher!.matches(in: scalars, limit: wanted, budget: &budget)
                columns = Self.columns(scalarIndices: starts, line: bytes[lineStart..<lineEnd], encoding: encoding)
            }
            if !columns.isEmpty {
                let text = String(String(decoding: bytes[lineStart..<lineEnd], as: UTF8.self).prefix(500))
                for column in columns {
                    // Truncated only when a match is left out, not when exactly maxResults exist.
                    if matches.count >= maxResults { return false }
                    matches.append(.init(path: path, line: number, character: column, text: text))
                }
            }
            if budget.stop != nil { return false }
            number += 1
            lineStart = nextStart
        }
        return true
    }

    /// Where the line starting at `start` ends (before its "\n", "\r\n" or "\r") and where the
    /// next one starts.
    static func lineEnd(in bytes: [UInt8], from start: Int) -> (end: Int, next: Int) {
        var index = start
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0A { return (index, index + 1) }
            if byte == 0x0D {
                return (index, index + 1 < bytes.count && bytes[index + 1] == 0x0A ? index + 2 : index + 1)
            }
            index += 1
        }
        return (index, index)
    }

    /// The first occurrence of `needle` in `bytes[from..<to]`, scanned in chunks of `chunkBytes`
    /// with the budget spent between them (one long line cannot outrun the deadline); nil when
    /// there is none or the budget ran out.
    static func find(_ needle: [UInt8], in bytes: [UInt8], from: Int, to: Int, budget: inout SearchBudget) -> Int? {
        var chunkStart = from
        while to - chunkStart >= needle.count {
            // Chunks overlap by the needle's length less one, so no occurrence falls between two.
            let chunkEnd = min(to, chunkStart + chunkBytes + needle.count - 1)
            if let found = find(needle, in: bytes, from: chunkStart, to: chunkEnd) { return found }
            guard budget.spend((chunkEnd - chunkStart) / 16 + 1) else { return nil }
            chunkStart += chunkBytes
        }
        return nil
    }

    static let chunkBytes = 16_384

    /// The first occurrence of `needle` in `bytes[from..<to]`: `memchr` for the first byte, then
    /// `memcmp` (glibc's `memmem` is not imported without _GNU_SOURCE).
    static func find(_ needle: [UInt8], in bytes: [UInt8], from: Int, to: Int) -> Int? {
        guard !needle.isEmpty, to - from >= needle.count else { return nil }
        return bytes.withUnsafeBufferPointer { haystack in
            needle.withUnsafeBufferPointer { needle in
                guard let base = haystack.baseAddress, let wanted = needle.baseAddress else { return nil }
                let first = Int32(wanted[0])
                var at = from
                let last = to - needle.count
                while at <= last {
                    guard let hit = memchr(base + at, first, last - at + 1) else { return nil }
                    let index = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if memcmp(base + index, wanted, needle.count) == 0 { return index }
                    at = index + 1
                }
                return nil
            }
        }
    }

    /// The line's scalars (folded one to one when asked), into a buffer kept across lines.
    static func decode(_ line: ArraySlice<UInt8>, folding: Bool, into scalars: inout [UInt32]) {
        scalars.removeAll(keepingCapacity: true)
        var index = line.startIndex
        while index < line.endIndex {
            let lead = UInt32(line[index])
            var value: UInt32
            var length: Int
            switch lead {
            case 0..<0x80: value = lead; length = 1
            case 0xC0..<0xE0: value = lead & 0x1F; length = 2
            case 0xE0..<0xF0: value = lead & 0x0F; length = 3
            default: value = lead & 0x07; length = 4
            }
            for offset in 1..<max(length, 1) where index + offset < line.endIndex {
                value = value << 6 | (UInt32(line[index + offset]) & 0x3F)
            }
            if folding { value = value < 0x80 ? ((0x41...0x5A).contains(value) ? value + 0x20 : value) : SearchPattern.fold(value) }
            scalars.append(value)
            index += length
        }
    }

    /// Columns, in `encoding`'s units, of matches that start at these byte offsets of the line.
    static func columns(byteOffsets: [Int], line: ArraySlice<UInt8>, encoding: PositionEncoding) -> [Int] {
        guard encoding != .utf8 else { return byteOffsets }
        return walk(line, encoding: encoding, stops: byteOffsets) { byteOffset, _ in byteOffset }
    }

    /// Columns, in `encoding`'s units, of matches that start at these scalar indices of the line.
    static func columns(scalarIndices: [Int], line: ArraySlice<UInt8>, encoding: PositionEncoding) -> [Int] {
        guard encoding != .utf32 else { return scalarIndices }
        return walk(line, encoding: encoding, stops: scalarIndices) { _, scalarIndex in scalarIndex }
    }

    /// Walks the line's scalars once, giving the column at each of `stops` (ascending, measured by
    /// `key(byteOffset, scalarIndex)`).
    private static func walk(
        _ line: ArraySlice<UInt8>, encoding: PositionEncoding, stops: [Int], key: (Int, Int) -> Int
    ) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(stops.count)
        var units = 0
        var scalarIndex = 0
        var index = line.startIndex
        for stop in stops {
            while index < line.endIndex, key(index - line.startIndex, scalarIndex) < stop {
                let lead = line[index]
                let length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
                units += encoding.units(utf8Length: length)
                scalarIndex += 1
                index += length
            }
            result.append(units)
        }
        return result
    }
}
