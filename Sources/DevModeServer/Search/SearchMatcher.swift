import DevModeClock
import Synchronization

/// The time a search may take, checked every `stepsPerCheck` steps of matching work (a step is one
/// NFA thread advanced over one scalar, one scalar of a literal scan, or 16 bytes of a byte scan):
/// inside a long line as well as between lines and files. It also stops the work when the
/// request is cancelled.
struct SearchBudget {
    enum Stop: Sendable, Equatable {
        case timedOut
        case cancelled
    }

    let clock: any ServerClock
    let deadline: ContinuousClock.Instant
    let cancelled: CancelFlag
    let stepsPerCheck: Int
    private var untilCheck: Int
    /// Steps spent so far (tests compare them across input sizes).
    private(set) var steps = 0
    private(set) var stop: Stop?

    init(clock: any ServerClock, deadline: ContinuousClock.Instant, cancelled: CancelFlag, stepsPerCheck: Int) {
        self.clock = clock
        self.deadline = deadline
        self.cancelled = cancelled
        self.stepsPerCheck = stepsPerCheck
        self.untilCheck = stepsPerCheck
    }

    /// Spends `count` steps; false once the search must stop.
    @inline(__always)
    mutating func spend(_ count: Int) -> Bool {
        steps &+= count
        untilCheck -= count
        if untilCheck > 0 { return stop == nil }
        return check()
    }

    /// Reads the clock (and the cancel flag) now; false once the search must stop.
    mutating func check() -> Bool {
        untilCheck = stepsPerCheck
        if stop != nil { return false }
        if cancelled.isSet {
            stop = .cancelled
        } else if clock.now >= deadline {
            stop = .timedOut
        }
        return stop == nil
    }
}

/// Set once, read from the pool thread: the request was cancelled.
final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}

/// Finds every non-overlapping match of a `SearchPattern` in one line of scalars, leftmost first.
/// Keeps its thread lists between lines, so a search allocates them once.
struct SearchMatcher {
    let pattern: SearchPattern
    private var current: ThreadList
    private var next: ThreadList
    private var stack: [Int] = []

    init(_ pattern: SearchPattern) {
        self.pattern = pattern
        let size = pattern.program?.count ?? 0
        current = ThreadList(capacity: size)
        next = ThreadList(capacity: size)
    }

    /// The start index (in scalars) of each match in `line`, at most `limit` of them; stops early
    /// (with what it found) when the budget says so.
    mutating func matches(in line: [UInt32], limit: Int, budget: inout SearchBudget) -> [Int] {
        if pattern.program == nil { return literalMatches(in: line, limit: limit, budget: &budget) }
        var starts: [Int] = []
        var from = 0
        while from <= line.count, starts.count < limit {
            guard let (start, end) = firstMatch(in: line, from: from, budget: &budget) else { break }
            starts.append(start)
            from = end > start ? end : end + 1
        }
        return starts
    }

    // MARK: Literal (Knuth–Morris–Pratt: linear in the line, whatever the literal)

    private func literalMatches(in line: [UInt32], limit: Int, budget: inout SearchBudget) -> [Int] {
        let needle = pattern.literal
        let failure = pattern.failure
        guard !needle.isEmpty, line.count >= needle.count else { return [] }
        var starts: [Int] = []
        var k = 0
        var index = 0
        while index < line.count {
            if index & 1023 == 0, !budget.spend(1024) { break }
            let value = line[index]
            while k > 0 && value != needle[k] { k = failure[k - 1] }
            if value == needle[k] { k += 1 }
            if k == needle.count {
                starts.append(index + 1 - needle.count)
                if starts.count >= limit { break }
                k = 0  // non-overlapping
            }
            index += 1
        }
        return starts
    }

    // MARK: Pike VM

    struct ThreadList {
        /// Sparse set over program counters, with each thread's start index.
        var dense: [(pc: Int, start: Int)] = []
        var sparse: [Int]

