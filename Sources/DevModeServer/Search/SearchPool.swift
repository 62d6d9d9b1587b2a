import Dispatch
import JSONRPC

/// A fixed number of threads for blocking search work, off Swift's cooperative pool: each is a
/// serial dispatch queue draining one shared FIFO, so at most `threads` jobs run at once and the
/// rest wait their turn, whichever session sent them. The cooperative pool's threads (two on this
/// machine, serving every tenant) only await the result.
final class SearchPool: Sendable {
    typealias Job = @Sendable () -> Void

    private struct State {
        var jobs: [Job] = []
        var head = 0
        var idle: [Int]
    }

    private let queues: [DispatchQueue]
    private let state: LockedState<State>

    init(threads: Int, label: String = "devmode.search") {
        precondition(threads >= 1)
        queues = (0..<threads).map { DispatchQueue(label: "\(label).\($0)", qos: .utility) }
        state = LockedState(State(idle: Array((0..<threads).reversed())))
    }

    var threads: Int { queues.count }

    /// Jobs waiting for a thread (not counting those running).
    var waiting: Int { state.withLock { $0.jobs.count - $0.head } }

    /// Runs `job` on one of the pool's threads, now or when one is free.
    func submit(_ job: @escaping Job) {
        let worker = state.withLock { state -> Int? in
            state.jobs.append(job)
            return state.idle.popLast()
        }
        if let worker { queues[worker].async { self.drain(worker) } }
    }

    private func drain(_ worker: Int) {
        while let job = take(worker) { job() }
    }

    /// The next job, or nil after marking the worker idle (under the same lock, so a job submitted
    /// meanwhile finds it idle and starts it).
    private func take(_ worker: Int) -> Job? {
        state.withLock { state in
            guard state.head < state.jobs.count else {
                state.jobs.removeAll(keepingCapacity: true)
                state.head = 0
                state.idle.append(worker)
                return nil
            }
            let job = state.jobs[state.head]
            state.head += 1
            if state.head > 64 && state.head * 2 > state.jobs.count {
                state.jobs.removeFirst(state.head)
                state.head = 0
            }
            return job
        }
    }

    /// Runs `body` on the pool and returns its result. Cancelling the awaiting task sets the flag
    /// `body` is handed; the job sees it at its next check (a job cancelled before it started
    /// still runs, sees the flag and returns at once).
    func run<T: Sendable>(_ body: @escaping @Sendable (CancelFlag) -> T) async -> T {
        let flag = CancelFlag()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
                submit { continuation.resume(returning: body(flag)) }
            }
        } onCancel: {
            flag.set()
        }
    }
}
