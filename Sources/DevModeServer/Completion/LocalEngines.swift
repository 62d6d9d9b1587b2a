import DevModeFileSystem
import DevModeAI
import Dispatch
import FoundationEssentials
import JSONRPC
import Logging

/// The local completion engines: one per folder (a project's root, or a folder a local-mode client
/// named at `initialize`), trained from the folder's source files in the background, then kept up
/// to date as files are written and documents edited. Unsaved edits are learnt under the file's
/// path after a short quiet period (re-learning a large file takes tens of milliseconds), and
/// forgotten (the saved file re-read) when the document closes.
public final class LocalEngines: Sendable {
    public struct Settings: Sendable, Hashable {
        /// Files larger than this are not learnt (generated or minified code, data).
        public var maxFileBytes: Int
        /// Most files learnt per folder.
        public var maxFiles: Int
        /// Most bytes learnt per folder.
        public var maxTotalBytes: Int
        /// How long a document must stay unchanged before its edits are learnt.
        public var editQuietPeriod: Duration
        public init(
            maxFileBytes: Int = 512 << 10, maxFiles: Int = 20_000, maxTotalBytes: Int = 64 << 20,
            editQuietPeriod: Duration = .milliseconds(500)
        ) {
            self.maxFileBytes = maxFileBytes
            self.maxFiles = maxFiles
            self.maxTotalBytes = maxTotalBytes
            self.editQuietPeriod = editQuietPeriod
        }
    }

    struct Entry: Sendable {
        let engine: LocalCompletionEngine
        let training: Task<Void, Never>
    }

    let settings: Settings
    private let logger: Logger
    /// Where learning runs: reading files and re-counting n-grams take milliseconds to seconds, and
    /// must not hold one of the few threads of Swift's cooperative pool (requests run there). One
    /// serial queue also keeps a file's updates in order.
    private let queue = DispatchQueue(label: "devmode.local-engines", qos: .utility)
    private let entries = LockedState<[String: Entry]>([:])
    private let pendingEdits = LockedState<(next: UInt64, tasks: [String: (generation: UInt64, task: Task<Void, Never>)])>(
        (0, [:]))

