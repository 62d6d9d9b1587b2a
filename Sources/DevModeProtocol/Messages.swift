import JSONRPC

/// Every method devmode speaks. Adding a method: its type (one file under `Requests/` or
/// `Notifications/`), an entry here, its handler in `DevModeServer`, its entry in
/// `protocol/openrpc.json`, and a test (see `CONTRIBUTING.md`).
public enum DevModeMessages {
    public static let protocolVersion = "0.1.0"

    public static let requests: [any RequestType.Type] = [
        InitializeRequest.self,
        ShutdownRequest.self,
        ServerInfoRequest.self,
        DebugSleepRequest.self,
        DebugPrintRequest.self,
        AuthWhoAmIRequest.self,
        AuthTokenRequest.self,
        TenantCreateRequest.self,
        TenantListRequest.self,
        TenantGetRequest.self,
        UserCreateRequest.self,
        UserListRequest.self,
        UserDisableRequest.self,
        WorkspaceCreateRequest.self,
        WorkspaceListRequest.self,
        WorkspaceGetRequest.self,
        WorkspaceUpdateRequest.self,
        WorkspaceDeleteRequest.self,
        MemberAddRequest.self,
        MemberRemoveRequest.self,
        MemberSetRoleRequest.self,
        MemberListRequest.self,
        APIKeyCreateRequest.self,
        APIKeyListRequest.self,
        APIKeyRevokeRequest.self,
        AuditQueryRequest.self,
        AuditVerifyRequest.self,
        ProjectCreateRequest.self,
        ProjectListRequest.self,
        ProjectGetRequest.self,
        ProjectRenameRequest.self,
        ProjectDeleteRequest.self,
        ProjectOpenRequest.self,
        ProjectWatchRequest.self,
        FileListRequest.self,
        FileReadRequest.self,
        FileWriteRequest.self,
        FileDeleteRequest.self,
        FileMoveRequest.self,
        FileSearchRequest.self,
        VCSStatusRequest.self,
        VCSCommitRequest.self,
        VCSLogRequest.self,
        VCSDiffRequest.self,
        VCSRestoreRequest.self,
        VCSBranchListRequest.self,
        VCSBranchCreateRequest.self,
        VCSCheckoutRequest.self,
        DocumentGetRequest.self,
        ModelListRequest.self,
        WorkspaceSetModelsRequest.self,
        InlineCompletionRequest.self,
        CompletionRequest.self,
        AICompleteRequest.self,
        ExecuteCommandRequest.self,
        QuotaGetRequest.self,
        QuotaSetRequest.self,
        UsageReportRequest.self,
        UsageExportRequest.self,
    ]

    /// Requests that name no object by id, with why they need no isolation check. Every request is
    /// either an `ObjectScopedRequest` or listed here; a test enforces it.
    public static let unscopedRequests: [String: String] = [
        InitializeRequest.method: "lifecycle",
        ShutdownRequest.method: "lifecycle",
        ServerInfoRequest.method: "names no object",
        DebugSleepRequest.method: "debug only",
        DebugPrintRequest.method: "debug only",
        AuthWhoAmIRequest.method: "the caller's own identity",
        AuthTokenRequest.method: "the caller's own token",
        TenantCreateRequest.method: "server admins only; names no existing object",
        TenantListRequest.method: "lists only what the caller may see",
        WorkspaceListRequest.method: "lists only what the caller may see",
        AuditVerifyRequest.method: "server admins only",
        ProjectOpenRequest.method: "names a folder, not an object; local mode only, inside the allowed roots",
        DocumentGetRequest.method: "names a document of the session's own (opened by its client), not a tenant object",
        InlineCompletionRequest.method:
            "names a document of the session's own; the project it maps to is checked against the caller's role",
        CompletionRequest.method:
            "names a document of the session's own; the project it maps to is checked against the caller's role",
        ExecuteCommandRequest.method: "names a completion of the session's own caller (others' ids are ignored)",
    ]

    public static let notifications: [any NotificationType.Type] = [
        InitializedNotification.self,
        ExitNotification.self,
        CancelRequestNotification.self,
        DidOpenTextDocumentNotification.self,
        DidChangeTextDocumentNotification.self,
        DidCloseTextDocumentNotification.self,
        CompletionDidShowNotification.self,
        CompletionDidAcceptNotification.self,
        CompletionDidRejectNotification.self,
    ]

    /// Notifications the server sends to clients (never received).
    public static let serverNotifications: [any NotificationType.Type] = [
        ProjectDidChangeFilesNotification.self,
        QuotaDidChangeNotification.self,
    ]

    /// Methods served only when the server runs with `--enable-debug-methods`.
    public static let debugMethods: Set<String> = [DebugSleepRequest.method, DebugPrintRequest.method]

    public static let registry = MessageRegistry(requests: requests, notifications: notifications)
}
