import Synchronization

// Shared by the SQLite and PostgreSQL drivers.

/// A fixed set of connections, each lent to one caller at a time. Callers wait, in arrival order,
/// when every connection is out.
///
/// Waiting ignores task cancellation on purpose: cleanup that runs in a cancelled task (releasing a
/// quota reservation) must still reach the database, and transactions are short.
public final class ConnectionPool<Connection: AnyObject & Sendable>: Sendable {
    private struct State {
        var idle: [Connection]
        var waiters: [CheckedContinuation<Connection, any Error>] = []
        var lent = 0
        var closed = false
        /// `close()` calls waiting for every lent connection to come back.
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private enum AcquireStep { case lend(Connection), fail, wait }
    private enum ReleaseStep {
        case handOver(CheckedContinuation<Connection, any Error>)
        case drained([CheckedContinuation<Void, Never>])
        case none
    }

    /// Every connection of the pool, lent or idle.
    public let connections: [Connection]
    private let state: Mutex<State>

    public init(_ connections: [Connection]) {
        precondition(!connections.isEmpty, "a pool needs at least one connection")
        self.connections = connections
        self.state = Mutex(State(idle: connections.reversed()))
    }

    /// Lends a connection; give it back with `release`. Throws once the pool is closed.
    public func acquire() async throws -> Connection {
        try await withCheckedThrowingContinuation { continuation in
            let next = state.withLock { state -> AcquireStep in
                if state.closed { return .fail }
                if let connection = state.idle.popLast() {
                    state.lent += 1
                    return .lend(connection)
                }
                state.waiters.append(continuation)
                return .wait
            }
            switch next {
            case .lend(let connection): continuation.resume(returning: connection)
            case .fail: continuation.resume(throwing: SQLError.driverClosed)
            case .wait: break
            }
        }
    }

    /// Gives a lent connection back: to the longest waiting caller, or to the idle set.
    public func release(_ connection: Connection) {
        let next = state.withLock { state -> ReleaseStep in
            if !state.waiters.isEmpty {
                return .handOver(state.waiters.removeFirst())
            }
            state.lent -= 1
            state.idle.append(connection)
            if state.closed && state.lent == 0 {
                defer { state.drainWaiters = [] }
                return .drained(state.drainWaiters)
            }
            return .none
        }
        switch next {
        case .handOver(let waiter): waiter.resume(returning: connection)
        case .drained(let drainWaiters): drainWaiters.forEach { $0.resume() }
        case .none: break
        }
    }

    /// Refuses new callers (waiting ones fail), then waits until every lent connection is back.
    /// Returns every connection, for the caller to close.
    public func close() async -> [Connection] {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: SQLError.driverClosed) }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let drained = state.withLock { state in
                if state.lent == 0 { return true }
                state.drainWaiters.append(continuation)
                return false
            }
            if drained { continuation.resume() }
        }
        return connections
    }
}

extension SQLError {
    /// A transaction asked of a driver after `close()`.
    public static var driverClosed: SQLError {
        SQLError(kind: .connection, function: "transaction", message: "the database driver is closed", code: "closed")
    }
}