        init(capacity: Int) {
            sparse = [Int](repeating: 0, count: capacity)
            dense.reserveCapacity(capacity)
        }

        func contains(_ pc: Int) -> Bool {
            let slot = sparse[pc]
            return slot < dense.count && dense[slot].pc == pc
        }

        mutating func insert(_ pc: Int, start: Int) {
            sparse[pc] = dense.count
            dense.append((pc, start))
        }

        mutating func clear() { dense.removeAll(keepingCapacity: true) }
    }

    /// Adds the thread at `pc` and everything it reaches without reading a scalar, in priority
    /// order, to `list` (evaluated at `index` of `line`).
    private static func add(
        _ pc: Int, start: Int, at index: Int, in line: [UInt32], to list: inout ThreadList, program: [SearchPattern.Instruction],
        stack: inout [Int]
    ) {
        stack.removeAll(keepingCapacity: true)
        stack.append(pc)
        while let pc = stack.popLast() {
            if list.contains(pc) { continue }
            list.insert(pc, start: start)
            switch program[pc] {
            case .jump(let target):
                stack.append(target)
            case .split(let first, let second):
                stack.append(second)
                stack.append(first)
            case .lineStart:
                if index == 0 { stack.append(pc + 1) }
            case .lineEnd:
                if index == line.count { stack.append(pc + 1) }
            case .wordBoundary(let not):
                let before = index > 0 && SearchPattern.isWord(line[index - 1])
                let after = index < line.count && SearchPattern.isWord(line[index])
                if (before != after) != not { stack.append(pc + 1) }
            case .scalar, .any, .set, .match:
                break
            }
        }
    }

    /// The leftmost match at or after `from` (leftmost-first among its ends, as ICU and Perl).
    private mutating func firstMatch(in line: [UInt32], from: Int, budget: inout SearchBudget) -> (Int, Int)? {
        guard let program = pattern.program else { return nil }
        let sets = pattern.sets
        let caseInsensitive = pattern.caseInsensitive
        current.clear()
        var found: (Int, Int)?
        var index = from
        while true {
            // A new thread starts here until a match is found; it has the lowest priority.
            if found == nil {
                Self.add(0, start: index, at: index, in: line, to: &current, program: program, stack: &stack)
            }
            if current.dense.isEmpty { break }
            guard budget.spend(current.dense.count) else { return found }
            next.clear()
            let value: UInt32? = index < line.count ? line[index] : nil
            for thread in current.dense {
                let pc = thread.pc
                let advance: Bool
                switch program[pc] {
                case .match:
                    found = (thread.start, index)
                    advance = false
                case .scalar(let expected):
                    advance = value == expected
                case .any:
                    advance = value != nil
                case .set(let set):
                    advance = value.map { sets[set].contains($0, caseInsensitive: caseInsensitive) } ?? false
                case .split, .jump, .lineStart, .lineEnd, .wordBoundary:
                    advance = false
                }
                if case .match = program[pc] { break }  // threads of lower priority lose to this match
                if advance {
                    Self.add(pc + 1, start: thread.start, at: index + 1, in: line, to: &next, program: program, stack: &stack)
                }
            }
            if index >= line.count { break }
            swap(&current, &next)
            index += 1
        }
        return found
    }
}

extension SearchPattern {
    /// Case-insensitive sets: the text is folded (lowercase), so `[A-Z]` also tries the
    /// uppercase of a folded letter.
    enum Upper {
        static func itemsContain(_ set: ScalarSet, folded value: UInt32) -> Bool {
            let upper: UInt32
            if value < 0x80 {
                guard (0x61...0x7A).contains(value) else { return false }
                upper = value - 0x20
            } else {
                guard let scalar = Unicode.Scalar(value) else { return false }
                let mapped = scalar.properties.uppercaseMapping.unicodeScalars
                guard mapped.count == 1, let first = mapped.first, first.value != value else { return false }
                upper = first.value
            }
            return set.itemsContain(upper)
        }
    }
}
