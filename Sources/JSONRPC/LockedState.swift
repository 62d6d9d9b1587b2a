import Synchronization

/// A value behind a lock, usable from any thread: a reference box over Synchronization's `Mutex`,
/// the one lock primitive of the code base (code that can hold a `Mutex` in place uses it
/// directly; this is for values shared by reference, and for non-`Sendable` values).
///
/// `Mutex.withLock` hands its closure an `inout sending` value, which refuses state that is not
/// `Sendable` (a class instance stored in a dictionary, say). Here the value sits in an
/// `@unchecked Sendable` wrapper inside the mutex: it is only ever reached inside `withLock`, under
/// the lock, which is what makes that sound. Closures given to `withLock` must not suspend or take
/// the same lock again.
public final class LockedState<Value>: Sendable {
    private struct Unchecked<T>: @unchecked Sendable {
        var value: T
    }

    private let mutex: Mutex<Unchecked<Value>>

    public init(_ value: Value) {
        mutex = Mutex(Unchecked(value: value))
    }

    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        try mutex.withLock { (state: inout sending Unchecked<Value>) throws(E) -> Unchecked<R> in
            Unchecked(value: try body(&state.value))
        }.value
    }
}
