/// The schema, as numbered migrations. Applied at start in one transaction each; a migration that
/// is recorded in `schema_migrations` is never run again. Only add new ones at the end; never edit one
/// that has shipped. Types are chosen to mean the same in SQLite and PostgreSQL: TEXT, BIGINT
/// (booleans 0/1, times in milliseconds), DOUBLE PRECISION.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let statements: [String]
}

public enum Schema {
    public static let genesisHash = String(repeating: "0", count: 64)

    public static let migrations: [Migration] = [
        Migration(
            version: 1, name: "tenancy, credentials and the audit log",
            statements: [
                """
                CREATE TABLE tenants (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    created_at BIGINT NOT NULL)
                """,
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL REFERENCES tenants(id),
                    name TEXT NOT NULL,
                    email TEXT,
                    is_server_admin BIGINT NOT NULL DEFAULT 0,
                    is_tenant_admin BIGINT NOT NULL DEFAULT 0,
                    disabled_at BIGINT,
                    created_at BIGINT NOT NULL,
                    UNIQUE (tenant_id, name))
                """,
                "CREATE INDEX users_tenant ON users (tenant_id)",
                """
                CREATE TABLE workspaces (
                    id TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL REFERENCES tenants(id),
                    name TEXT NOT NULL,
                    description TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    UNIQUE (tenant_id, name))
                """,
                """
                CREATE TABLE memberships (
                    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
                    user_id TEXT NOT NULL REFERENCES users(id),
                    role TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (workspace_id, user_id))
                """,
                "CREATE INDEX memberships_user ON memberships (user_id)",
                """
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL REFERENCES users(id),
                    tenant_id TEXT NOT NULL REFERENCES tenants(id),
                    name TEXT NOT NULL,
                    prefix TEXT NOT NULL,
                    hash TEXT NOT NULL UNIQUE,
                    scopes TEXT NOT NULL DEFAULT '',
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT,
                    revoked_at BIGINT,
                    last_used_at BIGINT)
                """,
                "CREATE INDEX api_keys_user ON api_keys (user_id)",
                """
                CREATE TABLE audit_log (
                    seq BIGINT PRIMARY KEY,
                    at BIGINT NOT NULL,
                    actor TEXT NOT NULL,
                    tenant_id TEXT,
                    workspace_id TEXT,
                    method TEXT NOT NULL,
                    target TEXT,
                    outcome TEXT NOT NULL,
                    detail TEXT,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL)
                """,
                "CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at)",
                // The chain's head: one row, updated by every append. Appends serialise on it
                // (a row lock in PostgreSQL, the write lock in SQLite), so the chain never forks, and
                // `audit/verify` can tell a deleted last row from a short log.
                """
                CREATE TABLE audit_head (
                    id BIGINT PRIMARY KEY,
                    last_seq BIGINT NOT NULL,
                    last_hash TEXT NOT NULL)
                """,
                "INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, '\(genesisHash)')",
                """
                CREATE TABLE settings (
                    key TEXT PRIMARY KEY,
                    value TEXT NOT NULL)
                """,
            ]),
        Migration(
            version: 2, name: "projects",
            statements: [
                // `root` is where the repository lives: under the data directory for hosted projects,
                // the user's own folder for local ones.
                """
                CREATE TABLE projects (
                    id TEXT PRIMARY KEY,
                    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
                    tenant_id TEXT NOT NULL REFERENCES tenants(id),
                    name TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    root TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    UNIQUE (workspace_id, name))
                """,
                "CREATE INDEX projects_workspace ON projects (workspace_id)",
            ]),
        Migration(
            version: 3, name: "models per workspace and usage events",
            statements: [
                // The models a workspace chose (ids separated by newlines, in order); NULL: it never
                // chose, and the registry's default models apply.
                "ALTER TABLE workspaces ADD COLUMN models TEXT",
                // One row per model call and per completion telemetry event. No foreign keys: usage
                // outlives the workspaces and users it names (reports, bills).
                """
                CREATE TABLE usage_events (
                    id TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    workspace_id TEXT,
                    user_id TEXT,
                    kind TEXT NOT NULL,
                    model TEXT,
                    subject TEXT,
                    input_tokens BIGINT NOT NULL DEFAULT 0,
                    output_tokens BIGINT NOT NULL DEFAULT 0,
                    cost_micros BIGINT NOT NULL DEFAULT 0,
                    latency_ms BIGINT,
                    outcome TEXT NOT NULL,
                    detail TEXT,
                    created_at BIGINT NOT NULL)
                """,
                "CREATE INDEX usage_events_tenant_time ON usage_events (tenant_id, created_at)",
                "CREATE INDEX usage_events_workspace_time ON usage_events (workspace_id, created_at)",
                "CREATE INDEX usage_events_subject ON usage_events (subject)",
            ]),
        Migration(
            version: 4, name: "audit anchors",
            statements: [
                // HMAC-SHA256 of the row's hash under the audit key, which lives outside the database
                // (`AuditAnchor`): someone who rewrites rows and recomputes their hashes cannot
                // recompute this. NULL for rows written before anchoring began.
                "ALTER TABLE audit_log ADD COLUMN anchor TEXT",
            ]),
        Migration(
            version: 5, name: "budgets and their holds",
            statements: [
                // One budget per owner and metric. `scope` names the owner within its level (a tenant,
                // workspace or key id; "workspace/user" for a user's share of a workspace). `used`
                // counts the period starting at `period_start`; a reader in a later period sees 0.
                // No foreign keys: a budget is removed with `quota/set` (limit null).
                """
                CREATE TABLE budgets (
                    id TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    level TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    workspace_id TEXT,
                    user_id TEXT,
                    key_id TEXT,
                    metric TEXT NOT NULL,
                    period TEXT NOT NULL,
                    limit_value BIGINT NOT NULL,
                    used BIGINT NOT NULL DEFAULT 0,
                    reserved BIGINT NOT NULL DEFAULT 0,
                    period_start BIGINT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    UNIQUE (level, scope, metric))
                """,
                "CREATE INDEX budgets_tenant ON budgets (tenant_id)",
                // What each call in flight holds of each budget, until its lease runs out. The
                // reservation's id is the id of the usage row its settlement writes.
                """
                CREATE TABLE budget_holds (
                    reservation_id TEXT NOT NULL,
                    budget_id TEXT NOT NULL,
                    amount BIGINT NOT NULL,
                    lease_until BIGINT NOT NULL,
                    reclaimed_at BIGINT,
                    PRIMARY KEY (reservation_id, budget_id))
                """,
                "CREATE INDEX budget_holds_budget ON budget_holds (budget_id, lease_until)",
            ]),
        Migration(
            version: 6, name: "rate limits",
            statements: [
                // One limit per owner and metric; `scope` as in `budgets`, and "workspace/*" for a limit
                // each user of a workspace has on their own.
                """
                CREATE TABLE rate_limits (
                    id TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    level TEXT NOT NULL,
                    scope TEXT NOT NULL,
                    workspace_id TEXT,
                    user_id TEXT,
                    metric TEXT NOT NULL,
                    limit_value BIGINT NOT NULL,
                    burst BIGINT NOT NULL,
                    includes_local BIGINT NOT NULL DEFAULT 0,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    UNIQUE (level, scope, metric))
                """,
                "CREATE INDEX rate_limits_tenant ON rate_limits (tenant_id)",
                // Each limiter's theoretical arrival time: `tat` ms and `tat_rem` / limit ms more
                // (`subject`: the user of an each-user limit, else empty).
                """
                CREATE TABLE rate_state (
                    limit_id TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    tat BIGINT NOT NULL,
                    tat_rem BIGINT NOT NULL,
                    PRIMARY KEY (limit_id, subject))
                """,
                // Calls in flight, for concurrent-request limits.
                """
                CREATE TABLE rate_holds (
                    reservation_id TEXT NOT NULL,
                    limit_id TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    lease_until BIGINT NOT NULL,
                    PRIMARY KEY (reservation_id, limit_id))
                """,
                "CREATE INDEX rate_holds_limit ON rate_holds (limit_id, subject, lease_until)",
            ]),
        Migration(
            version: 7, name: "a workspace's fallback model",
            statements: [
                // The model that answers once a budget refuses the one asked for (NULL: none).
                "ALTER TABLE workspaces ADD COLUMN fallback_model TEXT",
            ]),
        Migration(
            version: 8, name: "budget thresholds",
            statements: [
                // The percentages of the limit at which the sessions the budget applies to are told
                // (`quota/didChange`), comma-separated; NULL: the defaults (80, 95); "": none.
                "ALTER TABLE budgets ADD COLUMN thresholds TEXT",
            ]),
    ]
}
