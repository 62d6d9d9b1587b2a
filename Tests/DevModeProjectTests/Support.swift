import DevModeSpawn
import DevModeProtocol
import DevModeServer
import DevModeStore
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

#if canImport(Glibc)
import Glibc
#endif

// Helpers for the project tests: a server with the tenancy fixture and one hosted project, error
// capture, the files on disk, and the git command line (run by the tests only, to check devmode's
// in-process git work against git itself).

/// A real server on a fresh database and data directory, the tenancy fixture, clients for its
/// people, and one hosted project in tenant A's workspace. Everything is closed by `ProjectWorld.run`.
final class ProjectWorld: Sendable {
    let server: DevModeServer
    let fixture: TenancyFixture
    let adminA: TestClient
    let memberA: TestClient
    let viewerA: TestClient
    let adminB: TestClient
    let project: ProjectInfo
    private let extraClients = LockedState<[TestClient]>([])

    private init(
        server: DevModeServer, fixture: TenancyFixture, adminA: TestClient, memberA: TestClient, viewerA: TestClient,
        adminB: TestClient, project: ProjectInfo
    ) {
        self.server = server
        self.fixture = fixture
        self.adminA = adminA
        self.memberA = memberA
        self.viewerA = viewerA
        self.adminB = adminB
        self.project = project
    }

    /// Builds the world, runs `body`, and closes every client and the server, also when `body` throws.
    static func run(
        configuration: ServerConfiguration = ServerConfiguration(),
        files: [FileContent]? = nil,
        driver: (any SQLDriver)? = nil,
        _ body: (ProjectWorld) async throws -> Void
    ) async throws {
        let server = try await TestServer.make(configuration: configuration, driver: driver)
        var opened: [TestClient] = []
        do {
            let fixture = try await TenancyFixture.make(server: server)
            let notifications: [any NotificationType.Type] = [ProjectDidChangeFilesNotification.self]
            let adminA = try await TestClient.connect(to: server, token: fixture.adminA.key, clientNotifications: notifications)
            opened.append(adminA)
            let memberA = try await TestClient.connect(to: server, token: fixture.memberA.key, clientNotifications: notifications)
            opened.append(memberA)
            let viewerA = try await TestClient.connect(to: server, token: fixture.viewerA.key, clientNotifications: notifications)
            opened.append(viewerA)
            let adminB = try await TestClient.connect(to: server, token: fixture.adminB.key, clientNotifications: notifications)
            opened.append(adminB)
            let project = try await memberA.send(
                ProjectCreateRequest(workspaceId: fixture.workspaceA.id, name: "app", files: files))
            let world = ProjectWorld(
                server: server, fixture: fixture, adminA: adminA, memberA: memberA, viewerA: viewerA, adminB: adminB,
                project: project)
            do {
                try await body(world)
            } catch {
                await world.closeExtra()
                throw error
            }
            await world.closeExtra()
        } catch {
            for client in opened { await client.close() }
            await server.close()
            try? FileManager.default.removeItem(atPath: server.configuration.projects.dataDirectory)
            throw error
        }
        for client in opened { await client.close() }
        await server.close()
        try? FileManager.default.removeItem(atPath: server.configuration.projects.dataDirectory)
    }

    private func closeExtra() async {
        for client in extraClients.withLock({ list in defer { list = [] }; return list }) { await client.close() }
    }

    /// Another session (closed with the world).
    func connect(_ person: TenancyFixture.Person) async throws -> TestClient {
        let client = try await TestClient.connect(
            to: server, token: person.key, clientNotifications: [ProjectDidChangeFilesNotification.self])
        extraClients.withLock { $0.append(client) }
        return client
    }

    var dataDirectory: String { server.configuration.projects.dataDirectory }
    /// Where a hosted project's repository lives.
    func root(of id: String) -> String { dataDirectory + "/projects/" + id }
    var root: String { root(of: project.id) }
    var projectId: String { project.id }

    // Shorthands on the member's session.
    @discardableResult
    func write(_ path: String, _ content: String, as client: TestClient? = nil, expectedVersion: String? = nil) async throws
        -> FileWriteResult
    {
        try await (client ?? memberA).send(
            FileWriteRequest(projectId: projectId, path: path, content: content, expectedVersion: expectedVersion))
    }

    func read(_ path: String, as client: TestClient? = nil) async throws -> FileReadResult {
        try await (client ?? memberA).send(FileReadRequest(projectId: projectId, path: path))
    }

