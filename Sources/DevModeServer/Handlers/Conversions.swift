import DevModeGit
import DevModeProtocol
import DevModeStore
import FoundationEssentials

/// Store rows to protocol results: the only place that knows both shapes.
extension IdentityInfo {
    public init(_ caller: Caller) {
        self.init(
            userId: caller.userId, userName: caller.userName, tenantId: caller.tenantId, tenantName: caller.tenantName,
            isServerAdmin: caller.isServerAdmin, isTenantAdmin: caller.isTenantAdmin, credential: caller.credentialName,
            scopes: caller.scopes, expiresAt: Timestamp.iso(caller.expiresAt))
    }
}

extension TenantInfo {
    public init(_ tenant: Tenant) {
        self.init(id: tenant.id, name: tenant.name, createdAt: Timestamp.iso(tenant.createdAt))
    }
}

extension UserInfo {
    public init(_ user: User) {
        self.init(
            id: user.id, tenantId: user.tenantId, name: user.name, email: user.email, isServerAdmin: user.isServerAdmin,
            isTenantAdmin: user.isTenantAdmin, disabled: user.isDisabled, createdAt: Timestamp.iso(user.createdAt))
    }
}

extension WorkspaceRole {
    public init(_ role: Role) { self = WorkspaceRole(rawValue: role.rawValue) ?? .viewer }
    public var storeRole: Role { Role(rawValue: rawValue) ?? .viewer }
}

extension WorkspaceInfo {
    public init(_ workspace: Workspace, role: Role?) {
        self.init(
            id: workspace.id, tenantId: workspace.tenantId, name: workspace.name, description: workspace.description,
            role: role.map(WorkspaceRole.init), createdAt: Timestamp.iso(workspace.createdAt),
            updatedAt: Timestamp.iso(workspace.updatedAt))
    }
}

extension MemberInfo {
    public init(_ membership: Membership, user: User) {
        self.init(
            workspaceId: membership.workspaceId, userId: membership.userId, userName: user.name,
            role: WorkspaceRole(membership.role), createdAt: Timestamp.iso(membership.createdAt))
    }
}

extension APIKeyInfo {
    public init(_ key: APIKeyRecord) {
        self.init(
            id: key.id, userId: key.userId, tenantId: key.tenantId, name: key.name, prefix: key.prefix, scopes: key.scopes,
            createdAt: Timestamp.iso(key.createdAt), expiresAt: Timestamp.iso(key.expiresAt),
            revokedAt: Timestamp.iso(key.revokedAt), lastUsedAt: Timestamp.iso(key.lastUsedAt))
    }
}

extension AuditEntryInfo {
    public init(_ entry: AuditEntry) {
        self.init(
            seq: Int(entry.seq), at: Timestamp.iso(entry.at), actor: entry.actor, tenantId: entry.tenantId,
            workspaceId: entry.workspaceId, method: entry.method, target: entry.target, outcome: entry.outcome.rawValue,
            detail: entry.detail, hash: entry.hash)
    }
}

// MARK: Projects and history

extension ProjectInfo {
    init(_ described: ProjectDescription) {
        let project = described.project
        self.init(
            id: project.id, workspaceId: project.workspaceId, name: project.name, kind: project.kind.rawValue,
            root: project.kind == .local ? project.root : nil, branch: described.branch,
            createdAt: Timestamp.iso(project.createdAt))
    }
}

extension CommitInfo {
    init(_ commit: GitCommitInfo) {
        self.init(
            id: commit.id, parents: commit.parents, summary: commit.summary, message: commit.message,
            author: Person(name: commit.author.name, email: commit.author.email, time: Timestamp.iso(commit.author.time)),
            committer: Person(
                name: commit.committer.name, email: commit.committer.email, time: Timestamp.iso(commit.committer.time)))
    }
}

extension Timestamp {
    static func iso(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: false))
    }
}

extension VCSStatusResult {
    init(_ status: ProjectHistory.Status) {
        self.init(
            branch: status.branch,
            entries: status.entries.map { .init(path: $0.path, index: $0.index?.rawValue, workdir: $0.workdir?.rawValue) })
    }
}

