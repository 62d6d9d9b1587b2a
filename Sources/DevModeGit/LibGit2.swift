import CGit2
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Process-wide libgit2 set-up, done once before the first call.
enum LibGit2 {
    /// `git_libgit2_init` once per process (a Swift `static let` is initialised exactly once,
    /// thread-safely), and fsync of the git directory so a crash cannot leave a torn object or ref.
    private static let initialisation: Result<Void, GitError> = {
        let count = git_libgit2_init()
        if count < 0 { return .failure(GitError.last("git_libgit2_init", code: count)) }
        let fsync = devmode_git_enable_fsync_gitdir(1)
        if fsync < 0 { return .failure(GitError.last("git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR)", code: fsync)) }
        return .success(())
    }()

    static func initialise() throws { try initialisation.get() }
}

// MARK: - Object ids

extension git_oid {
    /// The 40-digit lowercase hex form, as git prints it.
    var hex: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        return withUnsafeBytes(of: id) { bytes in
            String(unsafeUninitializedCapacity: bytes.count * 2) { out in
                for (i, byte) in bytes.enumerated() {
                    out[2 * i] = digits[Int(byte >> 4)]
                    out[2 * i + 1] = digits[Int(byte & 0x0f)]
                }
                return bytes.count * 2
            }
        }
    }

    static func parse(_ hex: String, function: String = "git_oid_fromstrn") throws -> (oid: git_oid, length: Int) {
        var oid = git_oid()
        let length = hex.utf8.count
        try check(git_oid_fromstrn(&oid, hex, length), function)
        return (oid, length)
    }
}

/// A git object id as a dictionary key (`git_oid` itself is a C struct without Hashable).
struct ObjectKey: Hashable {
    let high: UInt64, middle: UInt64, low: UInt32
    init(_ oid: git_oid) {
        (high, middle, low) = withUnsafeBytes(of: oid.id) { bytes in
            (bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
             bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
             bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        }
    }
}

// MARK: - Strings and buffers

extension String {
    /// Bytes from C as text; git does not promise UTF-8, so invalid sequences become U+FFFD.
    init(gitBytes pointer: UnsafePointer<CChar>?, count: Int) {
        guard let pointer, count > 0 else { self = ""; return }
        self = pointer.withMemoryRebound(to: UInt8.self, capacity: count) {
            String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
        }
    }

    init(gitCString pointer: UnsafePointer<CChar>?) {
        guard let pointer else { self = ""; return }
        self.init(gitBytes: pointer, count: strlen(pointer))
    }
}

extension git_buf {
    var bytes: [UInt8] {
        guard let ptr, size > 0 else { return [] }
        return ptr.withMemoryRebound(to: UInt8.self, capacity: size) { Array(UnsafeBufferPointer(start: $0, count: size)) }
    }
}

/// Lends `strings` to C as a `git_strarray` for the duration of `body`. The array is ours (strdup),
/// so we free it ourselves rather than with `git_strarray_dispose`, which is for arrays libgit2 made.
func withStrArray<R>(_ strings: [String], _ body: (inout git_strarray) throws -> R) rethrows -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { for pointer in pointers { free(pointer) } }
    return try pointers.withUnsafeMutableBufferPointer { buffer in
        var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
        return try body(&array)
    }
}

/// A raw pointer carried across a continuation. Only ever used to hand a handle that nobody else
/// references from the queue that created it to the object that will own it.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
}
