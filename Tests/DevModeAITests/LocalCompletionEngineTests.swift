import Testing
@testable import DevModeAI

@Suite struct LocalCompletionEngineTests {
    static let project = """
        import Foundation

        struct Server {
            let configuration: Configuration
            func start() {
                foo.bar(configuration)
                foo.bar(configuration)
                foo.bar(configuration)
            }
            func stop() {
                foo.bar(configuration)
            }
        }
        """

    @Test func emptyEngineReturnsNothing() {
        let engine = LocalCompletionEngine()
        #expect(engine.complete(prefix: "", suffix: "", language: nil).isEmpty)
        #expect(engine.complete(prefix: "let x = fo", suffix: ")", language: "swift").isEmpty)
        #expect(engine.stats.files == 0)
        engine.update(path: "a.swift", text: "")
        #expect(engine.complete(prefix: "x", suffix: "", language: nil).isEmpty)
    }

    @Test func completesAKnownIdentifierFromItsPrefix() {
        let engine = LocalCompletionEngine()
        engine.update(path: "Server.swift", text: Self.project)
        let candidates = engine.complete(prefix: "let c = config", suffix: "\n", language: "swift")
        #expect(candidates.first?.text.hasPrefix("uration") == true, "\(candidates)")
    }

    @Test func continuesARepeatedPattern() {
        let engine = LocalCompletionEngine()
        engine.update(path: "Server.swift", text: Self.project)
        let candidates = engine.complete(prefix: "func f() {\n    let x = foo.", suffix: "\n}\n", language: "swift")
        #expect(candidates.first?.text == "bar(configuration)", "\(candidates)")
    }

