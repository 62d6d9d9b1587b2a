import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Paths of the binary no other test reached: shutdown past its grace, `--require-auth` over
/// stdio, and the `admin` subcommands.
@Suite("devmode CLI paths")
struct CLITests {
    /// Runs `devmode admin ARGS` in `dataDirectory`: exit status and its stdout parsed as JSON.
    func admin(_ arguments: [String], in dataDirectory: String) throws -> (status: Int32, json: Any?, stderr: String) {
        let process = try ServerProcess(arguments: ["admin"] + arguments, dataDirectory: dataDirectory)
        let status = try process.waitForExit()
        let output = process.stdout.wait { _ in false }
        return (
            status, try? JSONSerialization.jsonObject(with: Data(output), options: [.fragmentsAllowed]),
            String(decoding: process.stderr.snapshot, as: UTF8.self)
        )
    }

    @Test func sigtermPastTheShutdownGraceAnswersServerCancelled() throws {
        let server = try ServerProcess(arguments: ["serve", "--stdio", "--enable-debug-methods", "--shutdown-grace", "0.2"])
        server.send(initializeJSON())
        _ = try server.response(id: 1)
        server.send(#"{"jsonrpc":"2.0","id":2,"method":"debug/sleep","params":{"milliseconds":60000}}"#)
        // Requests are read in order and run side by side: once 3 is answered, 2 is running.
        server.send(#"{"jsonrpc":"2.0","id":3,"method":"server/info"}"#)
        _ = try server.response(id: 3)
        kill(server.child.pid, SIGTERM)
        let error = try #require(try server.response(id: 2)["error"] as? [String: Any])
        #expect(error["code"] as? Int == -32802)
        _ = try server.waitForExit()
    }

    @Test func requireAuthOverStdioRefusesTheLocalUserAndTakesAKey() throws {
        let dataDirectory = temporaryDataDirectory()
        let key = try bootstrapAdmin(dataDirectory: dataDirectory)

        let refused = try ServerProcess(arguments: ["serve", "--stdio", "--require-auth"], dataDirectory: dataDirectory)
        refused.send(initializeJSON())
        let error = try #require(try refused.response(id: 1)["error"] as? [String: Any])
        #expect(error["code"] as? Int == -32010)
        refused.closeInput()
        _ = try refused.waitForExit()

        let served = try ServerProcess(arguments: ["serve", "--stdio", "--require-auth"], dataDirectory: dataDirectory)
        served.send(initializeJSON(token: key))
        let result = try #require(try served.response(id: 1)["result"] as? [String: Any])
        let identity = try #require(result["identity"] as? [String: Any])
        #expect(identity["credential"] as? String != "local")
        #expect(identity["isServerAdmin"] as? Bool == true)
        served.send(#"{"jsonrpc":"2.0","method":"exit"}"#)
        _ = try served.waitForExit()
    }

    @Test func adminSubcommandsManageTenantsUsersWorkspacesAndKeys() throws {
        let dataDirectory = temporaryDataDirectory()
        _ = try bootstrapAdmin(dataDirectory: dataDirectory)

        let tenant = try admin(["tenant", "create", "acme"], in: dataDirectory)
        #expect(tenant.status == 0, "\(tenant.stderr)")
        let tenantId = try #require((tenant.json as? [String: Any])?["id"] as? String)
        let tenants = try admin(["tenant", "list"], in: dataDirectory)
        #expect(((tenants.json as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }.contains("acme"))

        let user = try admin(["user", "create", "--tenant", tenantId, "--email", "ada@example.com", "ada"], in: dataDirectory)
        #expect(user.status == 0, "\(user.stderr)")
        let userId = try #require((user.json as? [String: Any])?["id"] as? String)
        let users = try admin(["user", "list", "--tenant", tenantId], in: dataDirectory)
        #expect(((users.json as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String } == [userId])

        let workspace = try admin(["workspace", "create", "--tenant", tenantId, "--owner", userId, "lab"], in: dataDirectory)
        #expect(workspace.status == 0, "\(workspace.stderr)")
        #expect(workspace.json != nil)
        let workspaces = try admin(["workspace", "list"], in: dataDirectory)
        #expect(workspaces.status == 0, "\(workspaces.stderr)")
        #expect(workspaces.json != nil)

        let key = try admin(["key", "create", "--user", userId, "--name", "ci", "--scope", "file"], in: dataDirectory)
        #expect(key.status == 0, "\(key.stderr)")
        let created = try #require(key.json as? [String: Any])
        let secret = try #require(created["key"] as? String)
        let keyId = try #require((created["apiKey"] as? [String: Any])?["id"] as? String)
        let keys = try admin(["key", "list", "--user", userId], in: dataDirectory)
        #expect(((keys.json as? [[String: Any]]) ?? []).first?["scopes"] as? [String] == ["file"])

        // The key signs in until it is revoked, then it is refused.
        let before = try ServerProcess(arguments: ["serve", "--stdio", "--require-auth"], dataDirectory: dataDirectory)
        before.send(initializeJSON(token: secret))
        #expect((try before.response(id: 1)["result"] as? [String: Any])?["identity"] != nil)
        before.closeInput()
        _ = try before.waitForExit()
        let revoked = try admin(["key", "revoke", keyId], in: dataDirectory)
        #expect(revoked.status == 0, "\(revoked.stderr)")
        #expect((revoked.json as? [String: Any])?["revokedAt"] is String)
        let after = try ServerProcess(arguments: ["serve", "--stdio", "--require-auth"], dataDirectory: dataDirectory)
        after.send(initializeJSON(token: secret))
        #expect((try after.response(id: 1)["error"] as? [String: Any])?["code"] as? Int == -32010)
        after.closeInput()
        _ = try after.waitForExit()

        let disabled = try admin(["user", "disable", userId], in: dataDirectory)
        #expect(disabled.status == 0, "\(disabled.stderr)")
        #expect((disabled.json as? [String: Any])?["disabled"] as? Bool == true)

        // Every change above is in the audit log, as the CLI.
        let audit = try admin(["audit", "query", "--actor", "cli", "--limit", "100"], in: dataDirectory)
        let methods = Set(((audit.json as? [[String: Any]]) ?? []).compactMap { $0["method"] as? String })
        #expect(methods.count >= 5, "audited CLI changes: \(methods.sorted())")

        // A bad argument fails plainly, with a non-zero status.
        let unknown = try admin(["key", "revoke", "key_doesnotexist"], in: dataDirectory)
        #expect(unknown.status != 0)
    }

    @Test func adminQuotaAndUsageCommandsSetBudgetsAndReportUsage() throws {
        let dataDirectory = temporaryDataDirectory()
        _ = try bootstrapAdmin(dataDirectory: dataDirectory)
        let tenantId = try #require((try admin(["tenant", "create", "acme"], in: dataDirectory).json as? [String: Any])?["id"] as? String)
        let userId = try #require(
            (try admin(["user", "create", "--tenant", tenantId, "ada"], in: dataDirectory).json as? [String: Any])?["id"] as? String)
        let workspace = try admin(["workspace", "create", "--tenant", tenantId, "--owner", userId, "lab"], in: dataDirectory)
        let workspaceId = try #require(
            ((workspace.json as? [String: Any])?["workspace"] as? [String: Any])?["id"] as? String
                ?? (workspace.json as? [String: Any])?["id"] as? String, "\(String(describing: workspace.json))")

        let set = try admin(
            [
                "quota", "set", "--tenant", tenantId, "--level", "workspace", "--workspace", workspaceId, "--metric", "tokens",
                "--period", "day", "--limit", "5000", "--thresholds", "50,90",
            ], in: dataDirectory)
        #expect(set.status == 0, "\(set.stderr)")
        let quota = (set.json as? [String: Any])?["quota"] as? [String: Any]
        #expect(quota?["limit"] as? Int == 5000 && quota?["thresholds"] as? [Int] == [50, 90], "\(String(describing: set.json))")
        let bad = try admin(
            [
                "quota", "set", "--tenant", tenantId, "--level", "workspace", "--workspace", workspaceId, "--metric", "tokens",
                "--limit", "5000", "--thresholds", "fifty",
            ], in: dataDirectory)
        #expect(bad.status != 0 && bad.stderr.contains("--thresholds"), "\(bad.stderr)")

        let got = try admin(["quota", "get", "--workspace", workspaceId, "--user", userId], in: dataDirectory)
        let budgets = ((got.json as? [String: Any])?["quotas"] as? [[String: Any]]) ?? []
        #expect(budgets.contains { $0["level"] as? String == "workspace" && $0["thresholds"] as? [Int] == [50, 90] })

        // No calls yet: a report with no rows, and a CSV of the header alone.
        let report = try admin(["usage", "report", "--tenant", tenantId, "--group-by", "user,model"], in: dataDirectory)
        #expect(report.status == 0, "\(report.stderr)")
        #expect(((report.json as? [String: Any])?["rows"] as? [Any])?.isEmpty == true, "\(String(describing: report.json))")
        let process = try ServerProcess(
            arguments: ["admin", "usage", "report", "--tenant", tenantId, "--group-by", "user", "--format", "csv"],
            dataDirectory: dataDirectory)
        #expect(try process.waitForExit() == 0)
        let csv = String(decoding: process.stdout.wait { _ in false }, as: UTF8.self)
        #expect(csv == "\"userId\",\"requests\",\"inputTokens\",\"outputTokens\",\"costMicros\",\"costUSD\",\"shown\",\"accepted\",\"acceptanceRate\",\"refusals\"\r\n", "\(csv)")
        let unknownGroup = try admin(["usage", "report", "--tenant", tenantId, "--group-by", "planet"], in: dataDirectory)
        #expect(unknownGroup.status != 0)
    }
}
