import DevModeGit
import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// Sessions writing at the same time: versions decide who wins, losers hear the winner's version,
/// and a file on disk is always one writer's bytes, whole.
@Suite("Concurrent writes")
struct ConcurrencyTests {
    /// A payload big enough that a torn write would show: `size` bytes of one letter with a tag.
    static func payload(_ letter: Character, round: Int, size: Int = 96 * 1024) -> String {
        "\(letter) round \(round)\n" + String(repeating: letter, count: size) + "\n"
    }

    @Test func twoSessionsWithTheSameExpectedVersionOneWinsTheOtherHearsTheWinnersVersion() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            // Two sessions of two members (an admin acts as owner), and a second session of the member.
            let first = world.memberA
            let second = world.adminA
            let third = try await world.connect(world.fixture.memberA)
            var version = try await world.write("shared.txt", "start\n").version
            var winners: [String: Int] = [:]
            for round in 1...20 {
                let writers = [(first, Character("A")), (second, Character("B")), (third, Character("C"))]
                let expected = version
                let outcomes = await withTaskGroup(of: (Character, Result<FileWriteResult, ResponseError>).self) { group in
                    for (client, letter) in writers {
                        group.addTask {
                            do {
                                return (letter, .success(try await client.send(
                                    FileWriteRequest(
                                        projectId: id, path: "shared.txt", content: Self.payload(letter, round: round),
                                        expectedVersion: expected))))
                            } catch let error as ResponseError {
                                return (letter, .failure(error))
                            } catch {
                                return (letter, .failure(ResponseError(code: .internalError, message: "\(error)")))
                            }
                        }
                    }
                    var all: [(Character, Result<FileWriteResult, ResponseError>)] = []
                    for await outcome in group { all.append(outcome) }
                    return all
                }
                let wins = outcomes.compactMap { letter, result in (try? result.get()).map { (letter, $0) } }
                try #require(wins.count == 1, "round \(round): \(wins.count) writers won")
                let (winner, written) = wins[0]
                winners[String(winner), default: 0] += 1
                let winnerBytes = Array(Self.payload(winner, round: round).utf8)
                #expect(written.version == (try GitRepository.blobID(of: winnerBytes)))
                #expect(!written.created)
                for (letter, result) in outcomes where letter != winner {
                    guard case .failure(let error) = result else { continue }
                    #expect(error.code == .conflict, "round \(round): \(letter) got \(error.code.rawValue) \(error.message)")
                    #expect(error.data?["currentVersion"]?.stringValue == written.version, "round \(round): \(letter)")
                }
                // On disk: exactly the winner's bytes, whole; and that is what everyone reads.
                #expect(FileState.of(world.root + "/shared.txt")?.bytes == winnerBytes, "round \(round)")
                let read = try await second.send(FileReadRequest(projectId: id, path: "shared.txt"))
                #expect(read.version == written.version && read.size == winnerBytes.count)
                version = written.version
            }
            #expect(winners.values.reduce(0, +) == 20)
            // No temporary files were left behind by the losers.
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: world.root).filter { $0.hasPrefix(".devmode-write-") }
            #expect(leftovers.isEmpty)
        }
    }

    @Test func fiftyConcurrentWritesOfDifferentFilesAllLand() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            var clients = [world.memberA, world.adminA]
            for _ in 0..<3 { clients.append(try await world.connect(world.fixture.memberA)) }
            let sessions = clients
            let results = try await withThrowingTaskGroup(of: FileWriteResult.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        try await sessions[index % sessions.count].send(
                            FileWriteRequest(
                                projectId: id, path: "many/file-\(index).txt",
                                content: "file \(index)\n" + String(repeating: "\(index % 10)", count: 4096)))
                    }
                }
                var all: [FileWriteResult] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(results.count == 50)
            #expect(results.allSatisfy { $0.created })
            #expect(Set(results.map(\.path)) == Set((0..<50).map { "many/file-\($0).txt" }))
            let listed = try await world.memberA.send(FileListRequest(projectId: id, path: "many")).entries
            #expect(listed.count == 50)
            for result in results {
                #expect(listed.first { $0.path == result.path }?.version == result.version)
                let index = Int(result.path.dropFirst("many/file-".count).dropLast(".txt".count))!
                let expected = Array(("file \(index)\n" + String(repeating: "\(index % 10)", count: 4096)).utf8)
                #expect(FileState.of(world.root + "/" + result.path)?.bytes == expected)
            }
        }
    }

    @Test func aCreateOnlyRaceCreatesTheFileOnce() async throws {
        try await ProjectWorld.run { world in
            let id = world.projectId
            var clients = [world.memberA, world.adminA]
            for _ in 0..<4 { clients.append(try await world.connect(world.fixture.memberA)) }
            let sessions = clients
            for round in 1...5 {
                let path = "created-\(round).txt"
                let outcomes = await withTaskGroup(of: (Int, Result<FileWriteResult, ResponseError>).self) { group in
                    for (index, client) in sessions.enumerated() {
                        group.addTask {
                            do {
                                return (index, .success(try await client.send(
                                    FileWriteRequest(projectId: id, path: path, content: "writer \(index)\n", createOnly: true))))
                            } catch let error as ResponseError {
                                return (index, .failure(error))
                            } catch {
                                return (index, .failure(ResponseError(code: .internalError, message: "\(error)")))
                            }
                        }
                    }
                    var all: [(Int, Result<FileWriteResult, ResponseError>)] = []
                    for await outcome in group { all.append(outcome) }
                    return all
                }
                let wins = outcomes.compactMap { index, result in (try? result.get()).map { (index, $0) } }
                try #require(wins.count == 1, "round \(round): created \(wins.count) times")
                let (winner, written) = wins[0]
                #expect(written.created)
                for (index, result) in outcomes where index != winner {
                    guard case .failure(let error) = result else { continue }
                    #expect(error.code == .conflict)
                    #expect(error.data?["currentVersion"]?.stringValue == written.version)
                }
                #expect(FileState.of(world.root + "/" + path)?.bytes.text == "writer \(winner)\n")
            }
        }
    }
}
