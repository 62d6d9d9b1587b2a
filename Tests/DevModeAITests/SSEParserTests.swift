import Testing
@testable import DevModeAI

@Suite struct SSEParserTests {
    static func parse(_ chunks: [[UInt8]], maxEventBytes: Int = SSEParser.defaultMaxEventBytes) throws -> [SSEEvent] {
        var parser = SSEParser(maxEventBytes: maxEventBytes)
        var events: [SSEEvent] = []
        for chunk in chunks { events += try parser.feed(chunk) }
        try parser.finish()
        return events
    }

    static func parse(_ text: String) throws -> [SSEEvent] { try parse([Array(text.utf8)]) }

    @Test func dataLinesJoinAndEventTypesApply() throws {
        let events = try Self.parse("data: one\ndata: two\n\nevent: delta\ndata: {\"x\":1}\n\n")
        #expect(events == [SSEEvent(data: "one\ntwo"), SSEEvent(event: "delta", data: "{\"x\":1}")])
    }

    @Test func commentsFieldsWithoutColonAndSpaces() throws {
        let events = try Self.parse(": keep-alive\ndata\n\ndata:no space\n\ndata:  two spaces\n\n:\nunknown: x\ndata: y\n\n")
        #expect(
            events == [SSEEvent(data: ""), SSEEvent(data: "no space"), SSEEvent(data: " two spaces"), SSEEvent(data: "y")])
    }

    @Test func eventsWithoutDataAreNotDispatchedAndTypeResets() throws {
        let events = try Self.parse("event: ping\n\ndata: a\n\nevent:\ndata: b\n\n")
        #expect(events == [SSEEvent(data: "a"), SSEEvent(data: "b")])
    }

    @Test func idIsRememberedAcrossEvents() throws {
        let events = try Self.parse("id: 7\ndata: a\n\ndata: b\n\nid: 8\u{0}\ndata: c\n\n")
        #expect(events.map(\.id) == ["7", "7", "7"])
    }

    @Test func everyLineEndingWorks() throws {
        let lf = try Self.parse("event: e\ndata: a\ndata: b\n\ndata: c\n\n")
        #expect(try Self.parse("event: e\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n") == lf)
        #expect(try Self.parse("event: e\rdata: a\rdata: b\r\rdata: c\r\r") == lf)
        #expect(try Self.parse("event: e\r\ndata: a\rdata: b\n\r\ndata: c\r\n\n") == lf)
        #expect(lf.count == 2)
    }

    @Test func aLeadingByteOrderMarkIsSkippedOnlyAtTheStart() throws {
        #expect(try Self.parse("\u{FEFF}data: a\n\n") == [SSEEvent(data: "a")])
        // Not at the start, the BOM is text: here it makes a field named "\u{FEFF}data".
        #expect(try Self.parse("data: a\n\n\u{FEFF}data: b\n\n") == [SSEEvent(data: "a")])
        // Bytes that only begin like a BOM are text.
        #expect(try Self.parse([[0xEF, 0xBB], Array("\ndata: x\n\n".utf8)]) == [SSEEvent(data: "x")])
    }

    /// The same stream cut in two at every byte position, and fed one byte at a time, gives the
    /// same events as in one piece: CRLF pairs, the BOM and multi-byte characters included.
    @Test func chunkBoundariesAnywhereGiveTheSameEvents() throws {
        let stream = Array("\u{FEFF}: hello\r\nevent: delta\r\ndata: {\"text\":\"héllo 👋🏽\"}\r\n\r\ndata: a\rdata: b\r\rid: 1\ndata: [DONE]\n\n".utf8)
        let whole = try Self.parse([stream])
        #expect(
            whole == [
                SSEEvent(event: "delta", data: "{\"text\":\"héllo 👋🏽\"}"), SSEEvent(data: "a\nb"), SSEEvent(data: "[DONE]", id: "1"),
            ])
        for cut in 0...stream.count {
            let split = try Self.parse([Array(stream[..<cut]), Array(stream[cut...])])
            #expect(split == whole, "cut at \(cut)")
        }
        for first in 0..<stream.count {
            for second in (first + 1)..<min(stream.count, first + 4) {
                let three = try Self.parse([Array(stream[..<first]), Array(stream[first..<second]), Array(stream[second...])])
                #expect(three == whole, "cuts at \(first), \(second)")
            }
        }
        #expect(try Self.parse(stream.map { [$0] }) == whole)
    }

    @Test func anEventLargerThanTheLimitFails() throws {
        let limit = 64
        #expect(try Self.parse([Array("data: \(String(repeating: "x", count: 50))\n\n".utf8)], maxEventBytes: limit).count == 1)
        #expect(throws: SSEParserError.eventTooLarge(limit: limit)) {
            try Self.parse([Array("data: \(String(repeating: "x", count: 40))\ndata: \(String(repeating: "y", count: 40))\n\n".utf8)], maxEventBytes: limit)
        }
        // A line that never ends fails as soon as it passes the limit, not at the end of the stream.
        var parser = SSEParser(maxEventBytes: limit)
        #expect(throws: SSEParserError.eventTooLarge(limit: limit)) {
            for _ in 0..<100 { _ = try parser.feed(Array("data: xxxxxxxx".utf8)) }
        }
        // The limit is per event: many events of moderate size are fine.
        let many = String(repeating: "data: \(String(repeating: "z", count: 40))\n\n", count: 100)
        #expect(try Self.parse([Array(many.utf8)], maxEventBytes: limit).count == 100)
    }

    @Test func aStreamEndingMidEventIsReported() throws {
        // The last: the first two bytes of a byte order mark.
        for unfinished in ["data: a", "data: a\n", "data: a\r", "event: x\n", "data: a\n\ndata: b\n", "\u{EF}\u{BB}"] {
            var parser = SSEParser()
            _ = try parser.feed(unfinished == "\u{EF}\u{BB}" ? [0xEF, 0xBB] : Array(unfinished.utf8))
            #expect(parser.isMidEvent, "\(unfinished.debugDescription)")
            #expect(throws: SSEParserError.endedMidEvent, "\(unfinished.debugDescription)") { try parser.finish() }
        }
        for finished in ["", "\u{FEFF}", "data: a\n\n", "data: a\r\r", ": comment\n", "id: 3\n", "data: a\r\n\r\n"] {
            var parser = SSEParser()
            _ = try parser.feed(Array(finished.utf8))
            #expect(!parser.isMidEvent, "\(finished.debugDescription)")
            try parser.finish()
        }
    }

    @Test func invalidUTF8BecomesReplacementCharacters() throws {
        let events = try Self.parse([Array("data: a".utf8) + [0xFF] + Array("b\n\n".utf8)])
        #expect(events == [SSEEvent(data: "a\u{FFFD}b")])
    }
}
