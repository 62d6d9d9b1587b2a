import DevModeClock
import DevModeProtocol
import FoundationEssentials
import JSONRPC

#if canImport(Glibc)
import Glibc
#endif

extension DevModeServer {
    /// Served only with `--enable-debug-methods`.
    static func registerDebugHandlers(_ router: inout Router) {
        router.on(DebugSleepRequest.self) { request, context in
            guard (0...600_000).contains(request.milliseconds) else {
                throw ResponseError.invalidParams("milliseconds must be 0…600000", field: "milliseconds")
            }
            try await context.server.configuration.clock.sleep(for: .milliseconds(request.milliseconds))
            return DebugSleepResult(slept: request.milliseconds)
        }
        router.on(DebugPrintRequest.self) { request, _ in
            // Every careless way of writing to stdout; all of them must land on stderr.
            print(request.text)
            fflush(nil)
            puts(request.text)
            fflush(nil)
            let line = Array((request.text + "\n").utf8)
            _ = line.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            // A C stream of its own on fd 1, as a library would open one.
            if let stream = fdopen(dup(STDOUT_FILENO), "w") {
                fputs(request.text + "\n", stream)
                fclose(stream)
            }
            return DebugPrintResult(printed: 4)
        }
    }
}
