import FoundationEssentials
import Synchronization

/// Another open document or a related project file, offered to the context builder as a source of
/// snippets.
public struct ContextSource: Sendable, Hashable {
    public var path: String
    public var text: String
    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}

/// A window of a related source that made it into the prompt.
public struct ContextSnippet: Sendable, Hashable {
    public var path: String
    /// The window's lines as they are in the source (not commented out).
    public var text: String
    /// Jaccard similarity (0…1) of the window's identifiers and those of the lines before the cursor.
    public var score: Double
    public init(path: String, text: String, score: Double) {
        self.path = path
        self.text = text
        self.score = score
    }
}

/// What a completion model is shown.
public struct CompletionContext: Sendable, Hashable {
    /// Header + snippets (as comments in the file's language) + the trimmed prefix: what goes
    /// before the hole.
    public var prefix: String
    /// The trimmed suffix.
    public var suffix: String
    /// The trimmed document prefix alone (no header, no snippets), for cache keys and post-processing.
    public var rawPrefixTail: String
    /// The snippets in `prefix`, best first (the prompt lists them best last, nearest the code).
    public var snippets: [ContextSnippet]
    /// `TokenEstimate` of `prefix` and `suffix` together; never above the budget.
    public var estimatedTokens: Int

    public init(prefix: String, suffix: String, rawPrefixTail: String, snippets: [ContextSnippet], estimatedTokens: Int) {
        self.prefix = prefix
        self.suffix = suffix
        self.rawPrefixTail = rawPrefixTail
        self.snippets = snippets
        self.estimatedTokens = estimatedTokens
    }
}

/// A cheap token estimate: UTF-8 bytes / 3.5, rounded up. O(1) on native strings, so trimming can
/// work in bytes. BPE tokenizers of code models average about 3.5–4.5 bytes a token on source code
/// (less for deep indentation, whose runs of blanks merge), and a CJK character (3 bytes) is about one
/// token, so this errs on the side of overestimating: a context built within a budget fits it.
public enum TokenEstimate {
    public static func count(_ text: String) -> Int { count(utf8Bytes: text.utf8.count) }

    public static func count(utf8Bytes: Int) -> Int { utf8Bytes <= 0 ? 0 : (utf8Bytes * 2 + 6) / 7 }

    /// The most bytes whose estimate stays within `tokens`.
    public static func utf8Bytes(forTokens tokens: Int) -> Int { tokens <= 0 ? 0 : tokens * 7 / 2 }
}

/// Builds the text a completion model sees around the cursor, within a token budget.
///
/// The budget (after a one-line header naming the file) is shared out as: the suffix up to 15%,
/// snippets from related sources up to 15% (more when the whole prefix fits), the prefix the rest
/// (about 70%, more when the suffix or the snippets need less). The prefix keeps its end and the
/// suffix its start; both are cut at line boundaries, or mid-line at a character boundary when a
/// single line is longer than half their share.
///
/// Snippets follow Copilot's "neighbor tabs": related sources are split into overlapping windows of
/// 20 lines, ranked by the Jaccard similarity of their identifier sets with the last 20 lines before
/// the cursor. Each source's windows are indexed once (identifier → windows) and kept in a bounded
/// process-wide cache, reused while the source's text is unchanged, so a call reads only the end
/// of the prefix, the start of the suffix and the postings of the query's identifiers.
public enum ContextBuilder {
    /// Lines per snippet window, and the step between window starts (windows overlap by half).
    static let windowLines = 20
    static let windowStep = 10
    /// A window cut to fit the budget must keep this many lines to be worth including.
    static let minimumLines = 5
    /// Lines before the cursor whose identifiers make the snippet query (at most `queryBytes`).
    static let queryLines = 20
    static let queryBytes = 4096
    /// Windows less similar than this are not worth their tokens.
    static let minimumScore = 0.05

