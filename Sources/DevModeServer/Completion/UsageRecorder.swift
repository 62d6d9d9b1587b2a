import DevModeStore
import JSONRPC
import Logging

/// Writes usage events to the store off the request path: events are buffered and written in one
/// transaction every `interval` (a completion must not wait for a database commit). `flush()`
/// writes what is buffered now (tests, reports, shutdown).
public final class UsageRecorder: Sendable {
    private let store: Store
    private let logger: Logger
    private let buffer = LockedState<[UsageEvent]>([])
    private let flushing = KeyedLocks()
    private let loop = LockedState<Task<Void, Never>?>(nil)
    /// Events kept while the database refuses them; beyond this the oldest are dropped (and logged).
    static let maxBuffered = 100_000

    init(store: Store, logger: Logger, interval: Duration = .milliseconds(250)) {
        self.store = store
        self.logger = logger
        let task = Task.detached(priority: .utility) { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                await self.flush()
            }
        }
        loop.withLock { $0 = task }
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

    /// Writes every buffered event.
    public func flush() async {
        await flushing.withLock("flush") {
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

    func close() async {
        loop.withLock { $0 }?.cancel()
        await flush()
    }
}
