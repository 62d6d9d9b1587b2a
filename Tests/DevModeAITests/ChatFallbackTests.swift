import Testing
@testable import DevModeAI

@Suite struct ChatFallbackTests {
    @Test func promptMarksTheHoleBetweenPrefixAndSuffix() {
        let (system, messages) = ChatFallback.prompt(
            prefix: "def add(a, b):\n    ", suffix: "\n\nprint(add(1, 2))\n", path: "calc.py", language: "python")
        #expect(system.contains("<COMPLETION></COMPLETION>"))
        #expect(system.contains(ChatFallback.holeMarker))
        #expect(messages.count == 1)
        #expect(messages.first?.role == .user)
        let user = messages.first?.content ?? ""
        #expect(user.hasPrefix("File: calc.py\nLanguage: python\n<QUERY>\ndef add(a, b):\n    {{FILL_HERE}}\n\nprint(add(1, 2))\n\n</QUERY>\n"))
        // No path, no language: no lines for them.
        let bare = ChatFallback.prompt(prefix: "x = ", suffix: "", path: nil, language: nil).messages[0].content
        #expect(bare.hasPrefix("<QUERY>\nx = {{FILL_HERE}}\n</QUERY>"))
    }

    @Test func extractsTheTaggedCompletion() {
        #expect(ChatFallback.extractCompletion(from: "<COMPLETION>return a + b</COMPLETION>", prefix: "def add(a, b):\n    ", suffix: "\n") == "return a + b")
        let chatty = "Sure! Here is the code:\n<COMPLETION>return a + b</COMPLETION>\nLet me know if you need more."
        #expect(ChatFallback.extractCompletion(from: chatty, prefix: "def add(a, b):\n    ", suffix: "\n") == "return a + b")
        // Cut off before the closing tag.
        #expect(ChatFallback.extractCompletion(from: "<COMPLETION>a + b", prefix: "x = ", suffix: "\n") == "a + b")
        #expect(ChatFallback.extractCompletion(from: "<COMPLETION></COMPLETION>", prefix: "x = ", suffix: "\n") == "")
        #expect(ChatFallback.extractCompletion(from: "<COMPLETION/>", prefix: "x = ", suffix: "\n") == "")
        #expect(ChatFallback.extractCompletion(from: "<COMPLETION>{{FILL_HERE}}a + b</COMPLETION>", prefix: "x = ", suffix: "\n") == "a + b")
    }

    @Test func stripsMarkdownFences() {
        #expect(ChatFallback.extractCompletion(from: "```python\nreturn a + b\n```", prefix: "def add(a, b):\n    ", suffix: "\n") == "return a + b")
        let fencedInTags = "<COMPLETION>\n```swift\nitems.count\n```\n</COMPLETION>"
        #expect(ChatFallback.extractCompletion(from: fencedInTags, prefix: "let n = ", suffix: "\n") == "items.count")
        let prose = "The missing line is:\n\n```go\nfmt.Println(total)\n```\n\nThis prints the total."
        #expect(ChatFallback.extractCompletion(from: prose, prefix: "func main() {\n\t", suffix: "\n}\n") == "fmt.Println(total)")
    }

    @Test func stripsAnEchoedPrefixLine() {
        let reply = "<COMPLETION>const total = items.length;</COMPLETION>"
        #expect(ChatFallback.extractCompletion(from: reply, prefix: "function count(items) {\n    const total = ", suffix: "\n}") == "items.length;")
        #expect(ChatFallback.extractCompletion(from: "fmt.Println(\"hi\")", prefix: "func main() {\n\tfmt.", suffix: "\n}") == "Println(\"hi\")")
    }

    @Test func stripsAnEchoOfSeveralLinesAndThePostProcessorDropsTheSuffix() {
        let prefix = "func square(_ x: Int) -> Int {\n    "
        let suffix = "\n}\n"
        let reply = "```swift\nfunc square(_ x: Int) -> Int {\n    return x * x\n}\n```"
        let extracted = ChatFallback.extractCompletion(from: reply, prefix: prefix, suffix: suffix, language: "swift")
        #expect(extracted == "return x * x\n}")
        #expect(PostProcessor.process(extracted, prefix: prefix, suffix: suffix, options: .init(language: "swift")) == "return x * x")
    }

    @Test func indentationTheCursorsLineHasIsNotRepeated() {
        let reply = "<COMPLETION>    start()\n    wait()</COMPLETION>"
        #expect(ChatFallback.extractCompletion(from: reply, prefix: "if ready {\n    ", suffix: "\n}") == "start()\n    wait()")
    }

    @Test func aLeadingNewlineIsKeptOnlyAfterABlockOpener() {
        let body = "<COMPLETION>\n  return `Hello, ${name}`;\n</COMPLETION>"
        #expect(ChatFallback.extractCompletion(from: body, prefix: "function greet(name) {", suffix: "\n}") == "\n  return `Hello, ${name}`;")
        #expect(ChatFallback.extractCompletion(from: "<COMPLETION>\nitems.count\n</COMPLETION>", prefix: "let n = ", suffix: "\n") == "items.count")
        let python = "<COMPLETION>\n    return self.name\n</COMPLETION>"
        #expect(ChatFallback.extractCompletion(from: python, prefix: "class User:\n  def label(self):", suffix: "\n", language: "python") == "\n    return self.name")
    }
}
