import DevModeClock
import DevModeProtocol
import DevModeStore
import Logging
import Synchronization

/// The audit record of failed sign-ins, without one row per attempt: per source (a peer address,
/// or the transport when there is none) and per `auditInterval`, the first failure is appended at
/// once (with its reason and the API key id it named), the later ones are counted, and one row
/// says how many there were, why, and which key ids they named, when the interval ends or at
/// shutdown. 20,000 bad keys from one address in 10 s are two rows, not 20,000.
final class FailedSignInLog: Sendable {
    struct Source: Hashable, Sendable {
        var transport: String
        var peer: String?

        /// The audit row's target: the transport, and the address when there is one.
        var target: String { peer.map { "\(transport):\($0)" } ?? transport }
    }

    private struct Window: Sendable {
        var opened: ContinuousClock.Instant
        /// Failures after the first (which has its own row).
        var more = 0
        var reasons: [String: Int] = [:]
        var keyIds: Set<String> = []
        var otherKeyIds = 0
    }

    private struct State: Sendable {
        var windows: [Source: Window] = [:]
        var timer: Task<Void, Never>?
        var closed = false
        /// Aggregate rows written so far (tests wait on it).
        var flushes = 0
    }

    static let maxKeyIdsNamed = 8
    static let otherPeers = "other peers"

    private let policy: SignInPolicy
    private let clock: any ServerClock
    private let store: Store
    private let logger: Logger
    private let state = Mutex(State())

    init(policy: SignInPolicy, clock: any ServerClock, store: Store, logger: Logger) {
        self.policy = policy
        self.clock = clock
        self.store = store
        self.logger = logger
    }

    /// Records one failed sign-in. Returns whether it opened a window (was appended on its own):
    /// callers log those and stay quiet about the rest.
    @discardableResult
    func record(_ source: Source, keyId: String?, reason: String) async -> Bool {
        let now = clock.now
        let opened = state.withLock { state -> Bool in
            var source = source
            if state.windows[source] == nil && state.windows.count >= policy.maxAuditSources {
                source = Source(transport: source.transport, peer: Self.otherPeers)
            }
            guard var window = state.windows[source] else {
                state.windows[source] = Window(opened: now)
                armTimer(&state)
                return true
            }
            window.more += 1
            window.reasons[reason, default: 0] += 1
            if let keyId {
                if window.keyIds.count < Self.maxKeyIdsNamed || window.keyIds.contains(keyId) {
                    window.keyIds.insert(keyId)
                } else {
                    window.otherKeyIds += 1
                }
            }
            state.windows[source] = window
            return false
        }
        if opened {
            let detail = keyId.map { "\(reason) (key id \($0))" } ?? reason
            _ = try? await store.audit(
                AuditEvent(actor: "anonymous", method: InitializeRequest.method, target: source.target, outcome: .denied, detail: detail))
        }
        return opened
    }

    /// One timer for every window: sleeps until the oldest ends, writes what ended, and stops when
    /// no window is open.
    private func armTimer(_ locked: inout State) {
        guard locked.timer == nil, !locked.closed else { return }
        locked.timer = Task { [self] in
            while true {
                guard let deadline = state.withLock({ $0.windows.values.map(\.opened).min() }) else { break }
                do {
                    try await clock.sleep(until: deadline + policy.auditInterval)
                } catch {
                    return
                }
                await flush(endedBy: clock.now)
            }
            state.withLock { $0.timer = nil }
            // A window opened between the last check and clearing the timer arms a new one.
            state.withLock { state in
                if !state.windows.isEmpty { armTimer(&state) }
            }
        }
    }

    /// Writes one row for every window that ended by `now` and saw more than its first failure.
    func flush(endedBy now: ContinuousClock.Instant?) async {
        let ended = state.withLock { state -> [(Source, Window)] in
            let due = state.windows.filter { entry in
                guard let now else { return true }
                return entry.value.opened + policy.auditInterval <= now
            }
            for source in due.keys { state.windows.removeValue(forKey: source) }
            return due.filter { $0.value.more > 0 }.sorted { $0.key.target < $1.key.target }
        }
        for (source, window) in ended {
            _ = try? await store.audit(
                AuditEvent(
                    actor: "anonymous", method: InitializeRequest.method, target: source.target, outcome: .denied,
                    detail: Self.summary(window, interval: policy.auditInterval)))
            logger.notice(
                "failed sign-ins", metadata: ["source": "\(source.target)", "count": "\(window.more + 1)"])
        }
        if !ended.isEmpty { state.withLock { $0.flushes += ended.count } }
    }

    /// "19999 more failed sign-ins within 60000 ms: throttled ×19970, unknown API key ×29; key ids dmk_AAAAAAAA, …"
    private static func summary(_ window: Window, interval: Duration) -> String {
        let reasons = window.reasons.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) ×\($0.value)" }
        var text = "\(window.more) more failed sign-ins within \(interval.milliseconds) ms: \(reasons.joined(separator: ", "))"
        if !window.keyIds.isEmpty {
            text += "; key ids \(window.keyIds.sorted().joined(separator: ", "))"
            if window.otherKeyIds > 0 { text += " and \(window.otherKeyIds) more" }
        }
        return text
    }

    /// At shutdown: writes every open window's count now and stops the timer.
    func close() async {
        let timer = state.withLock { state -> Task<Void, Never>? in
            state.closed = true
            defer { state.timer = nil }
            return state.timer
        }
        timer?.cancel()
        await flush(endedBy: nil)
    }

    /// Aggregate rows written so far.
    var flushes: Int { state.withLock { $0.flushes } }

    /// Sources with a window open now.
    var openWindows: Int { state.withLock { $0.windows.count } }
}

extension Duration {
    fileprivate var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
