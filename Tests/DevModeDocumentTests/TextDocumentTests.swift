import DevModeProtocol
import DevModeServer
import JSONRPC
import Testing

/// How many code units `text` takes in `encoding`: what a client counts for `Position.character`.
func units(_ text: String, _ encoding: PositionEncoding) -> Int {
    switch encoding {
    case .utf8: text.utf8.count
    case .utf16: text.utf16.count
    case .utf32: text.unicodeScalars.count
    }
}

/// The position just after `prefix` on `line`, in `encoding`.
func position(line: Int, after prefix: String, _ encoding: PositionEncoding) -> Position {
    Position(line: line, character: units(prefix, encoding))
}

func change(_ start: Position, _ end: Position, _ text: String) -> TextDocumentContentChangeEvent {
    TextDocumentContentChangeEvent(range: TextRange(start: start, end: end), text: text)
}

@Suite("Positions")
struct PositionTests {
    @Test(arguments: [
        // text before "x", and its length in utf-8, utf-16, utf-32
        ("a😀", 5, 3, 2),  // 😀: 4 bytes, 2 UTF-16 units, 1 scalar
        ("漢字", 6, 2, 2),  // 漢 and 字: 3 bytes, 1 unit, 1 scalar each
        ("e\u{301}", 3, 2, 2),  // e + combining acute: one character to a user, two code points
        ("", 0, 0, 0),
    ])
    func characterCountsCodeUnitsOfTheEncoding(prefix: String, utf8: Int, utf16: Int, utf32: Int) {
        let document = TextDocument("first line\n" + prefix + "x\n")
        let byteOffset = "first line\n".utf8.count + prefix.utf8.count
        for (encoding, character) in [(PositionEncoding.utf8, utf8), (.utf16, utf16), (.utf32, utf32)] {
            let position = Position(line: 1, character: character)
            #expect(document.offset(of: position, encoding: encoding) == byteOffset, "\(encoding)")
            #expect(document.position(of: byteOffset, encoding: encoding) == position, "\(encoding)")
        }
    }

    @Test func crlfLoneCRAndLFAllEndLines() {
        let document = TextDocument("ab\r\ncd\ref\ngh")
        #expect(document.lineCount == 4)
        for (line, offset) in [(0, 0), (1, 4), (2, 7), (3, 10)] {
            #expect(document.offset(of: Position(line: line, character: 0), encoding: .utf16) == offset)
            #expect(document.position(of: offset, encoding: .utf16) == Position(line: line, character: 0))
        }
        // The end of a CRLF line is before the "\r", and an offset between "\r" and "\n" is still that end.
        #expect(document.offset(of: Position(line: 0, character: 2), encoding: .utf16) == 2)
        #expect(document.position(of: 3, encoding: .utf16) == Position(line: 0, character: 2))
    }

    @Test func aTrailingLineEndingStartsAnEmptyLastLine() {
        #expect(TextDocument("a\r\n").lineCount == 2)
        #expect(TextDocument("a\n").lineCount == 2)
        #expect(TextDocument("").lineCount == 1)
        #expect(TextDocument("").offset(of: Position(line: 0, character: 5), encoding: .utf16) == 0)
    }

    @Test(arguments: PositionEncoding.allCases)
    func positionsPastTheEndAreClamped(encoding: PositionEncoding) {
        let document = TextDocument("a😀\r\n漢字\nlast")
        // Past the end of a line: the line's end, before its line ending (CRLF and LF alike).
        #expect(document.offset(of: Position(line: 0, character: 99), encoding: encoding) == "a😀".utf8.count)
        #expect(document.offset(of: Position(line: 1, character: 99), encoding: encoding) == "a😀\r\n漢字".utf8.count)
        // Past the last line: the end of the document.
        let end = document.bytes.count
        #expect(document.offset(of: Position(line: 3, character: 0), encoding: encoding) == end)
        #expect(document.offset(of: Position(line: 99, character: 99), encoding: encoding) == end)
        // Negative: 0.
        #expect(document.offset(of: Position(line: -1, character: -1), encoding: encoding) == 0)
        #expect(document.offset(of: Position(line: 1, character: -5), encoding: encoding) == "a😀\r\n".utf8.count)
        // Offsets out of the text clamp too.
        #expect(document.position(of: end + 10, encoding: encoding) == Position(line: 2, character: 4))
        #expect(document.position(of: -3, encoding: encoding) == Position(line: 0, character: 0))
    }

