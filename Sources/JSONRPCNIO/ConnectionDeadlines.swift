/// The time limits of one connection, as a value: fed what happened and when, it says when the
/// next limit falls due and which one has run out. No I/O and no clock of its own, so every rule is
/// tested by handing it instants (`ConnectionWatchdog` drives it with a `ServerClock`).
struct ConnectionDeadlines: Sendable {
    enum Expiry: Sendable, Equatable {
        /// No `initialize` within `initializeTimeout`.
        case initialize
        /// A message took longer than `messageTimeout` to arrive.
        case message
        /// An authenticated connection was quiet for `idleTimeout`.
        case idle

        /// The setting that ran out.
        var setting: String {
            switch self {
            case .initialize: "initializeTimeoutMs"
            case .message: "messageTimeoutMs"
            case .idle: "idleTimeoutMs"
            }
        }
    }

    let settings: TCPSettings
    let acceptedAt: ContinuousClock.Instant
    private(set) var lastActivity: ContinuousClock.Instant
    /// When the first byte of the message still incomplete arrived; nil between messages.
    private(set) var incompleteSince: ContinuousClock.Instant?

    init(settings: TCPSettings, acceptedAt: ContinuousClock.Instant) {
        self.settings = settings
        self.acceptedAt = acceptedAt
        self.lastActivity = acceptedAt
    }

    /// A chunk of bytes arrived.
    mutating func received(at now: ContinuousClock.Instant) {
        lastActivity = now
    }

    /// The chunk that arrived at `now` was parsed: `completed` messages came out of it, and a
    /// message is (or is not) left incomplete. Returns whether a message started, which may bring
    /// the next deadline forward.
    @discardableResult
    mutating func parsed(completed: Int, messageIncomplete: Bool, at now: ContinuousClock.Instant) -> Bool {
        guard messageIncomplete else {
            incompleteSince = nil
            return false
        }
        // A message completed in this chunk: what is left is the start of the next one.
        if incompleteSince == nil || completed > 0 {
            incompleteSince = now
            return true
        }
        return false
    }

    /// The next instant a limit falls due, if any, given the connection's present state.
    func nextDeadline(authenticated: Bool, requestsInFlight: Int) -> ContinuousClock.Instant? {
        var deadlines: [ContinuousClock.Instant] = []
        if !authenticated, let limit = settings.initializeTimeout { deadlines.append(acceptedAt + limit) }
        if let since = incompleteSince, let limit = settings.messageTimeout { deadlines.append(since + limit) }
        if authenticated, requestsInFlight == 0, let limit = settings.idleTimeout { deadlines.append(lastActivity + limit) }
        return deadlines.min()
    }

    /// Which limit has run out at `now`, if one has. Requests in flight count as activity, so a
    /// connection waiting on a long reply is never idle; its quiet time starts again from `now`.
    mutating func expiry(at now: ContinuousClock.Instant, authenticated: Bool, requestsInFlight: Int) -> Expiry? {
        if !authenticated, let limit = settings.initializeTimeout, now >= acceptedAt + limit { return .initialize }
        if let since = incompleteSince, let limit = settings.messageTimeout, now >= since + limit { return .message }
        guard authenticated, let limit = settings.idleTimeout else { return nil }
        if requestsInFlight > 0 {
            lastActivity = now
            return nil
        }
        return now >= lastActivity + limit ? .idle : nil
    }
}

extension Duration {
    var wholeMilliseconds: Int {
        Int(components.seconds) * 1000 + Int(components.attoseconds / 1_000_000_000_000_000)
    }
}