extension VCSLogResult {
    init(_ log: ProjectHistory.Log) {
        self.init(commits: log.commits.map(CommitInfo.init), nextCursor: log.nextCursor)
    }
}

extension VCSBranchListResult.Branch {
    init(_ branch: GitBranch) {
        self.init(name: branch.name, isCurrent: branch.isHead, target: branch.target)
    }
}

extension VCSBranchListResult {
    init(_ list: ProjectHistory.Branches) {
        self.init(branches: list.branches.map(Branch.init), current: list.current)
    }
}

extension VCSDiffResult {
    init(_ diff: GitDiff) {
        self.init(
            patch: diff.patch,
            files: diff.files.map { file in
                File(
                    oldPath: file.oldPath, newPath: file.newPath, status: file.status, isBinary: file.isBinary,
                    additions: file.additions, deletions: file.deletions,
                    hunks: file.hunks.map { hunk in
                        Hunk(
                            header: hunk.header, oldStart: hunk.oldStart, oldLines: hunk.oldLines, newStart: hunk.newStart,
                            newLines: hunk.newLines,
                            lines: hunk.lines.map {
                                Line(origin: $0.origin, content: $0.content, oldLine: $0.oldLine, newLine: $0.newLine)
                            })
                    })
            })
    }
}

extension QuotaInfo {
    public init(_ budget: Budget) {
        self.init(
            level: budget.owner.level.rawValue, tenantId: budget.owner.tenantId, workspaceId: budget.owner.workspaceId,
            userId: budget.owner.userId, keyId: budget.owner.keyId, metric: budget.metric.rawValue,
            period: budget.period.rawValue, limit: Int(budget.limit), used: Int(budget.used), reserved: Int(budget.reserved),
            remaining: Int(budget.remaining), resetAt: budget.resetAt.map { Timestamp.iso($0) }, thresholds: budget.thresholds)
    }
}

extension RateLimitInfo {
    public init(_ limit: RateLimit, used: Int64 = 0, freeAt: Int64? = nil) {
        self.init(
            level: limit.owner.level.rawValue, tenantId: limit.owner.tenantId, workspaceId: limit.owner.workspaceId,
            userId: limit.owner.userId, metric: limit.metric.rawValue, limit: Int(limit.limit), burst: Int(limit.burst),
            includesLocal: limit.includesLocal, used: Int(used), freeAt: freeAt.map { Timestamp.iso($0) })
    }

    public init(_ use: RateLimitUse) {
        self.init(use.limit, used: use.use.used, freeAt: use.use.freeAt)
    }
}

extension QuotaSetResult {
    public init(_ outcome: Directory.SetOutcome) {
        switch outcome {
        case .budget(let budget, let removed): self.init(quota: budget.map(QuotaInfo.init), removed: removed)
        case .rateLimit(let limit, let removed):
            self.init(quota: nil, rateLimit: limit.map { RateLimitInfo($0) }, removed: removed)
        }
    }
}

extension QuotaGetResult {
    public init(workspaceId: String, userId: String, budgets: [Budget], rateLimits: [RateLimitUse]) {
        self.init(
            workspaceId: workspaceId, userId: userId, quotas: budgets.map(QuotaInfo.init), rateLimits: rateLimits.map(RateLimitInfo.init))
    }
}

extension CompletionFallback {
    init(_ fallback: AIService.Fallback) {
        self.init(
            requestedModel: fallback.requestedModel, reason: "quotaExceeded", level: fallback.refusal.data?["level"]?.stringValue)
    }
}

extension UsageRowInfo {
    init(_ row: UsageReportRow) {
        self.init(
            workspaceId: row.workspaceId, userId: row.userId, model: row.model,
            day: row.day.map { String(Timestamp.iso($0 * 86_400_000).prefix(10)) }, requests: row.requests,
            inputTokens: row.inputTokens, outputTokens: row.outputTokens, costMicros: row.costMicros, shown: row.shown,
            accepted: row.accepted, acceptanceRate: row.acceptanceRate, refusals: row.refusals)
    }
}

extension UsageReportResult {
    public init(_ report: Directory.UsageReport) {
        self.init(
            tenantId: report.tenantId, groupBy: report.groupBy.map(\.rawValue), rows: report.rows.map(UsageRowInfo.init),
            truncated: report.truncated)
    }
}
