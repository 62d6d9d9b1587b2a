import Synchronization

/// The time that time-based logic reads: limits, timers, leases, rate limiters, caches that expire.
/// Production code uses `SystemClock`; tests inject a `TestClock` and move it, so nothing in a test
/// waits on the wall clock or depends on how loaded the machine is.
///
/// Instants are `ContinuousClock.Instant`s, so values from either clock mix with the rest of the
/// code; a `TestClock` starts at the real now and then moves only when told to.
public protocol ServerClock: Sendable {
    var now: ContinuousClock.Instant { get }
    /// Sleeps until `deadline` (at once if it has passed); throws `CancellationError` when cancelled.
    func sleep(until deadline: ContinuousClock.Instant) async throws
}

extension ServerClock {
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: now + duration)
    }
}

/// The real clock (`ContinuousClock`).
public struct SystemClock: ServerClock {
    public init() {}
    public var now: ContinuousClock.Instant { ContinuousClock.now }
    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await ContinuousClock().sleep(until: deadline, tolerance: nil)
    }
}

extension ServerClock where Self == SystemClock {
    public static var system: SystemClock { SystemClock() }
}

/// A clock that moves only when a test calls `advance(by:)`: sleepers whose deadline is reached
/// then resume, in deadline order. `sleepers` tells a test how many tasks are waiting, so it can
/// wait for a timer to be armed before moving time (`waitForSleepers(_:)`).
public final class TestClock: ServerClock {
    private struct Sleeper {
        let id: UInt64
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: ContinuousClock.Instant
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
    }

    private let state: Mutex<State>

    public init(now: ContinuousClock.Instant = .now) {
        state = Mutex(State(now: now))
    }

    public var now: ContinuousClock.Instant { state.withLock { $0.now } }

    /// How many tasks are sleeping on this clock now.
    public var sleepers: Int { state.withLock { $0.sleepers.count } }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool? = state.withLock { state in
                    if Task.isCancelled { return false }
                    if deadline <= state.now { return true }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                switch resumeNow {
                case true?: continuation.resume()
                case false?: continuation.resume(throwing: CancellationError())
                case nil: break
                }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline is now reached.
    public func advance(by duration: Duration) {
        let due = state.withLock { state -> [Sleeper] in
            state.now += duration
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Waits (yielding, bounded by `maxYields`) until at least `count` tasks sleep on this clock;
    /// returns whether they do. Lets a test arm a timer before it moves time.
    @discardableResult
    public func waitForSleepers(_ count: Int = 1, maxYields: Int = 1_000_000) async -> Bool {
        for _ in 0..<maxYields {
            if sleepers >= count { return true }
            await Task.yield()
        }
        return sleepers >= count
    }
}
