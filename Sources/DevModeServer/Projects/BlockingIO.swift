import Dispatch

/// Blocking file-system work (fsync'd writes, removes, renames, reads and hashing, walks over a
/// tree) runs here, on dispatch threads, never inline on Swift's cooperative pool: two threads on
/// this machine serve every tenant's requests, and one fsync can hold a thread for milliseconds.
enum BlockingIO {
    private static let queue = DispatchQueue(label: "devmode.blocking-io", qos: .userInitiated, attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
