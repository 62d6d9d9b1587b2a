import ArgumentParser
import DevModeProtocol
import DevModeServer
import DevModeStore
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import JSONRPC

/// `devmode admin …`: manage tenants, users, workspaces, keys and the audit log on this machine's
/// database, through the same code as the RPC methods, audited with the actor `cli`.
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage tenants, users, workspaces, API keys and the audit log directly in the database.",
        subcommands: [Bootstrap.self, TenantCommand.self, UserCommand.self, WorkspaceCommand.self, KeyCommand.self, AuditCommand.self,
            QuotaCommand.self, UsageCommand.self]
    )
}

/// Prints a result as JSON on stdout.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    Output.standardOutput(try encoder.encode(value) + Data("\n".utf8))
}

/// Runs an admin action with the store open; turns a refusal into a message and exit status 1.
func withDirectory(
    _ storage: StorageOptions, createAuditKey: Bool = true, _ body: (Directory) async throws -> Void
) async throws {
    let store = try await storage.openStore(createAuditKey: createAuditKey)
    do {
        try await body(Directory(store: store))
        await store.driver.close()
    } catch let error as JSONRPC.ResponseError {
        await store.driver.close()
        Output.standardError("devmode admin: \(error.message)\n")
        throw ExitCode(1)
    } catch {
        await store.driver.close()
        throw error
    }
}

struct Bootstrap: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the first server admin and an API key for them (printed once).")

    @OptionGroup var storage: StorageOptions
    @Option(help: "The admin's tenant.") var tenant = "default"
    @Option(help: "The admin's user name.") var user = "admin"

    func run() async throws {
        try await withDirectory(storage) { directory in
            let existing = try await directory.store.read { try $0.serverAdminCount() }
            guard existing == 0 else {
                Output.standardError("devmode admin bootstrap: a server admin exists already; use 'devmode admin key create'\n")
                throw ExitCode(1)
            }
            let tenant = try await directory.createTenant(name: tenant, by: .cli)
            let user = try await directory.createUser(
                tenantId: tenant.id, name: user, email: nil, isTenantAdmin: true, isServerAdmin: true, by: .cli)
            let key = try await directory.createAPIKey(
                userId: user.id, name: "bootstrap", expiresInSeconds: nil, scopes: [], by: .cli)
            try printJSON(
                BootstrapResult(
                    tenant: TenantInfo(tenant), user: UserInfo(user), key: key.secret, apiKey: APIKeyInfo(key.record)))
            Output.standardError("Keep the key: it is shown once and stored only as a hash.\n")
        }
    }

    struct BootstrapResult: Encodable {
        var tenant: TenantInfo
        var user: UserInfo
        var key: String
        var apiKey: APIKeyInfo
    }
}

struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tenant", subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        @OptionGroup var storage: StorageOptions
        @Argument var name: String
        func run() async throws {
            try await withDirectory(storage) { try printJSON(TenantInfo(try await $0.createTenant(name: name, by: .cli))) }
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var storage: StorageOptions
        func run() async throws {
            try await withDirectory(storage) { try printJSON(try await $0.tenants(for: .cli).map(TenantInfo.init)) }
        }
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", subcommands: [Create.self, List.self, Disable.self])

    struct Create: AsyncParsableCommand {
        @OptionGroup var storage: StorageOptions
        @Option(help: "The tenant id.") var tenant: String
        @Option var email: String?
        @Flag(help: "Manages the tenant.") var tenantAdmin = false
        @Flag(help: "Manages every tenant.") var serverAdmin = false
        @Argument var name: String
        func run() async throws {
            try await withDirectory(storage) {
                try printJSON(
                    UserInfo(
                        try await $0.createUser(
                            tenantId: tenant, name: name, email: email, isTenantAdmin: tenantAdmin,
                            isServerAdmin: serverAdmin, by: .cli)))
            }
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var storage: StorageOptions
        @Option(help: "The tenant id.") var tenant: String
        func run() async throws {
            try await withDirectory(storage) { try printJSON(try await $0.users(tenantId: tenant, for: .cli).map(UserInfo.init)) }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable a user (their credentials stop working; running servers notice within seconds).")
        @OptionGroup var storage: StorageOptions
        @Flag(help: "Enable the user again instead.") var enable = false
        @Argument var userId: String
        func run() async throws {
            try await withDirectory(storage) {
                try printJSON(UserInfo(try await $0.setUserDisabled(id: userId, disabled: !enable, by: .cli)))
            }
        }
    }
}

struct WorkspaceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workspace", subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        @OptionGroup var storage: StorageOptions
        @Option(help: "The tenant id.") var tenant: String
        @Option(help: "The user id of its owner.") var owner: String
        @Option var description: String?
        @Argument var name: String
        func run() async throws {
            try await withDirectory(storage) {
                let (workspace, _) = try await $0.createWorkspace(
                    tenantId: tenant, name: name, description: description, ownerId: owner, by: .cli)
                try printJSON(WorkspaceInfo(workspace, role: nil))
            }
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var storage: StorageOptions
        func run() async throws {
            try await withDirectory(storage) {
                try printJSON(try await $0.workspaces(for: .cli).map { WorkspaceInfo($0.0, role: nil) })
            }
        }
    }
}

struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "key", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key (the secret is printed once).")
        @OptionGroup var storage: StorageOptions
        @Option(help: "The user id.") var user: String
        @Option var name = "cli"
        @Option(help: "Seconds until it expires.") var expiresIn: Int?
        @Option(help: "A method area it may call (repeat for more); none: every method.") var scope: [String] = []
        func run() async throws {
            try await withDirectory(storage) {
                let key = try await $0.createAPIKey(
                    userId: user, name: name, expiresInSeconds: expiresIn, scopes: scope, by: .cli)
                try printJSON(APIKeyCreateResult(key: key.secret, apiKey: APIKeyInfo(key.record)))
            }
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var storage: StorageOptions
        @Option(help: "The user id.") var user: String
        func run() async throws {
            try await withDirectory(storage) { try printJSON(try await $0.apiKeys(userId: user, for: .cli).map(APIKeyInfo.init)) }
        }
    }

    struct Revoke: AsyncParsableCommand {
        @OptionGroup var storage: StorageOptions
        @Argument var keyId: String
        func run() async throws {
            try await withDirectory(storage) { try printJSON(APIKeyInfo(try await $0.revokeAPIKey(id: keyId, by: .cli))) }
        }
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", subcommands: [Verify.self, Query.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the audit hash chain and check its anchors; exit 1 and name every edited, deleted or rewritten row if any.",
            discussion: "Reads the audit key file (--audit-key-file, default audit.key in the data directory); never creates it.")
        @OptionGroup var storage: StorageOptions
        func run() async throws {
            try await withDirectory(storage, createAuditKey: false) { directory in
                let verification = try await directory.store.verifyAudit()
                try printJSON(AuditVerifyResult(verification))
                if verification.anchorStartSeq == nil && verification.anchoredRows > 0 {
                    Output.standardError(
                        "devmode admin audit verify: no audit key file at \(storage.auditKeyPath): the anchors cannot be checked\n")
                }
                if !verification.ok { throw ExitCode(1) }
            }
        }
    }

    struct Query: AsyncParsableCommand {
        @OptionGroup var storage: StorageOptions
        @Option var limit = 50
        @Option var method: String?
        @Option var actor: String?
        func run() async throws {
            try await withDirectory(storage, createAuditKey: false) { directory in
                let filter = AuditFilter(actor: actor, method: method, limit: limit)
                try printJSON(try await directory.store.read { try $0.queryAudit(filter) }.map(AuditEntryInfo.init))
            }
        }
    }
}

