import CGit2
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// What the index records of one file: its blob id and the stat data git took when it staged it
/// (libgit2 keeps them as 32-bit values: sizes, inode and device numbers are truncated).
public struct GitIndexEntry: Sendable, Hashable {
    public var blobID: String
    public var size: UInt32
    public var mtimeSeconds: Int32
    public var mtimeNanoseconds: UInt32
    public var inode: UInt32
    public var device: UInt32
}

/// A file of a commit's tree: its path, size and blob id.
public struct GitTreeFile: Sendable, Hashable {
    public var path: String
    public var size: Int
    public var blobID: String
}

/// The stat data of a working-tree file, as `lstat` gives it.
public struct GitFileStat: Sendable, Hashable {
    public var size: Int
    public var mtimeSeconds: Int
    public var mtimeNanoseconds: Int
    public var inode: UInt64
    public var device: UInt64

    public init(size: Int, mtimeSeconds: Int, mtimeNanoseconds: Int, inode: UInt64, device: UInt64) {
        self.size = size
        self.mtimeSeconds = mtimeSeconds
        self.mtimeNanoseconds = mtimeNanoseconds
        self.inode = inode
        self.device = device
    }
}

/// The index's entries that can stand for a file's version without reading the file: stage 0 only,
/// no clean filter (CRLF, ident, a filter driver) applies to the path, and not racily clean (staged
/// in the same instant the index was written, when a later edit could keep the same stat data).
public struct GitIndexSnapshot: Sendable {
    public let entries: [String: GitIndexEntry]

    public init(entries: [String: GitIndexEntry]) { self.entries = entries }

    /// The blob id the index holds for `path`, when `stat` matches what the index recorded (size,
    /// modification time, inode, device, as libgit2 records them); nil when the file must be hashed.
    public func version(of path: String, stat: GitFileStat) -> String? {
        guard let entry = entries[path] else { return nil }
        guard UInt32(truncatingIfNeeded: stat.size) == entry.size, Int32(truncatingIfNeeded: stat.mtimeSeconds) == entry.mtimeSeconds,
            UInt32(truncatingIfNeeded: stat.inode) == entry.inode, UInt32(truncatingIfNeeded: stat.device) == entry.device
        else { return nil }
        // A libgit2 built without nanosecond times records 0: then the seconds decide alone.
        if entry.mtimeNanoseconds != 0 && UInt32(truncatingIfNeeded: stat.mtimeNanoseconds) != entry.mtimeNanoseconds { return nil }
        return entry.blobID
    }
}

extension GitRepository {
    /// The index entries under `prefix` ("" for all) whose blob ids can stand for the files' content
    /// when their stat data still match (see `GitIndexSnapshot`). Re-reads the index from disk when
    /// another process changed it.
    public func indexSnapshot(under prefix: String = "") async throws -> GitIndexSnapshot {
        try await perform { try Self.indexSnapshot($0, under: prefix) }
    }

    /// `indexSnapshot` for code already on a thread that may block (see `performWaiting`).
    public func indexSnapshotWaiting(under prefix: String = "") throws -> GitIndexSnapshot {
        try performWaiting { try Self.indexSnapshot($0, under: prefix) }
    }

    /// `ignored` for code already on a thread that may block (see `performWaiting`).
    public func ignoredWaiting(_ paths: [String]) throws -> Set<String> {
        guard !paths.isEmpty else { return [] }
        return try performWaiting { try Self.ignored(paths, in: $0) }
    }

    static func ignored(_ paths: [String], in handle: OpaquePointer) throws -> Set<String> {
        var ignored = Set<String>()
        for path in paths {
            var flag: Int32 = 0
            try check(git_ignore_path_is_ignored(&flag, handle, path), "git_ignore_path_is_ignored")
            if flag != 0 { ignored.insert(path) }
        }
        return ignored
    }