    public static func build(
        prefix: String, suffix: String, path: String?, language: String?, related: [ContextSource], budgetTokens: Int,
        maxSnippets: Int = 4
    ) -> CompletionContext {
        let total = TokenEstimate.utf8Bytes(forTokens: budgetTokens)
        let syntax = LanguageSyntax.resolve(language: language, path: path)

        var header = ""
        if let path, !path.isEmpty {
            header = syntax.comment("Path: \(path)")
        } else if let language, !language.isEmpty {
            header = syntax.comment("Language: \(language)")
        }
        // A header that would eat more than a tenth of a tiny budget is not worth it.
        if header.utf8.count * 10 > total { header = "" }
        let available = total - header.utf8.count

        let trimmedSuffix = TextCut.head(suffix, maxBytes: available * 15 / 100)
        let suffixBytes = trimmedSuffix.utf8.count

        var snippetShare = available * 15 / 100
        let leftover = available - suffixBytes - prefix.utf8.count
        if leftover > snippetShare { snippetShare = leftover }
        let (snippets, snippetText) = selectSnippets(
            prefix: prefix, path: path, syntax: syntax, related: related, budgetBytes: snippetShare,
            maxSnippets: maxSnippets)

        let trimmedPrefix = TextCut.tail(prefix, maxBytes: available - suffixBytes - snippetText.utf8.count)
        let rawPrefixTail = String(trimmedPrefix)
        let fullPrefix = header + snippetText + rawPrefixTail
        return CompletionContext(
            prefix: fullPrefix, suffix: String(trimmedSuffix), rawPrefixTail: rawPrefixTail, snippets: snippets,
            estimatedTokens: TokenEstimate.count(utf8Bytes: fullPrefix.utf8.count + suffixBytes))
    }

    // MARK: Snippets

    private struct Candidate {
        var score: Double
        var source: Int
        var window: Int
    }

    private static func selectSnippets(
        prefix: String, path: String?, syntax: LanguageSyntax, related: [ContextSource], budgetBytes: Int, maxSnippets: Int
    ) -> ([ContextSnippet], String) {
        guard maxSnippets > 0, budgetBytes > 0, !related.isEmpty else { return ([], "") }
        var seen = Set<String>()
        let sources = related.filter { $0.path != path && !$0.text.isEmpty && seen.insert($0.path).inserted }
        guard !sources.isEmpty else { return ([], "") }

        let query = queryIdentifiers(prefix)
        guard !query.isEmpty else { return ([], "") }
        let indexes = SnippetIndexCache.indexes(for: sources)

        // The best few candidates, best first (ties: earlier source, earlier window).
        let keep = 4 * maxSnippets
        var best: [Candidate] = []
        func better(_ a: Candidate, _ b: Candidate) -> Bool {
            a.score != b.score ? a.score > b.score : a.source != b.source ? a.source < b.source : a.window < b.window
        }
        for (s, index) in indexes.enumerated() where !index.windows.isEmpty {
            var shared = [Int32](repeating: 0, count: index.windows.count)
            shared.withUnsafeMutableBufferPointer { shared in
                for id in query {
                    guard let windows = index.postings[id] else { continue }
                    windows.withUnsafeBufferPointer { for w in $0 { shared[Int(w)] &+= 1 } }
                }
            }
            for w in shared.indices where shared[w] > 0 {
                let both = Double(shared[w])
                let score = both / (Double(query.count + index.windows[w].identifiers) - both)
                guard score >= minimumScore else { continue }
                let candidate = Candidate(score: score, source: s, window: w)
                if best.count == keep {
                    guard better(candidate, best[keep - 1]) else { continue }
                    best.removeLast()
                }
                let at = best.firstIndex { better(candidate, $0) } ?? best.count
                best.insert(candidate, at: at)
            }
        }

        var chosen: [(snippet: ContextSnippet, text: String, source: Int, range: Range<Int>)] = []
        var remaining = budgetBytes
        for candidate in best {
            if chosen.count == maxSnippets { break }
            let index = indexes[candidate.source]
            let window = index.windows[candidate.window]
            let range = window.start..<window.end
            if chosen.contains(where: { $0.source == candidate.source && $0.range.overlaps(range) }) { continue }
            let path = sources[candidate.source].path
            var block = syntax.comment("Compare this snippet from \(path):")
            var kept: [Substring] = []
            let lines = index.lines(of: window)
            // A window longer than the budget left keeps its first lines, if enough of them fit.
            for line in lines {
                let commented = syntax.comment(String(line))
                if block.utf8.count + commented.utf8.count > remaining { break }
                block += commented
                kept.append(line)
            }
            guard kept.count >= min(minimumLines, lines.count), !kept.isEmpty else { continue }
            remaining -= block.utf8.count
            let snippet = ContextSnippet(path: path, text: kept.joined(separator: "\n"), score: candidate.score)
            chosen.append((snippet, block, candidate.source, range))
        }
        // Best last: nearest the code the model continues.
        return (chosen.map(\.snippet), chosen.reversed().map(\.text).joined())
    }