struct QuotaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quota", abstract: "Set and read budgets (as quota/set and quota/get do).", subcommands: [Set.self, Get.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set (or with --remove, remove) one budget: tenant, workspace, user in a workspace, or API key.")
        @OptionGroup var storage: StorageOptions
        @Option(help: "The tenant id.") var tenant: String
        @Option(help: "tenant, workspace, user or key.") var level: String
        @Option(help: "For workspace and user.") var workspace: String?
        @Option(help: "For user.") var user: String?
        @Option(help: "For key: the API key's id.") var key: String?
        @Option(help: "Budgets: tokens or cost (millionths of a US dollar); rate limits: requestsPerMinute, tokensPerMinute or concurrentRequests.")
        var metric: String
        @Option(help: "day, week, month or none.") var period = "month"
        @Option(help: "Tokens, or millionths of a US dollar, per period.") var limit: Int?
        @Option(help: "Per-minute rate limits: how many may come at once (default: the limit).") var burst: Int?
        @Flag(help: "Rate limits: count calls of the free local model too.") var includeLocal = false
        @Option(
            help: "Budgets: percentages of the limit at which sessions are sent quota/didChange, e.g. 80,95 (\"none\": never; default: 80,95 for a new budget, the budget's own otherwise)."
        ) var thresholds: String?
        @Flag(help: "Remove the budget or limit instead.") var remove = false

        func validate() throws {
            if remove == (limit != nil) { throw ValidationError("give either --limit or --remove") }
            _ = try thresholdList()
        }

        /// `--thresholds` as numbers: nil when not given, [] for "none".
        func thresholdList() throws -> [Int]? {
            guard let thresholds else { return nil }
            if thresholds == "none" { return [] }
            let parts = thresholds.split(separator: ",", omittingEmptySubsequences: false)
            let numbers = parts.compactMap { Int(String($0.filter { $0 != " " })) }
            guard numbers.count == parts.count else {
                throw ValidationError("--thresholds is a comma-separated list of percentages, or none")
            }
            return numbers
        }

        func run() async throws {
            try await withDirectory(storage) { directory in
                let outcome = try await directory.setBudget(
                    Directory.BudgetChange(
                        tenantId: tenant, level: level, workspaceId: workspace, userId: user, keyId: key, metric: metric,
                        period: period, limit: limit, burst: burst, includeLocal: includeLocal, thresholds: thresholdList()),
                    by: .cli)
                try printJSON(QuotaSetResult(outcome))
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The budgets that apply to a user's model calls in a workspace.")
        @OptionGroup var storage: StorageOptions
        @Option(help: "The workspace id.") var workspace: String
        @Option(help: "The user id.") var user: String

        func run() async throws {
            try await withDirectory(storage) { directory in
                let found = try await directory.budgets(workspaceId: workspace, userId: user, for: .cli)
                try printJSON(
                    QuotaGetResult(
                        workspaceId: found.workspaceId, userId: found.userId, budgets: found.budgets, rateLimits: found.rateLimits))
            }
        }
    }
}

struct UsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage", abstract: "Usage reports (as usage/report and usage/export do).", subcommands: [Report.self])

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A tenant's usage summed by any of workspace, user, model and day, as JSON or CSV.")
        @OptionGroup var storage: StorageOptions
        @Option(help: "The tenant id.") var tenant: String
        @Option(help: "Only this workspace's calls.") var workspace: String?
        @Option(help: "Only this user's calls.") var user: String?
        @Option(help: "Only this model's calls.") var model: String?
        @Option(help: "From this time (ISO 8601 or YYYY-MM-DD, UTC), inclusive.") var from: String?
        @Option(help: "Until this time (ISO 8601 or YYYY-MM-DD, UTC), exclusive.") var to: String?
        @Option(help: "Group by these, comma-separated: workspace, user, model, day.") var groupBy: String?
        @Option(help: "json or csv.") var format = "json"

        func validate() throws {
            if !["json", "csv"].contains(format) { throw ValidationError("--format is json or csv") }
        }

        func run() async throws {
            try await withDirectory(storage) { directory in
                let request = UsageReportRequest(
                    tenantId: tenant, workspaceId: workspace, userId: user, model: model, from: from, to: to,
                    groupBy: groupBy.map { $0.split(separator: ",").map { String($0.trimmingPrefix(" ")) } })
                let report = try await directory.usageReport(request, for: .cli)
                if format == "csv" {
                    Output.standardOutput(Data(UsageCSV.render(report).utf8))
                } else {
                    try printJSON(UsageReportResult(report))
                }
            }
        }
    }
}
