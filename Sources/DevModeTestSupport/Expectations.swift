import JSONRPC
import Testing

// Expectations on JSON-RPC errors, for every test target.

/// The `ResponseError` a call answered, or nil when it succeeded (any other error is recorded).
public func rpcError<T>(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async -> ResponseError? {
    do {
        _ = try await body()
        return nil
    } catch let error as ResponseError {
        return error
    } catch {
        Issue.record("expected a ResponseError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Expects the call to answer `code`; returns the error for further checks.
@discardableResult
public func expectError<T>(
    _ code: ErrorCode, _ note: String = "",
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async -> ResponseError? {
    let error = await rpcError(sourceLocation: sourceLocation, body)
    #expect(
        error?.code == code,
        "expected error \(code.rawValue)\(note.isEmpty ? "" : " (\(note))"), got \(error.map { "\($0.code.rawValue) \($0.message)" } ?? "success")",
        sourceLocation: sourceLocation)
    return error
}
