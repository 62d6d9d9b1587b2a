import Foundation
import JSONRPC
import Testing

@Suite("Framing")
struct FramingTests {
    let first = #"{"jsonrpc":"2.0","id":1,"method":"a"}"#
    let second = #"{"jsonrpc":"2.0","method":"b","params":{"text":"é ✓"}}"#
    /// A message that must come out intact after every kind of bad frame.
    let valid = #"{"jsonrpc":"2.0","id":"after","method":"ok"}"#

    // MARK: Content-Length framing

    @Test("frame() writes Content-Length in bytes, and the parser reads it back")
    func frameRoundTrip() {
        let framed = FramingMode.contentLength.frame(Array(second.utf8))
        #expect(framed == lspFrame(second))
        var parser = FrameParser()
        #expect(parser.feedAndDrain(framed).map(\.body) == [second])
        #expect(parser.mode == .contentLength)
        #expect(FramingMode.newlineDelimited.frame(Array(first.utf8)) == [UInt8](first + "\n"))
    }

    @Test("messages fed one byte at a time come out whole, each as soon as its last byte arrives")
    func oneByteAtATime() {
        let bytes = lspFrame(first) + lspFrame(second)
        var parser = FrameParser()
        var seen: [String] = []
        for (offset, byte) in bytes.enumerated() {
            let events = parser.feedAndDrain([byte])
            if offset == lspFrame(first).count - 1 {
                #expect(events.map(\.body) == [first])
            } else if offset == bytes.count - 1 {
                #expect(events.map(\.body) == [second])
            } else {
                #expect(events.isEmpty, "an event before the message was complete, at byte \(offset)")
            }
            seen += events.compactMap(\.body)
        }
        #expect(seen == [first, second])
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("a message split into two chunks at any point, including inside the header, comes out whole")
    func splitAnywhere() {
        let bytes = lspFrame(first)
        for split in 1..<bytes.count {
            var parser = FrameParser(mode: .contentLength)
            let before = parser.feedAndDrain(bytes[..<split])
            let after = parser.feedAndDrain(bytes[split...])
            #expect(before.isEmpty, "split at \(split)")
            #expect(after.map(\.body) == [first], "split at \(split)")
        }
    }

    @Test("several messages in one chunk all come out, in order")
    func severalInOneChunk() {
        var parser = FrameParser()
        let events = parser.feedAndDrain(lspFrame(first) + lspFrame(second) + lspFrame(valid))
        #expect(events.map(\.body) == [first, second, valid])
        #expect(parser.next() == nil)
    }

    @Test("the last message of a chunk may be partial; it completes with the next chunk")
    func partialTail() {
        var parser = FrameParser()
        let bytes = lspFrame(first) + lspFrame(second)
        let cut = lspFrame(first).count + 10
        #expect(parser.feedAndDrain(bytes[..<cut]).map(\.body) == [first])
        #expect(parser.feedAndDrain(bytes[cut...]).map(\.body) == [second])
    }

    @Test(
        "header names are case-insensitive",
        arguments: ["content-length", "CONTENT-LENGTH", "Content-Length", "cOnTeNt-LeNgTh"])
    func headerNameCase(name: String) {
        var parser = FrameParser()
        let events = parser.feedAndDrain([UInt8]("\(name): \(first.utf8.count)\r\n\r\n\(first)") + lspFrame(valid))
        #expect(events.map(\.body) == [first, valid])
    }

    @Test(
        "Content-Type and unknown headers are tolerated, before or after Content-Length",
        arguments: [
            Case("Content-Type first", "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length: LEN\r\n\r\n"),
            Case("Content-Type after", "Content-Length: LEN\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n"),
            Case("unknown header, no space", "content-type: application/json\r\nX-Custom: 1\r\nContent-Length:LEN\r\n\r\n"),
            Case("spaces around the value", "Content-Length:   LEN   \r\n\r\n"),
            Case("bare LF line ends", "Content-Length: LEN\n\n"),
        ])
    func toleratedHeaders(header: Case) {
        var parser = FrameParser()
        let head = header.bytes.replacingOccurrences(of: "LEN", with: "\(first.utf8.count)")
        let events = parser.feedAndDrain([UInt8](head + first) + lspFrame(valid))
        #expect(events.map(\.body) == [first, valid])
    }

    @Test("stray blank lines between messages are skipped")
    func blankLinesBetweenMessages() {
        var parser = FrameParser(mode: .contentLength)
        let events = parser.feedAndDrain(lspFrame(first) + [UInt8]("\r\n\r\n") + lspFrame(second))
        #expect(events.map(\.body) == [first, second])
    }

    /// A test argument shown by its name rather than its bytes.
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: String
        var testDescription: String { name }
        init(_ name: String, _ bytes: String) {
            self.name = name
            self.bytes = bytes
        }
    }