    /// The identifiers of the last `queryLines` lines before the cursor.
    static func queryIdentifiers(_ prefix: String) -> Set<UInt64> {
        var copy = prefix
        return copy.withUTF8 { s in
            var start = s.count
            var newlines = 0
            let floor = max(0, s.count - queryBytes)
            while start > floor {
                if s[start - 1] == 0x0A {
                    newlines += 1
                    if newlines == queryLines { break }
                }
                start -= 1
            }
            var ids = Set<UInt64>()
            Identifiers.forEach(in: s, from: start, to: s.count) { ids.insert($0) }
            return ids
        }
    }
}

// MARK: - Identifiers

/// Identifier scanning for snippet ranking: the `Lexer`'s identifier rules, FNV-1a hashes, no
/// numbers, no one-letter names, and no keywords common to the usual languages (they say nothing
/// about what a window is about).
enum Identifiers {
    static let stopWords: Set<UInt64> = Set(
        [
            "if", "else", "for", "while", "return", "let", "var", "const", "func", "function", "def", "class", "struct",
            "enum", "import", "from", "in", "of", "is", "as", "and", "or", "not", "true", "false", "nil", "null", "None",
            "True", "False", "self", "Self", "this", "new", "public", "private", "static", "void", "int", "case", "switch",
            "break", "continue", "try", "catch", "throw", "throws", "async", "await", "package", "type", "interface",
            "extends", "implements", "with", "pass", "lambda", "yield", "do", "then", "end", "fn", "pub", "mut", "impl",
            "use", "mod", "go", "defer", "range", "guard", "where", "final", "override", "internal", "protocol",
            "extension", "init", "export", "default", "undefined", "string", "err", "elif", "the", "to", "at",
        ].map { hash(Array($0.utf8)[...]) })

    @inline(__always) static func hash(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    static func forEach(in s: UnsafeBufferPointer<UInt8>, from: Int, to: Int, _ body: (UInt64) -> Void) {
        var i = from
        while i < to {
            let b = s[i]
            if Lexer.isIdentifierStart(b) {
                let start = i
                var h: UInt64 = 0xcbf2_9ce4_8422_2325
                while i < to, Lexer.isIdentifierPart(s[i]) {
                    h = (h ^ UInt64(s[i])) &* 0x100_0000_01b3
                    i += 1
                }
                if i - start >= 2, !stopWords.contains(h) { body(h) }
            } else if Lexer.isDigit(b) {
                while i < to, Lexer.isIdentifierPart(s[i]) { i += 1 }
            } else {
                i += 1
            }
        }
    }
}

// MARK: - Snippet index

/// A related source cut into windows, with an inverted index from identifier to windows.
struct IndexedSource: Sendable {
    struct Window: Sendable {
        /// UTF-8 offsets of the window's first byte and of the end of its last line.
        var start: Int
        var end: Int
        /// Distinct identifiers in the window.
        var identifiers: Int
    }

    let text: String
    let windows: [Window]
    let postings: [UInt64: [Int32]]

