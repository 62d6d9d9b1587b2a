import DevModeAI
import DevModeClock
import Dispatch
import JSONRPC
import Logging

/// The server's local completion engines: which folder has one (a project's root, a folder a
/// local-mode client named at `initialize`, a session's loose documents) and when it learns. The
/// learning itself (walking the folder, reading and counting files, in steps off the cooperative
/// pool) is `LocalFolderEngine`'s, in DevModeAI. Unsaved edits are learnt under the file's path
/// after a short quiet period (re-learning a large file takes tens of milliseconds), and forgotten
/// (the saved file re-read) when the document closes or its session ends.
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

        var limits: LocalFolderEngine.Limits {
            LocalFolderEngine.Limits(maxFileBytes: maxFileBytes, maxFiles: maxFiles, maxTotalBytes: maxTotalBytes)
        }
    }

    /// The longest a completion waits for its engine's training; then it answers from what is learnt so far.
    static let trainingPatience: Duration = .milliseconds(250)

    let settings: Settings
    private let logger: Logger
    private let clock: any ServerClock
    private let reader: LocalSourceReader
    private let filesPerStep: Int
    /// Every engine's changes run on this one serial queue (a file's updates stay in order).
    private let queue = DispatchQueue(label: "devmode.local-engines", qos: .utility)
    private let entries = LockedState<[String: LocalFolderEngine]>([:])
    private let pendingEdits = LockedState<(next: UInt64, tasks: [String: (generation: UInt64, task: Task<Void, Never>)])>(
        (0, [:]))

    init(
        settings: Settings, logger: Logger, clock: any ServerClock = SystemClock(), reader: LocalSourceReader = LocalSourceReader(),
        filesPerStep: Int = LocalFolderEngine.Limits().filesPerStep
    ) {
        self.settings = settings
        self.logger = logger
        self.clock = clock
        self.reader = reader
        self.filesPerStep = filesPerStep
    }

    /// The engine for `key`, training started on first use. `key` is a folder's absolute path, or
    /// a key that is not a path (a session's loose documents), whose engine has nothing to train from.
    @discardableResult
    func engine(for key: String) -> LocalFolderEngine {
        let (entry, created) = entries.withLock { entries -> (LocalFolderEngine, Bool) in
            if let entry = entries[key] { return (entry, false) }
            var limits = settings.limits
            limits.filesPerStep = filesPerStep
            let entry = LocalFolderEngine(root: key.hasPrefix("/") ? key : nil, limits: limits, reader: reader, updates: queue)
            entries[key] = entry
            return (entry, true)
        }
        if created, entry.root != nil {
            let (logger, clock) = (self.logger, self.clock)
            let started = clock.now
            entry.startTraining { progress in
                logger.info(
                    "local engine trained",
                    metadata: [
                        "root": "\(key)", "files": "\(progress.files)", "bytes": "\(progress.bytes)",
                        "stopped": "\(progress.stopped)", "elapsed": "\(clock.now - started)",
                    ])
            }
        } else if created {
            entry.startTraining()
        }
        return entry
    }

    /// The engine for `key` if there is one (it is not created by asking).
    func existing(_ key: String) -> LocalFolderEngine? { entries.withLock { $0[key] } }

    func exists(_ key: String) -> Bool { existing(key) != nil }

    /// The engine for `key`, waiting up to `trainingPatience` for its training: a first completion
    /// in a large folder answers from what is learnt so far rather than wait for the whole folder.
    func ready(_ key: String) async -> LocalCompletionEngine {
        await engine(for: key).ready(patience: Self.trainingPatience, clock: clock)
    }

    /// A file of `root` changed on disk (written, created, deleted, moved): re-learn or forget it.
    func fileChanged(root: String, path: String) {
        existing(root)?.fileChanged(path)
    }

    /// A document's text changed: learn it once it has been quiet for a moment, if its engine
    /// still exists then (one dropped meanwhile, as a session's loose documents at its end, is not
    /// made again).
    func documentChanged(root: String, path: String, text: @escaping @Sendable () -> String?) {
        let key = Self.editKey(root, path)
        let (quiet, clock) = (settings.editQuietPeriod, self.clock)
        pendingEdits.withLock { pending in
            pending.next += 1
            let generation = pending.next
            pending.tasks[key]?.task.cancel()
            let task = Task {
                defer {
                    self.pendingEdits.withLock { pending in
                        if pending.tasks[key]?.generation == generation { pending.tasks[key] = nil }
                    }
                }
                guard (try? await clock.sleep(for: quiet)) != nil, !Task.isCancelled else { return }
                guard let engine = self.existing(root), let text = text() else { return }
                engine.learn(path, text: text)
            }
            pending.tasks[key] = (generation, task)
        }
    }

    /// Waits for the edits waiting out their quiet period now (tests).
    func settleEdits() async {
        let tasks = pendingEdits.withLock { $0.tasks.values.map(\.task) }
        for task in tasks { await task.value }
    }

    /// A document closed: its unsaved text is forgotten, the saved file learnt again.
    func documentClosed(root: String, path: String) {
        let key = Self.editKey(root, path)
        pendingEdits.withLock { $0.tasks[key]?.task }?.cancel()
        existing(root)?.fileChanged(path)
    }

    /// Forgets an engine (a project deleted, a session's loose documents at its end), its training
    /// stopped and its pending edits cancelled.
    func drop(_ key: String) {
        entries.withLock { $0.removeValue(forKey: key) }?.stop()
        let prefix = key + "\u{0}"
        let cancelled = pendingEdits.withLock { pending in pending.tasks.filter { $0.key.hasPrefix(prefix) }.map(\.value.task) }
        for task in cancelled { task.cancel() }
    }

    func close() {
        let all = entries.withLock { entries in
            defer { entries.removeAll() }
            return Array(entries.values)
        }
        for entry in all { entry.stop() }
        let tasks = pendingEdits.withLock { $0.tasks.values.map(\.task) }
        for task in tasks { task.cancel() }
    }

    private static func editKey(_ root: String, _ path: String) -> String { root + "\u{0}" + path }
}
