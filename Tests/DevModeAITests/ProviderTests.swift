import DevModeClock
import DevModeTestSupport
import Foundation
import Synchronization
import Testing
@testable import DevModeAI

/// The HTTP providers against `FakeModelServer` over real sockets: request bodies, streaming,
/// usage, every failure mapped to its `ProviderError`, the time limits, and cancellation reaching
/// the upstream connection.
///
/// The time limits run on a `TestClock` the tests move: a limit fires when the test moves the
/// clock past it and never otherwise, however loaded the machine is, and the error's phase and
/// limit say which one fired. No test here measures the wall clock.
@Suite struct ProviderTests {
    static let key = "sk-test-secret-4711"
    /// Limits for calls that should succeed (on the test clock, which only the test moves).
    static let relaxed = ModelConfiguration.Timeouts(connectMs: 5_000, firstByteMs: 10_000, idleMs: 10_000, totalMs: 30_000)
    /// One short limit each for the timeout tests; the others stay far beyond what the tests move
    /// the clock by, so the error's phase shows which limit ended the call.
    static let shortFirstByte = ModelConfiguration.Timeouts(connectMs: 60_000, firstByteMs: 500, idleMs: 60_000, totalMs: 120_000)
    static let shortIdle = ModelConfiguration.Timeouts(connectMs: 60_000, firstByteMs: 60_000, idleMs: 500, totalMs: 120_000)

    /// A started fake server and model clients whose environment holds `FAKE_KEY` and whose time
    /// limits run on `clock`; both shut down afterwards, also when `body` throws.
    static func withFixture(
        environment: [String: String] = ["FAKE_KEY": key], clock: TestClock = TestClock(),
        _ body: (FakeModelServer, ModelClients) async throws -> Void
    ) async throws {
        let server = FakeModelServer()
        try await server.start()
        let clients = ModelClients(environment: { environment[$0] }, clock: clock)
        do {
            try await body(server, clients)
        } catch {
            await clients.shutdown()
            try await server.shutdown()
            throw error
        }
        await clients.shutdown()
        try await server.shutdown()
    }

    static func openAIModel(
        _ server: FakeModelServer, name: String = "gpt-test", template: FIMTemplate? = nil, apiKeyEnv: String? = "FAKE_KEY",
        timeouts: ModelConfiguration.Timeouts = relaxed
    ) -> ModelConfiguration {
        ModelConfiguration(
            id: "m-\(name)", provider: .openai, endpoint: server.openAIEndpoint, upstreamModel: name, apiKeyEnv: apiKeyEnv,
            capabilities: .init(chat: true, fillInTheMiddle: true), fimTemplate: template, timeouts: timeouts)
    }

    static func anthropicModel(_ server: FakeModelServer, timeouts: ModelConfiguration.Timeouts = relaxed) -> ModelConfiguration {
        ModelConfiguration(
            id: "claude", provider: .anthropic, endpoint: server.anthropicEndpoint, upstreamModel: "claude-test", apiKeyEnv: "FAKE_KEY",
            capabilities: .init(chat: true), timeouts: timeouts)
    }

    static func fim(_ model: ModelConfiguration, stop: [String] = []) -> ProviderRequest {
        ProviderRequest(model: model, prompt: .fillInTheMiddle(prefix: "let x = ", suffix: "\nprint(x)"), maxTokens: 32, stop: stop)
    }

    static func chat(_ model: ModelConfiguration) -> ProviderRequest {
        ProviderRequest(
            model: model, prompt: .chat(system: "Be brief.", messages: [ChatMessage(role: .user, content: "Hi")]), maxTokens: 64,
            temperature: 0.5, stop: ["\n\n"])
    }

    static func events(_ provider: any ModelProvider, _ request: ProviderRequest) async throws -> [ProviderEvent] {
        var events: [ProviderEvent] = []
        for try await event in provider.stream(request) { events.append(event) }
        return events
    }

    /// How far a call has got, as its consumer sees it: for tests that move the clock only once
    /// the call is in the phase whose limit they test.
    final class Progress: Sendable {
        private let state = Mutex<(events: Int, finished: Bool)>((0, false))
        func saw(_ event: ProviderEvent) {
            state.withLock { state in
                state.events += 1
                if case .finished = event { state.finished = true }
            }
        }
        var events: Int { state.withLock { $0.events } }
        var finished: Bool { state.withLock { $0.finished } }
    }