    init(_ text: String) {
        self.text = text
        var windows: [Window] = []
        var postings: [UInt64: [Int32]] = [:]
        var copy = text
        copy.withUTF8 { s in
            var lineStarts: [Int] = []
            if s.count > 0 { lineStarts.append(0) }
            for i in 0..<s.count where s[i] == 0x0A && i + 1 < s.count { lineStarts.append(i + 1) }
            let lineCount = lineStarts.count
            guard lineCount > 0 else { return }
            var starts: [Int] = []
            var first = 0
            while first + ContextBuilder.windowLines < lineCount {
                starts.append(first)
                first += ContextBuilder.windowStep
            }
            starts.append(max(0, lineCount - ContextBuilder.windowLines))
            var ids = Set<UInt64>()
            for lineStart in starts {
                let lineEnd = min(lineCount, lineStart + ContextBuilder.windowLines)
                let from = lineStarts[lineStart]
                let to = lineEnd < lineCount ? lineStarts[lineEnd] : s.count
                ids.removeAll(keepingCapacity: true)
                Identifiers.forEach(in: s, from: from, to: to) { ids.insert($0) }
                let w = Int32(windows.count)
                for id in ids { postings[id, default: []].append(w) }
                windows.append(Window(start: from, end: to, identifiers: ids.count))
            }
        }
        self.windows = windows
        self.postings = postings
    }

    /// The window's lines without line-end whitespace and trailing blank lines.
    func lines(of window: Window) -> [Substring] {
        let u = text.utf8
        let a = u.index(u.startIndex, offsetBy: window.start)
        let b = u.index(u.startIndex, offsetBy: window.end)
        var lines = text[a..<b].utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
            var line = line[...]
            while let last = line.last, last == 0x20 || last == 0x09 || last == 0x0D { line = line.dropLast() }
            return Substring(line)
        }
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        return lines
    }
}

/// Indexed sources by path and length, least recently used out first, bounded in entries and
/// bytes. An entry is used only when its text equals the caller's (`==` is O(1) for the same
/// string storage), and every snippet is cut from that text, so sources from other sessions with
/// the same path never leak into a context.
struct SnippetIndexCache {
    static let shared = Mutex(SnippetIndexCache())
    static let maxEntries = 256
    static let maxBytes = 64 << 20

    struct Key: Hashable {
        var path: String
        var length: Int
    }

    var entries: [Key: (index: IndexedSource, used: UInt64)] = [:]
    var clock: UInt64 = 0
    var bytes = 0

    static func indexes(for sources: [ContextSource]) -> [IndexedSource] {
        let keys = sources.map { Key(path: $0.path, length: $0.text.utf8.count) }
        let cached: [IndexedSource?] = shared.withLock { cache in
            cache.clock += 1
            return keys.map { key in
                guard let entry = cache.entries[key] else { return nil }
                cache.entries[key]?.used = cache.clock
                return entry.index
            }
        }
        var result: [IndexedSource] = []
        var built: [(Key, IndexedSource)] = []
        for (i, source) in sources.enumerated() {
            if let index = cached[i], index.text == source.text {
                result.append(index)
            } else {
                let index = IndexedSource(source.text)
                result.append(index)
                built.append((keys[i], index))
            }
        }
        if !built.isEmpty {
            shared.withLock { cache in
                for (key, index) in built { cache.insert(index, for: key) }
            }
        }
        return result
    }

    mutating func insert(_ index: IndexedSource, for key: Key) {
        clock += 1
        if let old = entries.updateValue((index, clock), forKey: key) { bytes -= old.index.text.utf8.count }
        bytes += index.text.utf8.count
        while entries.count > Self.maxEntries || (bytes > Self.maxBytes && entries.count > 1) {
            guard let oldest = entries.min(by: { $0.value.used < $1.value.used }) else { break }
            entries.removeValue(forKey: oldest.key)
            bytes -= oldest.value.index.text.utf8.count
        }
    }
}

// MARK: - Cutting text

/// Cuts at line boundaries, or at a Character boundary when a line is too long to keep whole.
enum TextCut {
    /// The longest tail of `text` within `maxBytes` UTF-8 bytes that starts at a line start; when
    /// that would keep less than half of `maxBytes` (a very long line), the longest tail that starts
    /// at a Character boundary.
    static func tail(_ text: String, maxBytes: Int) -> Substring {
        let u = text.utf8
        let n = u.count
        if n <= maxBytes { return text[...] }
        if maxBytes <= 0 { return text[text.endIndex...] }
        let cut = u.index(u.endIndex, offsetBy: -maxBytes)
        if u[u.index(before: cut)] == 0x0A { return text[cut...] }
        var i = cut
        var scanned = 0
        while i < u.endIndex, scanned * 2 <= maxBytes {
            if u[i] == 0x0A { return text[u.index(after: i)...] }
            u.formIndex(after: &i)
            scanned += 1
        }
        return text[roundUp(text, cut)...]
    }

