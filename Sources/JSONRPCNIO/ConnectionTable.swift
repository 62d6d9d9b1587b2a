import Synchronization

/// Counts open connections, in all and per peer address, and admits or refuses new ones against
/// `TCPSettings.maxConnections` and `maxConnectionsPerPeer`.
final class ConnectionTable: Sendable {
    struct Refusal: Equatable {
        var setting: String
        var limit: Int
        /// Refusals so far, of any reason (for the log).
        var refusedTotal: Int
    }

    private struct State {
        var open = 0
        var perPeer: [String: Int] = [:]
        var refused = 0
    }

    private let state = Mutex(State())
    let maxConnections: Int
    let maxConnectionsPerPeer: Int

    init(maxConnections: Int, maxConnectionsPerPeer: Int) {
        self.maxConnections = maxConnections
        self.maxConnectionsPerPeer = maxConnectionsPerPeer
    }

    /// Takes a slot for `peer`, or says why not. An admitted connection calls `release` when it ends.
    func admit(peer: String) -> Refusal? {
        state.withLock { state in
            let setting: String
            let limit: Int
            if state.open >= maxConnections {
                (setting, limit) = ("maxConnections", maxConnections)
            } else if state.perPeer[peer, default: 0] >= maxConnectionsPerPeer {
                (setting, limit) = ("maxConnectionsPerPeer", maxConnectionsPerPeer)
            } else {
                state.open += 1
                state.perPeer[peer, default: 0] += 1
                return nil
            }
            state.refused += 1
            return Refusal(setting: setting, limit: limit, refusedTotal: state.refused)
        }
    }

    func release(peer: String) {
        state.withLock { state in
            state.open -= 1
            let left = state.perPeer[peer, default: 1] - 1
            state.perPeer[peer] = left > 0 ? left : nil
        }
    }

    var openCount: Int { state.withLock { $0.open } }
}

/// Whether the n-th occurrence of something is logged: the 1st, 2nd, 4th, 8th, … so an attack
/// leaves a handful of lines carrying its running count, never one line per attempt.
func isLoggedOccurrence(_ count: Int) -> Bool {
    count > 0 && count & (count - 1) == 0
}
