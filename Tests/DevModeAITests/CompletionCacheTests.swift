import Testing
@testable import DevModeAI

@Suite struct CompletionCacheTests {
    static let model = "qwen2.5-coder-1.5b"
    static let path = "Sources/App/Cart.swift"
    static let prefix = """
        struct Cart {
            var items: [Item]

            func total() -> Decimal {
                items.reduce(0) { $0 + $1.pri
        """
    static let suffix = "\n    }\n}\n"

    static func filled(_ cache: CompletionCache = CompletionCache()) -> CompletionCache {
        cache.store(
            model: model, path: path, prefix: prefix, suffix: suffix,
            candidates: ["ce * $1.quantity }", "ce }", "ceWithTax }"])
        return cache
    }

    @Test func exactPlaceHits() {
        let cache = Self.filled()
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: Self.prefix, suffix: Self.suffix)
            == ["ce * $1.quantity }", "ce }", "ceWithTax }"])
        #expect(cache.count == 1)
    }

    @Test func typingAheadReusesTheMatchingCandidates() {
        let cache = Self.filled()
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: Self.prefix + "c", suffix: Self.suffix)
            == ["e * $1.quantity }", "e }", "eWithTax }"])
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: Self.prefix + "ce ", suffix: Self.suffix)
            == ["* $1.quantity }", "}"])
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: Self.prefix + "ceW", suffix: Self.suffix)
            == ["ithTax }"])
        // A candidate typed out completely leaves nothing to offer.
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: Self.prefix + "ce }", suffix: Self.suffix) == nil)
    }

    @Test func typingSomethingElseMisses() {
        let cache = Self.filled()
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: Self.prefix + "x", suffix: Self.suffix) == nil)
        // Backspace: the cursor moved before the stored place.
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: String(Self.prefix.dropLast()), suffix: Self.suffix) == nil)
    }

    @Test func aNewLineMisses() {
        let cache = Self.filled()
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: Self.prefix + "ce\n", suffix: Self.suffix) == nil)
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: Self.prefix + "ce }\n        ", suffix: Self.suffix) == nil)
    }

    @Test func aDifferentSuffixModelOrPathMisses() {
        let cache = Self.filled()
        // An editor that auto-closes a bracket changes the suffix.
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: Self.prefix, suffix: ")" + Self.suffix) == nil)
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: Self.prefix + "c", suffix: "\n}\n") == nil)
        #expect(cache.lookup(model: "gpt-4o-mini", path: Self.path, prefix: Self.prefix, suffix: Self.suffix) == nil)
        #expect(cache.lookup(model: Self.model, path: "Sources/App/Order.swift", prefix: Self.prefix, suffix: Self.suffix) == nil)
        // The same current line under a different earlier text.
        let edited = Self.prefix.replacing("var items", with: "let items")
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: edited, suffix: Self.suffix) == nil)
    }

    @Test func theLongestStoredLineThatStillMatchesWins() {
        let cache = CompletionCache()
        let prefix = "def area(radius):\n    return math."
        cache.store(model: "m", path: "geo.py", prefix: prefix, suffix: "\n", candidates: ["pi * radius ** 2", "tau * radius"])
        cache.store(model: "m", path: "geo.py", prefix: prefix + "pi", suffix: "\n", candidates: [" * radius * radius"])
        #expect(cache.lookup(model: "m", path: "geo.py", prefix: prefix + "pi *", suffix: "\n") == [" radius * radius"])
        // The entry stored at `pi` has nothing for this; the one stored before it has.
        #expect(cache.lookup(model: "m", path: "geo.py", prefix: prefix + "pi * radius **", suffix: "\n") == [" 2"])
        #expect(cache.lookup(model: "m", path: "geo.py", prefix: prefix + "t", suffix: "\n") == ["au * radius"])
        #expect(cache.count == 2)
    }

    @Test func storingTheSamePlaceReplacesIt() {
        let cache = Self.filled()
        cache.store(model: Self.model, path: Self.path, prefix: Self.prefix, suffix: Self.suffix, candidates: ["ce }", ""])
        #expect(cache.count == 1)
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: Self.prefix, suffix: Self.suffix) == ["ce }"])
        // Nothing worth keeping: nothing stored.
        cache.store(model: Self.model, path: "b.swift", prefix: Self.prefix, suffix: Self.suffix, candidates: ["", ""])
        #expect(cache.count == 1)
        cache.removeAll()
        #expect(cache.count == 0)
        #expect(cache.lookup(model: Self.model, path: Self.path, prefix: Self.prefix, suffix: Self.suffix) == nil)
    }

    @Test func leastRecentlyUsedIsEvictedFirst() {
        let cache = CompletionCache(capacity: 3)
        func store(_ name: String) {
            cache.store(model: "m", path: "main.go", prefix: "package main\n\nfunc \(name)", suffix: "\n", candidates: ["() {}"])
        }
        func has(_ name: String) -> Bool {
            cache.lookup(model: "m", path: "main.go", prefix: "package main\n\nfunc \(name)", suffix: "\n") != nil
        }
        store("a")
        store("b")
        store("c")
        #expect(has("a"))  // most recent first: a, c, b
        store("d")  // evicts b: d, a, c
        #expect(cache.count == 3)
        #expect(!has("b"))
        #expect(has("c"))  // c, d, a
        store("e")  // evicts a: e, c, d
        #expect(!has("a"))
        #expect(has("c") && has("d") && has("e"))
        #expect(cache.count == 3)
    }

    @Test func typeAheadWorksOnAHugeDocumentAndMultiByteText() {
        var prefix = ""
        for i in 0..<100_000 { prefix += "let label\(i) = \"ラベル\(i)\"\n" }
        prefix += "let greeting = \"こんに"
        let suffix = "\"\n" + String(repeating: "print(greeting)\n", count: 50_000)
        let cache = CompletionCache()
        cache.store(model: "m", path: "big.swift", prefix: prefix, suffix: suffix, candidates: ["ちは、世界 🌍", "ちわ"])
        #expect(cache.lookup(model: "m", path: "big.swift", prefix: prefix + "ち", suffix: suffix) == ["は、世界 🌍", "わ"])
        #expect(cache.lookup(model: "m", path: "big.swift", prefix: prefix + "ちは、世界 ", suffix: suffix) == ["🌍"])
        #expect(cache.lookup(model: "m", path: "big.swift", prefix: prefix + "ちゃ", suffix: suffix) == nil)
    }

    @Test func concurrentUseKeepsTheCapacity() async {
        let cache = CompletionCache(capacity: 64)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for i in 0..<500 {
                        let prefix = "fn main() {\n    let x\(worker) = \(i % 100)"
                        if i % 3 == 0 {
                            cache.store(model: "m", path: "main.rs", prefix: prefix, suffix: "\n}", candidates: [";", "u8;"])
                        } else if let hit = cache.lookup(model: "m", path: "main.rs", prefix: prefix, suffix: "\n}") {
                            #expect(hit == [";", "u8;"])
                        }
                    }
                }
            }
        }
        #expect(cache.count == 64)
    }
}
