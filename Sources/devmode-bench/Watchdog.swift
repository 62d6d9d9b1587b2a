import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Kills the server under test when it stops answering, so a hung server ends the benchmark with a
/// report instead of a blocked `read`. The client only stores a timestamp per read: no syscalls.
final class Watchdog: Sendable {
    private let pid = Atomic<Int32>(0)
    private let lastProgress = Atomic<UInt64>(0)
    private let fired = Atomic<Bool>(false)
    let silenceNanoseconds: UInt64

    init(silenceSeconds: Double) {
        silenceNanoseconds = UInt64(silenceSeconds * 1e9)
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: 0.25)
                let watched = pid.load(ordering: .acquiring)
                guard watched > 0 else { continue }
                if monotonicNanoseconds() - lastProgress.load(ordering: .relaxed) > silenceNanoseconds {
                    fired.store(true, ordering: .releasing)
                    pid.store(0, ordering: .releasing)
                    kill(watched, SIGKILL)
                }
            }
        }
        thread.start()
    }

    func watch(_ process: Int32) {
        tick()
        pid.store(process, ordering: .releasing)
    }

    func unwatch() { pid.store(0, ordering: .releasing) }

    @inline(__always)
    func tick() { lastProgress.store(monotonicNanoseconds(), ordering: .relaxed) }

    /// Appended to an error message when the watchdog killed the server.
    var note: String {
        fired.load(ordering: .acquiring)
            ? " (the server sent nothing for \(silenceNanoseconds / 1_000_000_000) s; the bench killed it)" : ""
    }
}
