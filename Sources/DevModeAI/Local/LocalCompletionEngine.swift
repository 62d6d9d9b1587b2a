import FoundationEssentials
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An embedded completion engine that needs no network and no model files: a token n-gram model
/// (contexts of up to `maxContext` tokens, stupid back-off) learnt from the project's files, mixed
/// with a cache model of the text before the cursor. It completes the partially typed token at the
/// cursor, then continues token by token to the end of the line. Thread-safe; deterministic for a
/// given training set (ties are broken by token text, never by hash or insertion order).
public final class LocalCompletionEngine: Sendable {
    public struct Candidate: Sendable, Hashable {
        public var text: String
        public var score: Double
        public init(text: String, score: Double) { self.text = text; self.score = score }
    }

    public struct Stats: Sendable, Hashable {
        public var files: Int
        /// Tokens learnt, over all files.
        public var tokens: Int
        /// Distinct n-grams (all orders) with a non-zero count.
        public var ngrams: Int
        /// Distinct token texts ever seen.
        public var vocabulary: Int
    }

    private let state: Mutex<Model>

    public init(maxContext: Int = 6) {
        state = Mutex(Model(maxContext: max(1, min(maxContext, 6))))
    }

    /// Learns `text` as the content of `path`, replacing what an earlier call for `path` taught.
    public func update(path: String, text: String) {
        let lexed = Lexer.lex(text)
        state.withLock { model in
            if let old = model.files[path] { model.count(old, delta: -1) }
            let ids = lexed.map { model.intern($0) }
            model.count(ids, delta: 1)
            model.files[path] = ids
        }
    }

    /// Forgets `path`.
    public func remove(path: String) {
        state.withLock { model in
            if let old = model.files.removeValue(forKey: path) { model.count(old, delta: -1) }
        }
    }

    public var stats: Stats {
        state.withLock { model in
            Stats(
                files: model.files.count, tokens: model.tokenTotal, ngrams: model.liveNgrams,
                vocabulary: model.texts.count)
        }
    }

