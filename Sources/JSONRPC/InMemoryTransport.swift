/// A pair of in-process byte pipes: what one side writes, the other reads. For tests.
public enum InMemoryTransport {
    public struct End: Sendable {
        public let reader: InMemoryReader
        public let writer: InMemoryWriter

        /// Goes away as a peer whose process died would: ends what this side sends, and stops
        /// reading, so the other side's writes fail and its `waitUntilPeerGone()` returns.
        public func disconnect() async {
            await writer.close()
            reader.close()
        }
    }

    /// Two connected ends, like a socket pair.
    public static func pair() -> (End, End) {
        let (aToB, aToBContinuation) = AsyncStream.makeStream(of: [UInt8].self)
        let (bToA, bToAContinuation) = AsyncStream.makeStream(of: [UInt8].self)
        let aToBReader = ReaderPresence()
        let bToAReader = ReaderPresence()
        return (
            End(
                reader: InMemoryReader(stream: bToA, presence: bToAReader),
                writer: InMemoryWriter(continuation: aToBContinuation, presence: aToBReader)),
            End(
                reader: InMemoryReader(stream: aToB, presence: aToBReader),
                writer: InMemoryWriter(continuation: bToAContinuation, presence: bToAReader))
        )
    }
}

/// Whether a pipe's reading end is still there, and who waits for it to go.
final class ReaderPresence: Sendable {
    private let state = LockedState<(gone: Bool, waiters: [Int: CheckedContinuation<Void, any Error>], next: Int)>((false, [:], 0))

    var isGone: Bool { state.withLock { $0.gone } }

    func leave() {
        let waiters = state.withLock { state in
            state.gone = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    func waitUntilGone() async throws {
        let id = state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case gone, cancelled, waiting }
                let outcome: Outcome = state.withLock { state in
                    if state.gone { return .gone }
                    if Task.isCancelled { return .cancelled }
                    state.waiters[id] = continuation
                    return .waiting
                }
                switch outcome {
                case .gone: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .waiting: break
                }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }
}

public final class InMemoryReader: ByteReader {
    private let iterator: LockedState<AsyncStream<[UInt8]>.AsyncIterator?>
    private let stream: AsyncStream<[UInt8]>
    private let presence: ReaderPresence

    init(stream: AsyncStream<[UInt8]>, presence: ReaderPresence) {
        self.stream = stream
        self.presence = presence
        self.iterator = LockedState(nil)
    }

    public func read() async throws -> [UInt8]? {
        if presence.isGone { return nil }
        // One reader at a time (the connection's read loop); the iterator is taken out while in use.
        var it = iterator.withLock { state in defer { state = nil }; return state } ?? stream.makeAsyncIterator()
        let chunk = await it.next()
        if Task.isCancelled && chunk == nil { throw CancellationError() }
        iterator.withLock { $0 = it }
        return chunk
    }

    /// Stops reading for good: the writing side's writes fail from now on.
    public func close() {
        presence.leave()
    }
}

public final class InMemoryWriter: ByteWriter {
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let presence: ReaderPresence

    init(continuation: AsyncStream<[UInt8]>.Continuation, presence: ReaderPresence) {
        self.continuation = continuation
        self.presence = presence
    }

    public func write(_ bytes: [UInt8]) async throws {
        if presence.isGone { throw InMemoryTransportError.readerGone }
        continuation.yield(bytes)
    }

    public func close() async {
        continuation.finish()
    }

    public func waitUntilPeerGone() async throws {
        try await presence.waitUntilGone()
    }
}

/// A write to an in-memory pipe whose reader closed (as `EPIPE` on a real pipe).
public enum InMemoryTransportError: Error {
    case readerGone
}
