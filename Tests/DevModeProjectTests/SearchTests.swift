import DevModeClock
import DevModeProtocol
@testable import DevModeServer
import DevModeTestSupport
import Dispatch
import Foundation
import JSONRPC
import Synchronization
import Testing

/// `file/search` cannot starve other tenants (a linear matcher, a deadline checked inside lines, its
/// own pool, a per-session limit), and its columns are right (case folding, line endings, the
/// session's position encoding). Nothing here measures time: clocks are injected and moved.
@Suite("Search")
struct SearchTests {
    typealias Match = FileSearchResult.Match

    // MARK: The matcher is linear

    /// Backtracking engines (Swift Regex took 10 s for 18 a's, 74 s for 20) are exponential on these;
    /// the Pike VM's steps grow linearly with the input: doubling the input at most doubles them.
    @Test func pathologicalPatternsTakeLinearSteps() throws {
        for source in ["(a+)+$", "(a|aa)+$", "(a*)*b", "((a+)+)+$", "(a|a)*b", "(.*)*b", "(a?){30}a{30}$"] {
            let pattern = try SearchPattern.regex(source, caseInsensitive: false)
            func steps(_ count: Int) -> (Int, [Int]) {
                var budget = SearchBudget(
                    clock: TestClock(), deadline: .now + .seconds(3600), cancelled: CancelFlag(), stepsPerCheck: 1 << 20)
                var matcher = SearchMatcher(pattern)
                let line = Array(repeating: UInt32(0x61), count: count) + [0x21]  // "aaa…a!"
                let found = matcher.matches(in: line, limit: 10, budget: &budget)
                return (budget.steps, found)
            }
            let (small, smallFound) = steps(2_000)
            let (large, largeFound) = steps(4_000)
            #expect(smallFound.isEmpty && largeFound.isEmpty, "\(source) matched \(smallFound) \(largeFound)")
            #expect(large <= small * 2 + 1_000, "\(source): \(small) steps for 2000, \(large) for 4000")
        }
    }

