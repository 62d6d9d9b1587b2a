import DevModeClock
import Synchronization
import Testing

/// `TestClock` moves only when told to, wakes sleepers in deadline order once their deadline is
/// reached, never before, and lets a cancelled sleeper go at once.
@Suite struct TestClockTests {
    @Test func nowMovesOnlyWhenAdvanced() {
        let start = ContinuousClock.now
        let clock = TestClock(now: start)
        #expect(clock.now == start)
        clock.advance(by: .seconds(3))
        #expect(clock.now == start + .seconds(3))
        clock.advance(by: .milliseconds(5))
        #expect(clock.now == start + .milliseconds(3_005))
    }

    @Test func aSleeperWakesWhenItsDeadlineIsReachedAndNotBefore() async throws {
        let clock = TestClock()
        let woke = Mutex(false)
        let sleeper = Task {
            try await clock.sleep(for: .seconds(10))
            woke.withLock { $0 = true }
        }
        #expect(await clock.waitForSleepers(1))
        clock.advance(by: .milliseconds(9_999))
        // Still asleep: its deadline is 1 ms away, so it is still registered.
        #expect(clock.sleepers == 1)
        #expect(!woke.withLock { $0 })
        clock.advance(by: .milliseconds(1))
        #expect(clock.sleepers == 0)
        try await sleeper.value
        #expect(woke.withLock { $0 })
    }

    @Test func aDeadlineAlreadyPassedReturnsAtOnce() async throws {
        let clock = TestClock()
        try await clock.sleep(until: clock.now)
        try await clock.sleep(until: clock.now - .seconds(1))
        #expect(clock.sleepers == 0)
    }

    @Test func sleepersWakeInDeadlineOrder() async throws {
        let clock = TestClock()
        let order = Wakes()
        var tasks: [Task<Void, any Error>] = []
        for seconds in [3, 1, 2] {
            tasks.append(
                Task {
                    try await clock.sleep(for: .seconds(seconds))
                    order.withLock { $0.append(seconds) }
                })
        }
        #expect(await clock.waitForSleepers(3))
        // One step at a time, so each task records before the next one wakes.
        for (step, expected) in [1, 2, 3].enumerated() {
            clock.advance(by: .seconds(1))
            #expect(clock.sleepers == 2 - step)
            while order.withLock({ $0.count }) < step + 1 { await Task.yield() }
            #expect(order.withLock { $0.last } == expected)
        }
        for task in tasks { try await task.value }
        #expect(order.withLock { $0 } == [1, 2, 3])
    }

    @Test func oneBigStepWakesEveryoneDue() async throws {
        let clock = TestClock()
        var tasks: [Task<Void, any Error>] = []
        for seconds in [5, 1, 3] { tasks.append(Task { try await clock.sleep(for: .seconds(seconds)) }) }
        let late = Task { try await clock.sleep(for: .seconds(60)) }
        #expect(await clock.waitForSleepers(4))
        clock.advance(by: .seconds(5))
        for task in tasks { try await task.value }
        #expect(clock.sleepers == 1)
        late.cancel()
        await #expect(throws: CancellationError.self) { try await late.value }
    }

    @Test func cancellingASleeperThrowsAndUnregistersIt() async {
        let clock = TestClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(1)) }
        #expect(await clock.waitForSleepers(1))
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.sleepers == 0)
        // A task cancelled before it sleeps does not sleep at all.
        let already = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await clock.sleep(for: .seconds(1))
        }
        await #expect(throws: CancellationError.self) { try await already.value }
        #expect(clock.sleepers == 0)
    }

    @Test func waitForSleepersGivesUpWhenNobodySleeps() async {
        let clock = TestClock()
        #expect(await clock.waitForSleepers(1, maxYields: 100) == false)
    }

    @Test func theSystemClockIsTheContinuousClock() async throws {
        let clock: any ServerClock = SystemClock()
        let before = ContinuousClock.now
        let read = clock.now
        #expect(read >= before && read <= ContinuousClock.now)
        try await clock.sleep(until: clock.now)
    }
}

/// The order sleepers woke in, shared with their tasks.
final class Wakes: Sendable {
    private let order = Mutex<[Int]>([])
    func withLock<R: Sendable>(_ body: (inout [Int]) -> R) -> R { order.withLock { body(&$0) } }
}
