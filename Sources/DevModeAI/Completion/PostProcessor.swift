import FoundationEssentials

public struct PostProcessOptions: Sendable, Hashable {
    /// Cut at the first of these (a model's end-of-text and sentinel tokens, say).
    public var stop: [String]
    /// Keep more than one line; nil: decide from the cursor (`PostProcessor.wantsMultiline`).
    public var multiline: Bool?
    /// The LSP language id, for comment and string syntax and Python's `:`.
    public var language: String?
    /// The most lines a multi-line completion keeps.
    public var maxLines: Int

    public init(stop: [String] = [], multiline: Bool? = nil, language: String? = nil, maxLines: Int = 20) {
        self.stop = stop
        self.multiline = multiline
        self.language = language
        self.maxLines = maxLines
    }
}

/// Turns what a model wrote at the cursor into what an editor should insert there.
///
/// In order: cut at the first stop sequence; drop an echo of the cursor's line; keep one line, or
/// for a multi-line completion the lines up to the end of the cursor's block (a dedent, `maxLines`,
/// or a line repeating the suffix's next line); cut at the first closing bracket that closes
/// nothing open before it (strings and comments skipped by a rough scanner); drop the end that the
/// rest of the cursor's line already has (`)`, `);`, `"`); trim line ends and trailing blank lines.
///
/// The prefix may be the whole document's: only its last line, and its last 16 KB for brackets, are
/// read. Brackets opened before that window are unknown, so a `}` closing nothing in the window is
/// kept when the window does not reach the start of the prefix.
public enum PostProcessor {
    static let bracketWindowBytes = 16 * 1024

    /// The completion to insert, or nil when nothing useful is left.
    public static func process(
        _ raw: String, prefix: String, suffix: String, options: PostProcessOptions = PostProcessOptions()
    ) -> String? {
        let syntax = LanguageSyntax.resolve(language: options.language, path: nil)
        let cursor = Cursor(prefix: prefix, suffix: suffix, syntax: syntax)

        var text = cutAtStop(raw, stops: options.stop)
        if let stripped = EchoStrip.strip(text, prefix: prefix, maxLines: 1) { text = stripped }

        var lines = Lines.split(text)
        guard !lines.isEmpty else { return nil }
        if options.multiline ?? cursor.wantsMultiline {
            lines = limitBlock(lines, cursor: cursor, maxLines: max(1, options.maxLines))
        } else {
            lines = [lines[0]]
        }
        text = Lines.trimmed(lines)

        let (prefixStack, prefixScanner, windowIsPartial) = prefixState(prefix, syntax: syntax)
        let balanced = balance(text, outer: prefixStack, scanner: prefixScanner, outerIsPartial: windowIsPartial)
        text = Lines.trimmed(Lines.split(balanced.text))
        text = dropSuffixOverlap(text, rest: cursor.rest, inner: balanced.inner)
        text = Lines.trimmed(Lines.split(text))
        return text.utf8.contains(where: { !Lines.isBlank($0) }) ? text : nil
    }

    /// Whether a completion at this cursor may span lines: the rest of the cursor's line is blank or
    /// only closing brackets (`;` and `,` allowed), and the cursor's line is blank or ends with a
    /// block opener (`{`, `(`, `[`, `=>`, `->`, the words `do` and `then`, and `:` in Python).
    public static func wantsMultiline(prefix: String, suffix: String, language: String?) -> Bool {
        Cursor(prefix: prefix, suffix: suffix, syntax: LanguageSyntax.resolve(language: language, path: nil)).wantsMultiline
    }

    // MARK: Steps

    static func cutAtStop(_ text: String, stops: [String]) -> String {
        var end = text.endIndex
        for stop in stops where !stop.isEmpty {
            if let range = text[..<end].firstRange(of: stop) { end = range.lowerBound }
        }
        return String(text[..<end])
    }