    /// The longest head of `text` within `maxBytes` UTF-8 bytes that ends after a newline; when that
    /// would keep less than half of `maxBytes`, the longest head that ends at a Character boundary.
    static func head(_ text: String, maxBytes: Int) -> Substring {
        let u = text.utf8
        let n = u.count
        if n <= maxBytes { return text[...] }
        if maxBytes <= 0 { return text[..<text.startIndex] }
        let cut = u.index(u.startIndex, offsetBy: maxBytes)
        var i = cut
        var scanned = 0
        while i > u.startIndex, scanned * 2 <= maxBytes {
            let before = u.index(before: i)
            if u[before] == 0x0A { return text[..<i] }
            i = before
            scanned += 1
        }
        return text[..<roundDown(text, cut)]
    }

    /// The last Character boundary at or before `i`.
    static func roundDown(_ text: String, _ i: String.Index) -> String.Index {
        let u = text.utf8
        var i = i
        while i > u.startIndex, i < u.endIndex, u[i] & 0xC0 == 0x80 { u.formIndex(before: &i) }
        if i >= text.endIndex { return text.endIndex }
        // Character operations round a scalar-aligned index down to its Character's start.
        return text.index(before: text.index(after: i))
    }

    /// The first Character boundary at or after `i`.
    static func roundUp(_ text: String, _ i: String.Index) -> String.Index {
        let u = text.utf8
        var i = i
        while i < u.endIndex, u[i] & 0xC0 == 0x80 { u.formIndex(after: &i) }
        if i >= text.endIndex { return text.endIndex }
        let next = text.index(after: i)
        return text.index(before: next) == i ? i : next
    }
}

// MARK: - Languages

/// What the pipeline needs to know of a language: how to write a comment, and roughly how to skip
/// strings and comments when counting brackets.
struct LanguageSyntax: Sendable, Hashable {
    struct BlockComment: Sendable, Hashable {
        var open: String
        var close: String
    }

    var lineComments: [String] = ["//"]
    var blockComment: BlockComment? = BlockComment(open: "/*", close: "*/")
    var singleQuoteStrings = true
    var backtickStrings = false
    var tripleQuotedStrings = false
    /// Python: a line ending in `:` opens a block.
    var colonOpensBlock = false
    /// Rust: `'a` is a lifetime, not a character literal.
    var lifetimes = false

    /// `text` as one comment line (with its newline). Languages with only block comments get one
    /// block per line, with the closing marker inside `text` broken so it cannot end the comment.
    func comment(_ text: String) -> String {
        if let marker = lineComments.first {
            return text.isEmpty ? marker + "\n" : marker + " " + text + "\n"
        }
        guard let open = blockComment?.open, let close = blockComment?.close else { return text + "\n" }
        var safe = text
        if safe.contains(close) {
            safe = safe.split(separator: close, omittingEmptySubsequences: false).joined(
                separator: String(close.dropLast()) + " " + String(close.last!))
        }
        return safe.isEmpty ? open + " " + close + "\n" : open + " " + safe + " " + close + "\n"
    }

