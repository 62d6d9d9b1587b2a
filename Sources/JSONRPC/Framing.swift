import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// How messages are delimited on a byte stream.
public enum FramingMode: Sendable, Hashable {
    /// The LSP base protocol: `Content-Length: N\r\n\r\n` then N bytes of UTF-8 JSON.
    case contentLength
    /// One JSON message (or batch) per line, for `nc` and short scripts.
    case newlineDelimited

    /// Frames an encoded message for the wire.
    public func frame(_ body: [UInt8]) -> [UInt8] {
        switch self {
        case .contentLength:
            var bytes = Array("Content-Length: \(body.count)\r\n\r\n".utf8)
            bytes.append(contentsOf: body)
            return bytes
        case .newlineDelimited:
            var bytes = body
            bytes.append(UInt8(ascii: "\n"))
            return bytes
        }
    }
}

/// An incremental framing parser: fed chunks as they arrive, it yields whole message bodies, or
/// errors for the peer. A value type with no I/O, so every edge is tested by feeding bytes.
///
/// - In `auto` mode the first non-blank byte decides: `{` or `[` means newline-delimited JSON,
///   anything else the LSP base protocol. A UTF-8 byte order mark before it is skipped.
/// - Header names are case-insensitive; `Content-Type` and unknown headers are tolerated.
/// - A body over `maxMessageBytes` is skipped as it streams (never buffered) and reported.
/// - A body or line is checked as strict JSON (`JSONScanner`) while it streams in: a batch over
///   `maxBatchLength`, nesting over `maxNestingDepth`, a raw control character in a string, a
///   duplicate key or any other invalid byte is reported at once and the rest of that body or line
///   is skipped without being buffered. A byte order mark at the start of a body or line is skipped.
/// - After a header block it cannot use (missing, negative or non-numeric `Content-Length`, an
///   over-long line or block, a line without a colon) the parser reports a parse error and skips
///   to the next `Content-Length:` it sees, so one bad frame costs only itself.
/// - After `maxFramingErrors` errors in a row (no usable message between them) it gives up:
///   `gaveUp` turns true and it yields nothing more; the connection closes.
/// - Once a message is handed out and nothing else is buffered, the buffer is released, so an idle
///   connection holds no copy of its last message.
public struct FrameParser: Sendable {
    public enum Event: Sendable, Equatable {
        case message(Data)
        case error(ResponseError)
    }

    private enum State: Sendable {
        case detecting
        case headers(contentLength: Int?, blockBytes: Int, problem: String?, sawHeader: Bool)
        /// `scanned` bytes of the body have been checked so far.
        case body(length: Int, scanned: Int)
        case skippingBody(remaining: Int)
        case resynchronizing
        /// `scanned` bytes of the line have been checked so far.
        case line(scanned: Int)
        case skippingLine
        case gaveUp
    }

    public private(set) var mode: FramingMode?
    private var state: State
    private var buffer: [UInt8] = []
    private var start = 0
    private let limits: Limits
    private var scanner: JSONScanner
    private var errorsInARow = 0

    /// Above this capacity, an emptied buffer is released rather than kept for the next message.
    private static let retainedCapacity = 64 << 10

    public init(mode: FramingMode? = nil, limits: Limits = Limits()) {
        self.mode = mode
        self.limits = limits
        scanner = JSONScanner(limits: limits)
        switch mode {
        case nil: state = .detecting
        case .contentLength?: state = .headers(contentLength: nil, blockBytes: 0, problem: nil, sawHeader: false)
        case .newlineDelimited?: state = .line(scanned: 0)
        }
    }

    /// Bytes held and not yet consumed (for tests of bounded memory).
    public var bufferedByteCount: Int { buffer.count - start }

    /// Whether the parser waits for the first byte of a message (true) or holds part of one: some of
    /// its header, body or line (false). Read after `next()` returned nil. A transport times out a
    /// message that stays incomplete too long (a slow sender holding a connection).
    public var isBetweenMessages: Bool {
        switch state {
        case .detecting, .resynchronizing, .gaveUp: return true
        case .headers(_, let blockBytes, _, _): return blockBytes == 0 && bufferedByteCount == 0
        case .line: return bufferedByteCount == 0
        case .body, .skippingBody, .skippingLine: return false
        }
    }

    /// Bytes of memory the buffer holds, consumed or not (for tests that idle connections hold none).
    public var bufferCapacity: Int { buffer.capacity }

    /// True once `maxFramingErrors` errors came in a row: the peer is not speaking the protocol,
    /// and the connection should be closed. The parser yields no more events.
    public var gaveUp: Bool {
        if case .gaveUp = state { return true }
        return false
    }

    public mutating func feed<C: Collection>(_ chunk: C) where C.Element == UInt8 {
        if case .gaveUp = state { return }
        if start > 0 && (start >= 65_536 || start == buffer.count) {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: chunk)
    }

