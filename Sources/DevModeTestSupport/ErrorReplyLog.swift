import Foundation
import JSONRPC

/// Records which error codes each method answered a test client, for `scripts/check-error-coverage`:
/// when `DEVMODE_ERROR_LOG` names a file, every (method, code) pair a test client received is
/// appended to it once per test process, as a line `method code`. The check then compares the file
/// with the `errors` of each method in `protocol/openrpc.json`. Without the variable, nothing is
/// recorded.
public enum ErrorReplyLog {
    private static let log: LockedState<(path: String?, seen: Set<String>)> = LockedState(
        (ProcessInfo.processInfo.environment["DEVMODE_ERROR_LOG"].flatMap { $0.isEmpty ? nil : $0 }, []))

    /// Notes that `method` answered `code` to a test client.
    public static func record(method: String, code: ErrorCode) {
        let line = "\(method) \(code.rawValue)\n"
        log.withLock { log in
            guard let path = log.path, log.seen.insert(line).inserted else { return }
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
            guard fd >= 0 else { return }
            defer { close(fd) }
            _ = line.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        }
    }

    /// The observer a test client's `Connection` takes (`errorReplyObserver`).
    public static let observer: @Sendable (String, ResponseError) -> Void = { method, error in
        record(method: method, code: error.code)
    }

    /// Records the reply to a request sent as raw JSON, when it is an error: `request` and `reply`
    /// are decoded messages (for clients that speak raw JSON-RPC, as the end-to-end tests do).
    public static func record(request method: String, reply: [String: Any]) {
        guard let error = reply["error"] as? [String: Any], let code = error["code"] as? Int else { return }
        record(method: method, code: ErrorCode(rawValue: code))
    }
}
