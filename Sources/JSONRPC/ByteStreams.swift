/// Where a connection writes its framed bytes. Writes arrive in order, from one task at a time.
public protocol ByteWriter: Sendable {
    /// Returns once the bytes are out of this process's hands (the kernel has them: a socket's
    /// write completed, `write(2)` returned): the connection counts them against
    /// `maxOutboundBytes` until then.
    func write(_ bytes: [UInt8]) async throws
    /// No more writes; flush and release the underlying stream.
    func close() async
    /// Closes at once, dropping what is not written yet; a write in progress fails. For a peer
    /// that stopped reading past its grace. The default is `close()`.
    func abort() async
    /// Returns when the peer can no longer receive anything (a socket reset or closed, the
    /// reading end of a pipe closed); throws `CancellationError` when cancelled first. A transport
    /// that cannot tell waits until cancelled (the default).
    func waitUntilPeerGone() async throws
}

extension ByteWriter {
    public func abort() async { await close() }
    public func waitUntilPeerGone() async throws { try await waitUntilCancelled() }
}

/// Suspends until the calling task is cancelled, then throws `CancellationError`.
func waitUntilCancelled() async throws {
    let slot = LockedState<(cancelled: Bool, continuation: CheckedContinuation<Void, any Error>?)>((false, nil))
    try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let cancelled = slot.withLock { slot in
                if slot.cancelled || Task.isCancelled { return true }
                slot.continuation = continuation
                return false
            }
            if cancelled { continuation.resume(throwing: CancellationError()) }
        }
    } onCancel: {
        slot.withLock { slot in
            slot.cancelled = true
            defer { slot.continuation = nil }
            return slot.continuation
        }?.resume(throwing: CancellationError())
    }
}

/// A byte chunk source: `read()` returns nil at end of input.
public protocol ByteReader: Sendable {
    func read() async throws -> [UInt8]?
}

/// A reader that is told, after each chunk it returned has been parsed, how many messages (or
/// framing errors) came out of it and whether a message is left half-received. A transport uses it
/// to drop a peer that sends a header or line too slowly.
public protocol FramingObserver: Sendable {
    func chunkParsed(completedMessages: Int, messageIncomplete: Bool)
}

/// Collects bytes to write and hands them to one writer task in as few writes as possible:
/// everything queued while the previous write ran goes out in the next one.
///
/// It counts every byte from `append` until the writer reports the write done (`written(_:)`),
/// so what the network layer still holds counts against the limit as much as what waits here.
final class OutboundBuffer: Sendable {
    private struct State {
        var bytes: [UInt8] = []
        var waiter: CheckedContinuation<[UInt8]?, Never>?
        var finished = false
        /// Queued here plus handed to the writer and not yet written.
        var held = 0
    }
    private let state = LockedState(State())
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Bytes appended and not yet written out.
    var held: Int { state.withLock { $0.held } }

    /// Returns false when the bytes held are over the limit (the peer does not read): the caller
    /// closes. Nothing is appended once finished.
    @discardableResult
    func append(_ bytes: [UInt8]) -> Bool {
        let (waiter, chunk, withinLimit): (CheckedContinuation<[UInt8]?, Never>?, [UInt8], Bool) = state.withLock { state in
            guard !state.finished else { return (nil, [], true) }
            state.held += bytes.count
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, bytes, state.held <= limit)
            }
            state.bytes.append(contentsOf: bytes)
            return (nil, [], state.held <= limit)
        }
        waiter?.resume(returning: chunk)
        return withinLimit
    }

    /// The writer has written `count` bytes that `next()` gave it.
    func written(_ count: Int) {
        state.withLock { $0.held = max(0, $0.held - count) }
    }

    /// The next bytes to write, or nil once finished and drained.
    func next() async -> [UInt8]? {
        await withCheckedContinuation { continuation in
            let ready: [UInt8]?? = state.withLock { state in
                if !state.bytes.isEmpty {
                    defer { state.bytes = [] }
                    return .some(state.bytes)
                }
                if state.finished { return .some(nil) }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Ends the stream once what is queued has been written. With `discard`, drops what is queued.
    func finish(discard: Bool = false) {
        let waiter = state.withLock { state in
            state.finished = true
            if discard {
                state.held -= state.bytes.count
                state.bytes = []
            }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
