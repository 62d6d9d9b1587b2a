import Foundation

/// Error responses and anything else the server should not have sent, kept for the report.
struct ErrorTally {
    var errorResponses = 0
    var byCode: [Int: Int] = [:]
    var examples: [String] = []

    mutating func record(_ body: String) {
        errorResponses += 1
        var code = 0
        if let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let error = object["error"] as? [String: Any], let number = error["code"] as? Int
        {
            code = number
        }
        byCode[code, default: 0] += 1
        if examples.count < 5 { examples.append(String(body.prefix(300))) }
    }

    mutating func merge(_ other: ErrorTally) {
        errorResponses += other.errorResponses
        for (code, count) in other.byCode { byCode[code, default: 0] += count }
        for example in other.examples where examples.count < 5 { examples.append(example) }
    }
}

struct PipelineResult {
    var requests: Int
    var nanoseconds: UInt64
    var clientCPUNanoseconds: UInt64
    var serverCPUNanoseconds: UInt64
    var writes: Int
    var reads: Int
    var bytesReceived: Int
    var serverContextSwitches: Int
    var requestsPerSecond: Double { Double(requests) / (Double(nanoseconds) / 1e9) }
}

/// The benchmark's side of one connection: sends pre-encoded requests and accounts for every reply.
struct BenchSession {
    let server: ServerProcess
    let watchdog: Watchdog
    var reader: ResponseReader
    var errors = ErrorTally()

    init(server: ServerProcess, watchdog: Watchdog) {
        self.server = server
        self.watchdog = watchdog
        reader = ResponseReader(fd: server.readFD)
    }

    /// Sends `initialize` and waits for its reply; returns nanoseconds since just before launch.
    mutating func initialize(id: Int, token: String?) throws -> UInt64 {
        try server.write(Wire.initialize(id: id, token: token))
        let reply = try nextMessage()
        let elapsed = monotonicNanoseconds() - server.launchedAt
        guard reply.id == id, reply.kind == .result else {
            throw BenchError("initialize failed: \(reader.text(reply.body))")
        }
        try server.write(Wire.initialized)
        return elapsed
    }

    /// One request at a time: returns each round trip in nanoseconds, and the server's context
    /// switches over the whole run.
    mutating func roundTrips(_ batch: RequestBatch) throws -> (samples: [UInt64], contextSwitches: Int) {
        let switchesBefore = server.contextSwitches()
        var samples: [UInt64] = []
        samples.reserveCapacity(batch.count)
        for index in 0..<batch.count {
            let started = monotonicNanoseconds()
            try server.write(batch.bytes, batch.byteRange(index..<(index + 1)))
            let reply = try nextMessage()
            let finished = monotonicNanoseconds()
            guard reply.id == batch.firstID + index else {
                throw BenchError("expected the reply to id \(batch.firstID + index), got: \(reader.text(reply.body))")
            }
            if reply.kind != .result { errors.record(reader.text(reply.body)) }
            samples.append(finished - started)
        }
        return (samples, server.contextSwitches() - switchesBefore)
    }

