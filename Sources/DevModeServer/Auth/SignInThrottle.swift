import DevModeClock
import Synchronization

/// Failed sign-ins, throttled per peer address and per API key id: GCRA (the generic cell rate
/// algorithm, a token bucket kept as one instant per key) on an injected clock. A key may fail
/// `burst` times at once, then once per `interval` (`SignInPolicy`); while it may not, every `initialize` it is
/// part of is refused -32023 without looking at the credential, with the exact time until the
/// next attempt is allowed (`retryAfterMs`). Only failures spend; a good sign-in spends nothing.
///
/// In memory, per process: a store round trip per failed attempt would be the very cost an
/// attack should not be able to impose. Entries expire (a key that has paid back its debt is
/// forgotten), and at most `maxTrackedKeys` are kept; beyond that new keys go untracked until
/// old ones expire (the peer's own bucket still holds).
final class SignInThrottle: Sendable {
    /// What a bucket is for: a peer address, or an API key id.
    enum Key: Hashable, Sendable {
        case peer(String)
        case apiKey(String)

        var isPeer: Bool {
            if case .peer = self { return true }
            return false
        }

        var setting: String {
            switch self {
            case .peer: "signInPeerBurst"
            case .apiKey: "signInKeyBurst"
            }
        }
    }

    /// A refusal: which bucket is empty, and how long until it holds one more attempt.
    struct Throttled: Error, Sendable, Hashable {
        var key: Key
        var retryAfter: Duration

        /// Milliseconds, rounded up: a client that waits that long is allowed.
        var retryAfterMs: Int {
            let (seconds, attoseconds) = retryAfter.components
            let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
            let remainder = attoseconds % 1_000_000_000_000_000
            return Int(milliseconds + (remainder > 0 ? 1 : 0))
        }
    }

    private let settings: SignInPolicy
    private let clock: any ServerClock
    /// GCRA's theoretical arrival time per key: the instant at which its bucket is full again.
    private let due = Mutex<[Key: ContinuousClock.Instant]>([:])

    init(settings: SignInPolicy, clock: any ServerClock) {
        self.settings = settings
        self.clock = clock
    }

    private func limits(_ key: Key) -> (burst: Int, interval: Duration) {
        switch key {
        case .peer: (settings.peerBurst, settings.peerInterval)
        case .apiKey: (settings.keyBurst, settings.keyInterval)
        }
    }

    /// Throws `Throttled` when any of `keys` may not fail again yet (the longest wait wins).
    func check(_ keys: [Key]) throws(Throttled) {
        let now = clock.now
        let refusal = due.withLock { due -> Throttled? in
            var worst: Throttled?
            for key in keys {
                guard let theoretical = due[key] else { continue }
                let (burst, interval) = limits(key)
                // Allowed while the debt (theoretical - now) is at most burst - 1 intervals: after
                // `burst` failures at one instant the next is allowed one interval later.
                let allowedAt = theoretical - interval * (burst - 1)
                if allowedAt > now {
                    let wait = allowedAt - now
                    if worst.map({ wait > $0.retryAfter }) ?? true { worst = Throttled(key: key, retryAfter: wait) }
                }
            }
            return worst
        }
        if let refusal { throw refusal }
    }

    /// Spends one attempt from each of `keys` (a sign-in failed).
    func recordFailure(_ keys: [Key]) {
        let now = clock.now
        due.withLock { due in
            if due.count >= settings.maxTrackedKeys {
                due = due.filter { $0.value > now }
            }
            for key in keys {
                let (_, interval) = limits(key)
                guard due[key] != nil || due.count < settings.maxTrackedKeys else { continue }
                let theoretical = max(due[key] ?? now, now)
                due[key] = theoretical + interval
            }
        }
    }

    /// Keys tracked now (for tests of the bound).
    var trackedKeys: Int { due.withLock { $0.count } }
}
