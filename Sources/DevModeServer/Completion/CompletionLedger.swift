import DevModeStore
import JSONRPC

/// The completions handed out recently, by id, so that telemetry (`completion/didShow|didAccept|
/// didReject`, `devmode.completion.accepted`) can be checked against who received them and filed
/// under the right workspace and model. Bounded: the oldest are forgotten first.
final class CompletionLedger: Sendable {
    struct Record: Sendable, Hashable {
        var tenantId: String
        var workspaceId: String
        var userId: String
        var model: String
        /// Characters of the completion text.
        var length: Int
    }

    private let capacity: Int
    private let state = LockedState<(records: [String: Record], order: [String], head: Int)>(([:], [], 0))

    init(capacity: Int = 20_000) {
        self.capacity = max(1, capacity)
    }

    func add(_ id: String, _ record: Record) {
        state.withLock { state in
            if state.order.count < capacity {
                state.order.append(id)
            } else {
                // A ring: overwrite the oldest.
                state.records[state.order[state.head]] = nil
                state.order[state.head] = id
                state.head = (state.head + 1) % capacity
            }
            state.records[id] = record
        }
    }

    /// The record for `id` if `userId` received it.
    func record(_ id: String, userId: String) -> Record? {
        state.withLock { $0.records[id] }.flatMap { $0.userId == userId ? $0 : nil }
    }
}
