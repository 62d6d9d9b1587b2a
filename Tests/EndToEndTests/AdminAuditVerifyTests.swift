import DevModeSpawn
import DevModeStore
import DevModeStoreSQLite
import DevModeTestSupport
import Foundation
import Testing

/// `devmode admin audit verify` on the machine: exit 0 on an intact chain, 1 and the row named on
/// a chain someone edited in the database.
@Suite("admin audit verify")
struct AdminAuditVerifyTests {
    @Test func exitsZeroOnAGoodChainAndOneOnATamperedOne() throws {
        let dataDirectory = temporaryDataDirectory()
        _ = try bootstrapAdmin(dataDirectory: dataDirectory)
        let environment = try serverEnvironment(dataDirectory: dataDirectory)
        let devmode = try devmodeBinary().path

        let good = try Spawn.run(devmode, ["admin", "audit", "verify"], environment: environment)
        #expect(good.status == 0, "\(good.stdoutText) \(good.stderrText)")
        let goodResult = try #require(try JSONSerialization.jsonObject(with: Data(good.stdout)) as? [String: Any])
        #expect(goodResult["ok"] as? Bool == true)
        #expect((goodResult["rowsChecked"] as? Int ?? 0) >= 1)

        // Edited behind the server's back, with the engine's own command line tool.
        let tamper = "UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 1"
        let edit: Spawn.Outcome
        if let url = environment["DEVMODE_DATABASE_URL"] {
            let psql = try #require(Spawn.which("psql"), "the psql command line tool")
            edit = try Spawn.run(psql, [url, "-v", "ON_ERROR_STOP=1", "-q", "-c", tamper], environment: environment)
        } else {
            let sqlite = try #require(Spawn.which("sqlite3"), "the sqlite3 command line tool")
            edit = try Spawn.run(sqlite, [dataDirectory + "/devmode.sqlite3", tamper], environment: environment)
        }
        #expect(edit.status == 0, "\(edit.stderrText)")

        let tampered = try Spawn.run(devmode, ["admin", "audit", "verify"], environment: environment)
        #expect(tampered.status == 1, "\(tampered.stdoutText) \(tampered.stderrText)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(tampered.stdout)) as? [String: Any])
        #expect(result["ok"] as? Bool == false)
        let problems = try #require(result["problems"] as? [[String: Any]])
        #expect(problems.map { "\($0["seq"] as? Int ?? -1) \($0["kind"] as? String ?? "")" } == ["1 altered"])
    }

    /// The defect: a rewrite of row 2 and every row after it, hashes and head recomputed, passed
    /// `devmode admin audit verify` (exit 0). The anchors, made with the key in `audit.key`
    /// (outside the database), name row 2; without the key file verify cannot pass, and the admin
    /// commands that write refuse to start a new key over the anchored log.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["DEVMODE_TEST_STORE"] != "postgres", "it rewrites the SQLite file"))
    func exitsOneOnATailRewrittenWithRecomputedHashes() async throws {
        let dataDirectory = temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(atPath: dataDirectory) }
        _ = try bootstrapAdmin(dataDirectory: dataDirectory)
        var environment = ProcessInfo.processInfo.environment
        environment["DEVMODE_DATA_DIR"] = dataDirectory
        environment.removeValue(forKey: "DEVMODE_DATABASE_URL")
        environment.removeValue(forKey: "DEVMODE_AUDIT_KEY_FILE")
        let devmode = try devmodeBinary().path
        let more = try Spawn.run(devmode, ["admin", "tenant", "create", "second"], environment: environment)
        #expect(more.status == 0, "\(more.stderrText)")

        let keyPath = dataDirectory + "/audit.key"
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int)
        #expect(mode == 0o600, "audit.key has mode \(String(mode, radix: 8))")
        let good = try Spawn.run(devmode, ["admin", "audit", "verify"], environment: environment)
        #expect(good.status == 0, "\(good.stdoutText) \(good.stderrText)")
        let goodResult = try #require(try JSONSerialization.jsonObject(with: Data(good.stdout)) as? [String: Any])
        let rows = try #require(goodResult["rowsChecked"] as? Int)
        #expect(rows >= 4)
        #expect(goodResult["anchoredRows"] as? Int == rows && goodResult["unanchoredRows"] as? Int == 0)
        #expect(goodResult["anchorStartSeq"] as? Int == 1)

        let store = Store(driver: try SQLiteDriver(path: dataDirectory + "/devmode.sqlite3"))
        let rewritten = try await AuditForgery.rewrite(store, from: 2) { $0.detail = "nothing happened" }
        await store.driver.close()
        #expect(rewritten == rows - 1)

        func verify(_ extra: [String] = []) throws -> (status: Int32, problems: [String], stderr: String) {
            let run = try Spawn.run(devmode, ["admin", "audit", "verify"] + extra, environment: environment)
            let result = try JSONSerialization.jsonObject(with: Data(run.stdout)) as? [String: Any]
            let problems = (result?["problems"] as? [[String: Any]] ?? []).map {
                "\($0["seq"] as? Int ?? -1) \($0["kind"] as? String ?? "")"
            }
            return (run.status, problems, run.stderrText)
        }
        let tampered = try verify()
        #expect(tampered.status == 1, "\(tampered)")
        #expect(tampered.problems == ["2 anchor"], "\(tampered)")

        // The key file gone: verify says the anchors cannot be checked, and fails.
        let movedKey = dataDirectory + "/moved.key"
        try FileManager.default.moveItem(atPath: keyPath, toPath: movedKey)
        let keyless = try verify()
        #expect(keyless.status == 1, "\(keyless)")
        #expect(keyless.problems == ["1 unverifiable"], "\(keyless)")
        #expect(keyless.stderr.contains("no audit key file at \(keyPath)"), "\(keyless.stderr)")
        // A command that writes refuses to start a new key over the anchored log.
        let refused = try Spawn.run(devmode, ["admin", "tenant", "create", "third"], environment: environment)
        #expect(refused.status != 0)
        #expect(refused.stderrText.contains("audit key file \(keyPath) is missing"), "\(refused.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: keyPath))
        // --audit-key-file finds it where it went.
        let named = try verify(["--audit-key-file", movedKey])
        #expect(named.status == 1 && named.problems == ["2 anchor"], "\(named)")
    }
}
