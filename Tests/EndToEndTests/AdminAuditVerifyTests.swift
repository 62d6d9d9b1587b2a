import DevModeSpawn
import Foundation
import Testing

/// `devmode admin audit verify` on the machine: exit 0 on an intact chain, 1 and the row named on
/// a chain someone edited in the database.
@Suite("admin audit verify")
struct AdminAuditVerifyTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["DEVMODE_TEST_STORE"] != "postgres", "it tampers with the SQLite file"))
    func exitsZeroOnAGoodChainAndOneOnATamperedOne() throws {
        let dataDirectory = temporaryDataDirectory()
        _ = try bootstrapAdmin(dataDirectory: dataDirectory)
        var environment = ProcessInfo.processInfo.environment
        environment["DEVMODE_DATA_DIR"] = dataDirectory
        environment.removeValue(forKey: "DEVMODE_DATABASE_URL")
        let devmode = try devmodeBinary().path

        let good = try Spawn.run(devmode, ["admin", "audit", "verify"], environment: environment)
        #expect(good.status == 0, "\(good.stdoutText) \(good.stderrText)")
        let goodResult = try #require(try JSONSerialization.jsonObject(with: Data(good.stdout)) as? [String: Any])
        #expect(goodResult["ok"] as? Bool == true)
        #expect((goodResult["rowsChecked"] as? Int ?? 0) >= 1)

        let sqlite = try #require(Spawn.which("sqlite3"), "the sqlite3 command line tool")
        let edit = try Spawn.run(
            sqlite, [dataDirectory + "/devmode.sqlite3", "UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 1"],
            environment: environment)
        #expect(edit.status == 0, "\(edit.stderrText)")

        let tampered = try Spawn.run(devmode, ["admin", "audit", "verify"], environment: environment)
        #expect(tampered.status == 1, "\(tampered.stdoutText) \(tampered.stderrText)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(tampered.stdout)) as? [String: Any])
        #expect(result["ok"] as? Bool == false)
        let problems = try #require(result["problems"] as? [[String: Any]])
        #expect(problems.map { "\($0["seq"] as? Int ?? -1) \($0["kind"] as? String ?? "")" } == ["1 altered"])
    }
}