    /// The rule for a character inside one code point: it rounds down to the start of the code point.
    @Test func aCharacterInsideACodePointRoundsDownToItsStart() {
        let document = TextDocument("😀漢x")
        #expect(document.offset(of: Position(line: 0, character: 1), encoding: .utf16) == 0)  // inside 😀
        #expect(document.offset(of: Position(line: 0, character: 2), encoding: .utf16) == 4)  // after it
        for character in 1...3 {
            #expect(document.offset(of: Position(line: 0, character: character), encoding: .utf8) == 0)
        }
        #expect(document.offset(of: Position(line: 0, character: 5), encoding: .utf8) == 4)  // inside 漢
        #expect(document.offset(of: Position(line: 0, character: 7), encoding: .utf8) == 7)  // after it
        // A byte offset inside a code point also rounds down.
        #expect(document.position(of: 2, encoding: .utf16) == Position(line: 0, character: 0))
        #expect(document.position(of: 5, encoding: .utf32) == Position(line: 0, character: 1))
    }

    @Test(arguments: PositionEncoding.allCases)
    func everyCodePointBoundaryRoundTrips(encoding: PositionEncoding) {
        let text = "let s = \"😀 漢字 e\u{301}\"\r\n\tcafé\rlast 👩‍👩‍👧 line\n"
        let document = TextDocument(text)
        var offset = 0
        var previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            defer {
                offset += String(scalar).utf8.count
                previous = scalar
            }
            // Between the "\r" and "\n" of a CRLF is no position of its own: it is the end of the line.
            if previous == "\r" && scalar == "\n" {
                #expect(document.position(of: offset, encoding: encoding) == document.position(of: offset - 1, encoding: encoding))
                continue
            }
            let position = document.position(of: offset, encoding: encoding)
            #expect(document.offset(of: position, encoding: encoding) == offset, "offset \(offset) → \(position)")
        }
        #expect(document.offset(of: document.position(of: offset, encoding: encoding), encoding: encoding) == offset)
    }

    @Test func negotiationTakesTheClientsFirstSupportedEncoding() {
        func negotiate(_ capabilities: JSONValue?) -> PositionEncoding {
            PositionEncoding.negotiate(clientCapabilities: capabilities)
        }
        #expect(negotiate(["general": ["positionEncodings": ["utf-8", "utf-16"]]]) == .utf8)
        #expect(negotiate(["general": ["positionEncodings": ["utf-16", "utf-8"]]]) == .utf16)
        #expect(negotiate(["general": ["positionEncodings": ["utf-32"]]]) == .utf32)
        #expect(negotiate(["general": ["positionEncodings": ["utf-7", "utf-32"]]]) == .utf32)
        #expect(negotiate(["general": ["positionEncodings": ["utf-7"]]]) == .utf16)
        #expect(negotiate(["general": ["positionEncodings": []]]) == .utf16)
        #expect(negotiate(["general": ["positionEncodings": "utf-8"]]) == .utf16)
        #expect(negotiate([:]) == .utf16)
        #expect(negotiate(nil) == .utf16)
    }
}

@Suite("Edits")
struct EditTests {
    static let text = "let 😀 = \"漢字\"\r\nsecond line\nthird"

    @Test(arguments: PositionEncoding.allCases)
    func insert(encoding: PositionEncoding) {
        var document = TextDocument(Self.text)
        let at = position(line: 0, after: "let 😀", encoding)
        document.apply(change(at, at, "!"), encoding: encoding)
        #expect(document.text == "let 😀! = \"漢字\"\r\nsecond line\nthird")
        let end = position(line: 2, after: "third", encoding)
        document.apply(change(end, end, "\nfourth 😀"), encoding: encoding)
        #expect(document.text == "let 😀! = \"漢字\"\r\nsecond line\nthird\nfourth 😀")
        #expect(document.lineCount == 4)
    }

    @Test(arguments: PositionEncoding.allCases)
    func delete(encoding: PositionEncoding) {
        var document = TextDocument(Self.text)
        document.apply(
            change(position(line: 0, after: "let 😀 = \"", encoding), position(line: 0, after: "let 😀 = \"漢", encoding), ""),
            encoding: encoding)
        #expect(document.text == "let 😀 = \"字\"\r\nsecond line\nthird")
        document.apply(
            change(position(line: 0, after: "let ", encoding), position(line: 0, after: "let 😀", encoding), ""),
            encoding: encoding)
        #expect(document.text == "let  = \"字\"\r\nsecond line\nthird")
    }