    /// Candidates for the rest of the current line at the cursor between `prefix` and `suffix`, best
    /// first. Never repeats what the suffix's line already starts with.
    public func complete(prefix: String, suffix: String, language: String? = nil, maxCharacters: Int = 200) -> [Candidate] {
        guard maxCharacters > 0 else { return [] }
        // Only the tail of the prefix matters: the context and the cache window.
        var tail = Substring(prefix)
        let window = 8_192
        if prefix.utf8.count > window {
            let start = prefix.utf8.index(prefix.utf8.endIndex, offsetBy: -window)
            tail = prefix[start...]
            if let newline = tail.firstIndex(of: "\n") { tail = tail[tail.index(after: newline)...] }
        }
        var lexed = Lexer.lex(String(tail))
        guard !lexed.isEmpty else { return [] }
        // The token at the cursor is partial unless it is blank or a line end.
        var partial = ""
        if let last = lexed.last, last.kind == .identifier || last.kind == .number || last.kind == .punctuation {
            partial = last.text
            lexed.removeLast()
        }
        var suffixLine = Substring(suffix)
        if let newline = suffixLine.firstIndex(where: { $0 == "\n" || $0 == "\r" }) { suffixLine = suffixLine[..<newline] }
        let suffixText = String(suffixLine.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())

        let raw: [(String, Double)] = state.withLock { model in
            model.generate(context: lexed, partial: partial, maxCharacters: maxCharacters + partial.utf8.count)
        }
        var seen = Set<String>()
        var out: [Candidate] = []
        for (generated, score) in raw {
            var text = generated
            // The line would end with what the suffix has: keep only what comes before it (at the
            // end if it ends there, e.g. the `)` of a nested call, else at its first occurrence).
            if !suffixText.isEmpty {
                let trimmed = String(text.reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
                if trimmed.hasSuffix(suffixText) {
                    text = String(trimmed.dropLast(suffixText.count))
                } else if let cut = firstOccurrence(of: suffixText, in: text) {
                    text = String(text[..<cut])
                }
            }
            while let last = text.last, last == " " || last == "\t" { text.removeLast() }
            if text.count > maxCharacters { text = String(text.prefix(maxCharacters)) }
            guard !text.isEmpty, seen.insert(text).inserted else { continue }
            out.append(Candidate(text: text, score: score))
        }
        out.sort { $0.score != $1.score ? $0.score > $1.score : $0.text < $1.text }
        return out
    }
}

// MARK: - The model

/// Where `needle` first occurs in `haystack` (by characters).
func firstOccurrence(of needle: String, in haystack: String) -> String.Index? {
    var index = haystack.startIndex
    while index < haystack.endIndex {
        if haystack[index...].hasPrefix(needle) { return index }
        index = haystack.index(after: index)
    }
    return nil
}

@inline(__always) private func mix(_ h: UInt64, _ x: Int32) -> UInt64 {
    var z = (h ^ UInt64(UInt32(bitPattern: x))) &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

@inline(__always) private func pairKey(_ context: UInt64, _ token: Int32) -> UInt64 {
    mix(context ^ 0x5851_F42D_4C95_7F2D, token)
}

private let emptyContext: UInt64 = 0x2545_F491_4F6C_DD1D
private let backOff = 0.4

/// Per context: the total count and the head of its list of followers.
private struct ContextEntry {
    var total: Int32
    var head: Int32
}

/// A small n-gram table over hashed contexts; followers kept as linked lists in flat arrays so a
/// context costs no allocation of its own. Nodes are never freed (a count may drop to zero), so
/// re-learning a file re-uses them.
private struct NGramTable {
    var contexts: [UInt64: ContextEntry] = [:]
    var nodes: [UInt64: Int32] = [:]
    var nodeToken: [Int32] = []
    var nodeCount: [Int32] = []
    var nodeNext: [Int32] = []
    var live = 0

    mutating func add(context: UInt64, token: Int32, delta: Int32) {
        let key = pairKey(context, token)
        if let node = nodes[key] {
            let before = nodeCount[Int(node)]
            let after = before + delta
            nodeCount[Int(node)] = max(0, after)
            if before == 0, after > 0 { live += 1 }
            if before > 0, after <= 0 { live -= 1 }
            contexts[context, default: ContextEntry(total: 0, head: -1)].total += delta
        } else {
            guard delta > 0 else { return }
            let node = Int32(nodeToken.count)
            nodeToken.append(token)
            nodeCount.append(delta)
            live += 1
            nodes[key] = node
            let index = contexts.index(forKey: context)
            if let index {
                nodeNext.append(contexts.values[index].head)
                contexts.values[index].head = node
                contexts.values[index].total += delta
            } else {
                nodeNext.append(-1)
                contexts[context] = ContextEntry(total: delta, head: node)
            }
        }
    }

    @inline(__always) func count(context: UInt64, token: Int32) -> Int32 {
        guard let node = nodes[pairKey(context, token)] else { return 0 }
        return nodeCount[Int(node)]
    }

    @inline(__always) func total(_ context: UInt64) -> Int32 { contexts[context]?.total ?? 0 }

    /// Calls `body` with each follower of `context` with a positive count, at most `limit` nodes.
    func forEachFollower(_ context: UInt64, limit: Int, _ body: (Int32, Int32) -> Void) {
        guard var node = contexts[context]?.head else { return }
        var visited = 0
        while node >= 0, visited < limit {
            let c = nodeCount[Int(node)]
            if c > 0 { body(nodeToken[Int(node)], c) }
            node = nodeNext[Int(node)]
            visited += 1
        }
    }

    /// Stupid back-off probability of `token` after contexts `hashes` (hashes[k]: the last k tokens).
    func score(_ hashes: [UInt64], _ token: Int32) -> Double {
        var factor = 1.0
        var k = hashes.count - 1
        while k >= 0 {
            let t = total(hashes[k])
            if t > 0 {
                let c = count(context: hashes[k], token: token)
                if c > 0 { return factor * Double(c) / Double(t) }
                factor *= backOff
            }
            k -= 1
        }
        return 0
    }
}

/// Context hashes for the tokens `ids` (nearest last): hashes[k] covers the last k tokens.
private func contextHashes(_ ids: ArraySlice<Int32>, maxContext: Int) -> [UInt64] {
    var hashes = [emptyContext]
    hashes.reserveCapacity(maxContext + 1)
    var h = emptyContext
    var i = ids.endIndex - 1
    while hashes.count <= maxContext, i >= ids.startIndex {
        h = mix(h, ids[i])
        hashes.append(h)
        i -= 1
    }
    return hashes
}

private struct Model {
    let maxContext: Int
    var files: [String: [Int32]] = [:]
    var texts: [String] = []
    var kinds: [TokenKind] = []
    var ids: [String: Int32] = [:]
    /// Token ids by their first two UTF-8 bytes (one for single-byte tokens), for partial tokens.
    var byStart: [UInt16: [Int32]] = [:]
    var table = NGramTable()
    var tokenTotal = 0

    init(maxContext: Int) { self.maxContext = maxContext }

    var liveNgrams: Int { table.live }

    static func startKey(_ text: Substring.UTF8View) -> UInt16 {
        var it = text.makeIterator()
        let a = UInt16(it.next() ?? 0)
        let b = UInt16(it.next() ?? 0)
        return a << 8 | b
    }

    mutating func intern(_ token: LexedToken) -> Int32 {
        if let id = ids[token.text] { return id }
        let id = Int32(texts.count)
        texts.append(token.text)
        kinds.append(token.kind)
        ids[token.text] = id
        byStart[Self.startKey(Substring(token.text).utf8), default: []].append(id)
        return id
    }

    /// Adds (delta 1) or removes (delta -1) every n-gram of a file's tokens.
    mutating func count(_ tokens: [Int32], delta: Int32) {
        tokenTotal += Int(delta) * tokens.count
        for i in tokens.indices {
            let token = tokens[i]
            var h = emptyContext
            table.add(context: h, token: token, delta: delta)
            var j = i - 1
            var order = 1
            while order <= maxContext, j >= 0 {
                h = mix(h, tokens[j])
                table.add(context: h, token: token, delta: delta)
                j -= 1
                order += 1
            }
        }
    }

    // MARK: Generation

    func buildCache(_ ids: [Int32]) -> NGramTable {
        var cache = NGramTable()
        cache.contexts.reserveCapacity(4_096)
        cache.nodes.reserveCapacity(4_096)
        let start = max(0, ids.count - 1_200)
        let cacheOrder = min(3, maxContext)
        for i in start..<ids.count {
            var h = emptyContext
            cache.add(context: h, token: ids[i], delta: 1)
            var j = i - 1
            var order = 1
            while order <= cacheOrder, j >= start {
                h = mix(h, ids[j])
                cache.add(context: h, token: ids[i], delta: 1)
                j -= 1
                order += 1
            }
        }
        return cache
    }

    /// The model's tokens plus those only the text before the cursor has (ids from `base` on).
    struct LocalVocabulary {
        let base: Int
        let texts: [String]
        let kinds: [TokenKind]
        var extra: [String] = []
        var extraKinds: [TokenKind] = []
        var extraIDs: [String: Int32] = [:]

        init(base: Int, texts: [String], kinds: [TokenKind]) {
            self.base = base
            self.texts = texts
            self.kinds = kinds
        }

        mutating func intern(_ token: LexedToken) -> Int32 {
            if let id = extraIDs[token.text] { return id }
            let id = Int32(base + extra.count)
            extra.append(token.text)
            extraKinds.append(token.kind)
            extraIDs[token.text] = id
            return id
        }

        @inline(__always) func text(_ token: Int32) -> String {
            Int(token) < base ? texts[Int(token)] : extra[Int(token) - base]
        }

        @inline(__always) func kind(_ token: Int32) -> TokenKind {
            Int(token) < base ? kinds[Int(token)] : extraKinds[Int(token) - base]
        }
    }

    func mixed(_ global: [UInt64], _ local: [UInt64], _ cache: NGramTable, _ token: Int32) -> Double {
        0.7 * table.score(global, token) + 0.3 * cache.score(local, token)
    }

    /// Candidate next tokens: followers of the longest known contexts (global and cache), plus,
    /// for a partial token, known tokens that start with it.
    func candidates(
        _ global: [UInt64], _ local: [UInt64], _ cache: NGramTable, partial: String, excludeNewline: Bool,
        _ vocabulary: LocalVocabulary
    ) -> [(Int32, Double)] {
        var set: [Int32] = []
        var seen = Set<Int32>()
        func accept(_ token: Int32) {
            if excludeNewline, vocabulary.kind(token) == .newline { return }
            if !partial.isEmpty {
                let text = vocabulary.text(token)
                guard text.utf8.count >= partial.utf8.count, text.hasPrefix(partial) else { return }
            }
            if seen.insert(token).inserted { set.append(token) }
        }
        // From each context (longest first), only its most frequent followers are scored in full.
        var followers: [(Int32, Int32)] = []
        for (tbl, hashes) in [(table, global), (cache, local)] {
            var found = 0
            var k = hashes.count - 1
            while k >= 1, found < 4 {
                followers.removeAll(keepingCapacity: true)
                tbl.forEachFollower(hashes[k], limit: k == 1 ? 400 : 200) { token, count in
                    if excludeNewline, vocabulary.kind(token) == .newline { return }
                    if !partial.isEmpty {
                        let text = vocabulary.text(token)
                        guard text.utf8.count >= partial.utf8.count, text.hasPrefix(partial) else { return }
                    }
                    followers.append((token, count))
                }
                if followers.count > 8 {
                    followers.sort { $0.1 != $1.1 ? $0.1 > $1.1 : vocabulary.text($0.0) < vocabulary.text($1.0) }
                }
                let before = set.count
                for (token, _) in followers.prefix(8) { accept(token) }
                found += set.count - before
                k -= 1
            }
        }
        if !partial.isEmpty, set.count < 8 {
            // Known tokens with this start, the most frequent first.
            let list = byStart[Self.startKey(Substring(partial).utf8)] ?? []
            var ranked: [(Int32, Int32)] = []
            for token in list where vocabulary.text(token).hasPrefix(partial) {
                let c = table.count(context: emptyContext, token: token)
                let l = cache.count(context: emptyContext, token: token)
                if c > 0 || l > 0 { ranked.append((token, c + 8 * l)) }
            }
            // Tokens only the text before the cursor knows.
            for (offset, text) in vocabulary.extra.enumerated() where text.hasPrefix(partial) {
                let token = Int32(vocabulary.base + offset)
                let l = cache.count(context: emptyContext, token: token)
                if l > 0 { ranked.append((token, 8 * l)) }
            }
            ranked.sort { $0.1 != $1.1 ? $0.1 > $1.1 : vocabulary.text($0.0) < vocabulary.text($1.0) }
            for (token, _) in ranked.prefix(16) { accept(token) }
        }
        var scored = set.map { ($0, mixed(global, local, cache, $0)) }
        scored.sort { $0.1 != $1.1 ? $0.1 > $1.1 : vocabulary.text($0.0) < vocabulary.text($1.0) }
        return scored
    }

    func generate(context lexed: [LexedToken], partial: String, maxCharacters: Int) -> [(String, Double)] {
        // Nothing learnt yet (a new folder, a loose document): the text before the cursor alone still
        // completes what it has already said.
        // Unknown tokens get id -1: they break contexts but not the model.
        var vocabulary = LocalVocabulary(base: texts.count, texts: texts, kinds: kinds)
        var history = lexed.map { token in ids[token.text] ?? vocabulary.intern(token) }
        if history.count > 4_000 { history.removeFirst(history.count - 4_000) }
        let cache = buildCache(history)
        func hashes(_ ids: [Int32]) -> ([UInt64], [UInt64]) {
            let g = contextHashes(ids[...], maxContext: maxContext)
            let l = Array(g.prefix(min(3, maxContext) + 1))
            return (g, l)
        }
        let (g0, l0) = hashes(history)
        let first = candidates(g0, l0, cache, partial: partial, excludeNewline: true, vocabulary)
        var results: [(String, Double)] = []
        for (token, p) in first.prefix(3) where p > 0 {
            var ids = history
            ids.append(token)
            var text = String(vocabulary.text(token).dropFirst(partial.count))
            var logSum = 0.0
            var steps = 0
            while text.utf8.count < maxCharacters, steps < 64 {
                let (g, l) = hashes(ids)
                guard let (next, q) = candidates(g, l, cache, partial: "", excludeNewline: false, vocabulary).first, q > 0 else { break }
                if vocabulary.kind(next) == .newline { break }
                ids.append(next)
                text += vocabulary.text(next)
                logSum += log(q)
                steps += 1
            }
            // The first token's probability decides; a confident continuation helps a little (a
            // geometric mean alone would favour long, predictable runs such as comment text).
            let rest = steps == 0 ? 1.0 : exp(logSum / Double(steps))
            results.append((text, p * pow(rest, 0.25)))
        }
        return results
    }
}
