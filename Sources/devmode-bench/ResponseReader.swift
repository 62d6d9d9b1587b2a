#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One framed message read from the server, as found by a byte scan (no JSON decoding).
struct ScannedMessage {
    enum Kind { case result, error, other }
    /// The numeric top-level `"id"`, or nil (absent, null, or a string: the bench only sends numbers).
    var id: Int?
    var kind: Kind
    /// The body's position in the reader's buffer; valid until the next `read`.
    var body: Range<Int>
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A minimal LSP-framing reader for the client side of the benchmark. It reads straight into one
/// growable buffer, finds `Content-Length`, slices the body and scans its top level for `"id"` and
/// `"result"`/`"error"`, stopping as soon as both are known: the `server/info` result itself is
/// never looked at. So the client costs little next to the server it measures.
struct ResponseReader {
    let fd: Int32
    private(set) var buffer: [UInt8]
    private var start = 0
    private var end = 0
    /// Bytes read so far (for the report's bytes-per-response).
    private(set) var bytesRead = 0

    init(fd: Int32, capacity: Int = 256 << 10) {
        self.fd = fd
        buffer = [UInt8](repeating: 0, count: capacity)
    }

    /// The next message already in the buffer, or nil when more bytes are needed.
    mutating func next() throws -> ScannedMessage? {
        guard let (headerEnd, length) = try parseHeader() else { return nil }
        let bodyStart = headerEnd
        guard end - bodyStart >= length else { return nil }
        let body = bodyStart..<(bodyStart + length)
        start = body.upperBound
        var message = Self.scanTopLevel(buffer, body)
        message.body = body
        return message
    }

    /// Blocks until at least one byte arrives; false at end of stream.
    mutating func read() throws -> Bool {
        if start == end {
            start = 0
            end = 0
        } else if start > 0 && (start >= buffer.count / 2 || end == buffer.count) {
            // Move the partial message to the front: cheap, it is at most one message.
            buffer.withUnsafeMutableBufferPointer { pointer in
                let base = pointer.baseAddress!
                memmove(base, base + start, end - start)
            }
            end -= start
            start = 0
        }
        if end == buffer.count {
            buffer.append(contentsOf: repeatElement(0, count: buffer.count))  // one message larger than the buffer
        }
        while true {
            let count = buffer.withUnsafeMutableBufferPointer { pointer in
                Glibc.read(fd, pointer.baseAddress! + end, pointer.count - end)
            }
            if count > 0 {
                end += count
                bytesRead += count
                return true
            }
            if count == 0 { return false }
            if errno == EINTR { continue }
            throw BenchError("read from the server failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Reads until one message is complete; throws at end of stream.
    mutating func nextBlocking() throws -> ScannedMessage {
        while true {
            if let message = try next() { return message }
            guard try read() else { throw BenchError("the server closed its output") }
        }
    }

    /// Text of a body, for reporting errors (off the hot path).
    func text(_ body: Range<Int>) -> String {
        String(decoding: buffer[body], as: UTF8.self)
    }

    // MARK: Scanning

    private static let contentLength = Array("content-length".utf8)

    /// Returns (index after the blank line, body length) once the whole header block is buffered.
    private func parseHeader() throws -> (Int, Int)? {
        var lineStart = start
        var length: Int?
        var index = start
        while index < end {
            guard buffer[index] == UInt8(ascii: "\n") else {
                index += 1
                continue
            }
            var lineEnd = index
            if lineEnd > lineStart && buffer[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            if lineEnd == lineStart {
                guard let length else {
                    throw BenchError("a response header block without Content-Length: \(headerText(index))")
                }
                return (index + 1, length)
            }
            if let value = headerValue(lineStart..<lineEnd) { length = value }
            index += 1
            lineStart = index
            if index - start > 4096 { throw BenchError("a response header block over 4 KiB: \(headerText(index))") }
        }
        return nil
    }

    private func headerText(_ upTo: Int) -> String {
        String(decoding: buffer[start..<min(upTo, start + 200)], as: UTF8.self)
    }

    /// The value of a `Content-Length: N` line (name case-insensitive), nil for other headers.
    private func headerValue(_ line: Range<Int>) -> Int? {
        let name = Self.contentLength
        guard line.count > name.count, buffer[line.lowerBound + name.count] == UInt8(ascii: ":") else { return nil }
        for offset in 0..<name.count {
            var byte = buffer[line.lowerBound + offset]
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte += 32 }
            if byte != name[offset] { return nil }
        }
        var value = 0
        var digits = 0
        for index in (line.lowerBound + name.count + 1)..<line.upperBound {
            let byte = buffer[index]
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { continue }
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return digits > 0 ? value : nil
    }

    /// Walks the object's top level only: tracks strings and nesting, compares each depth-1 key with
    /// `id`, `result` and `error`, and stops once the id and the kind are both known.
    static func scanTopLevel(_ bytes: [UInt8], _ range: Range<Int>) -> ScannedMessage {
        var message = ScannedMessage(id: nil, kind: .other, body: range)
        var sawID = false
        var depth = 0
        var expectingKey = false
        var index = range.lowerBound
        let end = range.upperBound
        while index < end {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                let keyStart = index + 1
                index += 1
                while index < end && bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\") { index += 1 }
                    index += 1
                }
                let keyEnd = index
                if depth == 1 && expectingKey {
                    expectingKey = false
                    var valueStart = index + 1
                    while valueStart < end
                        && (bytes[valueStart] == UInt8(ascii: ":") || bytes[valueStart] == UInt8(ascii: " ")
                            || bytes[valueStart] == UInt8(ascii: "\n") || bytes[valueStart] == UInt8(ascii: "\r")
                            || bytes[valueStart] == UInt8(ascii: "\t"))
                    {
                        valueStart += 1
                    }
                    switch keyEnd - keyStart {
                    case 2 where bytes[keyStart] == UInt8(ascii: "i") && bytes[keyStart + 1] == UInt8(ascii: "d"):
                        sawID = true
                        message.id = parseInteger(bytes, from: valueStart, to: end)
                    case 6 where bytes[keyStart] == UInt8(ascii: "r"):
                        message.kind = .result
                    case 5 where bytes[keyStart] == UInt8(ascii: "e"):
                        message.kind = .error
                    default:
                        break
                    }
                    if sawID && message.kind != .other { return message }
                }
            case UInt8(ascii: "{"):
                depth += 1
                if depth == 1 { expectingKey = true }
            case UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 1 { expectingKey = true }
            default:
                break
            }
            index += 1
        }
        return message
    }

    private static func parseInteger(_ bytes: [UInt8], from: Int, to end: Int) -> Int? {
        var index = from
        var negative = false
        if index < end && bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var value = 0
        var digits = 0
        while index < end, bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9") {
            value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            digits += 1
            index += 1
        }
        return digits > 0 ? (negative ? -value : value) : nil
    }
}
