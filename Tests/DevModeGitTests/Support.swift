import DevModeSpawn
import DevModeGit
import Foundation
import Testing

/// A temporary directory removed when the scratch is released.
final class Scratch: @unchecked Sendable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "devmode-git-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ relative: String, _ text: String) throws {
        try write(relative, bytes: Array(text.utf8))
    }

    func write(_ relative: String, bytes: [UInt8]) throws {
        let url = URL(fileURLWithPath: path + "/" + relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    func read(_ relative: String) -> String? {
        FileManager.default.contents(atPath: path + "/" + relative).map { String(decoding: $0, as: UTF8.self) }
    }

    func exists(_ relative: String) -> Bool {
        FileManager.default.fileExists(atPath: path + "/" + relative)
    }

    func remove(_ relative: String) throws {
        try FileManager.default.removeItem(atPath: path + "/" + relative)
    }
}

struct GitCLIError: Error, CustomStringConvertible {
    let arguments: [String]
    let status: Int32
    let stderr: String
    var description: String { "git \(arguments.joined(separator: " ")) exited \(status): \(stderr)" }
}

/// Runs `/usr/bin/git` to check results; the user's global config is kept out, identity fixed.
@discardableResult
func git(_ arguments: [String], in directory: String, input: [UInt8]? = nil, environment extra: [String: String] = [:]) throws -> String {
    var environment = ProcessInfo.processInfo.environment
    environment["GIT_CONFIG_GLOBAL"] = "/dev/null"
    environment["GIT_AUTHOR_NAME"] = "CLI Author"
    environment["GIT_AUTHOR_EMAIL"] = "cli@example.com"
    environment["GIT_COMMITTER_NAME"] = "CLI Committer"
    environment["GIT_COMMITTER_EMAIL"] = "cli@example.com"
    environment["GIT_PAGER"] = "cat"
    environment["LC_ALL"] = "C.UTF-8"
    for (key, value) in extra { environment[key] = value }
    let outcome = try Spawn.run("/usr/bin/git", ["-C", directory] + arguments, environment: environment, stdin: input)
    guard outcome.status == 0 else {
        throw GitCLIError(arguments: arguments, status: outcome.status, stderr: outcome.stderrText)
    }
    return outcome.stdoutText
}

func lines(_ text: String) -> [String] {
    text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
}

let alice = GitSignature(name: "Alice Example", email: "alice@example.com",
                         time: Date(timeIntervalSince1970: 1_700_000_000), offsetMinutes: 120)
let bob = GitSignature(name: "Bob Committer", email: "bob@example.com",
                       time: Date(timeIntervalSince1970: 1_700_000_100), offsetMinutes: -300)

/// A signature `step` minutes after a fixed moment, so commit dates differ and order is defined.
func signature(_ step: Int) -> GitSignature {
    GitSignature(name: "Alice Example", email: "alice@example.com",
                 time: Date(timeIntervalSince1970: 1_700_000_000 + Double(step) * 60), offsetMinutes: 0)
}

/// Opens a fresh repository in a scratch directory, runs `body`, and closes it.
func withRepository<R>(_ body: (GitRepository, Scratch) async throws -> R) async throws -> R {
    let scratch = try Scratch()
    let repository = try await GitRepository.create(at: scratch.path)
    do {
        let result = try await body(repository, scratch)
        await repository.close()
        return result
    } catch {
        await repository.close()
        throw error
    }
}

/// Opens the repository at `path`, runs `body`, and closes it whatever happens.
func withOpenRepository<R>(at path: String, _ body: (GitRepository) async throws -> R) async throws -> R {
    let repository = try await GitRepository.open(at: path)
    do {
        let result = try await body(repository)
        await repository.close()
        return result
    } catch {
        await repository.close()
        throw error
    }
}

@discardableResult
func commitAll(_ repository: GitRepository, _ message: String, step: Int = 0) async throws -> GitCommitInfo {
    try await repository.commit(message: message, author: signature(step), committer: signature(step))
}
