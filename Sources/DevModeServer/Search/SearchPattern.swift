/// What `file/search` looks for in a line: a literal, or a regular expression compiled to a
/// Thompson NFA and run by a Pike VM, so matching takes time linear in the line's length times the
/// pattern's size, whatever the pattern (`(a+)+$` included): there is no backtracking. Neither Swift
/// Regex nor ICU nor glibc's `regexec` is linear (glibc took 0.7 s for `(a+)+$` over 5,000 a's and
/// quadrupled with each doubling), so devmode carries this small matcher.
///
/// Lines are arrays of Unicode scalar values. In case-insensitive mode the pattern and the text are
/// folded one scalar to one scalar (`SearchPattern.fold`), so a match's index in the folded line is
/// its index in the original line: columns are never shifted by a folding that changes a length.
///
/// Supported syntax (an ERE-like subset of what ICU accepts, documented in `file/search`):
/// literals; `.`; `[…]` and `[^…]` with ranges and `\d \w \s \D \W \S` and escapes inside;
/// `\d \w \s \D \W \S`; `\t \n \r \f \v \0`, `\xHH`, `\u{H…}`; an escaped punctuation character;
/// `^ $` (the line's start and end); `\b \B`; `(…)` and `(?:…)`; `|`; `* + ? {n} {n,} {n,m}`
/// (each also lazy with a trailing `?`; counts up to 1000). Refused with a message: back-references,
/// lookaround, named groups, inline flags, possessive quantifiers, and programs over
/// `maxInstructions`.
struct SearchPattern: Sendable {
    struct SyntaxError: Error, Sendable, Equatable {
        var message: String
    }

    /// A set of scalars: `[…]` or a class escape.
    struct ScalarSet: Sendable, Equatable {
        enum Item: Sendable, Equatable {
            case range(UInt32, UInt32)
            case digit(Bool)  // false: \d; true: \D
            case word(Bool)
            case space(Bool)
        }

        var items: [Item]
        var negated: Bool

        /// Whether the set matches `value`; with `caseInsensitive`, `value` is folded text and the
        /// set also matches when it names the folded letter's uppercase.
        func contains(_ value: UInt32, caseInsensitive: Bool) -> Bool {
            let named = itemsContain(value) || (caseInsensitive && Upper.itemsContain(self, folded: value))
            return named != negated
        }

        /// Whether one of the items names `value` (negation not applied).
        func itemsContain(_ value: UInt32) -> Bool {
            var found = false
            for item in items {
                switch item {
                case .range(let low, let high): found = low <= value && value <= high
                case .digit(let not): found = SearchPattern.isDigit(value) != not
                case .word(let not): found = SearchPattern.isWord(value) != not
                case .space(let not): found = SearchPattern.isSpace(value) != not
                }
                if found { break }
            }
            return found
        }
    }

    enum Instruction: Sendable, Equatable {
        case scalar(UInt32)
        case any
        /// Index into `sets`.
        case set(Int)
        /// Try the first target before the second.
        case split(Int, Int)
        case jump(Int)
        case lineStart
        case lineEnd
        case wordBoundary(Bool)  // false: \b; true: \B
        case match
    }

    /// The largest program a pattern may compile to (counted repetitions copy their operand).
    static let maxInstructions = 20_000
    static let maxRepetition = 1_000

    /// nil for a literal.
    let program: [Instruction]?
    let sets: [ScalarSet]
    /// The literal (folded when case-insensitive) and its KMP failure table.
    let literal: [UInt32]
    let failure: [Int]
    let caseInsensitive: Bool

    static func literal(_ text: String, caseInsensitive: Bool) -> SearchPattern {
        let scalars = text.unicodeScalars.map { caseInsensitive ? fold($0.value) : $0.value }
        var failure = [Int](repeating: 0, count: scalars.count)
        var k = 0
        for i in scalars.indices.dropFirst() {
            while k > 0 && scalars[i] != scalars[k] { k = failure[k - 1] }
            if scalars[i] == scalars[k] { k += 1 }
            failure[i] = k
        }
        return SearchPattern(program: nil, sets: [], literal: scalars, failure: failure, caseInsensitive: caseInsensitive)
    }