    /// A bad header block costs only itself: the peer gets a parse error and the next message works.
    @Test(
        "a bad header answers a parse error, and the next message is still parsed",
        arguments: [
            Case("missing Content-Length", "Content-Type: application/json\r\n\r\n{\"x\":1}"),
            Case("negative Content-Length", "Content-Length: -5\r\n\r\n{\"x\":1}"),
            Case("non-numeric Content-Length", "Content-Length: twelve\r\n\r\n{\"x\":1}"),
            Case("empty Content-Length", "Content-Length:\r\n\r\n{\"x\":1}"),
            Case("Content-Length with a sign", "Content-Length: +7\r\n\r\n{\"x\":1}"),
            Case("Content-Length too large for an integer", "Content-Length: 99999999999999999999999\r\n\r\n{\"x\":1}"),
            Case("two different Content-Lengths", "Content-Length: 7\r\nContent-Length: 8\r\n\r\n{\"x\":1}"),
            Case("a header line without a colon", "Content-Length: 7\r\nnonsense\r\n\r\n{\"x\":1}"),
        ])
    func badHeaderRecovers(badHeader: Case) throws {
        let problem = badHeader.name
        var parser = FrameParser()
        let events = parser.feedAndDrain([UInt8](badHeader.bytes) + lspFrame(valid))
        try #require(events.count == 2, "\(problem): \(events)")
        #expect(events[0].failure?.code == .parseError, "\(problem)")
        #expect(events[0].failure?.message.hasPrefix("Parse error: bad message header") == true, "\(problem)")
        #expect(events[1].body == valid, "\(problem)")
    }

    @Test("a bad header fed one byte at a time also answers one error and recovers")
    func badHeaderRecoversByteByByte() {
        var parser = FrameParser()
        var events: [FrameParser.Event] = []
        for byte in [UInt8]("Content-Length: abc\r\n\r\n{\"x\":1}") + lspFrame(valid) {
            events += parser.feedAndDrain([byte])
        }
        #expect(events.map(\.failure?.code) == [.parseError, nil])
        #expect(events.last?.body == valid)
    }

    @Test("the same Content-Length given twice is accepted")
    func repeatedSameContentLength() {
        var parser = FrameParser()
        let count = first.utf8.count
        let events = parser.feedAndDrain([UInt8]("Content-Length: \(count)\r\nContent-Length: \(count)\r\n\r\n\(first)"))
        #expect(events.map(\.body) == [first])
    }

    @Test("a body over maxMessageBytes answers -32022 at once and is skipped as it streams, never buffered")
    func oversizedBodyIsSkipped() throws {
        var limits = Limits()
        limits.maxMessageBytes = 1024
        var parser = FrameParser(limits: limits)
        let bodyLength = 200_000
        let header = parser.feedAndDrain([UInt8]("Content-Length: \(bodyLength)\r\n\r\n"))
        // Answered from the header alone: the peer does not wait for (or have to send) the body.
        try #require(header.count == 1)
        let error = try #require(header[0].failure)
        #expect(error.code == .payloadTooLarge)
        #expect(error.code.rawValue == -32022)
        #expect(error.data?["limit"]?.intValue == 1024)
        #expect(error.data?["setting"]?.stringValue == "maxMessageBytes")

        // The body streams in; none of it is held. Its bytes look like a frame, to prove they are skipped.
        let chunk = Array([UInt8](String(repeating: "Content-Length: 5\r\n\r\nhello", count: 200)).prefix(4096))
        var sent = 0
        var maxBuffered = 0
        while sent + chunk.count <= bodyLength {
            #expect(parser.feedAndDrain(chunk).isEmpty)
            maxBuffered = max(maxBuffered, parser.bufferedByteCount)
            sent += chunk.count
        }
        let rest = bodyLength - sent
        #expect(maxBuffered == 0)
        #expect(parser.feedAndDrain(chunk[..<rest] + lspFrame(valid)).map(\.body) == [valid])
    }