    @Test func respectsTheSuffix() {
        let engine = LocalCompletionEngine()
        engine.update(path: "Server.swift", text: Self.project)
        let candidates = engine.complete(prefix: "    foo.bar(", suffix: ")\n", language: "swift")
        #expect(candidates.first?.text == "configuration", "\(candidates)")
        for candidate in candidates { #expect(!candidate.text.contains(")")) }
    }

    @Test func keepsNestedParenthesesBeforeTheSuffix() {
        let engine = LocalCompletionEngine()
        engine.update(path: "n.swift", text: "x = make(foo(1))\ny = make(foo(1))\nz = make(foo(1))\n")
        let candidates = engine.complete(prefix: "w = make(", suffix: ")\n", language: nil)
        #expect(candidates.first?.text == "foo(1)", "\(candidates)")
        #expect(engine.complete(prefix: "w = make(foo(1", suffix: "))\n", language: nil).allSatisfy { !$0.text.hasPrefix(")") })
    }

    @Test func updateReplacesAFilesContribution() {
        let engine = LocalCompletionEngine()
        engine.update(path: "a.swift", text: "let value = computeTotalAmount()\nlet other = computeTotalAmount()\n")
        #expect(engine.complete(prefix: "x = computeT", suffix: "", language: nil).first?.text.hasPrefix("otalAmount") == true)
        let before = engine.stats
        engine.update(path: "a.swift", text: "let value = computeGrandSum()\nlet other = computeGrandSum()\n")
        let after = engine.complete(prefix: "x = compute", suffix: "", language: nil)
        #expect(after.first?.text.hasPrefix("GrandSum") == true, "\(after)")
        #expect(!after.contains { $0.text.contains("TotalAmount") })
        #expect(engine.complete(prefix: "x = computeT", suffix: "", language: nil).isEmpty)
        #expect(engine.stats.files == 1)
        #expect(engine.stats.tokens == before.tokens)
    }

    @Test func removeForgetsAFile() {
        let engine = LocalCompletionEngine()
        engine.update(path: "a.swift", text: "let a = uniqueIdentifierAlpha\n")
        engine.update(path: "b.swift", text: "let b = otherThingBeta\n")
        #expect(!engine.complete(prefix: "y = uniqueI", suffix: "", language: nil).isEmpty)
        engine.remove(path: "a.swift")
        #expect(engine.complete(prefix: "y = uniqueI", suffix: "", language: nil).isEmpty)
        #expect(engine.stats.files == 1)
        engine.remove(path: "b.swift")
        #expect(engine.stats.tokens == 0)
        #expect(engine.stats.ngrams == 0)
        #expect(engine.complete(prefix: "y = other", suffix: "", language: nil).isEmpty)
        engine.remove(path: "missing.swift")
    }

    @Test func unicodeText() {
        let engine = LocalCompletionEngine()
        engine.update(path: "u.swift", text: "let café = größe(über: \"日本語 ✓\")\nlet café2 = größe(über: \"日本語 ✓\")\n")
        let a = engine.complete(prefix: "let x = grö", suffix: "", language: nil)
        #expect(a.first?.text.hasPrefix("ße(über: \"日本語") == true, "\(a)")
        // Cursor anywhere in the text must not crash.
        let text = "let café = größe(über: \"日本語 ✓\")"
        for n in 0...text.count {
            _ = engine.complete(prefix: String(text.prefix(n)), suffix: String(text.dropFirst(n)), language: nil)
        }
    }

    @Test func deterministic() {
        func run() -> [[LocalCompletionEngine.Candidate]] {
            let engine = LocalCompletionEngine()
            engine.update(path: "a.swift", text: Self.project)
            engine.update(path: "b.swift", text: "let a = b\nlet c = d\nlet e = f\nfoo.baz(1)\nfoo.qux(2)\n")
            return ["let ", "foo.", "    foo.bar(c", "let x = ", "f"].map {
                engine.complete(prefix: $0, suffix: "", language: nil)
            }
        }
        let first = run()
        for _ in 0..<3 { #expect(run() == first) }
    }

    @Test func lexerKeepsIndentationAndOperators() {
        let tokens = Lexer.lex("  a->b == 1.5\n\tx")
        #expect(tokens.map(\.text) == ["  ", "a", "->", "b", " ", "==", " ", "1.5", "\n", "\t", "x"])
        #expect(tokens.first?.kind == .indent)
        #expect(tokens[4].kind == .space)
    }

    @Test func concurrentUseIsSafe() async {
        let engine = LocalCompletionEngine()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    for j in 0..<20 {
                        engine.update(path: "f\(i).swift", text: "let value\(j) = compute\(i)(x: \(j))\n")
                        _ = engine.complete(prefix: "let y = comp", suffix: "", language: nil)
                    }
                }
            }
        }
        #expect(engine.stats.files == 8)
        #expect(!engine.complete(prefix: "let y = comp", suffix: "", language: nil).isEmpty)
    }

    @Test func prefersTheCurrentFilesIdentifiers() {
        let engine = LocalCompletionEngine()
        engine.update(path: "a.swift", text: "let a = handlerAlpha\nlet b = handlerAlpha\nlet c = handlerAlpha\n")
        let prefix = "let q = handlerOmega\nlet r = handlerOmega\nlet s = handlerOmega\nlet t = handlerO"
        #expect(engine.complete(prefix: prefix, suffix: "", language: nil).first?.text == "mega")
        let other = engine.complete(prefix: "let t = handler", suffix: "", language: nil)
        #expect(other.first?.text == "Alpha", "\(other)")
    }
}

@Suite("Local engine with nothing learnt")
struct LocalEngineColdStartTests {
    @Test func theTextBeforeTheCursorAloneCompletesAnIdentifierItAlreadyUsed() {
        let engine = LocalCompletionEngine()
        let candidates = engine.complete(prefix: "let totalAmount = 1\nlet a = totalAmount + 1\nlet b = totalAm", suffix: "\n")
        #expect(candidates.first?.text.hasPrefix("ount") == true, "got \(candidates.map(\.text))")
        #expect(engine.complete(prefix: "", suffix: "").isEmpty)
    }
}
