import DevModeClock
import DevModeStore
import JSONRPC
import Logging
import ServiceLifecycle

/// Writes usage events to the store off the request path: events are buffered and written in one
/// transaction every `interval` (a completion must not wait for a database commit). `flush()`
/// writes what is buffered now (tests, reports, shutdown).
///
/// A `Service`: `devmode serve` runs it in its service group, where it flushes every `interval`
/// on the server's clock and once more on graceful shutdown (after the connections, which the
/// group stops first). A server that is not run in a group (tests, benchmarks) flushes when asked
/// and at `close()`.
public final class UsageRecorder: Service, Sendable {
    private let store: Store
    private let logger: Logger
    private let clock: any ServerClock
    /// How often `run()` writes what is buffered.
    public let interval: Duration
    private let buffer = LockedState<[UsageEvent]>([])
    private let flushing = KeyedLocks()
    /// Events kept while the database refuses them; beyond this the oldest are dropped (and logged).
    static let maxBuffered = 100_000
    /// The default of `interval`.
    public static let defaultInterval: Duration = .milliseconds(250)

    /// Told of the budget thresholds that retried settlements reached.
    private let thresholdsReached: @Sendable ([ThresholdCrossing]) -> Void

    init(
        store: Store, logger: Logger, clock: any ServerClock = SystemClock(), interval: Duration = UsageRecorder.defaultInterval,
        thresholdsReached: @escaping @Sendable ([ThresholdCrossing]) -> Void = { _ in }
    ) {
        self.thresholdsReached = thresholdsReached
        self.store = store
        self.logger = logger
        self.clock = clock
        self.interval = interval
    }

    /// Flushes every `interval` until the group shuts down gracefully (or the task is cancelled),
    /// then flushes what is left.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var next = self.clock.now + self.interval
            while !Task.isCancelled {
                do {
                    try await self.clock.sleep(until: next)
                } catch {
                    break
                }
                await self.flush()
                // A flush that overran the interval starts the next wait from now, not in the past.
                next = max(next + self.interval, self.clock.now)
            }
        }
        await flush()
    }

    func record(_ event: UsageEvent) {
        let dropped = buffer.withLock { buffer -> Int in
            buffer.append(event)
            let excess = buffer.count - Self.maxBuffered
            if excess > 0 { buffer.removeFirst(excess) }
            return max(excess, 0)
        }
        if dropped > 0 { logger.error("usage events dropped: the database is not taking them", metadata: ["dropped": "\(dropped)"]) }
    }

    /// Settlements of model calls the store did not take (`UsageMeter`), retried with every
    /// flush. Idempotent: a settlement that did commit before its answer was lost changes nothing.
    private let unsettled = LockedState<[UsageEvent]>([])

    /// Keeps a settlement the store refused, to retry it at the next flush.
    func settleLater(_ event: UsageEvent, error: any Error) {
        logger.error("could not settle a model call; will retry", metadata: ["usage": "\(event.id)", "error": "\(error)"])
        unsettled.withLock { $0.append(event) }
    }

    /// Events recorded and not yet written (settlements waiting for a retry included).
    public var pending: Int { buffer.withLock { $0.count } + unsettled.withLock { $0.count } }

    /// Writes every buffered event.
    public func flush() async {
        await flushing.withLock("flush") {
            let settlements = unsettled.withLock { unsettled in
                defer { unsettled.removeAll() }
                return unsettled
            }
            if !settlements.isEmpty {
                do {
                    let crossings = try await store.write { transaction in
                        try settlements.flatMap { try transaction.settlement($0) ?? [] }
                    }
                    thresholdsReached(crossings)
                } catch {
                    logger.error("could not settle model calls; will retry", metadata: ["count": "\(settlements.count)", "error": "\(error)"])
                    unsettled.withLock { $0.insert(contentsOf: settlements, at: 0) }
                }
            }
            let events = buffer.withLock { buffer in
                defer { buffer.removeAll() }
                return buffer
            }
            guard !events.isEmpty else { return }
            do {
                try await store.write { try $0.insertUsage(events) }
            } catch {
                logger.error("could not write usage events; will retry", metadata: ["count": "\(events.count)", "error": "\(error)"])
                buffer.withLock { $0.insert(contentsOf: events, at: 0) }
            }
        }
    }

    /// Writes what is left (the server's close; the group's shutdown already did when it ran).
    func close() async {
        await flush()
    }
}