    /// The next event, or nil when more bytes are needed.
    public mutating func next() -> Event? {
        if let event = nextEvent() {
            switch event {
            case .message:
                errorsInARow = 0
            case .error:
                errorsInARow += 1
                if errorsInARow >= limits.maxFramingErrors {
                    state = .gaveUp
                    buffer = []
                    start = 0
                }
            }
            return event
        }
        if start == buffer.count {
            if buffer.capacity > Self.retainedCapacity {
                buffer = []
            } else {
                buffer.removeAll(keepingCapacity: true)
            }
            start = 0
        }
        return nil
    }

    private mutating func nextEvent() -> Event? {
        while true {
            switch state {
            case .gaveUp:
                return nil

            case .detecting:
                while start < buffer.count && JSONScan.isWhitespace(buffer[start]) { start += 1 }
                guard start < buffer.count else { return nil }
                if buffer[start] == 0xEF {
                    // A byte order mark before the first message: skipped, as at the start of any body.
                    guard buffer.count - start >= 3 else { return nil }
                    if buffer[start + 1] == 0xBB && buffer[start + 2] == 0xBF {
                        start += 3
                        continue
                    }
                }
                if buffer[start] == UInt8(ascii: "{") || buffer[start] == UInt8(ascii: "[") {
                    mode = .newlineDelimited
                    state = .line(scanned: 0)
                    scanner = JSONScanner(limits: limits)
                } else {
                    mode = .contentLength
                    state = .headers(contentLength: nil, blockBytes: 0, problem: nil, sawHeader: false)
                }

            case .headers(var contentLength, var blockBytes, var problem, var sawHeader):
                let searchEnd = min(buffer.count, start + limits.maxHeaderLineBytes)
                guard let newline = buffer[start..<searchEnd].firstIndex(of: UInt8(ascii: "\n")) else {
                    if buffer.count - start >= limits.maxHeaderLineBytes {
                        start += 1  // Past this line's first byte, or a long `Content-Length:` line is found again forever.
                        state = .resynchronizing
                        return .error(
                            headerError("a header line is longer than \(limits.maxHeaderLineBytes) bytes (maxHeaderLineBytes)"))
                    }
                    return nil
                }
                let lineLength = newline + 1 - start
                blockBytes += lineLength
                var lineEnd = newline
                if lineEnd > start && buffer[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                let line = buffer[start..<lineEnd]
                start = newline + 1
                if blockBytes > limits.maxHeaderBlockBytes {
                    state = .resynchronizing
                    return .error(headerError("the header block is larger than \(limits.maxHeaderBlockBytes) bytes (maxHeaderBlockBytes)"))
                }
                if line.isEmpty {
                    if !sawHeader {
                        // A stray blank line between messages.
                        state = .headers(contentLength: nil, blockBytes: 0, problem: nil, sawHeader: false)
                        continue
                    }
                    if let problem {
                        state = .resynchronizing
                        return .error(headerError(problem))
                    }
                    guard let length = contentLength else {
                        state = .resynchronizing
                        return .error(headerError("missing Content-Length header"))
                    }
                    if length > limits.maxMessageBytes {
                        state = .skippingBody(remaining: length)
                        return .error(
                            .payloadTooLarge(
                                "a message of \(length) bytes", limit: limits.maxMessageBytes, setting: "maxMessageBytes"))
                    }
                    state = .body(length: length, scanned: 0)
                    scanner = JSONScanner(limits: limits)
                    continue
                }
                sawHeader = true
                if problem == nil {
                    problem = Self.parseHeader(line, into: &contentLength)
                }
                state = .headers(contentLength: contentLength, blockBytes: blockBytes, problem: problem, sawHeader: sawHeader)

            case .body(let length, let scanned):
                // Check what has arrived; each byte once.
                let available = min(buffer.count - start, length)
                if available > scanned {
                    let from = start + scanned
                    let to = start + available
                    if let failure = buffer.withUnsafeBufferPointer({ scanner.scan(UnsafeBufferPointer(rebasing: $0[from..<to])) }) {
                        start = to
                        state = available == length
                            ? .headers(contentLength: nil, blockBytes: 0, problem: nil, sawHeader: false)
                            : .skippingBody(remaining: length - available)
                        return .error(failure)
                    }
                    state = .body(length: length, scanned: available)
                }
                guard available == length else { return nil }
                let bodyStart = start + scanner.prefixLength
                start += length
                state = .headers(contentLength: nil, blockBytes: 0, problem: nil, sawHeader: false)
                if let failure = scanner.finish() { return .error(failure) }
                return .message(Data(buffer[bodyStart..<start]))

            case .skippingBody(let remaining):
                let available = buffer.count - start
                let skipped = min(available, remaining)
                start += skipped
                if skipped < remaining {
                    state = .skippingBody(remaining: remaining - skipped)
                    return nil
                }
                state = .headers(contentLength: nil, blockBytes: 0, problem: nil, sawHeader: false)

            case .resynchronizing:
                if let found = Self.find(Self.contentLengthName, in: buffer, from: start) {
                    start = found
                    state = .headers(contentLength: nil, blockBytes: 0, problem: nil, sawHeader: false)
                    continue
                }
                // Keep only a tail that could be the start of the header name.
                start = max(start, buffer.count - (Self.contentLengthName.count - 1))
                return nil

            case .line(let scanned):
                // Search for the newline and check the JSON in the same single pass over new bytes.
                let searchEnd = min(buffer.count, start + limits.maxMessageBytes + 2)
                let from = start + scanned
                let newline = from < searchEnd ? buffer[from..<searchEnd].firstIndex(of: UInt8(ascii: "\n")) : nil
                let scanEnd = newline ?? searchEnd
                if scanEnd > from,
                    let failure = buffer.withUnsafeBufferPointer({ scanner.scan(UnsafeBufferPointer(rebasing: $0[from..<scanEnd])) })
                {
                    if let newline {
                        start = newline + 1
                        scanner = JSONScanner(limits: limits)
                        state = .line(scanned: 0)
                    } else {
                        start = scanEnd
                        state = .skippingLine
                    }
                    return .error(failure)
                }
                guard let newline else {
                    state = .line(scanned: scanEnd - start)
                    if buffer.count - start > limits.maxMessageBytes + 1 {
                        start = searchEnd  // Not past it: the line's newline and the next lines may be buffered.
                        state = .skippingLine
                        return .error(
                            .payloadTooLarge(
                                "a message line over \(limits.maxMessageBytes) bytes", limit: limits.maxMessageBytes,
                                setting: "maxMessageBytes"))
                    }
                    return nil
                }
                var lineStart = start
                var lineEnd = newline
                start = newline + 1
                state = .line(scanned: 0)
                defer { scanner = JSONScanner(limits: limits) }
                while lineStart < lineEnd && JSONScan.isWhitespace(buffer[lineStart]) { lineStart += 1 }
                while lineEnd > lineStart && JSONScan.isWhitespace(buffer[lineEnd - 1]) { lineEnd -= 1 }
                if lineStart == lineEnd { continue }
                if lineEnd - lineStart > limits.maxMessageBytes {
                    return .error(
                        .payloadTooLarge(
                            "a message line over \(limits.maxMessageBytes) bytes", limit: limits.maxMessageBytes,
                            setting: "maxMessageBytes"))
                }
                if let failure = scanner.finish() { return .error(failure) }
                return .message(Data(buffer[lineStart + scanner.prefixLength..<lineEnd]))

            case .skippingLine:
                if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    start = newline + 1
                    scanner = JSONScanner(limits: limits)
                    state = .line(scanned: 0)
                    continue
                }
                start = buffer.count
                return nil
            }
        }
    }