    @Test("with the default limits, a Content-Length over 16 MiB answers -32022 before any body byte")
    func oversizedDefaultLimit() {
        var parser = FrameParser()
        let events = parser.feedAndDrain([UInt8]("Content-Length: \(Limits().maxMessageBytes + 1)\r\n\r\n"))
        #expect(events.map(\.failure?.code) == [.payloadTooLarge])
        #expect(events.first?.failure?.data?["limit"]?.intValue == 16 << 20)
    }

    @Test("a body of exactly maxMessageBytes is accepted")
    func bodyAtTheLimit() {
        var limits = Limits()
        limits.maxMessageBytes = first.utf8.count
        var parser = FrameParser(limits: limits)
        #expect(parser.feedAndDrain(lspFrame(first)).map(\.body) == [first])
    }

    @Test("a header line over maxHeaderLineBytes answers a parse error; the next message is parsed")
    func overlongHeaderLine() throws {
        var limits = Limits()
        limits.maxHeaderLineBytes = 64
        var parser = FrameParser(limits: limits)
        let long = [UInt8]("X-Padding: " + String(repeating: "p", count: 200) + "\r\n")
        let events = parser.feedAndDrain(long + [UInt8]("Content-Length: 7\r\n\r\n{\"x\":1}") + lspFrame(valid))
        // The long line's own block is abandoned; the `Content-Length:` after it starts a fresh one.
        #expect(events.first?.failure?.code == .parseError)
        #expect(events.first?.failure?.message.contains("maxHeaderLineBytes") == true)
        #expect(events.compactMap(\.body) == ["{\"x\":1}", valid])
    }

    @Test("an over-long header line that is itself a Content-Length header answers one error, not a loop")
    func overlongContentLengthLine() {
        var limits = Limits()
        limits.maxHeaderLineBytes = 64
        var parser = FrameParser(limits: limits)
        let long = [UInt8]("Content-Length: " + String(repeating: "9", count: 200) + "\r\n\r\n")
        let events = parser.feedAndDrain(long + lspFrame(valid))
        #expect(events.map(\.failure?.code) == [.parseError, nil])
        #expect(events.last?.body == valid)
    }

    @Test("a header line of exactly maxHeaderLineBytes (CRLF included) is accepted")
    func headerLineAtTheLimit() {
        let header = "Content-Length: \(first.utf8.count)\r\n"
        var limits = Limits()
        limits.maxHeaderLineBytes = header.utf8.count
        var parser = FrameParser(limits: limits)
        #expect(parser.feedAndDrain([UInt8](header + "\r\n" + first)).map(\.body) == [first])
    }

    @Test("a header block over maxHeaderBlockBytes answers a parse error; the next message is parsed")
    func oversizedHeaderBlock() {
        var parser = FrameParser()  // default limits: 8 KiB lines, 64 KiB blocks
        var block = [UInt8]("Content-Length: 7\r\n")
        let line = [UInt8]("X-Filler: " + String(repeating: "f", count: 1000) + "\r\n")
        while block.count <= Limits().maxHeaderBlockBytes { block += line }
        let events = parser.feedAndDrain(block + [UInt8]("\r\n{\"x\":1}") + lspFrame(valid))
        #expect(events.first?.failure?.code == .parseError)
        #expect(events.first?.failure?.message.contains("maxHeaderBlockBytes") == true)
        #expect(events.last?.body == valid)
        #expect(events.compactMap(\.body) == [valid])
    }

    @Test("a hostile peer streaming header bytes without a newline is held to bounded memory")
    func hostileHeaderStream() {
        var parser = FrameParser()
        var errors = 0
        var maxBuffered = 0
        let chunk = [UInt8](repeating: UInt8(ascii: "A"), count: 1000)
        for _ in 0..<2000 {  // 2 MB
            errors += parser.feedAndDrain(chunk).count
            maxBuffered = max(maxBuffered, parser.bufferedByteCount)
            if errors > 1 { break }
        }
        #expect(errors == 1)
        #expect(maxBuffered <= Limits().maxHeaderLineBytes)
        #expect(parser.feedAndDrain([UInt8]("\r\n") + lspFrame(valid)).map(\.body) == [valid])
    }

    @Test("a hostile endless Content-Length value is held to bounded memory and answered once")
    func hostileEndlessContentLength() {
        var parser = FrameParser()
        var events: [FrameParser.Event] = []
        var maxBuffered = 0
        _ = parser.feedAndDrain([UInt8]("Content-Length: "))
        let chunk = [UInt8](repeating: UInt8(ascii: "9"), count: 1000)
        for _ in 0..<500 {
            events += parser.feedAndDrain(chunk)
            maxBuffered = max(maxBuffered, parser.bufferedByteCount)
            if events.count > 1 { break }
        }
        #expect(events.map(\.failure?.code) == [.parseError])
        #expect(maxBuffered <= Limits().maxHeaderLineBytes)
        #expect(parser.feedAndDrain([UInt8]("\r\n\r\n") + lspFrame(valid)).map(\.body) == [valid])
    }

