import DevModeAI
import DevModeClock
import DevModeProtocol
@testable import DevModeServer
import DevModeTestSupport
import Dispatch
import Foundation
import Logging
import Testing

/// A source reader that stops at one file until the test opens the gate: the training is then half
/// done, for as long as the test needs.
final class TrainingGate: Sendable {
    let gatedName: String
    private let opened = DispatchSemaphore(value: 0)
    let reached: AsyncStream<Void>
    private let reachedContinuation: AsyncStream<Void>.Continuation

    init(gatedName: String) {
        self.gatedName = gatedName
        (reached, reachedContinuation) = AsyncStream.makeStream(of: Void.self)
    }

    var reader: LocalSourceReader {
        LocalSourceReader { path, maxBytes in
            if path.hasSuffix("/" + self.gatedName) {
                self.reachedContinuation.yield()
                self.opened.wait()  // on the training's walking thread, never on the cooperative pool
            }
            return LocalSourceReader.readFromDisk(path, maxBytes: maxBytes)
        }
    }

    func open() { opened.signal() }

    func waitUntilReached() async {
        var iterator = reached.makeAsyncIterator()
        _ = await iterator.next()
    }
}

@Suite("Local engines: wiring, training in steps, the wait for training", .timeLimit(.minutes(1)))
struct LocalEngineWiringTests {
    static let early = "func computeInvoiceTotal(_ lines: [Line]) -> Int { 0 }\nlet march = computeInvoiceTotal(marchLines)\n"
    static let late = "func reconcileLedgerEntries(_ entries: [Entry]) -> [Entry] { entries }\nlet open = reconcileLedgerEntries(journal)\n"

    /// Files a, b learnt in the first step (two files a step); c is behind the gate.
    static func folder() throws -> String {
        try makeFolder(["a.swift": early, "b.swift": early, "c.swift": late, "d.swift": late])
    }

    static func engines(clock: TestClock, gate: TrainingGate? = nil) -> LocalEngines {
        LocalEngines(
            settings: LocalEngines.Settings(), logger: Logger(label: "test"), clock: clock,
            reader: gate?.reader ?? LocalSourceReader(), filesPerStep: 2)
    }

    /// The defect: `ready` raced the training against a sleep in a task group, and a task group waits
    /// for all its children: the one awaiting the training ignored cancellation, so a first
    /// completion waited for the whole folder. Now it answers after the patience on the clock, from
    /// the steps learnt so far, while the rest of the folder is still being read.
    @Test func aCompletionWaitsForTrainingOnlyItsPatienceAndUsesWhatIsLearntSoFar() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let clock = TestClock()
        let gate = TrainingGate(gatedName: "c.swift")
        let engines = Self.engines(clock: clock, gate: gate)
        defer {
            gate.open()
            engines.close()
        }
        engines.engine(for: folder)
        await gate.waitUntilReached()
        let ready = Task { await engines.ready(folder) }
        #expect(await clock.waitForSleepers(1))
        clock.advance(by: LocalEngines.trainingPatience)
        let engine = await ready.value
        #expect(engines.existing(folder)?.progress.finished == false)
        #expect(engine.complete(prefix: "let may = computeInv", suffix: "").first?.text.hasPrefix("oiceTotal(") == true)
        #expect(!engine.complete(prefix: "let x = reconcileLed", suffix: "").contains { $0.text.hasPrefix("gerEntries") })

        gate.open()
        try await #require(engines.existing(folder)).trained()
        #expect(engines.existing(folder)?.progress.files == 4)
        #expect(engine.complete(prefix: "let x = reconcileLed", suffix: "").first?.text.hasPrefix("gerEntries(") == true)
    }

    /// Training learns in steps on the updates queue: an edit made while the folder is half read is
    /// learnt at once, not after the whole training (it was one queue item before). The training
    /// does not overwrite the newer text when it reaches the file.
    @Test func anEditDuringATrainingIsLearntBetweenStepsAndKept() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let gate = TrainingGate(gatedName: "c.swift")
        let engines = Self.engines(clock: TestClock(), gate: gate)
        defer {
            gate.open()
            engines.close()
        }
        let entry = engines.engine(for: folder)
        await gate.waitUntilReached()
        entry.learn("d.swift", text: "let zebra = quokkaMarmosetTapir\nlet lynx = quokkaMarmosetTapir\n")
        await entry.settle()
        #expect(entry.engine.complete(prefix: "let x = quokkaMar", suffix: "").first?.text.hasPrefix("mosetTapir") == true)
        #expect(!entry.progress.finished)

        gate.open()
        await entry.trained()
        await entry.settle()
        #expect(entry.engine.complete(prefix: "let x = quokkaMar", suffix: "").first?.text.hasPrefix("mosetTapir") == true)
    }

    /// The defect: a pending edit's quiet-period task called `engine(for:)` when it woke, so an edit
    /// of a session's loose document re-created the engine the session's end had dropped, with the
    /// unsaved text in it, for good.
    @Test func aPendingEditDoesNotRecreateAnEngineItsSessionDropped() async throws {
        let clock = TestClock()
        let engines = Self.engines(clock: clock)
        defer { engines.close() }
        let key = "session:41"
        engines.engine(for: key)
        engines.documentChanged(root: key, path: "Draft.swift") { "let secret = unsavedDraftText\n" }
        #expect(await clock.waitForSleepers(1))
        engines.drop(key)
        clock.advance(by: LocalEngines.Settings().editQuietPeriod)
        await engines.settleEdits()
        #expect(!engines.exists(key))
    }

    /// A document's place is kept for `placeLifetime` on the placement's clock, then looked up again.
    @Test func aDocumentsPlaceIsLookedUpAgainAfterItsLifetime() async throws {
        let folder = try makeFolder(["Sources/Ledger.swift": Self.late])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try gitInit(folder)
        try await CompletionWorld.run(
            models: { _ in ModelRegistry() },
            configure: { $0.projects.allowedRoots = [folder] }
        ) { world in
            let server = world.server
            let (connection, session) = server.makeConnection(transport: "memory", local: true)
            defer { connection.close() }
            let caller = try #require(server.localCaller)
            let clock = TestClock()
            let placement = CompletionPlacement(
                projects: server.projects, directory: server.directory, store: server.store, ai: server.ai,
                maxDocumentBytes: 1 << 20, maxOpenDocuments: 10, clock: clock, logger: Logger(label: "test"))
            let uri = "file://\(folder)/Sources/Draft.swift"
            let loose = try await placement.place(of: uri, session: session, caller: caller)
            #expect(loose.engineKey == session.looseDocumentsKey)
            #expect(loose.projectId == nil)

            // The folder becomes a project: the cached place holds until its lifetime ends.
            let (client, _) = try await world.session()
            let project = try await client.send(ProjectOpenRequest(path: folder))
            clock.advance(by: CompletionPlacement.placeLifetime - .milliseconds(1))
            #expect(try await placement.place(of: uri, session: session, caller: caller) == loose)
            clock.advance(by: .milliseconds(1))
            let found = try await placement.place(of: uri, session: session, caller: caller)
            #expect(found.projectId == project.id)
            #expect(found.engineKey == folder)
            #expect(found.path == "Sources/Draft.swift")
        }
    }
}