    static func regex(_ pattern: String, caseInsensitive: Bool) throws(SyntaxError) -> SearchPattern {
        var parser = Parser(scalars: Array(pattern.unicodeScalars.map(\.value)), caseInsensitive: caseInsensitive)
        let node = try parser.parse()
        var compiler = Compiler(sets: parser.sets)
        try compiler.emit(node)
        compiler.program.append(.match)
        return SearchPattern(
            program: compiler.program, sets: parser.sets, literal: [], failure: [], caseInsensitive: caseInsensitive)
    }

    // MARK: Scalars

    /// One scalar to one scalar, so that indices survive: the lowercase of the uppercase where both
    /// are single scalars ("ς" and "σ" meet, "ſ" meets "s"), else the first scalar of the
    /// lowercase ("İ" → "i"); ASCII without a table.
    static func fold(_ value: UInt32) -> UInt32 {
        if value < 0x80 { return (0x41...0x5A).contains(value) ? value + 0x20 : value }
        guard let scalar = Unicode.Scalar(value) else { return value }
        let upper = scalar.properties.uppercaseMapping.unicodeScalars
        let base = upper.count == 1 ? upper.first! : scalar
        return base.properties.lowercaseMapping.unicodeScalars.first?.value ?? value
    }

    static func isDigit(_ value: UInt32) -> Bool {
        if value < 0x80 { return (0x30...0x39).contains(value) }
        return Unicode.Scalar(value)?.properties.numericType == .decimal
    }

    static func isWord(_ value: UInt32) -> Bool {
        if value < 0x80 {
            return (0x30...0x39).contains(value) || (0x41...0x5A).contains(value) || (0x61...0x7A).contains(value)
                || value == 0x5F
        }
        guard let properties = Unicode.Scalar(value)?.properties else { return false }
        return properties.isAlphabetic || properties.numericType == .decimal
            || properties.generalCategory == .nonspacingMark || properties.generalCategory == .connectorPunctuation
    }

    static func isSpace(_ value: UInt32) -> Bool {
        if value < 0x80 { return value == 0x20 || (0x09...0x0D).contains(value) }
        return Unicode.Scalar(value)?.properties.isWhitespace ?? false
    }
}

// MARK: - Parsing

