// libFuzzer target over what an unauthenticated peer reaches first: the framing parser (both
// framings, the input split into chunks), message decoding against the real method registry, and a
// Connection whose handler answers like a session before `initialize`. Built by `scripts/fuzz`
// with swiftc directly (`-sanitize=fuzzer,address`), outside the package build.
import DevModeProtocol
import Dispatch
import FoundationEssentials
import JSONRPC

/// Answers every request as a session that has not been initialised: `initialize` is refused as a
/// bad sign-in (there is no store here), anything else `-32002`.
struct UninitialisedSession: MessageHandler {
    func handle(request: any RequestType, id: RequestID, from connection: Connection) async throws -> any ResponseType {
        if request is InitializeRequest {
            throw ResponseError(code: ErrorCode(rawValue: -32001), message: "Unauthenticated: bad credentials")
        }
        throw ResponseError.serverNotInitialized()
    }
    func handle(notification: any NotificationType, from connection: Connection) async {}
}

let registry = DevModeMessages.registry
let context = MessageDecodingContext(registry: registry)
var smallLimits: Limits = {
    var limits = Limits()
    limits.maxMessageBytes = 4096
    limits.maxHeaderLineBytes = 256
    limits.maxHeaderBlockBytes = 1024
    limits.maxNestingDepth = 16
    limits.maxBatchLength = 8
    limits.maxFramingErrors = 4
    return limits
}()

/// The first byte picks the chunk size (bits 0–4), the limits (bit 5) and the framings the parser
/// starts in (bits 6–7: auto-detect, LSP, NDJSON, or all three); the rest is the peer's bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let control = data[0]
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let chunk = Int(control & 0x1F) + 1
    let limits = control & 0x20 != 0 ? smallLimits : Limits()
    let decoder = JSONRPCDecoder(context: context, limits: limits)

    // 1. Framing and decoding, the input split every `chunk` bytes; the parser must end with
    //    bounded buffers and never loop.
    let modes: [FramingMode?] = [[nil], [.contentLength], [.newlineDelimited], [nil, .contentLength, .newlineDelimited]][
        Int(control >> 6)]
    for mode in modes {
        var parser = FrameParser(mode: mode, limits: limits)
        var offset = 0
        var events = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + chunk)
            parser.feed(bytes[offset..<end])
            offset = end
            while let event = parser.next() {
                events += 1
                precondition(events <= bytes.count + 1, "more events than bytes: the parser loops")
                if case .message(let body) = event {
                    precondition(body.count <= limits.maxMessageBytes)
                    _ = decoder.decode(body)
                }
            }
            precondition(parser.bufferedByteCount <= limits.maxMessageBytes + limits.maxHeaderBlockBytes + chunk + 2)
        }
    }
    // 2. The whole input as one payload.
    _ = decoder.decode(Data(bytes))

    // 3. A live connection before `initialize` (one input in 32: it costs tasks, threads and a wait).
    if control & 0xF8 == 0xF8 {
        let (client, server) = InMemoryTransport.pair()
        let connection = Connection(registry: registry, handler: UninitialisedSession(), limits: limits)
        let done = DispatchSemaphore(value: 0)
        Task {
            let reader = Task {
                var received = 0
                while let reply = try? await client.reader.read() { received += reply.count }
                return received
            }
            let serving = Task { await connection.run(input: server.reader, output: server.writer) }
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + chunk * 16)
                try? await client.writer.write(Array(bytes[offset..<end]))
                offset = end
            }
            await client.writer.close()
            await serving.value
            _ = await reader.value
            done.signal()
        }
        if done.wait(timeout: .now() + .seconds(10)) == .timedOut {
            fatalError("the connection did not finish within 10 s of the end of its input")
        }
    }
    return 0
}