    /// The lines of a multi-line completion that belong at the cursor.
    static func limitBlock(_ lines: [Substring], cursor: Cursor, maxLines: Int) -> [Substring] {
        // Lines indented less than this have left the cursor's block.
        let blockIndent = cursor.lineIsBlank || !cursor.endsWithOpener ? cursor.indent : cursor.indent + 1
        var out: [Substring] = []
        for (n, line) in lines.enumerated() {
            if out.count >= maxLines { break }
            let blank = line.utf8.allSatisfy(Lines.isBlank)
            if n == 0 {
                // On a blank line the first line is a whole line too.
                if cursor.lineIsBlank, !blank, let next = cursor.next, Lines.trim(line) == next.text { break }
                out.append(line)
                continue
            }
            if blank {
                out.append(line)
                continue
            }
            let indent = Lines.indentation(line)
            let closer = Lines.isCloserLine(line)
            if let next = cursor.next, Lines.trim(line) == next.text {
                // A closing line repeats the suffix's only where it closes the same block.
                if !closer || next.isRestOfLine || indent == next.indent { break }
            }
            if indent < blockIndent {
                // The block's own closing line, which the suffix does not have: keep it, and end.
                if closer { out.append(line) }
                break
            }
            out.append(line)
        }
        return out
    }

    /// The brackets open at the end of the prefix (innermost last) and the scanner's state there,
    /// from its last `bracketWindowBytes` (starting at a line); whether that window is partial.
    static func prefixState(_ prefix: String, syntax: LanguageSyntax) -> ([UInt8], CodeScanner, Bool) {
        var scanner = CodeScanner(syntax: syntax)
        var stack: [UInt8] = []
        var copy = prefix
        let partial = copy.withUTF8 { s -> Bool in
            var start = max(0, s.count - bracketWindowBytes)
            if start > 0 {
                while start < s.count, s[start - 1] != 0x0A { start += 1 }
            }
            _ = scanner.scan(s, from: start) { event, _ in
                switch event {
                case .open(let b): stack.append(b)
                case .close(let b): if let top = stack.last, CodeScanner.closes(b, top) { stack.removeLast() }
                case .stringOpened, .stringClosed: break
                }
                return true
            }
            return start > 0
        }
        return (stack, scanner, partial)
    }

    /// `text` up to its first closing bracket that closes nothing (open in `text`, or open in the
    /// prefix: `outer`), and which bytes close a bracket or string that `text` itself opened.
    static func balance(_ text: String, outer: [UInt8], scanner: CodeScanner, outerIsPartial: Bool) -> (text: String, inner: [Bool]) {
        var scanner = scanner
        var outer = outer
        var local: [UInt8] = []
        var bytes = Array(text.utf8)
        var inner = [Bool](repeating: false, count: bytes.count)
        var stringOpenedInside = false
        let cut = bytes.withUnsafeBufferPointer { s in
            scanner.scan(s, from: 0) { event, i in
                switch event {
                case .open(let b):
                    local.append(b)
                case .close(let b):
                    if let top = local.last {
                        guard CodeScanner.closes(b, top) else { return false }
                        local.removeLast()
                        inner[i] = true
                    } else if let top = outer.last {
                        guard CodeScanner.closes(b, top) else { return false }
                        outer.removeLast()
                    } else if !(outerIsPartial && b == UInt8(ascii: "}")) {
                        return false
                    }
                case .stringOpened:
                    stringOpenedInside = true
                case .stringClosed(let length):
                    if stringOpenedInside { for k in i..<min(i + length, inner.count) { inner[k] = true } }
                    stringOpenedInside = false
                }
                return true
            }
        }
        guard let cut else { return (text, inner) }
        bytes.removeSubrange(cut...)
        inner.removeSubrange(cut...)
        return (String(decoding: bytes, as: UTF8.self), inner)
    }

    /// `text` without the longest end that the rest of the cursor's line starts with, unless that
    /// end closes something `text` opened itself (`foo()` before `)` keeps its `)`), or the overlap
    /// would split a word.
    static func dropSuffixOverlap(_ text: String, rest: Substring, inner: [Bool]) -> String {
        let c = Array(text.utf8)
        let r = Array(rest.utf8)
        let lastLineStart = (c.lastIndex(of: 0x0A) ?? -1) + 1
        for k in stride(from: min(c.count - lastLineStart, r.count), through: 1, by: -1) {
            let start = c.count - k
            if k < r.count, r[k] & 0xC0 == 0x80 { continue }
            guard c[start...].elementsEqual(r[..<k]) else { continue }
            if start > 0, Lexer.isIdentifierPart(c[start - 1]), Lexer.isIdentifierPart(c[start]) { continue }
            if k < r.count, Lexer.isIdentifierPart(r[k - 1]), Lexer.isIdentifierPart(r[k]) { continue }
            if start < inner.count, inner[start..<min(c.count, inner.count)].contains(true) { continue }
            return String(decoding: c[..<start], as: UTF8.self)
        }
        return text
    }
}