    init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// The engine for `root` (an absolute folder), training started on first use. A key that is not
    /// an absolute path (a session's loose documents) gets an engine with nothing to train from.
    func engine(for root: String) -> Entry {
        entries.withLock { entries in
            if let entry = entries[root] { return entry }
            let engine = LocalCompletionEngine()
            let training: Task<Void, Never>
            if root.hasPrefix("/") {
                let settings = self.settings
                let logger = self.logger
                let queue = self.queue
                training = Task {
                    let cancelled = LockedState(false)
                    await withTaskCancellationHandler {
                        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                            queue.async {
                                let started = ContinuousClock.now
                                let learnt = Self.train(engine, root: root, settings: settings) {
                                    cancelled.withLock { $0 }
                                }
                                logger.info(
                                    "local engine trained",
                                    metadata: [
                                        "root": "\(root)", "files": "\(learnt.files)", "bytes": "\(learnt.bytes)",
                                        "elapsed": "\(ContinuousClock.now - started)",
                                    ])
                                done.resume()
                            }
                        }
                    } onCancel: {
                        cancelled.withLock { $0 = true }
                    }
                }
            } else {
                training = Task {}
            }
            let entry = Entry(engine: engine, training: training)
            entries[root] = entry
            return entry
        }
    }

    /// The engine for `root`, waiting up to `patience` for its training (a first completion in a
    /// large folder answers from what is learnt so far rather than wait seconds).
    func ready(_ root: String, patience: Duration = .milliseconds(250)) async -> LocalCompletionEngine {
        let entry = engine(for: root)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await entry.training.value }
            group.addTask { try? await Task.sleep(for: patience) }
            await group.next()
            group.cancelAll()
        }
        return entry.engine
    }

    /// Whether an engine for `key` exists (it is not created by asking).
    func exists(_ key: String) -> Bool { entries.withLock { $0[key] != nil } }

    /// A file of `root` changed on disk (written, created, deleted, moved): re-learn or forget it.
    func fileChanged(root: String, path: String) {
        guard let entry = entries.withLock({ $0[root] }) else { return }
        let absolute = root + "/" + path
        let maxBytes = settings.maxFileBytes
        queue.async {
            if let text = Self.readSource(absolute, maxBytes: maxBytes) {
                entry.engine.update(path: path, text: text)
            } else {
                entry.engine.remove(path: path)
            }
        }
    }

    /// A document's text changed: learn it once it has been quiet for a moment.
    func documentChanged(root: String, path: String, text: @escaping @Sendable () -> String?) {
        let key = root + "\u{0}" + path
        let quiet = settings.editQuietPeriod
        pendingEdits.withLock { pending in
            pending.next += 1
            let generation = pending.next
            pending.tasks[key]?.task.cancel()
            let task = Task {
                try? await Task.sleep(for: quiet)
                guard !Task.isCancelled else { return }
                if let text = text() {
                    let engine = self.engine(for: root).engine
                    self.queue.async { engine.update(path: path, text: text) }
                }
                self.pendingEdits.withLock { pending in
                    if pending.tasks[key]?.generation == generation { pending.tasks[key] = nil }
                }
            }
            pending.tasks[key] = (generation, task)
        }
    }

    /// A document closed: its unsaved text is forgotten, the saved file learnt again.
    func documentClosed(root: String, path: String) {
        let key = root + "\u{0}" + path
        pendingEdits.withLock { $0.tasks.removeValue(forKey: key) }?.task.cancel()
        if root.hasPrefix("/") {
            fileChanged(root: root, path: path)
        } else {
            if let engine = entries.withLock({ $0[root] })?.engine { queue.async { engine.remove(path: path) } }
        }
    }

    /// Forgets an engine (a project deleted, a session's loose documents at its end).
    func drop(_ root: String) {
        entries.withLock { $0.removeValue(forKey: root) }?.training.cancel()
    }

    func close() {
        let all = entries.withLock { entries in
            defer { entries.removeAll() }
            return Array(entries.values)
        }
        for entry in all { entry.training.cancel() }
        pendingEdits.withLock { pending in
            for entry in pending.tasks.values { entry.task.cancel() }
            pending.tasks.removeAll()
        }
    }

    // MARK: Training

    /// Folders never learnt from: version control, dependencies, build output, caches.
    static let skippedFolders: Set<String> = [
        ".git", ".hg", ".svn", ".build", ".swiftpm", "node_modules", "bower_components", "vendor", "Pods", "Carthage",
        "DerivedData", "build", "dist", "out", "target", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache",
        ".pytest_cache", ".gradle", ".idea", ".vscode", "coverage", ".next", ".nuxt",
    ]

    /// Source files, by extension.
    static let sourceExtensions: Set<String> = [
        "swift", "c", "h", "cc", "cpp", "cxx", "hpp", "hh", "m", "mm", "rs", "go", "py", "pyi", "rb", "js", "jsx", "mjs",
        "cjs", "ts", "tsx", "java", "kt", "kts", "scala", "cs", "fs", "php", "lua", "pl", "sh", "bash", "zsh", "sql",
        "r", "jl", "dart", "ex", "exs", "erl", "hs", "ml", "mli", "clj", "vue", "svelte", "css", "scss", "html", "proto",
        "toml", "yaml", "yml", "json", "md", "gradle", "cmake", "zig", "nim", "v", "sv",
    ]

    static func isSource(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else {
            return name == "Makefile" || name == "Dockerfile"
        }
        return sourceExtensions.contains(name[name.index(after: dot)...].lowercased())
    }

    /// The file's text, or nil when it is missing, too large, or not text.
    static func readSource(_ path: String, maxBytes: Int) -> String? {
        guard FileSystem.kind(path) == .file, let size = FileSystem.size(path), size <= maxBytes,
            let bytes = try? FileSystem.read(path, limit: maxBytes)
        else { return nil }
        if bytes.prefix(8_192).contains(0) { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Learns every source file under `root` (breadth first, folders and files in name order).
    static func train(
        _ engine: LocalCompletionEngine, root: String, settings: Settings, isCancelled: () -> Bool = { false }
    ) -> (files: Int, bytes: Int) {
        var queue = [""]
        var files = 0
        var bytes = 0
        while !queue.isEmpty, files < settings.maxFiles, bytes < settings.maxTotalBytes {
            if isCancelled() { break }
            let relative = queue.removeFirst()
            let absolute = relative.isEmpty ? root : root + "/" + relative
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: absolute)) ?? []).sorted()
            for name in names {
                let child = relative.isEmpty ? name : relative + "/" + name
                switch FileSystem.kind(root + "/" + child) {
                case .directory:
                    if !skippedFolders.contains(name), !name.hasPrefix(".") { queue.append(child) }
                case .file:
                    guard isSource(name), files < settings.maxFiles, bytes < settings.maxTotalBytes,
                        let text = readSource(root + "/" + child, maxBytes: settings.maxFileBytes)
                    else { continue }
                    engine.update(path: child, text: text)
                    files += 1
                    bytes += text.utf8.count
                default:
                    continue
                }
            }
        }
        return (files, bytes)
    }
}
