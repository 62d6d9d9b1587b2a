import Foundation

/// A value behind a lock, usable from any thread.
///
/// `@unchecked Sendable`: the value is only ever reached inside `withLock`, under the lock.
/// Closures given to `withLock` must not suspend or take the same lock again.
public final class LockedState<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    public init(_ value: Value) { self.value = value }

    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