    // MARK: Newline-delimited JSON

    @Test(
        "a first byte of '{' or '[' (after blank lines) selects newline-delimited JSON",
        arguments: ["{\"a\":1}\n", "[{\"a\":1}]\n", "\n\r\n  {\"a\":1}\n"])
    func detectsNewlineDelimited(input: String) {
        var parser = FrameParser()
        let events = parser.feedAndDrain([UInt8](input))
        #expect(parser.mode == .newlineDelimited)
        #expect(events.count == 1)
        #expect(events.first?.body == input.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test("any other first byte selects Content-Length framing")
    func detectsContentLength() {
        var parser = FrameParser()
        #expect(parser.mode == nil)
        _ = parser.feedAndDrain([UInt8]("C"))
        #expect(parser.mode == .contentLength)
    }

    @Test("newline-delimited: CRLF, blank lines and surrounding spaces are tolerated; splits anywhere work")
    func newlineDelimitedTolerance() {
        let input = [UInt8]("\(first)\r\n\n   \r\n\t\(second)  \n\(valid)\n")
        var whole = FrameParser()
        #expect(whole.feedAndDrain(input).map(\.body) == [first, second, valid])
        var byteByByte = FrameParser()
        var events: [FrameParser.Event] = []
        for byte in input { events += byteByByte.feedAndDrain([byte]) }
        #expect(events.map(\.body) == [first, second, valid])
        #expect(byteByByte.mode == .newlineDelimited)
    }

    @Test("newline-delimited: a line is not a message until its newline arrives")
    func newlineDelimitedWaitsForNewline() {
        var parser = FrameParser(mode: .newlineDelimited)
        #expect(parser.feedAndDrain([UInt8](first)).isEmpty)
        #expect(parser.feedAndDrain([UInt8]("\n")).map(\.body) == [first])
    }

    @Test("newline-delimited: an over-long line answers -32022 and the next line still works (one chunk)")
    func newlineDelimitedOverlongLineOneChunk() {
        var limits = Limits()
        limits.maxMessageBytes = 64
        var parser = FrameParser(limits: limits)
        let long = "{\"pad\":\"" + String(repeating: "x", count: 500) + "\"}\n"
        let events = parser.feedAndDrain([UInt8](long + valid + "\n"))
        #expect(events.map(\.failure?.code) == [.payloadTooLarge, nil])
        #expect(events.first?.failure?.data?["setting"]?.stringValue == "maxMessageBytes")
        #expect(events.last?.body == valid)
    }

    @Test("newline-delimited: an over-long line streamed in chunks is skipped without buffering it")
    func newlineDelimitedOverlongLineStreamed() {
        var limits = Limits()
        limits.maxMessageBytes = 64
        var parser = FrameParser(limits: limits)
        var events = parser.feedAndDrain([UInt8]("{\"pad\":\""))
        var maxBuffered = 0
        for _ in 0..<1000 {
            events += parser.feedAndDrain([UInt8](repeating: UInt8(ascii: "x"), count: 100))
            maxBuffered = max(maxBuffered, parser.bufferedByteCount)
            if events.count > 1 { break }
        }
        events += parser.feedAndDrain([UInt8]("\"}\n"))
        events += parser.feedAndDrain([UInt8](valid + "\n"))
        #expect(events.map(\.failure?.code) == [.payloadTooLarge, nil])
        #expect(events.last?.body == valid)
        #expect(maxBuffered <= limits.maxMessageBytes + 2)
    }

    @Test("newline-delimited: a line at exactly maxMessageBytes is accepted, one byte more is not")
    func newlineDelimitedLimit() {
        var limits = Limits()
        limits.maxMessageBytes = first.utf8.count
        var parser = FrameParser(mode: .newlineDelimited, limits: limits)
        #expect(parser.feedAndDrain([UInt8](first + "\r\n")).map(\.body) == [first])
        let tooLong = "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"a\"}"
        #expect(tooLong.utf8.count == limits.maxMessageBytes + 1)
        #expect(parser.feedAndDrain([UInt8](tooLong + "\n" + first + "\n")).map(\.failure?.code) == [.payloadTooLarge, nil])
    }

    // MARK: Limits counted while the body streams in (issue 10)

    /// `[{},{},…]` over the batch limit: refused when the member past the limit begins, the rest
    /// skipped as it streams (never buffered, never decoded), and the next message still works.
    @Test("a batch over maxBatchLength is answered -32022 as the member past the limit arrives; the rest is skipped")
    func batchOverLimitWhileStreaming() throws {
        var limits = Limits()
        limits.maxBatchLength = 3
        for lsp in [true, false] {
            var parser = FrameParser(mode: lsp ? .contentLength : .newlineDelimited, limits: limits)
            let members = 200_000
            let body = "[" + Array(repeating: "{}", count: members).joined(separator: ",") + "]"
            let bytes = [UInt8](body.utf8)
            if lsp { #expect(parser.feedAndDrain([UInt8]("Content-Length: \(bytes.count)\r\n\r\n")).isEmpty) }
            // Three members and the comma: nothing yet.
            #expect(parser.feedAndDrain(bytes[..<10]).isEmpty)
            let events = parser.feedAndDrain(bytes[10..<11])  // the fourth member's `{`
            try #require(events.count == 1, "lsp: \(lsp)")
            let error = try #require(events[0].failure)
            #expect(error.code == .payloadTooLarge)
            #expect(error.data?["limit"]?.intValue == 3)
            #expect(error.data?["setting"]?.stringValue == "maxBatchLength")
            var maxBuffered = 0
            var offset = 11
            while offset < bytes.count {
                let end = min(bytes.count, offset + 4096)
                #expect(parser.feedAndDrain(bytes[offset..<end]).isEmpty)
                maxBuffered = max(maxBuffered, parser.bufferedByteCount)
                offset = end
            }
            #expect(maxBuffered == 0, "lsp: \(lsp)")
            let next = lsp ? lspFrame(valid) : [UInt8]("\n" + valid + "\n")
            #expect(parser.feedAndDrain(next).map(\.body) == [valid], "lsp: \(lsp)")
        }
    }

    @Test("a batch over the limit, split at every byte, answers one -32022 and the next message comes out")
    func batchOverLimitSplitAnywhere() {
        var limits = Limits()
        limits.maxBatchLength = 2
        let body = #"[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"},{"jsonrpc":"2.0","method":"c"}]"#
        for lsp in [true, false] {
            let bytes = lsp ? lspFrame(body) + lspFrame(valid) : [UInt8](body + "\n" + valid + "\n")
            for split in 1..<bytes.count {
                var parser = FrameParser(limits: limits)
                let events = parser.feedAndDrain(bytes[..<split]) + parser.feedAndDrain(bytes[split...])
                #expect(events.map(\.failure?.code) == [.payloadTooLarge, nil], "lsp \(lsp), split at \(split)")
                #expect(events.last?.body == valid, "lsp \(lsp), split at \(split)")
            }
        }
    }

    @Test("nesting over maxNestingDepth is answered -32600 at the bracket that crosses it, before the rest arrives")
    func nestingOverLimitWhileStreaming() throws {
        var parser = FrameParser(mode: .contentLength)
        let depth = 100_000
        let body = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(parser.feedAndDrain([UInt8]("Content-Length: \(body.utf8.count)\r\n\r\n")).isEmpty)
        let bytes = [UInt8](body.utf8)
        #expect(parser.feedAndDrain(bytes[..<128]).isEmpty)
        let events = parser.feedAndDrain(bytes[128..<129])
        let error = try #require(events.first?.failure)
        #expect(error.code == .invalidRequest)
        #expect(error.data?["setting"]?.stringValue == "maxNestingDepth")
        #expect(parser.feedAndDrain(bytes[129...]).isEmpty)
        #expect(parser.bufferedByteCount == 0)
        #expect(parser.feedAndDrain(lspFrame(valid)).map(\.body) == [valid])
    }

    @Test("invalid JSON in a body or line is answered -32700 at the bad byte, and the framing goes on", arguments: [true, false])
    func invalidJSONWhileStreaming(lsp: Bool) {
        let bad = #"{"jsonrpc":"2.0","id":1,"method":"a",}"#
        let bytes = lsp ? lspFrame(bad) + lspFrame(valid) : [UInt8](bad + "\n" + valid + "\n")
        for split in 1..<bytes.count {
            var parser = FrameParser(limits: Limits())
            let events = parser.feedAndDrain(bytes[..<split]) + parser.feedAndDrain(bytes[split...])
            #expect(events.map(\.failure?.code) == [.parseError, nil], "split at \(split)")
            #expect(events.last?.body == valid, "split at \(split)")
        }
    }

    // MARK: Memory after dispatch (issue 10)

    @Test("after a large message is handed out, the parser holds no copy of it", arguments: [true, false])
    func bufferReleasedAfterDispatch(lsp: Bool) throws {
        let big = #"{"jsonrpc":"2.0","id":1,"method":"a","params":{"text":""# + String(repeating: "x", count: 2_000_000) + #""}}"#
        var parser = FrameParser(limits: Limits())
        let bytes = lsp ? lspFrame(big) : [UInt8](big + "\n")
        var events: [FrameParser.Event] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + 65_536)
            events += parser.feedAndDrain(bytes[offset..<end])
            offset = end
        }
        #expect(events.count == 1)
        #expect(events.first?.body?.utf8.count == big.utf8.count)
        #expect(parser.bufferedByteCount == 0)
        // Not just emptied: released (a small buffer may be kept for the next message).
        #expect(parser.bufferCapacity <= 64 << 10)
    }