    /// The syntax of an LSP language id (`swift`, `python`, `typescriptreact`, …), or when that is
    /// nil or empty, of the path's extension; C-like when neither says.
    static func resolve(language: String?, path: String?) -> LanguageSyntax {
        var id = language?.lowercased() ?? ""
        if id.isEmpty, let path { id = languageID(forPath: path) ?? "" }
        var syntax = LanguageSyntax()
        switch id {
        case "python", "py":
            syntax.lineComments = ["#"]
            syntax.blockComment = nil
            syntax.tripleQuotedStrings = true
            syntax.colonOpensBlock = true
        case "ruby", "shellscript", "shell", "bash", "sh", "zsh", "perl", "r", "yaml", "toml", "elixir", "julia",
            "dockerfile", "makefile", "powershell", "cmake", "coffeescript", "nix", "graphql", "terraform", "hcl", "ini",
            "properties":
            syntax.lineComments = ["#"]
            syntax.blockComment = nil
            syntax.tripleQuotedStrings = id == "elixir" || id == "julia"
            syntax.backtickStrings = id == "ruby" || id.hasSuffix("sh") || id == "shellscript" || id == "perl"
        case "sql", "lua", "haskell", "elm", "ada", "purescript", "vhdl", "plsql", "mysql", "postgres":
            syntax.lineComments = ["--"]
            if id == "haskell" || id == "elm" || id == "purescript" { syntax.blockComment = BlockComment(open: "{-", close: "-}") }
            syntax.backtickStrings = id == "sql" || id == "mysql"
            syntax.singleQuoteStrings = id != "haskell" && id != "elm" && id != "purescript"
        case "clojure", "lisp", "scheme", "racket", "commonlisp", "elisp":
            syntax.lineComments = [";;"]
            syntax.blockComment = nil
            syntax.singleQuoteStrings = false
        case "erlang", "latex", "tex", "matlab", "prolog":
            syntax.lineComments = ["%"]
            syntax.blockComment = nil
        case "vb", "vba":
            syntax.lineComments = ["'"]
            syntax.blockComment = nil
            syntax.singleQuoteStrings = false
        case "html", "xml", "markdown", "svg", "xsl", "vue", "svelte", "astro", "vue-html", "razor":
            syntax.lineComments = []
            syntax.blockComment = BlockComment(open: "<!--", close: "-->")
            syntax.singleQuoteStrings = false
        case "css":
            syntax.lineComments = []
        case "ocaml":
            syntax.lineComments = []
            syntax.blockComment = BlockComment(open: "(*", close: "*)")
        case "swift":
            syntax.singleQuoteStrings = false
            syntax.tripleQuotedStrings = true
        case "kotlin", "scala", "java", "groovy":
            syntax.tripleQuotedStrings = true
        case "javascript", "javascriptreact", "typescript", "typescriptreact", "go", "dart":
            syntax.backtickStrings = true
            syntax.tripleQuotedStrings = id == "dart"
        case "rust":
            syntax.lifetimes = true
        case "php":
            syntax.lineComments = ["//", "#"]
        default:
            break
        }
        return syntax
    }

    /// An LSP language id for a file name, when its extension is a common one.
    static func languageID(forPath path: String) -> String? {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        switch name.lowercased() {
        case "dockerfile": return "dockerfile"
        case "makefile", "gnumakefile": return "makefile"
        default: break
        }
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        return switch name[name.index(after: dot)...].lowercased() {
        case "swift": "swift"
        case "py", "pyi": "python"
        case "ts", "mts", "cts": "typescript"
        case "tsx": "typescriptreact"
        case "js", "mjs", "cjs": "javascript"
        case "jsx": "javascriptreact"
        case "go": "go"
        case "rs": "rust"
        case "c", "h": "c"
        case "cc", "cpp", "cxx", "hpp", "hh", "hxx": "cpp"
        case "m": "objective-c"
        case "mm": "objective-cpp"
        case "java": "java"
        case "kt", "kts": "kotlin"
        case "scala": "scala"
        case "cs": "csharp"
        case "dart": "dart"
        case "php": "php"
        case "rb": "ruby"
        case "sh", "bash", "zsh": "shellscript"
        case "pl", "pm": "perl"
        case "r": "r"
        case "yaml", "yml": "yaml"
        case "toml": "toml"
        case "sql": "sql"
        case "lua": "lua"
        case "hs": "haskell"
        case "html", "htm": "html"
        case "xml", "plist", "svg": "xml"
        case "md", "markdown": "markdown"
        case "css": "css"
        case "scss": "scss"
        case "less": "less"
        case "ex", "exs": "elixir"
        case "erl", "hrl": "erlang"
        case "clj", "cljs", "edn": "clojure"
        case "ml", "mli": "ocaml"
        case "jl": "julia"
        case "vue": "vue"
        case "svelte": "svelte"
        case "tf": "terraform"
        case "zig": "zig"
        default: nil
        }
    }
}
