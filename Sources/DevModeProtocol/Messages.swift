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
    ]

    public static let notifications: [any NotificationType.Type] = [
        InitializedNotification.self,
        ExitNotification.self,
        CancelRequestNotification.self,
    ]

    /// Methods served only when the server runs with `--enable-debug-methods`.
    public static let debugMethods: Set<String> = [DebugSleepRequest.method, DebugPrintRequest.method]

    public static let registry = MessageRegistry(requests: requests, notifications: notifications)
}