    private func headerError(_ message: String) -> ResponseError {
        .parseError("bad message header: \(message)")
    }

    private static let contentLengthName = Array("content-length:".utf8)

    private static let contentLengthHeader = Array("content-length".utf8)

    /// Reads one `Name: value` line; returns a problem, or nil. Bytes only: no strings are built
    /// for the common case, because this runs for every message.
    private static func parseHeader(_ line: ArraySlice<UInt8>, into contentLength: inout Int?) -> String? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            return "a header line without ':'"
        }
        var nameStart = line.startIndex
        var nameEnd = colon
        while nameStart < nameEnd && isBlank(line[nameStart]) { nameStart += 1 }
        while nameEnd > nameStart && isBlank(line[nameEnd - 1]) { nameEnd -= 1 }
        guard nameEnd - nameStart == contentLengthHeader.count,
            zip(line[nameStart..<nameEnd], contentLengthHeader).allSatisfy({ lowercased($0) == $1 })
        else {
            return nil  // Content-Type and anything else is tolerated.
        }
        var valueStart = colon + 1
        var valueEnd = line.endIndex
        while valueStart < valueEnd && isBlank(line[valueStart]) { valueStart += 1 }
        while valueEnd > valueStart && isBlank(line[valueEnd - 1]) { valueEnd -= 1 }
        var length = 0
        let digits = line[valueStart..<valueEnd]
        let valid = !digits.isEmpty && digits.count <= 18 && digits.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        if valid {
            for digit in digits { length = length * 10 + Int(digit - UInt8(ascii: "0")) }
        } else {
            let shown = String(decoding: digits.prefix(32), as: UTF8.self)
            return "Content-Length must be a non-negative integer, got '\(shown)'"
        }
        if let previous = contentLength, previous != length {
            return "two different Content-Length headers"
        }
        contentLength = length
        return nil
    }

    private static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }

    /// Case-insensitive search for an ASCII lowercase needle.
    private static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard haystack.count - from >= needle.count else { return nil }
        var index = from
        let last = haystack.count - needle.count
        while index <= last {
            var matched = true
            for offset in 0..<needle.count {
                var byte = haystack[index + offset]
                if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte += 32 }
                if byte != needle[offset] {
                    matched = false
                    break
                }
            }
            if matched { return index }
            index += 1
        }
        return nil
    }
}