    /// The `ProviderError` a call ends with (nil when it succeeds), and the events before it.
    static func failure(
        _ provider: any ModelProvider, _ request: ProviderRequest, progress: Progress? = nil
    ) async -> (error: ProviderError?, events: [ProviderEvent]) {
        var events: [ProviderEvent] = []
        do {
            for try await event in provider.stream(request) {
                progress?.saw(event)
                events.append(event)
            }
            return (nil, events)
        } catch let error as ProviderError {
            return (error, events)
        } catch {
            Issue.record("not a ProviderError: \(error)")
            return (nil, events)
        }
    }

    /// Waits until the fake server has recorded `count` requests (the call's request was sent:
    /// its connect phase is over). Polls; bounded, so a request that never comes fails the test.
    static func waitForRequests(_ server: FakeModelServer, _ count: Int) async -> Bool {
        for _ in 0..<20_000 {
            if server.requests.count >= count { return true }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return server.requests.count >= count
    }

    /// Runs `body` while moving `clock` in steps of `stepMs`, one step each time the call's timer
    /// is asleep again, once `ready()` holds; at most `maxSteps` steps (so at most
    /// `stepMs * maxSteps` of clock time passes). A call still running then is cancelled and
    /// recorded as an issue. Returns the result and the steps taken.
    static func drive<T: Sendable>(
        _ clock: TestClock, stepMs: Int = 500, maxSteps: Int = 20, ready: @escaping @Sendable () -> Bool = { true },
        _ body: @escaping @Sendable () async -> T
    ) async -> (result: T, steps: Int) {
        let done = Mutex(false)
        let task = Task {
            let result = await body()
            done.withLock { $0 = true }
            return result
        }
        var steps = 0
        while !done.withLock({ $0 }) && steps < maxSteps {
            if ready() && clock.sleepers > 0 {
                clock.advance(by: .milliseconds(stepMs))
                steps += 1
            }
            try? await Task.sleep(for: .milliseconds(1))
        }
        if !done.withLock({ $0 }) {
            Issue.record("the call did not end within \(stepMs * maxSteps) ms of clock time")
            task.cancel()
        }
        return (await task.value, steps)
    }

    // MARK: OpenAI-compatible requests and streams

    @Test(arguments: FIMTemplate.allCases)
    func fillInTheMiddleRendersTheTemplate(_ template: FIMTemplate) async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server, template: template)
            server.enqueue(.stream(chunks: ["4", "2"], usage: TokenUsage(inputTokens: 12, outputTokens: 2)))
            let result = try await clients.provider(for: model).collect(Self.fim(model, stop: ["\n\n"]))
            #expect(result.text == "42")
            #expect(result.usage == TokenUsage(inputTokens: 12, outputTokens: 2))
            #expect(result.finishReason == "stop")

