import FoundationEssentials

/// The one walk over a folder tree: `file/list`, `file/search`, the local engines' training and
/// storage counting all go through it, each with its own filter. Symlinks are reported, never
/// followed; folders and files come in name order within a folder.
///
/// It does blocking file-system work: call it from a dispatch queue or a thread of its own, never
/// from Swift's cooperative pool for a large tree.
public struct DirectoryWalker: Sendable {
    public struct Entry: Sendable, Hashable {
        /// Relative to the walker's root, without a leading slash.
        public var path: String
        public var name: String
        public var kind: FileSystem.Kind
        /// 1 for the children of the folder the walk starts at.
        public var depth: Int

        public init(path: String, name: String, kind: FileSystem.Kind, depth: Int) {
            self.path = path
            self.name = name
            self.kind = kind
            self.depth = depth
        }
    }

    public enum Order: Sendable {
        /// A folder's entries, then its subfolders' entries, level by level (`file/list`).
        case breadthFirst
        /// A folder's entries, then the tree of its first subfolder, before the next subfolder's.
        case depthFirst
    }

    public var root: String
    /// The folder to start at, relative to `root` ("" is the root itself).
    public var start: String
    /// Entries deeper than this are not visited (1: only the start folder's children).
    public var maxDepth: Int
    public var order: Order

    public init(root: String, start: String = "", maxDepth: Int = .max, order: Order = .breadthFirst) {
        self.root = root
        self.start = start
        self.maxDepth = maxDepth
        self.order = order
    }

    public func absolute(_ relative: String) -> String {
        relative.isEmpty ? root : root + "/" + relative
    }

    /// Walks the tree. `filter` sees each folder's entries (name order) and returns those to keep:
    /// a dropped folder is not entered. `visit` gets every kept entry and returns false to stop the
    /// walk. An unreadable folder is skipped.
    public func walk(
        filter: ([Entry]) throws -> [Entry],
        visit: (Entry) throws -> Bool
    ) rethrows {
        var pending: [(folder: String, depth: Int)] = [(start, 0)]
        while !pending.isEmpty {
            let (folder, depth) = order == .breadthFirst ? pending.removeFirst() : pending.removeLast()
            guard depth < maxDepth else { continue }
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: absolute(folder))) ?? []).sorted()
            var entries: [Entry] = []
            entries.reserveCapacity(names.count)
            for name in names {
                let path = folder.isEmpty ? name : folder + "/" + name
                guard let kind = FileSystem.kind(absolute(path)) else { continue }
                entries.append(Entry(path: path, name: name, kind: kind, depth: depth + 1))
            }
            let kept = try filter(entries)
            var subfolders: [(String, Int)] = []
            for entry in kept {
                guard try visit(entry) else { return }
                if entry.kind == .directory { subfolders.append((entry.path, entry.depth)) }
            }
            // Depth first pops from the end: push in reverse so the first subfolder comes next.
            pending.append(contentsOf: order == .breadthFirst ? subfolders : subfolders.reversed())
        }
    }

    /// Walks every entry of the tree.
    public func walk(visit: (Entry) throws -> Bool) rethrows {
        try walk(filter: { $0 }, visit: visit)
    }
}

extension FileSystem {
    /// Total bytes of the regular files under `path` (symlinks not followed).
    public static func usage(_ path: String) -> Int {
        var total = 0
        DirectoryWalker(root: path, order: .depthFirst).walk { entry in
            if entry.kind == .file { total += size(path + "/" + entry.path) ?? 0 }
            return true
        }
        return total
    }
}
