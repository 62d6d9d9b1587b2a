import Testing
@testable import DevModeAI

@Suite struct PostProcessorTests {
    static func process(
        _ raw: String, _ prefix: String, _ suffix: String, language: String? = nil, stop: [String] = [],
        multiline: Bool? = nil, maxLines: Int = 20
    ) -> String? {
        PostProcessor.process(
            raw, prefix: prefix, suffix: suffix,
            options: PostProcessOptions(stop: stop, multiline: multiline, language: language, maxLines: maxLines))
    }

    // MARK: Stop sequences and echoes

    @Test func cutsAtTheFirstStopSequence() {
        let stops = FIMTemplate.qwen.stopSequences
        #expect(Self.process("subtotal + tax<|endoftext|>garbage", "    total = ", "\n", stop: stops) == "subtotal + tax")
        #expect(Self.process("a + b<|fim_prefix|>c<|endoftext|>", "x = ", "\n", stop: stops) == "a + b")
        #expect(Self.process("<|endoftext|>", "x = ", "\n", stop: stops) == nil)
    }

    @Test func dropsAnEchoOfTheCursorsLine() {
        let prefix = "func greet(name: String) -> String {\n    let message = "
        let suffix = "\n    return message\n}\n"
        #expect(Self.process("let message = \"Hello, \\(name)!\"", prefix, suffix, language: "swift") == "\"Hello, \\(name)!\"")
        #expect(Self.process("    let message = \"Hi\"", prefix, suffix, language: "swift") == "\"Hi\"")
        // Mid-word: the model rewrote the line and finished the word.
        #expect(Self.process("const total = items.length;", "  const total = ite", "\n", language: "typescript") == "ms.length;")
        // A completion that merely starts with the line's last word is not an echo.
        #expect(Self.process("returnValue + 1", "    return ", "\n", language: "swift") == "returnValue + 1")
        // Too short to tell.
        #expect(Self.process("x = 1", "x = ", "\n", language: "python") == "x = 1")
    }

    @Test func echoOfABlockOpenerLeavesItsBody() {
        let prefix = "func check(x: Int) {\n    if x > 0 {"
        #expect(Self.process("if x > 0 {\n        report(x)\n    }", prefix, "\n    }\n}\n", language: "swift") == "\n        report(x)")
    }

    // MARK: One line or several

    @Test func singleLineStopsAtTheFirstNewline() {
        #expect(Self.process("42\nlet y = 1", "let x = ", "\nprint(x)\n", language: "swift") == "42")
        #expect(Self.process("\n    return 1", "let x = 1", "\n", language: "swift") == nil)
        // Forced single line on a blank line.
        #expect(Self.process("a()\n    b()", "func f() {\n    ", "\n}", language: "swift", multiline: false) == "a()")
    }

    @Test func decidesMultilineFromTheCursor() {
        let cases: [(String, String, String, Bool)] = [
            ("func f() {\n    ", "\n}", "swift", true),  // blank line
            ("func f() {", "\n}", "swift", true),
            ("func f() {", "}", "swift", true),  // auto-closed
            ("items.forEach(item => {", "});", "typescript", true),
            ("print(", ")", "python", true),
            ("let xs = [", "]", "swift", true),
            ("const f = (a: number) =>", "", "typescript", true),
            ("fn parse(input: &str) ->", "", "rust", true),
            ("def area(r):", "", "python", true),
            ("5.times do", "", "ruby", true),
            ("if ready then", "", "lua", true),
            ("case .north:", "", "swift", false),  // `:` opens a block in Python only
            ("undo", "", "ruby", false),
            ("let x = ", "", "swift", false),
            ("let x = foo(", "bar)", "swift", false),  // rest of line has code
            ("    ", "foo()", "go", false),
            ("\t", "\n}", "go", true),
        ]
        for (prefix, suffix, language, expected) in cases {
            #expect(PostProcessor.wantsMultiline(prefix: prefix, suffix: suffix, language: language) == expected, "\(prefix)|\(suffix)")
        }
    }

    @Test func multilineBodyStopsAtTheDedent() {
        let prefix = "import math\n\n\ndef area(r):\n    "
        let suffix = "\n\n\ndef perimeter(r):\n    return 2 * math.pi * r\n"
        let raw = "return math.pi * r * r\n\n\ndef volume(r):\n    return 4 / 3 * math.pi * r ** 3\n"
        #expect(Self.process(raw, prefix, suffix, language: "python") == "return math.pi * r * r")
    }