    @Test(arguments: PositionEncoding.allCases)
    func replaceAcrossLines(encoding: PositionEncoding) {
        var document = TextDocument(Self.text)
        document.apply(
            change(position(line: 0, after: "let 😀 = \"漢", encoding), position(line: 2, after: "th", encoding), "😀\n字"),
            encoding: encoding)
        #expect(document.text == "let 😀 = \"漢😀\n字ird")
        #expect(document.lineCount == 2)
        #expect(document.position(of: document.bytes.count, encoding: encoding) == position(line: 1, after: "字ird", encoding))
    }

    @Test(arguments: PositionEncoding.allCases)
    func aChangeWithoutARangeReplacesTheWholeText(encoding: PositionEncoding) {
        var document = TextDocument(Self.text)
        document.apply(TextDocumentContentChangeEvent(text: "new\r\ntext"), encoding: encoding)
        #expect(document.text == "new\r\ntext")
        #expect(document.lineStarts == [0, 5])
    }

    @Test func endsInTheWrongOrderAreSwapped() {
        var document = TextDocument("abcdef")
        document.apply(change(Position(line: 0, character: 4), Position(line: 0, character: 1), "-"), encoding: .utf16)
        #expect(document.text == "a-ef")
    }

    /// An edit never splits a code point: a position inside one means its start.
    @Test func anEditInsideAnEmojiNeverSplitsIt() {
        var document = TextDocument("a😀b")
        // utf-16: an insertion between the emoji's two units goes before it.
        let inside = Position(line: 0, character: 2)
        document.apply(change(inside, inside, "!"), encoding: .utf16)
        #expect(document.text == "a!😀b")
        // Deleting from inside it to its end deletes all of it.
        document.apply(change(Position(line: 0, character: 3), Position(line: 0, character: 4), ""), encoding: .utf16)
        #expect(document.text == "a!b")
        // utf-8: a range wholly inside the emoji's four bytes is empty: nothing is deleted.
        document = TextDocument("a😀b")
        document.apply(change(Position(line: 0, character: 2), Position(line: 0, character: 4), ""), encoding: .utf8)
        #expect(document.text == "a😀b")
        // …and from inside one emoji to inside the next deletes the first whole, keeps the second.
        document = TextDocument("😀😀")
        document.apply(change(Position(line: 0, character: 1), Position(line: 0, character: 3), ""), encoding: .utf16)
        #expect(document.text == "😀")
    }

    @Test func lineEndingsJoinedOrSplitByAnEditAreReindexed() {
        // "\r" then an inserted "\n" become one CRLF line ending.
        var document = TextDocument("a\rb")
        document.apply(change(Position(line: 1, character: 0), Position(line: 1, character: 0), "\n"), encoding: .utf16)
        #expect(document.text == "a\r\nb")
        #expect(document.lineCount == 2)
        // Deleting a CRLF joins the lines.
        document.apply(change(Position(line: 0, character: 1), Position(line: 1, character: 0), ""), encoding: .utf16)
        #expect(document.text == "ab")
        #expect(document.lineCount == 1)
        // Deleting the "\n" of a CRLF by offset leaves a lone "\r", still a line ending.
        document = TextDocument("a\r\nb")
        document.replace(2..<3, with: "")
        #expect(document.lineStarts == [0, 2])
    }

    /// Many edits at pseudo-random places keep the line index equal to a fresh one.
    @Test func theLineIndexStaysExactThroughManyEdits() {
        var generator = SplitMix(seed: 42)
        let pieces = ["", "x", "\n", "\r", "\r\n", "😀", "漢", "e\u{301}", "ab\ncd", "\r\n\r\n"]
        var document = TextDocument("start\r\nof the\ntext\r")
        for _ in 0..<2000 {
            var scalarOffsets = [0]
            for scalar in document.text.unicodeScalars { scalarOffsets.append(scalarOffsets.last! + UTF8.width(scalar)) }
            let a = scalarOffsets[Int(generator.next() % UInt64(scalarOffsets.count))]
            let b = scalarOffsets[Int(generator.next() % UInt64(scalarOffsets.count))]
            let piece = pieces[Int(generator.next() % UInt64(pieces.count))]
            var expected = Array(document.text.utf8)
            expected.replaceSubrange(min(a, b)..<max(a, b), with: piece.utf8)
            document.replace(min(a, b)..<max(a, b), with: piece)
            #expect(document.bytes == expected)
            #expect(document.lineStarts == TextDocument(document.text).lineStarts)
            if document.bytes.count > 400 { document = TextDocument(String(document.text.suffix(50))) }
        }
    }
}

/// A small deterministic generator, so a failure reproduces.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