// MARK: - The cursor

/// What the post-processor needs to know about the place the completion goes.
struct Cursor {
    /// The prefix's last line (up to the cursor).
    var line: Substring
    var indent: Int
    var lineIsBlank: Bool
    var endsWithOpener: Bool
    /// The suffix up to its first newline.
    var rest: Substring
    var restIsBlankOrClosers: Bool
    /// The first non-blank line from the cursor on, trimmed: the rest of the cursor's line, or a
    /// later line of the suffix.
    var next: (text: Substring, indent: Int, isRestOfLine: Bool)?

    var wantsMultiline: Bool { restIsBlankOrClosers && (lineIsBlank || endsWithOpener) }

    init(prefix: String, suffix: String, syntax: LanguageSyntax) {
        let u = prefix.utf8
        var start = u.endIndex
        while start > u.startIndex {
            let before = u.index(before: start)
            if u[before] == 0x0A { break }
            start = before
        }
        line = prefix[start...]
        indent = Lines.indentation(line)
        lineIsBlank = line.utf8.allSatisfy(Lines.isBlank)
        endsWithOpener = !lineIsBlank && Cursor.endsWithOpener(line, syntax: syntax)

        // The first 64 lines are plenty to find the next non-blank one.
        var suffixLines = suffix.utf8.split(separator: 0x0A, maxSplits: 64, omittingEmptySubsequences: false)
            .prefix(64).map { Substring($0) }
        if suffixLines.isEmpty { suffixLines = [suffix[...]] }
        rest = suffixLines[0]
        if rest.utf8.last == 0x0D { rest = rest.dropLast() }
        restIsBlankOrClosers = rest.utf8.allSatisfy { Lines.isBlank($0) || Lines.isCloserByte($0) }
        next = nil
        for (n, candidate) in suffixLines.enumerated() where !candidate.utf8.allSatisfy(Lines.isBlank) {
            next = (Lines.trim(candidate), Lines.indentation(candidate), n == 0)
            break
        }
    }

    static func endsWithOpener(_ line: Substring, syntax: LanguageSyntax) -> Bool {
        var t = Array(line.utf8)
        while let last = t.last, Lines.isBlank(last) { t.removeLast() }
        guard let last = t.last else { return false }
        if last == UInt8(ascii: "{") || last == UInt8(ascii: "(") || last == UInt8(ascii: "[") { return true }
        if syntax.colonOpensBlock, last == UInt8(ascii: ":") { return true }
        func endsWith(_ s: String, word: Bool) -> Bool {
            let w = Array(s.utf8)
            guard t.count >= w.count, t[(t.count - w.count)...].elementsEqual(w) else { return false }
            return !word || t.count == w.count || !Lexer.isIdentifierPart(t[t.count - w.count - 1])
        }
        return endsWith("=>", word: false) || endsWith("->", word: false) || endsWith("do", word: true)
            || endsWith("then", word: true)
    }
}

// MARK: - Lines

enum Lines {
    @inline(__always) static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }
    @inline(__always) static func isCloserByte(_ b: UInt8) -> Bool {
        b == UInt8(ascii: ")") || b == UInt8(ascii: "]") || b == UInt8(ascii: "}") || b == UInt8(ascii: ";")
            || b == UInt8(ascii: ",")
    }

    /// The lines of `text`, split at `\n`, without their `\r`.
    static func split(_ text: String) -> [Substring] {
        text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { piece in
            var line = Substring(piece)
            if line.utf8.last == 0x0D { line = line.dropLast() }
            return line
        }
    }

    /// The lines joined, each without trailing blanks, without trailing blank lines.
    static func trimmed(_ lines: [Substring]) -> String {
        var out = lines.map { line -> Substring in
            var u = line.utf8[...]
            while let last = u.last, isBlank(last) { u = u.dropLast() }
            return Substring(u)
        }
        while out.count > 1, let last = out.last, last.isEmpty { out.removeLast() }
        return out.joined(separator: "\n")
    }

    static func trim(_ line: Substring) -> Substring {
        var u = line.utf8[...]
        while let first = u.first, isBlank(first) { u = u.dropFirst() }
        while let last = u.last, isBlank(last) { u = u.dropLast() }
        return Substring(u)
    }

    /// Leading blanks in columns, a tab counting 4.
    static func indentation<S: StringProtocol>(_ line: S) -> Int {
        var columns = 0
        for b in line.utf8 {
            if b == 0x20 { columns += 1 } else if b == 0x09 { columns += 4 } else { break }
        }
        return columns
    }

    /// A line of closing brackets only (`}`, `});`, `],`), or a lone `end`.
    static func isCloserLine(_ line: Substring) -> Bool {
        let t = trim(line)
        if t == "end" { return true }
        guard let first = t.utf8.first, first == UInt8(ascii: ")") || first == UInt8(ascii: "]") || first == UInt8(ascii: "}")
        else { return false }
        return t.utf8.allSatisfy { isCloserByte($0) || isBlank($0) }
    }
}

