import DevModeProtocol
import JSONRPC

/// LSP's position encodings: what a `Position.character` counts.
public enum PositionEncoding: String, Sendable, Hashable, CaseIterable {
    case utf8 = "utf-8"
    case utf16 = "utf-16"
    case utf32 = "utf-32"

    /// LSP 3.17's negotiation: the first of the client's `general.positionEncodings` this server
    /// supports, in the client's order; UTF-16 (which every server must support) otherwise.
    public static func negotiate(clientCapabilities: JSONValue?) -> PositionEncoding {
        guard case .array(let offered)? = clientCapabilities?["general"]?["positionEncodings"] else { return .utf16 }
        for value in offered {
            if let name = value.stringValue, let encoding = PositionEncoding(rawValue: name) { return encoding }
        }
        return .utf16
    }

    /// How many code units of this encoding a scalar whose UTF-8 form is `utf8Length` bytes takes.
    func units(utf8Length: Int) -> Int {
        switch self {
        case .utf8: utf8Length
        case .utf16: utf8Length == 4 ? 2 : 1
        case .utf32: 1
        }
    }
}

/// A document's text with the index that turns LSP positions into offsets and back.
///
/// The text is held as UTF-8 bytes; offsets are byte offsets into it, always on a code point's
/// boundary. Lines end at "\n", "\r\n" or "\r" (LSP's three line endings).
///
/// Clamping, as LSP asks: a `character` past the end of its line means the line's end (before its
/// line ending); a `line` past the last line means the end of the document; negative values mean 0.
/// A `character` that falls inside one code point (the second UTF-16 unit of 😀, the second byte of
/// "漢") is rounded down to the start of that code point, so an edit never splits a code point:
/// inserting inside an emoji inserts before it, deleting from inside it to its end deletes all of it.
public struct TextDocument: Sendable, Hashable {
    public private(set) var bytes: [UInt8]
    /// The byte offset at which each line starts; the first is always 0.
    public private(set) var lineStarts: [Int]

    public init(_ text: String) {
        bytes = Array(text.utf8)
        lineStarts = Self.lineStarts(of: bytes)
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }
    public var lineCount: Int { lineStarts.count }

    /// The byte offset for `position`, clamped and rounded as described above.
    public func offset(of position: Position, encoding: PositionEncoding) -> Int {
        let line = max(position.line, 0)
        guard line < lineStarts.count else { return bytes.count }
        let end = contentEnd(ofLine: line)
        var offset = lineStarts[line]
        var remaining = max(position.character, 0)
        while offset < end {
            let length = Self.scalarLength(leadByte: bytes[offset])
            let units = encoding.units(utf8Length: length)
            guard remaining >= units else { break }  // at the end, or inside this code point: round down
            remaining -= units
            offset += length
        }
        return offset
    }

    /// The position of a byte offset (clamped to the text, rounded down to a code point's start).
    public func position(of offset: Int, encoding: PositionEncoding) -> Position {
        var target = min(max(offset, 0), bytes.count)
        while target > 0, target < bytes.count, Self.isContinuation(bytes[target]) { target -= 1 }
        let line = lineIndex(containing: target)
        let end = min(target, contentEnd(ofLine: line))
        var character = 0
        var cursor = lineStarts[line]
        while cursor < end {
            let length = Self.scalarLength(leadByte: bytes[cursor])
            character += encoding.units(utf8Length: length)
            cursor += length
        }
        return Position(line: line, character: character)
    }

    /// Applies one LSP change: the whole text when `range` is nil, else the range (clamped; ends
    /// given in the wrong order are swapped) replaced by `text`.
    public mutating func apply(_ change: TextDocumentContentChangeEvent, encoding: PositionEncoding) {
        guard let range = change.range else {
            self = TextDocument(change.text)
            return
        }
        let start = offset(of: range.start, encoding: encoding)
        let end = offset(of: range.end, encoding: encoding)
        replace(min(start, end)..<max(start, end), with: change.text)
    }

    /// Replaces a byte range (on code point boundaries) with `text`, re-indexing only the lines from
    /// the edit on.
    public mutating func replace(_ range: Swift.Range<Int>, with text: String) {
        bytes.replaceSubrange(range, with: text.utf8)
        // A line ending may straddle the edit's start ("\r" + "\n"): re-index from the line before.
        let firstLine = max(lineIndex(containing: range.lowerBound) - 1, 0)
        let from = lineStarts[firstLine]
        lineStarts.removeSubrange((firstLine + 1)...)
        lineStarts.append(contentsOf: Self.lineStarts(of: bytes, from: from).dropFirst())
    }

    /// The line that holds a byte offset (the last line whose start is at or before it).
    func lineIndex(containing offset: Int) -> Int {
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if lineStarts[middle] <= offset { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// Where a line's content ends: before its line ending, or at the end of the text for the last line.
    func contentEnd(ofLine line: Int) -> Int {
        guard line + 1 < lineStarts.count else { return bytes.count }
        let next = lineStarts[line + 1]
        if next >= 2, bytes[next - 2] == UInt8(ascii: "\r"), bytes[next - 1] == UInt8(ascii: "\n") { return next - 2 }
        return next - 1
    }

    static func lineStarts(of bytes: [UInt8], from start: Int = 0) -> [Int] {
        var starts = [start]
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\n"):
                starts.append(index + 1)
            case UInt8(ascii: "\r"):
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") { index += 1 }
                starts.append(index + 1)
            default:
                break
            }
            index += 1
        }
        return starts
    }

    static func scalarLength(leadByte: UInt8) -> Int {
        switch leadByte {
        case ..<0x80: 1
        case 0xF0...: 4
        case 0xE0...: 3
        default: 2
        }
    }

    static func isContinuation(_ byte: UInt8) -> Bool { byte & 0xC0 == 0x80 }
}
