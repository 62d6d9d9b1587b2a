import Foundation
import JSONRPC
import Testing

// Shared by the three test files: frames, JSON helpers, a raw wire peer, gates and a recorder.
// Nothing here measures time: waits have generous deadlines and fail the test instead of hanging.

/// How long any wait in these tests may take before the test fails. Generous: it only matters when
/// something is broken, and a loaded 2-core machine must never hit it when nothing is.
let testDeadline: Duration = .seconds(20)

struct TestTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Runs `operation`, failing with `TestTimeout` if it has not finished by `testDeadline`.
/// `operation` must honour cancellation (every wait in this file does).
func withDeadline<T: Sendable>(
    _ what: String, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: testDeadline)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TestTimeout(what: what)
        }
        return value
    }
}

// MARK: Bytes and JSON

extension Array where Element == UInt8 {
    init(_ string: String) { self = Array(string.utf8) }
}

/// `Content-Length: N\r\n\r\n` then the body, written out by hand (not by the code under test).
func lspFrame(_ body: String) -> [UInt8] {
    [UInt8]("Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
}

func json(_ data: Data) throws -> JSONValue {
    try JSONDecoder().decode(JSONValue.self, from: data)
}

func json(_ text: String) throws -> JSONValue {
    try json(Data(text.utf8))
}

extension JSONValue {
    var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }
    var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }
    /// `error.code` of a reply, if it is an error.
    var errorCode: Int? { self["error"]?["code"]?.intValue }
    var errorMessage: String? { self["error"]?["message"]?.stringValue }
}

// MARK: FrameParser

extension FrameParser {
    /// Every event available now. Bounded, so a parser that loops forever fails the test instead of
    /// hanging it.
    mutating func drain(maxEvents: Int = 50) -> [Event] {
        var events: [Event] = []
        while let event = next() {
            events.append(event)
            if events.count >= maxEvents {
                Issue.record("the parser produced \(maxEvents) events without asking for more bytes")
                break
            }
        }
        return events
    }

    /// Feeds a chunk and returns the events it completed.
    mutating func feedAndDrain<C: Collection>(_ chunk: C) -> [Event] where C.Element == UInt8 {
        feed(chunk)
        return drain()
    }
}

extension FrameParser.Event {
    var body: String? {
        if case .message(let data) = self { return String(decoding: data, as: UTF8.self) }
        return nil
    }
    var failure: ResponseError? {
        if case .error(let error) = self { return error }
        return nil
    }
}

// MARK: A raw peer on the wire

/// The far end of an `InMemoryTransport` pair, speaking raw bytes: tests write exactly what a
/// client would and read exactly what the connection wrote.
actor RawPeer {
    let end: InMemoryTransport.End
    private var parser = FrameParser()
    private var queued: [Data] = []
    private var ended = false
    /// Every byte received, for assertions on the exact wire format.
    private(set) var received: [UInt8] = []

    init(_ end: InMemoryTransport.End) { self.end = end }

    func send(_ body: String) async throws {
        try await end.writer.write(lspFrame(body))
    }

    func sendBytes(_ bytes: [UInt8]) async throws {
        try await end.writer.write(bytes)
    }

    /// Closes our output: the connection sees the end of its input.
    func finish() async {
        await end.writer.close()
    }

    var framing: FramingMode? { parser.mode }

    /// The next whole message from the connection, or nil at end of stream. Fails after `testDeadline`.
    func next() async throws -> JSONValue? {
        while queued.isEmpty && !ended {
            let end = self.end
            let chunk: [UInt8]? = try await withDeadline("a message from the connection") {
                try await end.reader.read()
            }
            guard let chunk else {
                ended = true
                break
            }
            received.append(contentsOf: chunk)
            parser.feed(chunk)
            while let event = parser.next() {
                switch event {
                case .message(let data): queued.append(data)
                case .error(let error): Issue.record("the connection wrote an unframed reply: \(error.message)")
                }
            }
        }
        if queued.isEmpty { return nil }
        return try json(queued.removeFirst())
    }

    /// The next message, which must exist.
    func reply() async throws -> JSONValue {
        guard let message = try await next() else {
            throw TestTimeout(what: "a reply (the connection closed its output instead)")
        }
        return message
    }

    /// Everything until the connection closes its output.
    func readToEnd() async throws -> [JSONValue] {
        var messages: [JSONValue] = []
        while let message = try await next() { messages.append(message) }
        return messages
    }
}

// MARK: Gates and a recorder

/// Named one-shot gates that handlers wait on and tests open.
final class Gates: Sendable {
    private enum Waiter {
        case cancellable(CheckedContinuation<Void, any Error>)
        case plain(CheckedContinuation<Void, Never>)

        func resume() {
            switch self {
            case .cancellable(let continuation): continuation.resume()
            case .plain(let continuation): continuation.resume()
            }
        }
    }
    private let state = LockedState<(open: Set<String>, all: Bool, waiters: [String: [UUID: Waiter]])>(([], false, [:]))

    func open(_ name: String) {
        let waiters = state.withLock { state in
            state.open.insert(name)
            defer { state.waiters[name] = nil }
            return state.waiters[name].map { Array($0.values) } ?? []
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Opens every gate there is and every gate to come: used when a test ends.
    func openAll() {
        let waiters = state.withLock { state in
            state.all = true
            defer { state.waiters = [:] }
            return state.waiters.values.flatMap(\.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until `name` is open; throws `CancellationError` if the task is cancelled first.
    func wait(_ name: String) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case open, cancelled, waiting }
                let outcome: Outcome = state.withLock { state in
                    if state.all || state.open.contains(name) { return .open }
                    // Checked under the lock: a cancellation handler that ran before we got here found
                    // nothing to resume, so we must see the flag now.
                    if Task.isCancelled { return .cancelled }
                    state.waiters[name, default: [:]][id] = .cancellable(continuation)
                    return .waiting
                }
                switch outcome {
                case .open: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .waiting: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters[name]?.removeValue(forKey: id) }
            if case .cancellable(let continuation) = waiter {
                continuation.resume(throwing: CancellationError())
            }
        }
    }

    /// Waits until `name` is open, whatever happens to the task.
    func waitIgnoringCancellation(_ name: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = state.withLock { state in
                if state.all || state.open.contains(name) { return true }
                state.waiters[name, default: [:]][UUID()] = .plain(continuation)
                return false
            }
            if isOpen { continuation.resume() }
        }
    }
}

/// An ordered log of what handlers did, that tests can wait on.
final class Recorder: Sendable {
    private let state = LockedState<[String]>([])

    func record(_ event: String) {
        state.withLock { $0.append(event) }
    }

    var events: [String] { state.withLock { $0 } }

    /// Waits until `predicate` holds for the events so far; fails with `TestTimeout` after `testDeadline`.
    func wait(for what: String, until predicate: @escaping @Sendable ([String]) -> Bool) async throws {
        let deadline = ContinuousClock.now + testDeadline
        while !predicate(events) {
            if ContinuousClock.now >= deadline {
                throw TestTimeout(what: "\(what) (events so far: \(events))")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    func wait(forEvent event: String) async throws {
        try await wait(for: "'\(event)'") { $0.contains(event) }
    }
}
