import DevModeClock
import DevModeFileSystem
import Dispatch
import Synchronization

/// A local completion engine with the folder it learns from: trained from the folder's source
/// files (walked with `DirectoryWalker`, breadth first, in name order) and then kept up to date as
/// files change and documents are edited.
///
/// Training learns in steps of a few files. Files are read on a walking thread of their own, and
/// each step is one item on the serial `updates` queue, so a file written or a document edited
/// during a long training is learnt between two steps instead of after the whole folder, and a
/// completion (which takes the engine's lock, held for one file at a time) gets in between files.
/// `ready(patience:clock:)` answers with what is learnt so far once its patience runs out.
///
/// Nothing here runs on Swift's cooperative pool: reading and counting block.
public final class LocalFolderEngine: Sendable {
    public struct Limits: Sendable, Hashable {
        /// Files larger than this are not learnt (generated or minified code, data).
        public var maxFileBytes: Int
        /// Most files learnt by a training.
        public var maxFiles: Int
        /// Most bytes learnt by a training.
        public var maxTotalBytes: Int
        /// Files learnt per step of a training (one item on the updates queue).
        public var filesPerStep: Int

        public init(maxFileBytes: Int = 512 << 10, maxFiles: Int = 20_000, maxTotalBytes: Int = 64 << 20, filesPerStep: Int = 16) {
            self.maxFileBytes = maxFileBytes
            self.maxFiles = maxFiles
            self.maxTotalBytes = maxTotalBytes
            self.filesPerStep = max(1, filesPerStep)
        }
    }

    /// How far a training has come.
    public struct Progress: Sendable, Hashable {
        public var files = 0
        public var bytes = 0
        /// The training ended: the whole folder (within the limits) was learnt, or it was stopped.
        public var finished = false
        public var stopped = false
    }

    private struct State {
        var started = false
        var progress = Progress()
        /// Paths changed (written, deleted, edited) while the training runs: their event is newer
        /// than what the training read, so the training does not learn them.
        var touched: Set<String> = []
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    /// The folder's absolute path; nil for an engine with no folder (a session's loose documents).
    public let root: String?
    public let engine = LocalCompletionEngine()
    public let limits: Limits
    private let reader: LocalSourceReader
    private let updates: DispatchQueue
    private let state = Mutex(State())

    /// `updates`: the serial queue every change of the engine runs on (several engines may share
    /// one). The training's walk runs on a global queue and hands its steps to `updates`.
    public init(
        root: String?, limits: Limits = Limits(), reader: LocalSourceReader = LocalSourceReader(),
        updates: DispatchQueue = DispatchQueue(label: "devmode.local-engine", qos: .utility)
    ) {
        self.root = root
        self.limits = limits
        self.reader = reader
        self.updates = updates
    }

    public var progress: Progress { state.withLock { $0.progress } }

    // MARK: Training

    /// Starts learning the folder (once; an engine without a folder is trained at once).
    /// `finished` is called on the walking thread when the training ends.
    public func startTraining(finished: @escaping @Sendable (Progress) -> Void = { _ in }) {
        let first = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        guard let root else {
            finish(finished)
            return
        }
        DispatchQueue.global(qos: .utility).async {
            self.walk(root)
            self.finish(finished)
        }
    }

    /// Stops a training at its next file; waiters are released.
    public func stop() {
        state.withLock { $0.progress.stopped = true }
    }

    private var isStopped: Bool { state.withLock { $0.progress.stopped } }

    private func walk(_ root: String) {
        let walker = DirectoryWalker(root: root, order: .breadthFirst)
        var step: [(path: String, text: String)] = []
        var files = 0
        var bytes = 0
        walker.walk(filter: { $0.filter(LocalSources.isLearnt) }) { entry in
            guard !isStopped else { return false }
            guard entry.kind == .file else { return true }
            guard files < limits.maxFiles, bytes < limits.maxTotalBytes else { return false }
            guard let text = reader.read(walker.absolute(entry.path), maxBytes: limits.maxFileBytes) else { return true }
            step.append((entry.path, text))
            files += 1
            bytes += text.utf8.count
            if step.count >= limits.filesPerStep {
                learnStep(step)
                step.removeAll(keepingCapacity: true)
            }
            return true
        }
        if !step.isEmpty { learnStep(step) }
    }

    /// One step: learnt on the updates queue (after whatever was queued before it).
    private func learnStep(_ step: [(path: String, text: String)]) {
        updates.sync {
            for (path, text) in step {
                let skip = state.withLock { state -> Bool in
                    if state.progress.stopped || state.touched.contains(path) { return true }
                    state.progress.files += 1
                    state.progress.bytes += text.utf8.count
                    return false
                }
                if !skip { engine.update(path: path, text: text) }
            }
        }
    }

    private func finish(_ finished: @Sendable (Progress) -> Void) {
        let (progress, waiters) = state.withLock { state in
            state.progress.finished = true
            state.touched.removeAll()
            defer { state.waiters.removeAll() }
            return (state.progress, Array(state.waiters.values))
        }
        for waiter in waiters { waiter.resume() }
        finished(progress)
    }

    /// Returns when the training has ended (at once if it has), or when the calling task is cancelled.
    public func trained() async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.progress.finished || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// The engine once it is trained, or after `patience` on `clock` with what it has learnt so
    /// far, whichever comes first.
    public func ready(patience: Duration, clock: any ServerClock) async -> LocalCompletionEngine {
        guard !progress.finished else { return engine }
        // Both children end when cancelled: the group never waits for the training itself.
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.trained() }
            group.addTask { try? await clock.sleep(for: patience) }
            await group.next()
            group.cancelAll()
        }
        return engine
    }

    // MARK: Changes

    private func touch(_ path: String) {
        state.withLock { state in
            if !state.progress.finished { state.touched.insert(path) }
        }
    }

    /// A file of the folder changed on disk (written, created, deleted, moved): re-learn or forget it.
    public func fileChanged(_ path: String) {
        guard let root else { return forget(path) }
        touch(path)
        let absolute = root == "/" ? "/" + path : root + "/" + path
        let (reader, maxBytes, engine) = (self.reader, limits.maxFileBytes, self.engine)
        updates.async {
            if let text = reader.read(absolute, maxBytes: maxBytes) {
                engine.update(path: path, text: text)
            } else {
                engine.remove(path: path)
            }
        }
    }

    /// Learns `text` as `path`'s content (a document's unsaved text).
    public func learn(_ path: String, text: String) {
        touch(path)
        let engine = self.engine
        updates.async { engine.update(path: path, text: text) }
    }

    /// Forgets `path`.
    public func forget(_ path: String) {
        touch(path)
        let engine = self.engine
        updates.async { engine.remove(path: path) }
    }

    /// Returns once every change queued before the call has been learnt.
    public func settle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            updates.async { continuation.resume() }
        }
    }
}
