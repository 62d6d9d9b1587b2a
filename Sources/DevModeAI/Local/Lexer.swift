import FoundationEssentials

/// The kinds of token the completion model sees.
enum TokenKind: UInt8, Sendable {
    case identifier, number, punctuation, space, newline, indent
}

struct LexedToken: Sendable {
    var text: String
    var kind: TokenKind
}

/// A small, language-agnostic lexer over UTF-8: identifiers (any non-ASCII scalar counts as an
/// identifier character, and `@`/`#` attach to a following identifier), numbers, common
/// multi-character operators, single punctuation, and explicit whitespace: a newline token, an
/// indentation token for a line's leading blanks, and a token for each inner run of blanks.
/// Strings and comments are not special: their contents lex as words, blanks and punctuation.
enum Lexer {
    private static let operators: [[UInt8]] = [
        "\"\"\"", "...", "..<", "->", "==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "*=", "/=", "??", "//", "=>", "::",
    ].map { Array($0.utf8) }

    @inline(__always) static func isIdentifierStart(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == 0x5F || b == 0x24 || b >= 0x80
    }
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    @inline(__always) static func isIdentifierPart(_ b: UInt8) -> Bool { isIdentifierStart(b) || isDigit(b) }
    @inline(__always) static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }

    static func lex(_ text: String) -> [LexedToken] {
        var out: [LexedToken] = []
        var copy = text
        copy.withUTF8 { buffer in lex(buffer, into: &out) }
        return out
    }

    static func lex(_ s: UnsafeBufferPointer<UInt8>, into out: inout [LexedToken]) {
        let n = s.count
        var i = 0
        var atLineStart = true
        func text(_ a: Int, _ b: Int) -> String { String(decoding: UnsafeBufferPointer(rebasing: s[a..<b]), as: UTF8.self) }
        while i < n {
            let b = s[i]
            if b == 0x0D { i += 1; continue }
            if b == 0x0A {
                out.append(LexedToken(text: "\n", kind: .newline))
                i += 1
                atLineStart = true
                continue
            }
            if isBlank(b) {
                let start = i
                while i < n, isBlank(s[i]) { i += 1 }
                out.append(LexedToken(text: text(start, i), kind: atLineStart ? .indent : .space))
                atLineStart = false
                continue
            }
            atLineStart = false
            if isIdentifierStart(b) || ((b == 0x40 || b == 0x23) && i + 1 < n && isIdentifierStart(s[i + 1])) {
                let start = i
                i += 1
                while i < n, isIdentifierPart(s[i]) { i += 1 }
                out.append(LexedToken(text: text(start, i), kind: .identifier))
                continue
            }
            if isDigit(b) {
                let start = i
                i += 1
                while i < n, isIdentifierPart(s[i]) || (s[i] == 0x2E && i + 1 < n && isDigit(s[i + 1])) { i += 1 }
                out.append(LexedToken(text: text(start, i), kind: .number))
                continue
            }
            var length = 1
            for op in operators where op.count <= n - i && op.count > length {
                var match = true
                for k in 0..<op.count where s[i + k] != op[k] { match = false; break }
                if match { length = op.count }
            }
            out.append(LexedToken(text: text(i, i + length), kind: .punctuation))
            i += length
        }
    }
}