    @Test func multilineKeepsTheWholeBlockBody() {
        let prefix = "def parse(lines):\n    result = []\n    for line in lines:"
        let raw = "\n        if not line.strip():\n            continue\n        result.append(line.split(\",\"))\n    return result\n"
        #expect(
            Self.process(raw, prefix, "\n", language: "python")
                == "\n        if not line.strip():\n            continue\n        result.append(line.split(\",\"))")
    }

    @Test func theSuffixsClosingLineIsNotRepeated() {
        // Go, tabs: the block's `}` is already in the suffix.
        let raw = "fmt.Println(\"hello\")\n}\n\nfunc helper() {\n}"
        #expect(Self.process(raw, "package main\n\nfunc main() {\n\t", "\n}\n", language: "go") == "fmt.Println(\"hello\")")
        // TypeScript, cursor after the opener.
        let ts = Self.process("\n  return a + b;\n}", "function add(a: number, b: number): number {", "\n}\n", language: "typescript")
        #expect(ts == "\n  return a + b;")
    }

    @Test func theBlocksClosingLineIsKeptWhenTheSuffixLacksIt() {
        let raw = "return 42\n}\n\nfunc other() {}"
        #expect(Self.process(raw, "func answer() -> Int {\n    ", "", language: "swift") == "return 42\n}")
        // An inner block closed in the completion, the outer one in the suffix.
        let nested = "ok()\n    }\n}\n"
        #expect(Self.process(nested, "func f() {\n    if x {\n        ", "\n}\n", language: "swift") == "ok()\n    }")
    }

    @Test func anEchoedSuffixLineIsDropped() {
        let prefix = "func load(path: String) throws -> Data {\n    let data = try read(path)\n    "
        let suffix = "\n    return data\n}\n"
        let raw = "try validate(data)\n    return data\n}"
        #expect(Self.process(raw, prefix, suffix, language: "swift") == "try validate(data)")
        // The completion is nothing but the next line: nothing to insert.
        #expect(Self.process("return data", prefix, suffix, language: "swift") == nil)
    }

    @Test func multilineStopsAtMaxLines() {
        let raw = (0..<30).map { "print(\($0))" }.joined(separator: "\n    ")
        let result = Self.process(raw, "def numbers():\n    ", "", language: "python", maxLines: 5)
        #expect(result == "print(0)\n    print(1)\n    print(2)\n    print(3)\n    print(4)")
    }

    // MARK: What the suffix already has

    @Test func aReEmittedClosingParenthesisIsDropped() {
        #expect(Self.process("total)", "    print(", ")\n", language: "python") == "total")
        #expect(Self.process("len(items))", "    print(", ")\n", language: "python") == "len(items)")
        // Its own `)` closes its own `(`: kept.
        #expect(Self.process("len(items)", "    print(", ")\n", language: "python") == "len(items)")
        #expect(Self.process("\"こんにちは 🌍\")", "print(", ")\n", language: "python") == "\"こんにちは 🌍\"")
    }

    @Test func aReEmittedStringEndAndSemicolonAreDropped() {
        #expect(Self.process("Done!\");", "  console.log(\"", "\");\n", language: "typescript") == "Done!")
        #expect(Self.process("items.length);", "  console.log(", ");\n", language: "typescript") == "items.length")
        // An overlap must not split a word.
        #expect(Self.process("count", "let n = coun", "t\n", language: "swift") == "count")
    }

    // MARK: Brackets

    @Test func anUnmatchedClosingBracketIsRemoved() {
        #expect(Self.process(" + tax)", "let total = price * quantity", "\n", language: "swift") == " + tax")
        #expect(Self.process(" + tax) * 2", "let total = price * quantity", "\n", language: "swift") == " + tax")
        #expect(Self.process(", 3]]", "values = [1, 2", "\n", language: "python") == ", 3]")
        // The wrong kind of bracket closes nothing.
        #expect(Self.process("0})", "foo(bar[", "\n", language: "swift") == "0")
        #expect(Self.process("}", "x := 1", "\n", language: "go") == nil)
    }

    @Test func bracketsInStringsAndCommentsAreIgnored() {
        // A `)` in the completion's own string or comment closes nothing, so nothing is cut.
        #expect(Self.process("\"a)b\"", "let label = ", "\n", language: "swift") == "\"a)b\"")
        #expect(Self.process(", b) // see (a) and b)", "let x = compute(a", "\n", language: "swift") == ", b) // see (a) and b)")
        // A `(` in the prefix's string or comment opens nothing, so a `)` has nothing to close.
        #expect(Self.process(")", "let label = \"(\" + name", "\n", language: "swift") == nil)
        #expect(Self.process(")", "// note: (\nlet x = 1", "\n", language: "swift") == nil)
        #expect(Self.process(")", "x = 1  # (\ny = 2", "\n", language: "python") == nil)
        // The same in a language whose comments start with `#`, and in a Go raw string over lines.
        #expect(Self.process("b)", "x = f(a,  # )\n      ", "\n", language: "python") == "b)")
        #expect(Self.process("args...)", "rows := db.Query(`\n  SELECT a)\n`, ", "\n", language: "go") == "args...)")
        // Python triple-quoted strings, Rust lifetimes (not character literals).
        #expect(Self.process(")", "doc = \"\"\"(\n\"\"\" + f(x", "\n", language: "python") == ")")
        #expect(Self.process("s)", "fn first<'a>(s: &'a str) -> &'a str { trim(", "\n", language: "rust") == "s)")
        // A `)` in the prefix's string closes nothing either; the completion's `)` is the suffix's.
        #expect(Self.process("end=\"\")", "print(\")\", ", ")\n", language: "python") == "end=\"\"")
    }

    // MARK: Whitespace

    @Test func trimsLineEndsAndTrailingBlankLines() {
        #expect(Self.process("x = 1   \n    y = 2\t\n\n\n", "def f():\n    ", "", language: "python") == "x = 1\n    y = 2")
        #expect(Self.process("   \n\n  ", "def f():\n    ", "", language: "python") == nil)
        #expect(Self.process("", "let x = ", "\n") == nil)
    }
}
