/// One Server-Sent Event: its type (`message` when the stream named none) and its data lines
/// joined with "\n".
public struct SSEEvent: Sendable, Hashable {
    public var event: String
    public var data: String
    /// The last `id:` seen so far in the stream, when there was one.
    public var id: String?

    public init(event: String = "message", data: String, id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
    }
}

/// Why an event stream could not be read.
public enum SSEParserError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One event (or one line, comments included) grew past the limit.
    case eventTooLarge(limit: Int)
    /// The stream ended in the middle of an event: a line or an event without its terminating
    /// blank line. Per WHATWG the incomplete event is not dispatched.
    case endedMidEvent

    public var description: String {
        switch self {
        case .eventTooLarge(let limit): "an event is larger than \(limit) bytes"
        case .endedMidEvent: "the event stream ended in the middle of an event"
        }
    }
}

/// An incremental `text/event-stream` parser (WHATWG HTML, "Server-sent events", parsing an event
/// stream). Feed it the body's chunks as they arrive, split anywhere; it returns the events those
/// bytes completed.
///
/// Lines end in LF, CR or CRLF (a CR at the end of one chunk and an LF at the start of the next
/// are one line ending). A leading UTF-8 BOM is skipped; `:` lines are comments; a line without a
/// colon is a field with an empty value; one space after the colon is dropped; `data` lines are
/// joined with "\n"; a blank line dispatches the event, unless it has no data. `retry` is ignored
/// (nobody here reconnects). Invalid UTF-8 becomes U+FFFD, as the standard says.
public struct SSEParser: Sendable {
    /// The default limit on one event: 1 MiB.
    public static let defaultMaxEventBytes = 1 << 20

    public let maxEventBytes: Int

    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var eventType: String?
    private var lastEventID: String?
    /// Bytes of the event being built (its lines so far), checked against the limit.
    private var eventBytes = 0
    /// The previous chunk ended in CR: an LF starting this one belongs to that line ending.
    private var skipLineFeed = false
    /// How many bytes of the BOM have been matched at the very start; nil once past the start.
    private var bomMatched: Int? = 0

    private static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
    private static let lf: UInt8 = 0x0A
    private static let cr: UInt8 = 0x0D
    private static let colon: UInt8 = 0x3A
    private static let space: UInt8 = 0x20

    public init(maxEventBytes: Int = SSEParser.defaultMaxEventBytes) {
        self.maxEventBytes = maxEventBytes
    }

    /// True while bytes of an unfinished event are held.
    public var isMidEvent: Bool {
        !line.isEmpty || hasData || eventType != nil || (bomMatched ?? 0) > 0
    }

    /// Parses `bytes` and returns the events they completed, in order.
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) throws(SSEParserError) -> [SSEEvent] where Bytes.Element == UInt8 {
        var events: [SSEEvent] = []
        for byte in bytes {
            if let matched = bomMatched {
                if byte == Self.bom[matched] {
                    bomMatched = matched + 1 == Self.bom.count ? nil : matched + 1
                    continue
                }
                // Not a BOM after all: the bytes matched so far are ordinary text.
                bomMatched = nil
                for earlier in Self.bom[..<matched] { try append(earlier) }
            }
            if skipLineFeed {
                skipLineFeed = false
                if byte == Self.lf { continue }
            }
            switch byte {
            case Self.lf:
                if let event = try endLine() { events.append(event) }
            case Self.cr:
                skipLineFeed = true
                if let event = try endLine() { events.append(event) }
            default:
                try append(byte)
            }
        }
        return events
    }

    /// The stream ended. Throws `endedMidEvent` when an event was left incomplete.
    public mutating func finish() throws(SSEParserError) {
        let incomplete = isMidEvent
        self = SSEParser(maxEventBytes: maxEventBytes)
        if incomplete { throw .endedMidEvent }
    }

    private mutating func append(_ byte: UInt8) throws(SSEParserError) {
        eventBytes += 1
        guard eventBytes <= maxEventBytes else { throw .eventTooLarge(limit: maxEventBytes) }
        line.append(byte)
    }

    private mutating func endLine() throws(SSEParserError) -> SSEEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty { return dispatch() }
        if line[0] == Self.colon {
            // A comment still counted toward the event's size, so a flood of comments is bounded
            // too; it does not start an event of its own.
            if !hasData && eventType == nil { eventBytes = 0 }
            return nil
        }
        let field: ArraySlice<UInt8>
        var value: ArraySlice<UInt8>
        if let colon = line.firstIndex(of: Self.colon) {
            field = line[..<colon]
            value = line[(colon + 1)...]
            if value.first == Self.space { value = value.dropFirst() }
        } else {
            field = line[...]
            value = []
        }
        switch String(decoding: field, as: UTF8.self) {
        case "event":
            eventType = String(decoding: value, as: UTF8.self)
        case "data":
            if hasData { data.append(Self.lf) }
            data.append(contentsOf: value)
            hasData = true
        case "id":
            if !value.contains(0) { lastEventID = String(decoding: value, as: UTF8.self) }
        default:
            break  // `retry` and unknown fields
        }
        return nil
    }

    private mutating func dispatch() -> SSEEvent? {
        defer {
            data.removeAll(keepingCapacity: true)
            hasData = false
            eventType = nil
            eventBytes = 0
        }
        guard hasData else { return nil }
        let type = eventType.flatMap { $0.isEmpty ? nil : $0 } ?? "message"
        return SSEEvent(event: type, data: String(decoding: data, as: UTF8.self), id: lastEventID)
    }
}
