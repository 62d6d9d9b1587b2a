/// Where a connection writes its framed bytes. Writes arrive in order, from one task at a time.
public protocol ByteWriter: Sendable {
    func write(_ bytes: [UInt8]) async throws
    /// No more writes; flush and release the underlying stream.
    func close() async
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
final class OutboundBuffer: Sendable {
    private struct State {
        var bytes: [UInt8] = []
        var waiter: CheckedContinuation<[UInt8]?, Never>?
        var finished = false
    }
    private let state = LockedState(State())
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Returns false when the buffer is over its limit (the peer does not read): the caller closes.
    @discardableResult
    func append(_ bytes: [UInt8]) -> Bool {
        let (waiter, chunk, withinLimit): (CheckedContinuation<[UInt8]?, Never>?, [UInt8], Bool) = state.withLock { state in
            guard !state.finished else { return (nil, [], true) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (waiter, bytes, true)
            }
            state.bytes.append(contentsOf: bytes)
            return (nil, [], state.bytes.count <= limit)
        }
        waiter?.resume(returning: chunk)
        return withinLimit
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
            if discard { state.bytes = [] }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