// MARK: - Echoes

/// Models (chat models above all) often start by repeating what is already before the cursor.
enum EchoStrip {
    /// `text` without an echo of the prefix's last `maxLines` lines (the current line included), or
    /// nil when `text` does not start with one. The longest echo wins; leading whitespace of `text`
    /// and the ends of the echoed lines are ignored, and an echo needs 3 non-blank bytes at least.
    /// The whitespace after the echo is dropped as far as the prefix already has it.
    static func strip(_ text: String, prefix: String, maxLines: Int) -> String? {
        var body = text.utf8[...]
        while let first = body.first, isSpace(first) { body = body.dropFirst() }
        guard !body.isEmpty else { return nil }

        let u = prefix.utf8
        var starts: [String.Index] = []
        var i = u.endIndex
        var scanned = 0
        while starts.count < maxLines, scanned < 4096 {
            if i == u.startIndex {
                starts.append(i)
                break
            }
            let before = u.index(before: i)
            if u[before] == 0x0A { starts.append(i) }
            i = before
            scanned += 1
        }
        for start in starts.reversed() {
            let tail = prefix[start...].utf8
            var echo = tail[...]
            while let first = echo.first, isSpace(first) { echo = echo.dropFirst() }
            var echoEnd = echo.endIndex
            while echoEnd > echo.startIndex, isSpace(echo[echo.index(before: echoEnd)]) { echoEnd = echo.index(before: echoEnd) }
            echo = echo[..<echoEnd]
            guard echo.filter({ !isSpace($0) }).count >= 3, body.starts(with: echo) else { continue }
            let whitespace = Array(tail[echoEnd...])
            var rest = Array(body.dropFirst(echo.count))
            // After `return ` a completion `returnValue` is a word of its own, not an echo; with the
            // cursor right after `val`, `let x = value` is one.
            if !whitespace.isEmpty, let last = echo.last, Lexer.isIdentifierPart(last), let next = rest.first,
                Lexer.isIdentifierPart(next)
            {
                continue
            }
            if rest.starts(with: whitespace) {
                rest.removeFirst(whitespace.count)
            } else if let newline = whitespace.lastIndex(of: 0x0A) {
                // The prefix ends on a fresh line indented by `indent`.
                let indent = whitespace.count - newline - 1
                let leading = rest.prefix(while: isSpace)
                if let lastNewline = leading.lastIndex(of: 0x0A) {
                    rest.removeFirst(lastNewline + 1)
                    rest.removeFirst(min(indent, rest.prefix(while: Lines.isBlank).count))
                } else {
                    rest.removeFirst(leading.count)
                }
            } else {
                rest.removeFirst(min(whitespace.count, rest.prefix(while: Lines.isBlank).count))
            }
            return String(decoding: rest, as: UTF8.self)
        }
        return nil
    }

    @inline(__always) static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
}

// MARK: - Scanning code

/// A rough, language-aware scanner that reports brackets outside strings and comments. It knows line
/// and block comments, `"`/`'`/backtick strings with backslash escapes, and triple-quoted strings;
/// not regex literals, raw strings or interpolation. Its state carries over between calls, so a
/// completion is scanned in the state the prefix ended in.
struct CodeScanner {
    enum Mode: Equatable {
        case code, lineComment, blockComment
        case string(quote: UInt8, triple: Bool)
    }

    enum Event {
        case open(UInt8), close(UInt8)
        case stringOpened
        case stringClosed(length: Int)
    }