    @discardableResult
    func commit(_ message: String, paths: [String]? = nil, as client: TestClient? = nil) async throws -> CommitInfo {
        try await (client ?? memberA).send(VCSCommitRequest(projectId: projectId, message: message, paths: paths))
    }
}

// MARK: Errors

// MARK: Files on disk

/// What a file looks like on disk: its bytes and modification time (nanoseconds), or nil when absent.
struct FileState: Equatable, CustomStringConvertible {
    let bytes: [UInt8]
    let mtime: Int
    let inode: UInt

    static func of(_ path: String) -> FileState? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        let bytes = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
        return FileState(
            bytes: bytes, mtime: Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec), inode: UInt(info.st_ino))
    }

    var description: String { "\(bytes.count) bytes, mtime \(mtime), inode \(inode)" }
}

/// Every path under `directory` (symlinks not followed), relative to it, with its state; `skip`
/// names relative paths whose subtrees are left out.
func snapshot(_ directory: String, skipping skip: Set<String> = []) -> [String: FileState?] {
    var result: [String: FileState?] = [:]
    func walk(_ relative: String) {
        let absolute = relative.isEmpty ? directory : directory + "/" + relative
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: absolute) else { return }
        for name in names {
            let child = relative.isEmpty ? name : relative + "/" + name
            if skip.contains(child) { continue }
            var info = stat()
            guard lstat(directory + "/" + child, &info) == 0 else { continue }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                result[child] = .some(nil)
                walk(child)
            } else {
                result[child] = FileState.of(directory + "/" + child)
            }
        }
    }
    walk("")
    return result
}

/// A fresh temporary folder (removed by the caller).
func makeTemporaryDirectory(_ prefix: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

// MARK: The git command line

struct GitCLI {
    let root: String

    /// Runs `/usr/bin/git -C root args…` without any user or system configuration; returns stdout.
    @discardableResult
    func run(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let (status, out, err) = try runRaw(args)
        if status != 0 {
            Issue.record("git \(args.joined(separator: " ")) exited \(status): \(err)", sourceLocation: sourceLocation)
        }
        return out
    }

    func runBytes(_ args: [String]) throws -> [UInt8] {
        try runProcess(args).out
    }

    func runRaw(_ args: [String]) throws -> (Int32, String, String) {
        let result = try runProcess(args)
        return (result.status, String(decoding: result.out, as: UTF8.self), String(decoding: result.err, as: UTF8.self))
    }

    private func runProcess(_ args: [String]) throws -> (status: Int32, out: [UInt8], err: [UInt8]) {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("GIT_") }
        environment["GIT_CONFIG_GLOBAL"] = "/dev/null"
        environment["GIT_CONFIG_NOSYSTEM"] = "1"
        environment["GIT_PAGER"] = "cat"
        environment["LC_ALL"] = "C"
        let outcome = try Spawn.run("/usr/bin/git", ["-C", root] + args, environment: environment)
        return (outcome.status, outcome.stdout, outcome.stderr)
    }
}

// MARK: Notifications

/// The next `project/didChangeFiles` the client has, waiting at most `limit`; nil when none came.
/// Only for the end of a test: a wait that gives up leaves its listener behind.
func pendingChange(_ client: TestClient, within limit: Duration = .milliseconds(200)) async
    -> ProjectDidChangeFilesNotification?
{
    let outcome = LockedState<(done: Bool, continuation: CheckedContinuation<ProjectDidChangeFilesNotification?, Never>?)>(
        (false, nil))
    return await withCheckedContinuation { continuation in
        outcome.withLock { $0.continuation = continuation }
        let finish: @Sendable (ProjectDidChangeFilesNotification?) -> Void = { value in
            let waiting = outcome.withLock { state -> CheckedContinuation<ProjectDidChangeFilesNotification?, Never>? in
                guard !state.done else { return nil }
                state.done = true
                return state.continuation
            }
            waiting?.resume(returning: value)
        }
        let timer = Task {
            try? await Task.sleep(for: limit)
            finish(nil)
        }
        Task {
            finish(await client.nextNotification(ofType: ProjectDidChangeFilesNotification.self))
            timer.cancel()
        }
    }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}

/// Bytes of the regular files under `directory` (its `.git` included), as the server counts storage.
func diskUsage(_ directory: String) -> Int {
    snapshot(directory).values.reduce(0) { $0 + (($1)?.bytes.count ?? 0) }
}