    static func indexSnapshot(_ repo: OpaquePointer, under prefix: String) throws -> GitIndexSnapshot {
        var index: OpaquePointer?
        try check(git_repository_index(&index, repo), "git_repository_index")
        defer { git_index_free(index) }
        try check(git_index_read(index, 0), "git_index_read")
        // Racily clean: an entry whose mtime is not older than the index file itself may have been
        // edited again within the same tick without its stat data changing. Such entries are left out.
        var indexInfo = stat()
        let indexPath = String(gitCString: git_repository_path(repo)) + "index"
        guard stat(indexPath, &indexInfo) == 0 else { return GitIndexSnapshot(entries: [:]) }
        let indexSeconds = Int64(indexInfo.st_mtim.tv_sec)
        let indexNanoseconds = Int64(indexInfo.st_mtim.tv_nsec)
        let scope = normalise(prefix)
        var entries: [String: GitIndexEntry] = [:]
        let count = git_index_entrycount(index)
        for position in 0..<count {
            guard let raw = git_index_get_byindex(index, position) else { continue }
            let entry = raw.pointee
            // Stage 0 only: `GIT_INDEX_ENTRY_STAGEMASK` is 0x3000 in the flags.
            guard (entry.flags & 0x3000) == 0, (entry.mode & 0o170000) == 0o100000 else { continue }
            let path = String(gitCString: entry.path)
            guard scope.isEmpty || path.hasPrefix(scope + "/") else { continue }
            let seconds = Int64(entry.mtime.seconds)
            let nanoseconds = Int64(entry.mtime.nanoseconds)
            let racy = nanoseconds == 0
                ? seconds >= indexSeconds
                : (seconds, nanoseconds) >= (indexSeconds, indexNanoseconds)
            guard !racy else { continue }
            // A clean filter means the blob is not the bytes on disk: such a file is hashed instead.
            var filters: OpaquePointer?
            let loaded = git_filter_list_load(&filters, repo, nil, entry.path, GIT_FILTER_TO_ODB, GIT_FILTER_DEFAULT.rawValue)
            if filters != nil { git_filter_list_free(filters) }
            guard loaded == 0, filters == nil else {
                git_error_clear()
                continue
            }
            let oid = entry.id
            entries[path] = GitIndexEntry(
                blobID: oid.hex, size: entry.file_size, mtimeSeconds: entry.mtime.seconds,
                mtimeNanoseconds: entry.mtime.nanoseconds, inode: entry.ino, device: entry.dev)
        }
        return GitIndexSnapshot(entries: entries)
    }

    /// The files `path` names at `revision`: one when it is a file, every file below when it is a
    /// folder, none when absent. Sizes are read from the object headers (contents are not loaded).
    public func files(atRevision revision: String, under path: String) async throws -> [GitTreeFile] {
        try await perform { repo in
            let tree = try Self.tree(repo, revision)
            defer { git_tree_free(tree) }
            guard let entry = try Self.entry(tree, path) else { return [] }
            defer { git_tree_entry_free(entry) }
            var odb: OpaquePointer?
            try check(git_repository_odb(&odb, repo), "git_repository_odb")
            defer { git_odb_free(odb) }
            var found: [GitTreeFile] = []
            func file(_ path: String, _ id: UnsafePointer<git_oid>) throws -> GitTreeFile {
                var length = 0
                var type = GIT_OBJECT_ANY
                try check(git_odb_read_header(&length, &type, odb, id), "git_odb_read_header")
                return GitTreeFile(path: path, size: length, blobID: id.pointee.hex)
            }
            func walk(_ tree: OpaquePointer, _ prefix: String) throws {
                for position in 0..<git_tree_entrycount(tree) {
                    guard let child = git_tree_entry_byindex(tree, position) else { continue }
                    let name = prefix + "/" + String(gitCString: git_tree_entry_name(child))
                    switch git_tree_entry_type(child) {
                    case GIT_OBJECT_BLOB: found.append(try file(name, git_tree_entry_id(child)))
                    case GIT_OBJECT_TREE:
                        var subtree: OpaquePointer?
                        try check(git_tree_lookup(&subtree, repo, git_tree_entry_id(child)), "git_tree_lookup")
                        defer { git_tree_free(subtree) }
                        try walk(subtree!, name)
                    default: continue  // Submodules hold no bytes here.
                    }
                }
            }
            let normalised = Self.normalise(path)
            switch git_tree_entry_type(entry) {
            case GIT_OBJECT_BLOB: found.append(try file(normalised, git_tree_entry_id(entry)))
            case GIT_OBJECT_TREE:
                var subtree: OpaquePointer?
                try check(git_tree_lookup(&subtree, repo, git_tree_entry_id(entry)), "git_tree_lookup")
                defer { git_tree_free(subtree) }
                try walk(subtree!, normalised)
            default: break
            }
            return found
        }
    }
}