            let request = try #require(server.requests.first)
            #expect(request.method == "POST")
            #expect(request.path == "/v1/completions")
            #expect(request.header("authorization") == "Bearer \(Self.key)")
            #expect(request.header("content-type") == "application/json")
            let body = try #require(request.json)
            #expect(body["model"] == "gpt-test")
            #expect(body["prompt"]?.stringValue == template.render(prefix: "let x = ", suffix: "\nprint(x)"))
            #expect(body["suffix"]?.stringValue == (template == .suffixField ? "\nprint(x)" : nil))
            #expect(body["stop"] == .array((["\n\n"] + template.stopSequences).prefix(4).map { .string($0) }))
            #expect(body["max_tokens"] == 32)
            #expect(body["stream"] == true)
            #expect(body["stream_options"] == ["include_usage": true])
        }
    }

    @Test func theFIMTemplateIsGuessedFromTheModelName() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server, name: "deepseek-coder-6.7b-base")
            server.enqueue(.stream(chunks: ["1"]))
            _ = try await clients.provider(for: model).collect(Self.fim(model))
            let body = try #require(server.requests.first?.json)
            #expect(body["prompt"]?.stringValue == "<｜fim▁begin｜>let x = <｜fim▁hole｜>\nprint(x)<｜fim▁end｜>")
            #expect(body["suffix"] == nil)
        }
    }

    @Test func aPlainCompletionSendsNoSuffixAndOnlyItsStops() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server, apiKeyEnv: nil)
            server.enqueue(.stream(chunks: ["b", "c"], finishReason: "length"))
            let request = ProviderRequest(model: model, prompt: .completion("a"), maxTokens: 2, stop: ["x", "x", "", "y"])
            let result = try await clients.provider(for: model).collect(request)
            #expect(result.text == "bc")
            #expect(result.finishReason == "length")
            #expect(result.usage == nil)
            let recorded = try #require(server.requests.first)
            #expect(recorded.path == "/v1/completions")
            #expect(recorded.json?["prompt"] == "a")
            #expect(recorded.json?["suffix"] == nil)
            #expect(recorded.json?["stop"] == ["x", "y"])
            // A model without `apiKeyEnv` (a local server) sends no key at all.
            #expect(recorded.header("authorization") == nil)
        }
    }

    @Test func chatStreamsDeltasThenUsageThenTheFinish() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server)
            server.enqueue(.stream(chunks: ["Hel", "lo", "!"], delayMs: 5, usage: TokenUsage(inputTokens: 9, outputTokens: 3)))
            let events = try await Self.events(clients.provider(for: model), Self.chat(model))
            #expect(
                events == [
                    .text("Hel"), .text("lo"), .text("!"), .usage(TokenUsage(inputTokens: 9, outputTokens: 3)), .finished(reason: "stop"),
                ])
            let request = try #require(server.requests.first)
            #expect(request.path == "/v1/chat/completions")
            #expect(request.json?["messages"] == [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi"]])
            #expect(request.json?["stop"] == ["\n\n"])
            #expect(request.json?["temperature"] == .double(0.5))
            #expect(request.json?["stream"] == true)
        }
    }

    @Test func successiveCallsReuseOneConnection() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server)
            let provider = clients.provider(for: model)
            for _ in 0..<3 {
                server.enqueue(.stream(chunks: ["a"], usage: TokenUsage(inputTokens: 1, outputTokens: 1)))
                let result = try await provider.collect(Self.fim(model))
                #expect(result.text == "a")
            }
            #expect(server.requests.count == 3)
            #expect(server.connectionsOpened == 1)
        }
    }

    @Test func aBodyLeftOpenAfterDONEEndsTheCallSoonAndLosesOnlyItsConnection() async throws {
        let clock = TestClock()
        try await Self.withFixture(clock: clock) { server, clients in
            // Idle and total limits far above the drain grace (500 ms): the clock moves by at most
            // 10 s below, so only the grace can end the call.
            let model = Self.openAIModel(
                server, timeouts: ModelConfiguration.Timeouts(connectMs: 60_000, firstByteMs: 60_000, idleMs: 60_000, totalMs: 120_000))
            let provider = clients.provider(for: model)
            server.enqueue(.stream(chunks: ["x"], endBody: false), .stream(chunks: ["y"]))
            // The clock moves only once the answer is complete (the grace runs from then).
            let progress = Progress()
            let ((error, events), _) = await Self.drive(clock, ready: { progress.finished }) {
                await Self.failure(provider, Self.fim(model), progress: progress)
            }
            #expect(error == nil)
            #expect(events == [.text("x"), .finished(reason: "stop")])
            #expect(await server.waitForClientDisconnect())
            let next = try await provider.collect(Self.fim(model))
            #expect(next.text == "y")
            #expect(server.connectionsOpened == 2)
        }
    }

    @Test func aFinishReasonWithoutDONEIsAcceptedButNeitherIsTruncated() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server)
            let provider = clients.provider(for: model)
            server.enqueue(.stream(chunks: ["ok"], usage: TokenUsage(inputTokens: 2, outputTokens: 1), done: false))
            let accepted = try await Self.events(provider, Self.chat(model))
            #expect(accepted == [.text("ok"), .usage(TokenUsage(inputTokens: 2, outputTokens: 1)), .finished(reason: "stop")])
            server.enqueue(.stream(chunks: ["cut"], finishReason: nil, done: false))
            let (error, events) = await Self.failure(provider, Self.chat(model))
            #expect(error == .truncated)
            #expect(events == [.text("cut")])
        }
    }

    @Test func anErrorObjectInTheStreamIsAnUpstreamFailure() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server)
            let provider = clients.provider(for: model)
            server.enqueue(.streamError(message: "model crashed", afterChunks: ["par"]))
            let (error, events) = await Self.failure(provider, Self.fim(model))
            #expect(error == .upstream(status: 502, message: "model crashed"))
            #expect(events == [.text("par")])
            server.enqueue(.streamError(message: "too many tokens", code: 400))
            #expect(await Self.failure(provider, Self.fim(model)).error == .upstream(status: 400, message: "too many tokens"))
        }
    }

    // MARK: Anthropic

    @Test func anthropicStreamsTextAndUsage() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.anthropicModel(server)
            server.enqueue(.anthropicStream(chunks: ["Hi", " there"], usage: TokenUsage(inputTokens: 21, outputTokens: 5)))
            var request = Self.chat(model)
            request.prompt = .chat(
                system: "Be brief.",
                messages: [ChatMessage(role: .system, content: "Use Swift."), ChatMessage(role: .user, content: "Hi")])
            let events = try await Self.events(clients.provider(for: model), request)
            #expect(
                events == [
                    .text("Hi"), .text(" there"), .usage(TokenUsage(inputTokens: 21, outputTokens: 5)), .finished(reason: "end_turn"),
                ])
            let recorded = try #require(server.requests.first)
            #expect(recorded.path == "/v1/messages")
            #expect(recorded.header("x-api-key") == Self.key)
            #expect(recorded.header("anthropic-version") == "2023-06-01")
            #expect(recorded.header("authorization") == nil)
            let body = try #require(recorded.json)
            #expect(body["model"] == "claude-test")
            #expect(body["max_tokens"] == 64)
            #expect(body["system"] == "Be brief.\n\nUse Swift.")
            #expect(body["messages"] == [["role": "user", "content": "Hi"]])
            #expect(body["stop_sequences"] == ["\n\n"])
            #expect(body["stream"] == true)
        }
    }

    @Test func anthropicRefusesFillInTheMiddleWithoutACall() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.anthropicModel(server)
            let provider = clients.provider(for: model)
            #expect(await Self.failure(provider, Self.fim(model)).error?.reason == "unsupported")
            let completion = ProviderRequest(model: model, prompt: .completion("x"), maxTokens: 4)
            #expect(await Self.failure(provider, completion).error?.reason == "unsupported")
            #expect(server.requests.isEmpty)
        }
    }

    @Test func anthropicErrorEventsMapByType() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.anthropicModel(server)
            let provider = clients.provider(for: model)
            server.enqueue(.anthropicError(type: "overloaded_error", message: "Overloaded", afterChunks: ["Hel"]))
            let (overloaded, events) = await Self.failure(provider, Self.chat(model))
            #expect(overloaded == .upstream(status: 529, message: "Overloaded"))
            #expect(events == [.text("Hel")])
            server.enqueue(.anthropicError(type: "rate_limit_error", message: "Slow down"))
            #expect(await Self.failure(provider, Self.chat(model)).error == .rateLimited(retryAfterMs: nil, message: "Slow down"))
            server.enqueue(
                .status(529, body: #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#))
            #expect(await Self.failure(provider, Self.chat(model)).error == .upstream(status: 529, message: "Overloaded"))
        }
    }

    // MARK: HTTP failures

    @Test func refusedCredentialsAreUnauthorized() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server)
            let provider = clients.provider(for: model)
            server.enqueue(.status(401, body: #"{"error":{"message":"Incorrect API key provided: \#(Self.key)","type":"invalid_request_error"}}"#))
            #expect(
                await Self.failure(provider, Self.fim(model)).error
                    == .unauthorized(status: 401, message: "Incorrect API key provided: [redacted]"))
            server.enqueue(.status(403, body: "no access to this model"))
            #expect(await Self.failure(provider, Self.fim(model)).error == .unauthorized(status: 403, message: "no access to this model"))
        }
    }

    @Test func rateLimitsCarryRetryAfter() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server)
            let provider = clients.provider(for: model)
            let body = #"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#
            server.enqueue(.status(429, headers: ["retry-after": "2"], body: body))
            #expect(await Self.failure(provider, Self.fim(model)).error == .rateLimited(retryAfterMs: 2_000, message: "Rate limit reached"))
            server.enqueue(.status(429, headers: ["retry-after-ms": "350", "retry-after": "1"], body: body))
            #expect(await Self.failure(provider, Self.fim(model)).error == .rateLimited(retryAfterMs: 350, message: "Rate limit reached"))
            server.enqueue(.status(429))
            #expect(await Self.failure(provider, Self.fim(model)).error == .rateLimited(retryAfterMs: nil, message: "Too Many Requests"))
        }
    }

    @Test func retryAfterReadsSecondsMillisecondsAndHTTPDates() {
        let now = Date(timeIntervalSince1970: 784_111_777)  // Sun, 06 Nov 1994 08:49:37 GMT
        func ms(_ headers: [(String, String)]) -> Int? { HTTPErrorMapping.retryAfterMs(.init(headers), now: now) }
        #expect(ms([("retry-after", "2")]) == 2_000)
        #expect(ms([("retry-after", "0.5")]) == 500)
        #expect(ms([("retry-after-ms", "1500.2")]) == 1_501)
        #expect(ms([("retry-after", "Sun, 06 Nov 1994 08:49:40 GMT")]) == 3_000)
        #expect(ms([("retry-after", "Sunday, 06-Nov-94 08:49:47 GMT")]) == 10_000)
        #expect(ms([("retry-after", "Sun Nov  6 08:50:37 1994")]) == 60_000)
        #expect(ms([("retry-after", "Sat, 05 Nov 1994 08:49:37 GMT")]) == 0)
        #expect(ms([("retry-after", "soon")]) == nil)
        #expect(ms([("retry-after", "-3")]) == nil)
        #expect(ms([]) == nil)
        #expect(HTTPErrorMapping.httpDate("Thu, 01 Jan 1970 00:00:00 GMT") == Date(timeIntervalSince1970: 0))
        #expect(HTTPErrorMapping.httpDate("Tue, 29 Feb 2028 23:59:59 GMT") == Date(timeIntervalSince1970: 1_835_481_599))
    }

    @Test func serverErrorsAreUpstreamWithTheirMessage() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server)
            let provider = clients.provider(for: model)
            server.enqueue(.status(500, body: #"{"error":{"message":"The server had an error","type":"server_error"}}"#))
            #expect(await Self.failure(provider, Self.fim(model)).error == .upstream(status: 500, message: "The server had an error"))
            server.enqueue(.status(503, body: #"{"detail":"model is loading"}"#))
            #expect(await Self.failure(provider, Self.fim(model)).error == .upstream(status: 503, message: "model is loading"))
            server.enqueue(.status(502, body: "<html>\n" + String(repeating: "bad gateway ", count: 100) + "</html>"))
            let badGateway = await Self.failure(provider, Self.fim(model)).error
            #expect(badGateway?.reason == "upstreamError" && badGateway?.status == 502, "\(String(describing: badGateway))")
            let message = try #require(badGateway?.message)
            #expect(message.hasPrefix("<html> bad gateway"))
            #expect(message.count == HTTPErrorMapping.maxMessageLength + 1)
            #expect(message.hasSuffix("…"))
        }
    }

    @Test func malformedBodiesAreMalformed() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server)
            let provider = clients.provider(for: model)
            server.enqueue(.malformed("data: {not json\n\n"))
            #expect(await Self.failure(provider, Self.fim(model)).error?.reason == "malformed", "bad JSON")
            server.enqueue(.malformed("data: {\"choices\": 3}\n\n"))
            #expect(await Self.failure(provider, Self.fim(model)).error?.reason == "malformed", "the wrong JSON shape")
            server.enqueue(.raw(contentType: "application/json", body: #"{"error":{"message":"streaming is off"}}"#))
            #expect(
                await Self.failure(provider, Self.fim(model)).error
                    == .malformed("expected text/event-stream, got application/json: streaming is off"))
            let anthropic = Self.anthropicModel(server)
            server.enqueue(.malformed("event: message_start\ndata: [1, 2\n\n"))
            #expect(
                await Self.failure(clients.provider(for: anthropic), Self.chat(anthropic)).error?.reason == "malformed",
                "a bad Anthropic event")
        }
    }

    @Test func streamsCutShortAreTruncated() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server)
            let provider = clients.provider(for: model)
            server.enqueue(.truncated(chunks: ["half"]))
            let (error, events) = await Self.failure(provider, Self.fim(model))
            #expect(error == .truncated)
            #expect(events == [.text("half")])
            // A clean end in the middle of an event (no blank line after the last data line).
            server.enqueue(.malformed("data: {\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\ndata: {\"choi"))
            #expect(await Self.failure(provider, Self.fim(model)).error == .truncated)
            // Anthropic without message_stop.
            let anthropic = Self.anthropicModel(server)
            server.enqueue(.truncated(chunks: []))
            #expect(await Self.failure(clients.provider(for: anthropic), Self.chat(anthropic)).error == .truncated)
        }
    }

    // MARK: Time limits and cancellation

    @Test func noAnswerTimesOutAtTheFirstByteLimitAndHangsUp() async throws {
        let clock = TestClock()
        try await Self.withFixture(clock: clock) { server, clients in
            let model = Self.openAIModel(server, timeouts: Self.shortFirstByte)
            let provider = clients.provider(for: model)
            server.enqueue(.hang)
            let call = Task { await Self.failure(provider, Self.fim(model)).error }
            #expect(await Self.waitForRequests(server, 1))
            #expect(await clock.waitForSleepers(1))
            // 1 ms short of the limit: the timer sleeps on, the call goes on.
            clock.advance(by: .milliseconds(499))
            #expect(await clock.waitForSleepers(1))
            clock.advance(by: .milliseconds(1))
            #expect(await call.value == .timeout(phase: "firstByte", limitMs: 500))
            #expect(await server.waitForClientDisconnect())
        }
    }

    @Test func aSlowFirstByteWithinTheLimitIsFine() async throws {
        let clock = TestClock()
        try await Self.withFixture(clock: clock) { server, clients in
            var timeouts = Self.relaxed
            timeouts.firstByteMs = 3_000
            let model = Self.openAIModel(server, timeouts: timeouts)
            let provider = clients.provider(for: model)
            server.enqueue(.delayed(ms: 200, then: .stream(chunks: ["late"])))
            let call = Task { try await provider.collect(Self.fim(model)) }
            #expect(await Self.waitForRequests(server, 1))
            #expect(await clock.waitForSleepers(1))
            // The answer is 2,999 ms late on the call's clock: within the 3 s limit.
            clock.advance(by: .milliseconds(2_999))
            let result = try await call.value
            #expect(result.text == "late")
        }
    }

    @Test func silenceMidStreamTimesOutAtTheIdleLimit() async throws {
        let clock = TestClock()
        try await Self.withFixture(clock: clock) { server, clients in
            let model = Self.openAIModel(server, timeouts: Self.shortIdle)
            server.enqueue(.stall(chunks: ["one"]))
            var events = clients.provider(for: model).stream(Self.fim(model)).makeAsyncIterator()
            let first = try await events.next()
            #expect(first == .text("one"))
            #expect(await clock.waitForSleepers(1))
            clock.advance(by: .milliseconds(499))
            #expect(await clock.waitForSleepers(1))
            clock.advance(by: .milliseconds(1))
            await #expect(throws: ProviderError.timeout(phase: "idle", limitMs: 500)) { _ = try await events.next() }
            #expect(await server.waitForClientDisconnect())
        }
    }

    @Test func aSteadyStreamStillStopsAtTheTotalLimit() async throws {
        let clock = TestClock()
        try await Self.withFixture(clock: clock) { server, clients in
            // Chunks keep coming (every 50 ms, for 20 s), so the idle and first-byte limits (60 s)
            // never pass; the stream must still stop when 1 s has passed on the call's clock.
            let timeouts = ModelConfiguration.Timeouts(connectMs: 60_000, firstByteMs: 60_000, idleMs: 60_000, totalMs: 1_000)
            let model = Self.openAIModel(server, timeouts: timeouts)
            server.enqueue(.stream(chunks: Array(repeating: "x", count: 400), delayMs: 50))
            var events = clients.provider(for: model).stream(Self.fim(model)).makeAsyncIterator()
            let first = try await events.next()
            #expect(first == .text("x"))
            #expect(await clock.waitForSleepers(1))
            clock.advance(by: .milliseconds(999))
            // Woken at the look-ahead check, the timer sleeps again: 1 ms is left.
            #expect(await clock.waitForSleepers(1))
            clock.advance(by: .milliseconds(1))
            var received = 1
            var failure: ProviderError?
            do {
                while try await events.next() != nil { received += 1 }
            } catch let error as ProviderError {
                failure = error
            }
            #expect(failure == .timeout(phase: "total", limitMs: 1_000))
            #expect(received < 400)
            #expect(await server.waitForClientDisconnect())
        }
    }

    @Test func cancellingTheConsumerClosesTheUpstreamConnection() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server)
            let provider = clients.provider(for: model)
            server.enqueue(.stall(chunks: ["first"]))
            let (events, firstEvent) = AsyncStream.makeStream(of: ProviderEvent.self)
            let consumer = Task {
                for try await event in provider.stream(Self.chat(model)) { firstEvent.yield(event) }
            }
            var received = events.makeAsyncIterator()
            #expect(await received.next() == .text("first"))
            consumer.cancel()
            #expect(await server.waitForClientDisconnect(count: 1))
            // A cancelled consumer's loop just ends: AsyncThrowingStream finishes on cancellation.
            try await consumer.value
        }
    }

    @Test func droppingTheStreamClosesTheUpstreamConnection() async throws {
        try await Self.withFixture { server, clients in
            let model = Self.openAIModel(server)
            let provider = clients.provider(for: model)
            server.enqueue(.stall(chunks: ["first"]))
            for try await event in provider.stream(Self.fim(model)) {
                #expect(event == .text("first"))
                break
            }
            #expect(await server.waitForClientDisconnect(count: 1))
            // The same provider goes on working.
            server.enqueue(.stream(chunks: ["next"]))
            let next = try await provider.collect(Self.fim(model))
            #expect(next.text == "next")
        }
    }

    @Test func shuttingTheClientsDownEndsCallsStillRunning() async throws {
        let server = FakeModelServer()
        try await server.start()
        let clients = ModelClients(environment: { _ in nil })
        let model = Self.openAIModel(server, apiKeyEnv: nil)
        server.enqueue(.stall(chunks: ["first"]))
        var events = clients.provider(for: model).stream(Self.fim(model)).makeAsyncIterator()
        #expect(try await events.next() == .text("first"))
        await clients.shutdown()
        await #expect(throws: ProviderError.unreachable("the HTTP client is shut down")) { _ = try await events.next() }
        #expect(await server.waitForClientDisconnect())
        try await server.shutdown()
    }

    @Test func clientsDroppedWithoutShutdownShutDownOnTheirOwn() async throws {
        let server = FakeModelServer()
        try await server.start()
        let model = Self.openAIModel(server, apiKeyEnv: nil)
        server.enqueue(.stall(chunks: ["first"]))
        var clients: ModelClients? = ModelClients(environment: { _ in nil })
        var events = try #require(clients).provider(for: model).stream(Self.fim(model)).makeAsyncIterator()
        #expect(try await events.next() == .text("first"))
        // Never shut down: AsyncHTTPClient would trap on releasing a running client, so dropping
        // the clients shuts theirs down, which ends the call still streaming.
        clients = nil
        await #expect(throws: ProviderError.unreachable("the HTTP client is shut down")) { _ = try await events.next() }
        #expect(await server.waitForClientDisconnect())
        try await server.shutdown()
    }

    // MARK: Connecting and credentials

    @Test func aRefusedConnectionIsUnreachableAtOnce() async throws {
        let refusing = try RefusingPort()
        let port = refusing.port
        // The clock never moves: the call can only end by the refusal itself, never by a limit.
        let clients = ModelClients(environment: { _ in nil }, clock: TestClock())
        let model = ModelConfiguration(
            id: "gone", provider: .openai, endpoint: "http://127.0.0.1:\(port)/v1", capabilities: .init(chat: true, fillInTheMiddle: true),
            timeouts: .init(connectMs: 60_000, firstByteMs: 60_000, idleMs: 60_000, totalMs: 120_000))
        let error = await Self.failure(clients.provider(for: model), Self.fim(model)).error
        await clients.shutdown()
        // Refused means refused: no waiting out a connect limit (AsyncHTTPClient's own 10 s one
        // would answer `timeout`).
        #expect(error?.reason == "unreachable", "\(String(describing: error))")
        #expect(error?.message?.isEmpty == false)
        withExtendedLifetime(refusing) {}
    }

    @Test func anUnknownHostIsUnreachable() async throws {
        let clients = ModelClients(environment: { _ in nil }, clock: TestClock())
        let model = ModelConfiguration(
            id: "nowhere", provider: .openai, endpoint: "http://no-such-host.invalid/v1", capabilities: .init(chat: true),
            timeouts: .init(connectMs: 3_000, firstByteMs: 3_000, idleMs: 3_000, totalMs: 10_000))
        let error = await Self.failure(clients.provider(for: model), Self.chat(model)).error
        await clients.shutdown()
        // Where no resolver answers at all, the lookup outlasts AsyncHTTPClient's own connect
        // timeout (the OS and the pool, not our clock, which never moves here): a connect timeout.
        let accepted = error?.reason == "unreachable" || error == .timeout(phase: "connect", limitMs: 3_000)
        #expect(accepted, "expected unreachable, got \(String(describing: error))")
    }

    @Test func aConnectionThatNeverCompletesTimesOutAtTheConnectLimit() async throws {
        let listener = try UnresponsiveListener()
        let clock = TestClock()
        let clients = ModelClients(environment: { _ in nil }, clock: clock)
        let model = ModelConfiguration(
            id: "blackhole", provider: .openai, endpoint: "http://127.0.0.1:\(listener.port)/v1",
            capabilities: .init(chat: true, fillInTheMiddle: true),
            timeouts: .init(connectMs: 300, firstByteMs: 5_000, idleMs: 5_000, totalMs: 10_000))
        let provider = clients.provider(for: model)
        let call = Task { await Self.failure(provider, Self.fim(model)).error }
        #expect(await clock.waitForSleepers(1))
        clock.advance(by: .milliseconds(299))
        #expect(await clock.waitForSleepers(1))
        clock.advance(by: .milliseconds(1))
        let error = await call.value
        // Closed first, the listener answers the attempt still pending in the pool with a reset,
        // so the shutdown need not wait for it.
        listener.close()
        await clients.shutdown()
        #expect(error == .timeout(phase: "connect", limitMs: 300))
    }

    @Test func aMissingKeyFailsBeforeAnyRequest() async throws {
        try await Self.withFixture(environment: ["OTHER": "x", "EMPTY": ""]) { server, clients in
            let model = Self.openAIModel(server, apiKeyEnv: "DEVMODE_TEST_UNSET_KEY")
            #expect(
                await Self.failure(clients.provider(for: model), Self.fim(model)).error
                    == .missingCredential(variable: "DEVMODE_TEST_UNSET_KEY"))
            let empty = Self.openAIModel(server, apiKeyEnv: "EMPTY")
            #expect(await Self.failure(clients.provider(for: empty), Self.fim(empty)).error == .missingCredential(variable: "EMPTY"))
            #expect(server.requests.isEmpty)
        }
    }

    @Test func theLocalModelIsNotServedOverHTTP() async throws {
        let clients = ModelClients(environment: { _ in nil })
        let error = await Self.failure(clients.provider(for: .local), Self.fim(.local)).error
        await clients.shutdown()
        #expect(error?.reason == "unsupported", "\(String(describing: error))")
    }

    // MARK: Recovery

    /// Every kind of failure, each followed by a good call on the same provider instance.
    @Test func theSameProviderServesTheNextCallAfterEachFailure() async throws {
        let clock = TestClock()
        try await Self.withFixture(clock: clock) { server, clients in
            // Providers take the model from each request: one instance serves every limit.
            let model = Self.openAIModel(server)
            let provider = clients.provider(for: model)
            let failures: [(FakeModelServer.Behaviour, ProviderError)] = [
                (.status(401, body: "no"), .unauthorized(status: 401, message: "no")),
                (.status(429, headers: ["retry-after": "2"], body: "slow"), .rateLimited(retryAfterMs: 2_000, message: "slow")),
                (.status(500, body: #"{"error":"boom"}"#), .upstream(status: 500, message: "boom")),
                (.malformed("data: nope\n\n"), .malformed("a stream chunk is not the JSON expected: nope")),
                (.truncated(chunks: ["a"]), .truncated),
                (.hang, .timeout(phase: "firstByte", limitMs: 500)),
                (.stall(chunks: ["a"]), .timeout(phase: "idle", limitMs: 500)),
                (.streamError(message: "oops"), .upstream(status: 502, message: "oops")),
            ]
            for (behaviour, expected) in failures {
                server.enqueue(behaviour, .stream(chunks: ["fine"], usage: TokenUsage(inputTokens: 1, outputTokens: 1)))
                var failing = model
                let error: ProviderError?
                if let phase = expected.phase {
                    // The clock moves (500 ms a step, 10 s at most) once the request is out.
                    failing.timeouts = phase == "idle" ? Self.shortIdle : Self.shortFirstByte
                    // From the request on (first byte), or from the first chunk on (idle).
                    let sent = server.requests.count + 1
                    let progress = Progress()
                    let idle = phase == "idle"
                    let ready: @Sendable () -> Bool = { idle ? progress.events >= 1 : server.requests.count >= sent }
                    error = await Self.drive(clock, ready: ready) { [failing] in
                        await Self.failure(provider, Self.fim(failing), progress: progress).error
                    }.result
                } else {
                    error = await Self.failure(provider, Self.fim(failing)).error
                }
                #expect(error == expected)
                let next = try await provider.collect(Self.fim(model))
                #expect(next.text == "fine", "after \(expected)")
                #expect(next.usage == TokenUsage(inputTokens: 1, outputTokens: 1))
            }
            #expect(server.requests.count == failures.count * 2)
        }
    }

    @Test func endpointsJoinWithOneSlash() {
        #expect(HTTPTransport.url("http://h/v1/", "/completions") == "http://h/v1/completions")
        #expect(HTTPTransport.url("http://h/v1", "/completions") == "http://h/v1/completions")
        #expect(HTTPTransport.url("https://api.anthropic.com", "/v1/messages") == "https://api.anthropic.com/v1/messages")
    }
}
