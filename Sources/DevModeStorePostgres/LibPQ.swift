import CPostgres
import DevModeStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// libpq, loaded at run time.
///
/// devmode does not link libpq: with its dependencies (Kerberos, LDAP, GnuTLS, SASL, …) it would
/// cost every process, SQLite-only ones included, megabytes of memory at start. It is opened with
/// `dlopen` the first time a `PostgresDriver` is created, and its functions resolved with `dlsym`;
/// `CPostgres` supplies only the types and constants. Call its functions through `LibPQ.load()`'s
/// table, never the imported C declarations (those would need `-lpq` at link time).
///
/// `@unchecked Sendable`: immutable after `load`; libpq's functions are thread-safe as long as each
/// connection is used by one thread at a time (`PostgresHandle` sees to that).
final class LibPQ: @unchecked Sendable {
    typealias NoticeProcessor = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void

    let PQconnectdb: @convention(c) (UnsafePointer<CChar>?) -> OpaquePointer?
    let PQstatus: @convention(c) (OpaquePointer?) -> ConnStatusType
    let PQreset: @convention(c) (OpaquePointer?) -> Void
    let PQfinish: @convention(c) (OpaquePointer?) -> Void
    let PQtransactionStatus: @convention(c) (OpaquePointer?) -> PGTransactionStatusType
    let PQsetNoticeProcessor: @convention(c) (OpaquePointer?, NoticeProcessor?, UnsafeMutableRawPointer?) -> NoticeProcessor?
    let PQerrorMessage: @convention(c) (OpaquePointer?) -> UnsafeMutablePointer<CChar>?
    let PQexecParams: @convention(c) (
        OpaquePointer?, UnsafePointer<CChar>?, Int32, UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?,
        UnsafePointer<Int32>?, UnsafePointer<Int32>?, Int32
    ) -> OpaquePointer?
    let PQprepare: @convention(c) (
        OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, Int32, UnsafePointer<Oid>?
    ) -> OpaquePointer?
    let PQexecPrepared: @convention(c) (
        OpaquePointer?, UnsafePointer<CChar>?, Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?,
        UnsafePointer<Int32>?, Int32
    ) -> OpaquePointer?
    let PQresultStatus: @convention(c) (OpaquePointer?) -> ExecStatusType
    let PQresultErrorField: @convention(c) (OpaquePointer?, Int32) -> UnsafeMutablePointer<CChar>?
    let PQntuples: @convention(c) (OpaquePointer?) -> Int32
    let PQnfields: @convention(c) (OpaquePointer?) -> Int32
    let PQfname: @convention(c) (OpaquePointer?, Int32) -> UnsafeMutablePointer<CChar>?
    let PQftype: @convention(c) (OpaquePointer?, Int32) -> Oid
    let PQgetvalue: @convention(c) (OpaquePointer?, Int32, Int32) -> UnsafeMutablePointer<CChar>?
    let PQgetlength: @convention(c) (OpaquePointer?, Int32, Int32) -> Int32
    let PQgetisnull: @convention(c) (OpaquePointer?, Int32, Int32) -> Int32
    let PQclear: @convention(c) (OpaquePointer?) -> Void

    /// The library, loaded on first use (once per process, whatever the outcome).
    private static let shared: Result<LibPQ, SQLError> = {
        do throws(SQLError) {
            return .success(try LibPQ())
        } catch {
            return .failure(error)
        }
    }()

    /// libpq's functions, or a `.connection` error saying the library (or one of its functions) is
    /// missing.
    static func load() throws(SQLError) -> LibPQ {
        try shared.get()
    }

    /// The sonames tried, in order: the runtime package's (libpq5), then the development symlink.
    private static let libraryNames = ["libpq.so.5", "libpq.so", "libpq.5.dylib", "libpq.dylib"]

    private init() throws(SQLError) {
        var failures: [String] = []
        var opened: UnsafeMutableRawPointer?
        for name in Self.libraryNames {
            if let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) {
                opened = handle
                break
            }
            failures.append(Self.lastError() ?? "\(name): cannot be loaded")
        }
        guard let library = opened else {
            throw SQLError(
                kind: .connection, function: "dlopen",
                message: "PostgreSQL support needs libpq5 (libpq.so.5): \(failures.first ?? "not found")",
                code: "08001")
        }
        // Never closed: the functions stay in use for the life of the process.
        func symbol<T>(_ name: String, as type: T.Type = T.self) throws(SQLError) -> T {
            guard let address = dlsym(library, name) else {
                throw SQLError(
                    kind: .connection, function: "dlsym",
                    message: "PostgreSQL support needs libpq5 (libpq.so.5): \(Self.lastError() ?? "\(name) not found")",
                    code: "08001")
            }
            return unsafeBitCast(address, to: T.self)
        }
        PQconnectdb = try symbol("PQconnectdb")
        PQstatus = try symbol("PQstatus")
        PQreset = try symbol("PQreset")
        PQfinish = try symbol("PQfinish")
        PQtransactionStatus = try symbol("PQtransactionStatus")
        PQsetNoticeProcessor = try symbol("PQsetNoticeProcessor")
        PQerrorMessage = try symbol("PQerrorMessage")
        PQexecParams = try symbol("PQexecParams")
        PQprepare = try symbol("PQprepare")
        PQexecPrepared = try symbol("PQexecPrepared")
        PQresultStatus = try symbol("PQresultStatus")
        PQresultErrorField = try symbol("PQresultErrorField")
        PQntuples = try symbol("PQntuples")
        PQnfields = try symbol("PQnfields")
        PQfname = try symbol("PQfname")
        PQftype = try symbol("PQftype")
        PQgetvalue = try symbol("PQgetvalue")
        PQgetlength = try symbol("PQgetlength")
        PQgetisnull = try symbol("PQgetisnull")
        PQclear = try symbol("PQclear")
    }

    private static func lastError() -> String? {
        dlerror().map { String(cString: $0) }
    }
}
