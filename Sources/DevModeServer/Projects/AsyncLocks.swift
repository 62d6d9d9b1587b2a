/// Mutual exclusion by key for async code: work on one project's files runs one at a time, so a
/// version check and the write that follows it cannot interleave with another writer.
actor KeyedLocks {
    private var holders: [String: [CheckedContinuation<Void, Never>]] = [:]

    func withLock<T: Sendable>(_ key: String, _ body: @Sendable () async throws -> T) async rethrows -> T {
        await acquire(key)
        do {
            let result = try await body()
            release(key)
            return result
        } catch {
            release(key)
            throw error
        }
    }

    private func acquire(_ key: String) async {
        if holders[key] == nil {
            holders[key] = []
            return
        }
        await withCheckedContinuation { holders[key]!.append($0) }
    }

    private func release(_ key: String) {
        guard var waiting = holders[key] else { return }
        if waiting.isEmpty {
            holders.removeValue(forKey: key)
        } else {
            let next = waiting.removeFirst()
            holders[key] = waiting
            next.resume()
        }
    }
}