    // MARK: Repeated framing errors (issue 10)

    @Test("1 MB of 'content-length:' with no newline answers maxFramingErrors errors, then the parser gives up")
    func repeatedFramingErrorsGiveUp() {
        var parser = FrameParser(mode: .contentLength)
        let chunk = [UInt8](String(repeating: "content-length:", count: 1000).utf8)
        var errors = 0
        for _ in 0..<70 {  // ~1 MB
            errors += parser.feedAndDrain(chunk).count
        }
        #expect(errors == Limits().maxFramingErrors)
        #expect(errors == 10)
        #expect(parser.gaveUp)
        #expect(parser.feedAndDrain(lspFrame(valid)).isEmpty)
        #expect(parser.bufferedByteCount == 0)
    }

    @Test("a usable message between framing errors resets the count; the limit is configurable")
    func framingErrorsInARow() {
        var limits = Limits()
        limits.maxFramingErrors = 3
        var parser = FrameParser(mode: .contentLength, limits: limits)
        let bad = [UInt8]("Content-Length: x\r\n\r\n")
        #expect(parser.feedAndDrain(bad + bad + lspFrame(valid) + bad + bad).map(\.failure?.code)
            == [.parseError, .parseError, nil, .parseError, .parseError])
        #expect(!parser.gaveUp)
        #expect(parser.feedAndDrain(bad).count == 1)
        #expect(parser.gaveUp)
    }

    @Test("a connection whose peer sends only garbage is answered maxFramingErrors times, then closed")
    func connectionClosesAfterRepeatedFramingErrors() async throws {
        let server = RawServer()
        try await server.peer.sendBytes([UInt8](String(repeating: "content-length:", count: 70_000).utf8))
        // No `finish()`: the connection ends its output on its own.
        let replies = try await server.peer.readToEnd()
        #expect(replies.count == 10)
        #expect(replies.allSatisfy { $0.errorCode == -32700 })
        await server.task.value
    }

    // MARK: Byte order mark (issue 10): skipped the same way in both framings

    @Test("a BOM at the start of the stream, of an LSP body or of an NDJSON line is skipped; split anywhere")
    func byteOrderMarkSkipped() {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let inputs: [(String, [UInt8])] = [
            ("NDJSON stream", bom + [UInt8](first + "\n") + bom + [UInt8](valid + "\n")),
            ("LSP body", [UInt8]("Content-Length: \(first.utf8.count + 3)\r\n\r\n") + bom + [UInt8](first) + lspFrame(valid)),
            ("LSP stream", bom + lspFrame(first) + lspFrame(valid)),
        ]
        for (name, bytes) in inputs {
            for split in 1..<bytes.count {
                var parser = FrameParser()
                let events = parser.feedAndDrain(bytes[..<split]) + parser.feedAndDrain(bytes[split...])
                #expect(events.map(\.body) == [first, valid], "\(name), split at \(split)")
            }
        }
    }

    @Test("a BOM anywhere but the start of a message is a parse error")
    func byteOrderMarkInside() {
        var parser = FrameParser(mode: .newlineDelimited)
        let events = parser.feedAndDrain([UInt8]("{\"a\":") + [0xEF, 0xBB, 0xBF] + [UInt8]("1}\n" + valid + "\n"))
        #expect(events.map(\.failure?.code) == [.parseError, nil])
    }
}

