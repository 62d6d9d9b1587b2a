import DevModeProtocol
import DevModeStore
import JSONRPC

extension DevModeServer {
    /// Budgets: who may see and set them is `Directory`'s (Quota/QuotaRules.swift); reserving and
    /// settling model calls is `QuotaService`'s; usage reports are `Directory`'s (Quota/UsageReports.swift).
    static func registerQuotaHandlers(_ router: inout Router) {
        router.on(QuotaGetRequest.self) { request, context in
            let found = try await context.server.directory.budgets(
                workspaceId: request.workspaceId, userId: request.userId, for: context.actor)
            return QuotaGetResult(
                workspaceId: found.workspaceId, userId: found.userId, budgets: found.budgets, rateLimits: found.rateLimits)
        }
        router.on(QuotaSetRequest.self) { request, context in
            let outcome = try await context.server.directory.setBudget(
                Directory.BudgetChange(
                    tenantId: request.tenantId, level: request.level, workspaceId: request.workspaceId, userId: request.userId,
                    keyId: request.keyId, metric: request.metric, period: request.period, limit: request.limit,
                    burst: request.burst, includeLocal: request.includeLocal, thresholds: request.thresholds),
                by: context.actor)
            return QuotaSetResult(outcome)
        }
        router.on(UsageReportRequest.self) { request, context in
            UsageReportResult(try await context.server.directory.usageReport(request, for: context.actor))
        }
        router.on(UsageExportRequest.self) { request, context in
            let report = try await context.server.directory.usageReport(request.report, for: context.actor)
            return UsageExportResult(csv: UsageCSV.render(report), rows: report.rows.count, truncated: report.truncated)
        }
    }
}
