import DevModeClock
import JSONRPC
import Logging
import Synchronization

/// Enforces one connection's time limits (`ConnectionDeadlines`) on a `ServerClock`: it sleeps until
/// the next deadline, and when a limit has run out it queues a `-32051` notice with id null, stops
/// the connection reading, and after `closeGrace` closes the socket however far the peer has read.
///
/// The reader feeds it (`received`, `parsed`); a message that starts can bring the next deadline
/// forward, which cancels the sleep in progress so the loop sleeps again until the new one.
final class ConnectionWatchdog: Sendable {
    private struct State {
        var deadlines: ConnectionDeadlines
        var sleeper: Task<Void, any Error>?
        var target: ContinuousClock.Instant?
    }

    private let state: Mutex<State>
    private let clock: any ServerClock
    private let settings: TCPSettings

    init(settings: TCPSettings, clock: any ServerClock) {
        self.settings = settings
        self.clock = clock
        state = Mutex(State(deadlines: ConnectionDeadlines(settings: settings, acceptedAt: clock.now)))
    }

    func received() {
        let now = clock.now
        state.withLock { $0.deadlines.received(at: now) }
    }

    func parsed(completed: Int, messageIncomplete: Bool) {
        let now = clock.now
        state.withLock { state in
            guard state.deadlines.parsed(completed: completed, messageIncomplete: messageIncomplete, at: now),
                let limit = settings.messageTimeout
            else { return }
            if state.target.map({ now + limit < $0 }) ?? true { state.sleeper?.cancel() }
        }
    }

    /// Runs until a limit runs out (then returns which) or the task is cancelled (then nil).
    func waitForExpiry(authenticated: @Sendable () -> Bool, requestsInFlight: @Sendable () -> Int) async -> ConnectionDeadlines.Expiry? {
        while !Task.isCancelled {
            let now = clock.now
            let sleeper: Task<Void, any Error> = state.withLock { state in
                let (isAuthenticated, inFlight) = (authenticated(), requestsInFlight())
                if let expiry = state.deadlines.expiry(at: now, authenticated: isAuthenticated, requestsInFlight: inFlight) {
                    state.target = nil
                    return Task { throw Expired(expiry: expiry) }
                }
                // Nothing due: sleep a long while; a message that starts wakes the loop.
                let target =
                    state.deadlines.nextDeadline(authenticated: isAuthenticated, requestsInFlight: inFlight)
                    ?? now + .seconds(3600)
                state.target = target
                let clock = self.clock
                let task = Task { try await clock.sleep(until: target) }
                state.sleeper = task
                return task
            }
            let result = await withTaskCancellationHandler {
                await sleeper.result
            } onCancel: {
                sleeper.cancel()
            }
            if case .failure(let error as Expired) = result { return error.expiry }
        }
        return nil
    }

    private struct Expired: Error { var expiry: ConnectionDeadlines.Expiry }

    /// What the peer is told when `expiry` closes its connection.
    func notice(for expiry: ConnectionDeadlines.Expiry) -> ResponseError {
        switch expiry {
        case .initialize:
            .connectionTimedOut(
                "no 'initialize' within the time allowed", limitMs: settings.initializeTimeout?.wholeMilliseconds ?? 0,
                setting: "initializeTimeoutMs")
        case .message:
            .connectionTimedOut(
                "a message arrived too slowly", limitMs: settings.messageTimeout?.wholeMilliseconds ?? 0,
                setting: "messageTimeoutMs")
        case .idle:
            .connectionTimedOut(
                "the connection was idle", limitMs: settings.idleTimeout?.wholeMilliseconds ?? 0, setting: "idleTimeoutMs")
        }
    }

    func sleepForCloseGrace() async {
        try? await clock.sleep(for: settings.closeGrace)
    }
}

/// A byte reader that reports each chunk's arrival, and how its parsing left the message in
/// progress, to a connection's watchdog.
struct WatchedReader<Base: ByteReader>: ByteReader, FramingObserver {
    let base: Base
    let watchdog: ConnectionWatchdog

    func read() async throws -> [UInt8]? {
        let chunk = try await base.read()
        if chunk != nil { watchdog.received() }
        return chunk
    }

    func chunkParsed(completedMessages: Int, messageIncomplete: Bool) {
        watchdog.parsed(completed: completedMessages, messageIncomplete: messageIncomplete)
    }
}
