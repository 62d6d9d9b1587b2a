import DevModeFileSystem

/// Which files of a folder a local engine learns, and how it reads them.
public enum LocalSources {
    /// Folders never learnt from: version control, dependencies, build output, caches (and every
    /// folder whose name starts with a dot).
    public static let skippedFolders: Set<String> = [
        ".git", ".hg", ".svn", ".build", ".swiftpm", "node_modules", "bower_components", "vendor", "Pods", "Carthage",
        "DerivedData", "build", "dist", "out", "target", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache",
        ".pytest_cache", ".gradle", ".idea", ".vscode", "coverage", ".next", ".nuxt",
    ]

    /// Source files, by extension.
    public static let sourceExtensions: Set<String> = [
        "swift", "c", "h", "cc", "cpp", "cxx", "hpp", "hh", "m", "mm", "rs", "go", "py", "pyi", "rb", "js", "jsx", "mjs",
        "cjs", "ts", "tsx", "java", "kt", "kts", "scala", "cs", "fs", "php", "lua", "pl", "sh", "bash", "zsh", "sql",
        "r", "jl", "dart", "ex", "exs", "erl", "hs", "ml", "mli", "clj", "vue", "svelte", "css", "scss", "html", "proto",
        "toml", "yaml", "yml", "json", "md", "gradle", "cmake", "zig", "nim", "v", "sv",
    ]

    public static func isSource(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else {
            return name == "Makefile" || name == "Dockerfile"
        }
        return sourceExtensions.contains(name[name.index(after: dot)...].lowercased())
    }

    /// Whether a walk enters `entry` (a folder) or learns it (a source file). Symlinks are never followed.
    public static func isLearnt(_ entry: DirectoryWalker.Entry) -> Bool {
        switch entry.kind {
        case .directory: !skippedFolders.contains(entry.name) && !entry.name.hasPrefix(".")
        case .file: isSource(entry.name)
        case .symlink, .other: false
        }
    }
}

/// Reads a source file for a local engine: its text, or nil when it is missing, too large, or not
/// text. Blocking: called on a dispatch queue, never on Swift's cooperative pool. Tests replace it
/// (a reader that blocks at a gate shows what happens while a training is half done).
public struct LocalSourceReader: Sendable {
    private let body: @Sendable (_ path: String, _ maxBytes: Int) -> String?

    public init(_ body: @escaping @Sendable (_ path: String, _ maxBytes: Int) -> String?) {
        self.body = body
    }

    /// The file system's reader.
    public init() {
        self.init(Self.readFromDisk)
    }

    public func read(_ path: String, maxBytes: Int) -> String? { body(path, maxBytes) }

    public static func readFromDisk(_ path: String, maxBytes: Int) -> String? {
        guard FileSystem.kind(path) == .file, let size = FileSystem.size(path), size <= maxBytes,
            let bytes = try? FileSystem.read(path, limit: maxBytes)
        else { return nil }
        if bytes.prefix(8_192).contains(0) { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}