extension SearchPattern {
    indirect enum Node: Sendable {
        case empty
        case scalar(UInt32)
        case any
        case set(Int)
        case sequence([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int?, greedy: Bool)
        case lineStart
        case lineEnd
        case wordBoundary(Bool)
    }

    struct Parser {
        let scalars: [UInt32]
        let caseInsensitive: Bool
        var position = 0
        var sets: [ScalarSet] = []
        var depth = 0

        init(scalars: [UInt32], caseInsensitive: Bool) {
            self.scalars = scalars
            self.caseInsensitive = caseInsensitive
        }

        private var atEnd: Bool { position >= scalars.count }
        private var peek: UInt32? { atEnd ? nil : scalars[position] }

        private func fail(_ message: String) -> SyntaxError {
            SyntaxError(message: "\(message) at offset \(position)")
        }

        mutating func parse() throws(SyntaxError) -> Node {
            let node = try parseAlternation()
            if !atEnd {
                // Only an unmatched ')' stops the top level early.
                throw fail("unmatched ')'")
            }
            return node
        }

        private mutating func parseAlternation() throws(SyntaxError) -> Node {
            var branches = [try parseSequence()]
            while peek == 0x7C {  // |
                position += 1
                branches.append(try parseSequence())
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        private mutating func parseSequence() throws(SyntaxError) -> Node {
            var items: [Node] = []
            while let next = peek, next != 0x7C, next != 0x29 {  // | )
                let atom = try parseAtom()
                items.append(try parseQuantifiers(atom))
            }
            switch items.count {
            case 0: return .empty
            case 1: return items[0]
            default: return .sequence(items)
            }
        }

        private mutating func parseQuantifiers(_ atom: Node) throws(SyntaxError) -> Node {
            var node = atom
            while let next = peek {
                let min: Int
                let max: Int?
                switch next {
                case 0x2A: min = 0; max = nil; position += 1  // *
                case 0x2B: min = 1; max = nil; position += 1  // +
                case 0x3F: min = 0; max = 1; position += 1  // ?
                case 0x7B:  // {
                    guard let counted = try parseCount() else { return node }
                    (min, max) = counted
                default:
                    return node
                }
                if case .lineStart = node { throw fail("nothing to repeat") }
                if case .lineEnd = node { throw fail("nothing to repeat") }
                if case .wordBoundary = node { throw fail("nothing to repeat") }
                var greedy = true
                if peek == 0x3F {  // lazy
                    greedy = false
                    position += 1
                }
                if peek == 0x2B { throw fail("possessive quantifiers are not supported") }
                node = .repetition(node, min: min, max: max, greedy: greedy)
            }
            return node
        }

        /// `{n}`, `{n,}`, `{n,m}`; nil (and nothing consumed) when the brace does not start one,
        /// in which case it is a literal `{`.
        private mutating func parseCount() throws(SyntaxError) -> (Int, Int?)? {
            let start = position
            position += 1
            func number(_ parser: inout Parser) -> Int? {
                var value: Int?
                while let digit = parser.peek, (0x30...0x39).contains(digit) {
                    value = min((value ?? 0) * 10 + Int(digit - 0x30), 1_000_000)
                    parser.position += 1
                }
                return value
            }
            guard let low = number(&self) else {
                position = start
                return nil
            }
            var high: Int? = low
            if peek == 0x2C {  // ,
                position += 1
                high = number(&self)
            }
            guard peek == 0x7D else {  // }
                position = start
                return nil
            }
            position += 1
            if low > SearchPattern.maxRepetition || (high ?? 0) > SearchPattern.maxRepetition {
                throw fail("a repetition count over \(SearchPattern.maxRepetition)")
            }
            if let high, high < low { throw fail("a repetition whose maximum is below its minimum") }
            return (low, high)
        }

        private mutating func parseAtom() throws(SyntaxError) -> Node {
            let next = scalars[position]
            switch next {
            case 0x28:  // (
                position += 1
                if peek == 0x3F {  // ?
                    position += 1
                    guard peek == 0x3A else {  // :
                        throw fail("lookaround, named groups and inline flags are not supported")
                    }
                    position += 1
                }
                depth += 1
                if depth > 200 { throw fail("groups nested too deeply") }
                let inner = try parseAlternation()
                depth -= 1
                guard peek == 0x29 else { throw fail("missing ')'") }
                position += 1
                return inner
            case 0x5B:  // [
                position += 1
                return .set(try parseSet())
            case 0x2E:  // .
                position += 1
                return .any
            case 0x5E:  // ^
                position += 1
                return .lineStart
            case 0x24:  // $
                position += 1
                return .lineEnd
            case 0x5C:  // \
                return try parseEscape()
            case 0x2A, 0x2B, 0x3F:
                throw fail("nothing to repeat")
            default:
                position += 1
                return .scalar(literal(next))
            }
        }

        private func literal(_ value: UInt32) -> UInt32 {
            caseInsensitive ? SearchPattern.fold(value) : value
        }

        private mutating func addSet(_ set: ScalarSet) -> Int {
            sets.append(set)
            return sets.count - 1
        }

        private mutating func parseEscape() throws(SyntaxError) -> Node {
            position += 1
            guard let next = peek else { throw fail("a trailing backslash") }
            switch next {
            case 0x62: position += 1; return .wordBoundary(false)  // \b
            case 0x42: position += 1; return .wordBoundary(true)  // \B
            default: break
            }
            if let item = try parseClassEscape() {
                return .set(addSet(ScalarSet(items: [item], negated: false)))
            }
            return .scalar(literal(try parseScalarEscape()))
        }

        /// `\d \w \s \D \W \S` (the backslash consumed), or nil with nothing consumed.
        private mutating func parseClassEscape() throws(SyntaxError) -> ScalarSet.Item? {
            guard let next = peek else { return nil }
            let item: ScalarSet.Item
            switch next {
            case 0x64: item = .digit(false)
            case 0x44: item = .digit(true)
            case 0x77: item = .word(false)
            case 0x57: item = .word(true)
            case 0x73: item = .space(false)
            case 0x53: item = .space(true)
            default: return nil
            }
            position += 1
            return item
        }

        /// A scalar after a backslash (the backslash consumed).
        private mutating func parseScalarEscape() throws(SyntaxError) -> UInt32 {
            guard let next = peek else { throw fail("a trailing backslash") }
            position += 1
            switch next {
            case 0x74: return 0x09  // \t
            case 0x6E: return 0x0A  // \n
            case 0x72: return 0x0D  // \r
            case 0x66: return 0x0C  // \f
            case 0x76: return 0x0B  // \v
            case 0x30: return 0x00  // \0
            case 0x78:  // \xHH
                var value: UInt32 = 0
                for _ in 0..<2 {
                    guard let digit = peek.flatMap(hexValue) else { throw fail("\\x needs two hex digits") }
                    value = value * 16 + digit
                    position += 1
                }
                return value
            case 0x75:  // \u{…}
                guard peek == 0x7B else { throw fail("\\u needs {hex digits}") }
                position += 1
                var value: UInt32 = 0
                var digits = 0
                while let digit = peek.flatMap(hexValue) {
                    value = value &* 16 &+ digit
                    digits += 1
                    position += 1
                }
                guard peek == 0x7D, (1...6).contains(digits), Unicode.Scalar(value) != nil else {
                    throw fail("\\u{…} needs 1 to 6 hex digits of a Unicode scalar")
                }
                position += 1
                return value
            case 0x31...0x39:
                throw fail("back-references are not supported")
            case 0x6B:  // \k
                throw fail("back-references are not supported")
            default:
                // Any escaped punctuation or symbol is itself; an escaped letter or digit we do not know
                // is refused (it means something else elsewhere, e.g. \p{…}, \A, \z).
                if let scalar = Unicode.Scalar(next), scalar.properties.isAlphabetic || SearchPattern.isDigit(next) {
                    position -= 1
                    throw fail("the escape \\\(Character(scalar)) is not supported")
                }
                return next
            }
        }

        private func hexValue(_ value: UInt32) -> UInt32? {
            switch value {
            case 0x30...0x39: return value - 0x30
            case 0x41...0x46: return value - 0x41 + 10
            case 0x61...0x66: return value - 0x61 + 10
            default: return nil
            }
        }

        /// After `[`: items up to the closing `]`. A `]` first is literal, as is a `-` first or last.
        private mutating func parseSet() throws(SyntaxError) -> Int {
            var negated = false
            if peek == 0x5E {
                negated = true
                position += 1
            }
            var items: [ScalarSet.Item] = []
            var first = true
            while true {
                guard let next = peek else { throw fail("missing ']'") }
                if next == 0x5D && !first {
                    position += 1
                    break
                }
                first = false
                if next == 0x5B, position + 1 < scalars.count, scalars[position + 1] == 0x3A {
                    throw fail("POSIX classes ([:alpha:]) are not supported; use \\w, \\d, \\s or a range")
                }
                let low: UInt32
                if next == 0x5C {
                    position += 1
                    if let item = try parseClassEscape() {
                        items.append(item)
                        continue
                    }
                    if peek == 0x62 {  // \b inside a class: backspace
                        position += 1
                        low = 0x08
                    } else {
                        low = try parseScalarEscape()
                    }
                } else {
                    position += 1
                    low = next
                }
                var high = low
                if peek == 0x2D, position + 1 < scalars.count, scalars[position + 1] != 0x5D {  // a-b
                    position += 1
                    let end = scalars[position]
                    if end == 0x5C {
                        position += 1
                        if try parseClassEscape() != nil { throw fail("a range cannot end in a class") }
                        high = try parseScalarEscape()
                    } else {
                        position += 1
                        high = end
                    }
                    if high < low { throw fail("a range out of order") }
                }
                items.append(.range(low, high))
                if caseInsensitive {
                    // The text is folded: let the set hold the folded form of each letter it names.
                    for item in foldedRanges(low, high) { items.append(item) }
                }
            }
            return addSet(ScalarSet(items: items, negated: negated))
        }

        /// The folded scalars of a range that differ from it (small ranges one by one; the ASCII and
        /// Latin-1 letter blocks as ranges).
        private func foldedRanges(_ low: UInt32, _ high: UInt32) -> [ScalarSet.Item] {
            if high - low > 512 {
                // A wide range: fold its ASCII capitals at least.
                let a = max(low, 0x41)
                let z = min(high, 0x5A)
                return a <= z ? [.range(a + 0x20, z + 0x20)] : []
            }
            var result: [ScalarSet.Item] = []
            for value in low...high {
                let folded = SearchPattern.fold(value)
                if folded != value && !(low...high).contains(folded) { result.append(.range(folded, folded)) }
            }
            return result
        }
    }
}

// MARK: - Compiling

extension SearchPattern {
    struct Compiler {
        var program: [Instruction] = []
        let sets: [ScalarSet]

        init(sets: [ScalarSet]) {
            self.sets = sets
        }

        private mutating func append(_ instruction: Instruction) throws(SyntaxError) -> Int {
            guard program.count < SearchPattern.maxInstructions else {
                throw SyntaxError(
                    message: "the expression is too large (over \(SearchPattern.maxInstructions) instructions)")
            }
            program.append(instruction)
            return program.count - 1
        }

        mutating func emit(_ node: Node) throws(SyntaxError) {
            switch node {
            case .empty:
                break
            case .scalar(let value):
                _ = try append(.scalar(value))
            case .any:
                _ = try append(.any)
            case .set(let index):
                _ = try append(.set(index))
            case .lineStart:
                _ = try append(.lineStart)
            case .lineEnd:
                _ = try append(.lineEnd)
            case .wordBoundary(let not):
                _ = try append(.wordBoundary(not))
            case .sequence(let items):
                for item in items { try emit(item) }
            case .alternation(let branches):
                var jumps: [Int] = []
                for (index, branch) in branches.enumerated() {
                    if index < branches.count - 1 {
                        let split = try append(.split(0, 0))
                        try emit(branch)
                        jumps.append(try append(.jump(0)))
                        program[split] = .split(split + 1, program.count)
                    } else {
                        try emit(branch)
                    }
                }
                for jump in jumps { program[jump] = .jump(program.count) }
            case .repetition(let inner, let min, let max, let greedy):
                for _ in 0..<min { try emit(inner) }
                if let max {
                    // (max - min) optional copies, each skipping to the end.
                    var splits: [Int] = []
                    for _ in min..<max {
                        splits.append(try append(.split(0, 0)))
                        try emit(inner)
                    }
                    for split in splits {
                        program[split] = greedy ? .split(split + 1, program.count) : .split(program.count, split + 1)
                    }
                } else {
                    // `min` mandatory copies, then a loop: `x+` is `x x*`.
                    let star = try append(.split(0, 0))
                    try emit(inner)
                    _ = try append(.jump(star))
                    program[star] = greedy ? .split(star + 1, program.count) : .split(program.count, star + 1)
                }
            }
        }
    }
}