    var mode: Mode = .code
    let syntax: LanguageSyntax
    private let lineComments: [[UInt8]]
    private let blockOpen: [UInt8]
    private let blockClose: [UInt8]
    /// Bytes that can start a bracket, a string or a comment in code; the rest are skipped at once.
    private let special: [Bool]

    init(syntax: LanguageSyntax) {
        self.syntax = syntax
        lineComments = syntax.lineComments.map { Array($0.utf8) }
        blockOpen = Array((syntax.blockComment?.open ?? "").utf8)
        blockClose = Array((syntax.blockComment?.close ?? "").utf8)
        var special = [Bool](repeating: false, count: 256)
        for b in "()[]{}\"'`".utf8 { special[Int(b)] = true }
        for marker in lineComments + [blockOpen] { if let first = marker.first { special[Int(first)] = true } }
        self.special = special
    }

    static func closes(_ closer: UInt8, _ opener: UInt8) -> Bool {
        switch closer {
        case UInt8(ascii: ")"): opener == UInt8(ascii: "(")
        case UInt8(ascii: "]"): opener == UInt8(ascii: "[")
        case UInt8(ascii: "}"): opener == UInt8(ascii: "{")
        default: false
        }
    }

    @inline(__always) private static func matches(_ s: UnsafeBufferPointer<UInt8>, _ i: Int, _ marker: [UInt8]) -> Bool {
        guard !marker.isEmpty, i + marker.count <= s.count else { return false }
        for k in 0..<marker.count where s[i + k] != marker[k] { return false }
        return true
    }

    private func isQuote(_ s: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        switch s[i] {
        case UInt8(ascii: "\""): return true
        case UInt8(ascii: "`"): return syntax.backtickStrings
        case UInt8(ascii: "'"):
            guard syntax.singleQuoteStrings else { return false }
            // `don't`, Haskell's `foldl'`: a quote after a word character is not a string.
            if i > 0, Lexer.isIdentifierPart(s[i - 1]) { return false }
            if syntax.lifetimes, i + 2 < s.count, Lexer.isIdentifierStart(s[i + 1]), s[i + 2] != UInt8(ascii: "'") {
                return false
            }
            return true
        default: return false
        }
    }

    /// Scans `s[from...]`, reporting events to `visit` until it returns false; the position it
    /// stopped at, or nil at the end.
    mutating func scan(_ s: UnsafeBufferPointer<UInt8>, from: Int, _ visit: (Event, Int) -> Bool) -> Int? {
        var i = from
        let n = s.count
        while i < n {
            let b = s[i]
            switch mode {
            case .lineComment:
                if b == 0x0A { mode = .code }
                i += 1
            case .blockComment:
                if CodeScanner.matches(s, i, blockClose) {
                    mode = .code
                    i += blockClose.count
                } else {
                    i += 1
                }
            case .string(let quote, let triple):
                if b == UInt8(ascii: "\\") {
                    i += 2
                } else if b == quote, !triple || (i + 2 < n && s[i + 1] == quote && s[i + 2] == quote) {
                    mode = .code
                    if !visit(.stringClosed(length: triple ? 3 : 1), i) { return i }
                    i += triple ? 3 : 1
                } else {
                    // A one-line string ends at the line's end even when unterminated.
                    if b == 0x0A, !triple, quote != UInt8(ascii: "`") { mode = .code }
                    i += 1
                }
            case .code:
                if !special[Int(b)] {
                    i += 1
                } else if let marker = lineComments.first(where: { CodeScanner.matches(s, i, $0) }) {
                    mode = .lineComment
                    i += marker.count
                } else if CodeScanner.matches(s, i, blockOpen) {
                    mode = .blockComment
                    i += blockOpen.count
                } else if isQuote(s, i) {
                    let triple = syntax.tripleQuotedStrings && i + 2 < n && s[i + 1] == b && s[i + 2] == b
                    mode = .string(quote: b, triple: triple)
                    if !visit(.stringOpened, i) { return i }
                    i += triple ? 3 : 1
                } else {
                    switch b {
                    case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"):
                        if !visit(.open(b), i) { return i }
                    case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"):
                        if !visit(.close(b), i) { return i }
                    default:
                        break
                    }
                    i += 1
                }
            }
        }
        return nil
    }
}
