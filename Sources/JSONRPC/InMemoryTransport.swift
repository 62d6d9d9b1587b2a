/// A pair of in-process byte pipes: what one side writes, the other reads. For tests.
public enum InMemoryTransport {
    public struct End: Sendable {
        public let reader: InMemoryReader
        public let writer: InMemoryWriter
    }

    /// Two connected ends, like a socket pair.
    public static func pair() -> (End, End) {
        let (aToB, aToBContinuation) = AsyncStream.makeStream(of: [UInt8].self)
        let (bToA, bToAContinuation) = AsyncStream.makeStream(of: [UInt8].self)
        return (
            End(reader: InMemoryReader(stream: bToA), writer: InMemoryWriter(continuation: aToBContinuation)),
            End(reader: InMemoryReader(stream: aToB), writer: InMemoryWriter(continuation: bToAContinuation))
        )
    }
}

public final class InMemoryReader: ByteReader {
    private let iterator: LockedState<AsyncStream<[UInt8]>.AsyncIterator?>
    private let stream: AsyncStream<[UInt8]>

    init(stream: AsyncStream<[UInt8]>) {
        self.stream = stream
        self.iterator = LockedState(nil)
    }

    public func read() async throws -> [UInt8]? {
        // One reader at a time (the connection's read loop); the iterator is taken out while in use.
        var it = iterator.withLock { state in defer { state = nil }; return state } ?? stream.makeAsyncIterator()
        let chunk = await it.next()
        if Task.isCancelled && chunk == nil { throw CancellationError() }
        iterator.withLock { $0 = it }
        return chunk
    }
}

public final class InMemoryWriter: ByteWriter {
    private let continuation: AsyncStream<[UInt8]>.Continuation

    init(continuation: AsyncStream<[UInt8]>.Continuation) {
        self.continuation = continuation
    }

    public func write(_ bytes: [UInt8]) async throws {
        continuation.yield(bytes)
    }

    public func close() async {
        continuation.finish()
    }
}