    @Test func regexSyntaxMatchesLikeICUOnWhatItSupports() throws {
        func starts(_ source: String, _ text: String, caseInsensitive: Bool = false) throws -> [Int] {
            let pattern = try SearchPattern.regex(source, caseInsensitive: caseInsensitive)
            var matcher = SearchMatcher(pattern)
            var budget = SearchBudget(clock: TestClock(), deadline: .now + .seconds(60), cancelled: CancelFlag(), stepsPerCheck: 1024)
            var scalars: [UInt32] = []
            SearchJob.decode(ArraySlice(Array(text.utf8)), folding: caseInsensitive, into: &scalars)
            return matcher.matches(in: scalars, limit: 100, budget: &budget)
        }
        #expect(try starts("(a+)+$", String(repeating: "a", count: 20) + "!") == [])
        #expect(try starts("(a+)+$", "xaaa") == [1])
        #expect(try starts(#"\bfoo\b"#, "foo food foo") == [0, 9])
        #expect(try starts("a|b", "cab") == [1, 2])
        #expect(try starts("[^a-c]+", "abxyc") == [2])
        #expect(try starts(#"\d{2,3}"#, "1 22 4444") == [2, 5])
        #expect(try starts("colou?r", "color colour") == [0, 6])
        #expect(try starts("^ab", "abab") == [0])
        #expect(try starts("b$", "abab") == [3])
        #expect(try starts("[a-z]+", "ABC", caseInsensitive: true) == [0])
        #expect(try starts("[^a-z]", "ABC", caseInsensitive: true) == [])
        #expect(try starts("STRASSE", "strasse", caseInsensitive: true) == [0])
        #expect(try starts(#"x{"#, "x{") == [0])
        for unsupported in [#"(a)\1"#, "(?=a)", "(?<n>a)", "(?i)a", "a++", "[[:alpha:]]", "(", "a{5,2}", "a{2000}", #"\p{L}"#] {
            #expect(throws: SearchPattern.SyntaxError.self, "\(unsupported)") {
                _ = try SearchPattern.regex(unsupported, caseInsensitive: false)
            }
        }
    }

    /// The old search took 74 s for this one file (20 a's); now it answers, with no match.
    @Test func catastrophicRegexAnswersOverTheWire() async throws {
        try await ProjectWorld.run { world in
            try await world.write("bad.txt", String(repeating: "a", count: 20) + "!\naaa\n")
            let result = try await world.memberA.send(FileSearchRequest(projectId: world.projectId, query: "(a+)+$", regex: true))
            #expect(result.matches == [Match(path: "bad.txt", line: 1, character: 0, text: "aaa")])
            #expect(!result.timedOut && !result.truncated)
            let error = await expectError(.invalidParams) {
                try await world.memberA.send(FileSearchRequest(projectId: world.projectId, query: #"(a)\1"#, regex: true))
            }
            #expect(error?.data?["field"]?.stringValue == "query")
            #expect(error?.message.contains("back-references") == true)
        }
    }

    // MARK: The deadline is checked inside a line

    /// A clock that moves 1 ms each time it is read, and remembers what it answered: a search's
    /// deadline is then a number of clock reads, and the test sees whether any work went on after
    /// a read that passed it.
    final class TickingClock: ServerClock {
        private let clock = TestClock()
        private let answers = Mutex<[ContinuousClock.Instant]>([])
        var now: ContinuousClock.Instant {
            answers.withLock { answers in
                let now = clock.now
                clock.advance(by: .milliseconds(1))
                answers.append(now)
                return now
            }
        }
        var reads: [ContinuousClock.Instant] { answers.withLock { $0 } }
        func sleep(until deadline: ContinuousClock.Instant) async throws { try await clock.sleep(until: deadline) }
    }

    /// One line of 400,000 a's: the old search read the clock between files only, so one file ran to
    /// its end whatever `timeoutMs` said (`timedOut` false). Now the limit stops the line midway, at
    /// the first read of the clock past the deadline.
    @Test(arguments: [("b", false), ("(a+)+$", true), ("(a|aa)+b", true), ("B", false)])
    func deadlineIsCheckedInsideALongLine(query: String, regex: Bool) async throws {
        let clock = TickingClock()
        // The server's one clock: the search's deadline is measured on it.
        let configuration = ServerConfiguration(search: SearchService.Settings(stepsPerCheck: 1024), clock: clock)
        try await ProjectWorld.run(configuration: configuration) { world in
            try await world.write("long.txt", String(repeating: "a", count: 400_000) + "!\n")
            let caseSensitive = query != "B"
            // The session reads the clock for every request too (its credential re-check): count
            // those reads on a request that does not search, and leave them out.
            let beforeOther = clock.reads.count
            _ = try await world.memberA.send(AuthWhoAmIRequest())
            let perRequest = clock.reads.count - beforeOther
            let before = clock.reads.count
            let result = try await world.memberA.send(
                FileSearchRequest(projectId: world.projectId, query: query, regex: regex, caseSensitive: caseSensitive, timeoutMs: 10))
            #expect(result.timedOut)
            let reads = Array(clock.reads.dropFirst(before + perRequest))
            let deadline = try #require(reads.first) + .milliseconds(10)
            #expect(reads.filter { $0 >= deadline }.count == 1, "reads after the deadline: \(reads.count)")
            // It stopped within the line: ten reads at 1024 steps apart cover far less than 400,000 a's.
            #expect(reads.count <= 12)
        }
    }

    // MARK: Its own pool and a per-session limit

    /// Searches hold every search thread (a gate keeps them running); the session's next search is
    /// refused with -32021 and the limit; another session's `server/info` is answered meanwhile, and
    /// so is its own search once a thread is free. The old search ran on the cooperative pool, whose
    /// two threads the held searches would have taken from every other request.
    @Test func searchesRunOnTheirOwnPoolWithAPerSessionLimit() async throws {
        let (started, startedContinuation) = AsyncStream<Void>.makeStream()
        let gate = DispatchSemaphore(value: 0)
        let settings = SearchService.Settings(
            threads: 2, maxSearchesPerSession: 2,
            willSearch: {
                startedContinuation.yield()
                gate.wait()
            })
        try await ProjectWorld.run(configuration: ServerConfiguration(search: settings)) { world in
            try await world.write("a.txt", "needle\n")
            let id = world.projectId
            let member = world.memberA
            let first = Task { try await member.send(FileSearchRequest(projectId: id, query: "needle")) }
            let second = Task { try await member.send(FileSearchRequest(projectId: id, query: "needle")) }
            var events = started.makeAsyncIterator()
            _ = await events.next()
            _ = await events.next()
            // Both search threads are held now.
            let refused = await expectError(.tooManyRequests) {
                try await member.send(FileSearchRequest(projectId: id, query: "needle"))
            }
            #expect(refused?.data == ["limit": 2, "setting": "maxSearchesPerSession"])
            let info = try await world.adminA.send(ServerInfoRequest())
            #expect(!info.version.isEmpty)
            // Another session is not limited by this one's searches: it waits for a thread.
            let other = Task { try await world.adminA.send(FileSearchRequest(projectId: id, query: "needle")) }
            gate.signal()
            gate.signal()
            _ = await events.next()
            gate.signal()
            let expected = [Match(path: "a.txt", line: 0, character: 0, text: "needle")]
            #expect(try await first.value.matches == expected)
            #expect(try await second.value.matches == expected)
            #expect(try await other.value.matches == expected)
            // The slots are free again.
            let again = Task { try await member.send(FileSearchRequest(projectId: id, query: "needle")) }
            _ = await events.next()
            gate.signal()
            #expect(try await again.value.matches == expected)
        }
    }

    // MARK: Columns

    /// "İ" lowercases to two scalars ("i" and a combining dot): the old search lowercased the line and
    /// counted columns in that, one too far for every "İ" before the match.
    @Test func caseInsensitiveColumnsAreThoseOfTheOriginalLine() async throws {
        try await ProjectWorld.run { world in
            try await world.write("tr.txt", "İİ x İstanbul\n")
            let id = world.projectId
            let literal = try await world.memberA.send(FileSearchRequest(projectId: id, query: "X", caseSensitive: false))
            #expect(literal.matches.map(\.character) == [3])
            let regex = try await world.memberA.send(FileSearchRequest(projectId: id, query: "x|ist", regex: true, caseSensitive: false))
            #expect(regex.matches.map(\.character) == [3, 5])
            // "i" finds the dotted capital too, one column each.
            let dotted = try await world.memberA.send(FileSearchRequest(projectId: id, query: "i", caseSensitive: false))
            #expect(dotted.matches.map(\.character) == [0, 1, 5])
        }
    }

    /// Lines end at "\n", "\r\n" or "\r" (LSP's three), and the text has no "\r".
    @Test func linesSplitOnEveryLineEnding() async throws {
        try await ProjectWorld.run { world in
            try await world.write("crlf.txt", "one x\r\ntwo\rthree x\rfour\n")
            let result = try await world.memberA.send(FileSearchRequest(projectId: world.projectId, query: "x"))
            #expect(
                result.matches == [
                    Match(path: "crlf.txt", line: 0, character: 4, text: "one x"),
                    Match(path: "crlf.txt", line: 2, character: 6, text: "three x"),
                ])
            let anchored = try await world.memberA.send(FileSearchRequest(projectId: world.projectId, query: "x$", regex: true))
            #expect(anchored.matches.map(\.line) == [0, 2])
        }
    }

    /// The column counts what the session negotiated at `initialize`: UTF-16 units by default, bytes
    /// for utf-8, scalars for utf-32. "😀é x": 😀 is 2/4/1 units, é 1/2/1.
    @Test(arguments: [("utf-16", 4), ("utf-8", 7), ("utf-32", 3), (nil, 4)])
    func columnsFollowTheNegotiatedPositionEncoding(encoding: String?, column: Int) async throws {
        try await ProjectWorld.run { world in
            try await world.write("emoji.txt", "😀é x\n")
            let client = TestClient(server: world.server)
            defer { Task { await client.close() } }
            let capabilities: JSONValue = encoding.map { ["general": ["positionEncodings": [.string($0)]]] } ?? [:]
            let initialized = try await client.connection.send(
                InitializeRequest(capabilities: capabilities, initializationOptions: ["token": .string(world.fixture.memberA.key)]))
            #expect(initialized.capabilities.positionEncoding == (encoding ?? "utf-16"))
            client.send(InitializedNotification())
            for regex in [false, true] {
                for caseSensitive in [true, false] {
                    let result = try await client.send(
                        FileSearchRequest(projectId: world.projectId, query: "x", regex: regex, caseSensitive: caseSensitive))
                    #expect(result.matches.map(\.character) == [column], "regex \(regex), caseSensitive \(caseSensitive)")
                }
            }
            await client.close()
        }
    }
}