    /// Keeps up to `window` requests outstanding on the one connection until every request has been
    /// answered. Replies may come in any order; each id must come back exactly once.
    mutating func pipelined(_ batch: RequestBatch, window: Int) throws -> PipelineResult {
        let count = batch.count
        var answered = [Bool](repeating: false, count: count)
        var sent = 0
        var received = 0
        var writes = 0
        var reads = 0
        let bytesBefore = reader.bytesRead
        let serverCPUBefore = try server.usage().cpuNanoseconds
        let switchesBefore = server.contextSwitches()
        let clientCPUBefore = clientCPUNanoseconds()
        let started = monotonicNanoseconds()
        while received < count {
            let outstanding = sent - received
            if outstanding < window && sent < count {
                let more = min(window - outstanding, count - sent)
                try server.write(batch.bytes, batch.byteRange(sent..<(sent + more)))
                sent += more
                writes += 1
            }
            guard try reader.read() else {
                throw BenchError("the server closed its output after \(received) of \(count) replies\(watchdog.note)")
            }
            reads += 1
            watchdog.tick()
            while let reply = try reader.next() {
                guard let id = reply.id, id >= batch.firstID, id - batch.firstID < count, !answered[id - batch.firstID]
                else {
                    // An unknown or repeated id (or id null): the run's accounting cannot go on.
                    throw BenchError("a reply that answers no outstanding request: \(reader.text(reply.body))")
                }
                answered[id - batch.firstID] = true
                received += 1
                if reply.kind != .result { errors.record(reader.text(reply.body)) }
            }
        }
        let finished = monotonicNanoseconds()
        let clientCPU = clientCPUNanoseconds() - clientCPUBefore
        let serverCPU = try server.usage().cpuNanoseconds - serverCPUBefore
        let switches = server.contextSwitches() - switchesBefore
        return PipelineResult(
            requests: count, nanoseconds: finished - started, clientCPUNanoseconds: clientCPU,
            serverCPUNanoseconds: serverCPU, writes: writes, reads: reads,
            bytesReceived: reader.bytesRead - bytesBefore, serverContextSwitches: switches)
    }

    /// Sends one request and waits for its reply (which must carry the same id). Returns the time
    /// from just before the write to the reply's arrival, and the reply's parsed body.
    mutating func call(id: Int, method: String, params: [String: Any]? = nil) throws -> (nanoseconds: UInt64, reply: Reply) {
        let bytes = try Wire.request(id: id, method: method, params: params)
        let started = monotonicNanoseconds()
        try server.write(bytes)
        let message = try nextMessage()
        let finished = monotonicNanoseconds()
        let text = reader.text(message.body)
        guard message.id == id else { throw BenchError("expected the reply to id \(id), got: \(text.prefix(300))") }
        return (finished - started, Reply(kind: message.kind, text: text))
    }

    /// `call`, but an error reply is thrown; returns the `result` value.
    mutating func request(id: Int, method: String, params: [String: Any]? = nil) throws -> Any {
        let (_, reply) = try call(id: id, method: method, params: params)
        return try reply.result(method)
    }

    /// Sends a request the server must refuse with -32002 (not initialized): proof that the
    /// server is up and reading, so a timed `initialize` after it measures `initialize` alone.
    mutating func pingUninitialized(id: Int) throws {
        let (_, reply) = try call(id: id, method: "server/info")
        guard reply.kind == .error, reply.errorCode == -32002 else {
            throw BenchError("expected -32002 before initialize, got: \(reply.text.prefix(300))")
        }
    }

    /// `initialize` alone: from the write to the reply. Throws when it is refused.
    mutating func timedInitialize(id: Int, token: String?) throws -> UInt64 {
        let bytes = Wire.initialize(id: id, token: token)
        let started = monotonicNanoseconds()
        try server.write(bytes)
        let message = try nextMessage()
        let finished = monotonicNanoseconds()
        guard message.id == id, message.kind == .result else {
            throw BenchError("initialize failed: \(reader.text(message.body).prefix(300))")
        }
        try server.write(Wire.initialized)
        return finished - started
    }

    mutating func stop(shutdownID: Int) throws -> Int32? {
        try server.stop(reader: &reader, shutdownID: shutdownID)
    }

    mutating func nextMessage() throws -> ScannedMessage {
        while true {
            if let message = try reader.next() { return message }
            guard try reader.read() else { throw BenchError("the server closed its output\(watchdog.note)") }
            watchdog.tick()
        }
    }
}

/// A reply, decoded off the hot path.
struct Reply {
    var kind: ScannedMessage.Kind
    var text: String

    var object: [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    var errorCode: Int? { (object?["error"] as? [String: Any])?["code"] as? Int }

    func result(_ method: String) throws -> Any {
        guard kind == .result, let value = object?["result"] else {
            throw BenchError("\(method) failed: \(text.prefix(500))")
        }
        return value
    }
}
