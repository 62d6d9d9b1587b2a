import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// The few file operations projects need, with the guarantees devmode promises: a write goes to a
/// temporary file in the same folder, is flushed, and renamed into place (a crash leaves the old or
/// the new file, never half of one); the final component is opened without following symlinks.
public enum FileSystem {
    public struct Failure: Error, CustomStringConvertible {
        public let operation: String
        public let path: String
        public let code: Int32
        public init(operation: String, path: String, code: Int32) {
            self.operation = operation
            self.path = path
            self.code = code
        }
        public var description: String { "\(operation) failed for \(path): \(String(cString: strerror(code)))" }
        public var isMissing: Bool { code == ENOENT || code == ENOTDIR }
        public var isExisting: Bool { code == EEXIST || code == ENOTEMPTY }
    }

    public enum Kind: Sendable { case file, directory, symlink, other }

    public static func kind(_ path: String) -> Kind? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        default: return .other
        }
    }

    public static func size(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_size)
    }

    /// Reads a regular file, refusing to follow a symlink in the last component.
    public static func read(_ path: String, limit: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(operation: "open", path: path, code: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Failure(operation: "fstat", path: path, code: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw Failure(operation: "read", path: path, code: EISDIR) }
        guard Int(info.st_size) <= limit else { throw Failure(operation: "read", path: path, code: EFBIG) }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: "read", path: path, code: errno)
            }
            if count == 0 { break }
            offset += count
        }
        return Array(bytes.prefix(offset))
    }

    /// Writes atomically: temp file, fsync, rename, fsync of the folder. Creates missing folders.
    /// `mode`: the file's exact permissions (the umask does not apply); nil: 0644 less the umask.
    /// `overwrite: false`: the file appears only if no file is at `path` (a hard link instead of
    /// the rename), else `Failure.isExisting`; of several processes creating one file, one wins.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t? = nil, overwrite: Bool = true) throws {
        let directory = Paths.parent(path)
        try makeDirectories(directory)
        let temporary = directory + "/.devmode-write-" + UUID().uuidString
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode ?? 0o644)
        guard fd >= 0 else { throw Failure(operation: "open", path: temporary, code: errno) }
        if let mode, fchmod(fd, mode) != 0 {
            let code = errno
            close(fd)
            unlink(temporary)
            throw Failure(operation: "fchmod", path: temporary, code: code)
        }
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(fd)
                unlink(temporary)
                throw Failure(operation: "write", path: temporary, code: code)
            }
            offset += count
        }
        guard fsync(fd) == 0 else {
            let code = errno
            close(fd)
            unlink(temporary)
            throw Failure(operation: "fsync", path: temporary, code: code)
        }
        close(fd)
        if overwrite {
            guard rename(temporary, path) == 0 else {
                let code = errno
                unlink(temporary)
                throw Failure(operation: "rename", path: path, code: code)
            }
        } else {
            let linked = link(temporary, path) == 0
            let code = errno
            unlink(temporary)
            guard linked else { throw Failure(operation: "link", path: path, code: code) }
        }
        syncDirectory(directory)
    }

    /// `mkdir -p`, failing as a `Failure` with the errno of the step that failed (ENOTDIR when a
    /// file is in the way), so callers can tell the client plainly. Existing folders, and symlinks
    /// to folders, are fine.
    public static func makeDirectories(_ directory: String) throws {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else { throw Failure(operation: "mkdir", path: directory, code: ENOTDIR) }
            return
        }
        let parent = Paths.parent(directory)
        if !parent.isEmpty && parent != directory { try makeDirectories(parent) }
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
            throw Failure(operation: "mkdir", path: directory, code: errno)
        }
    }

    public static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    public static func remove(_ path: String) throws {
        if kind(path) == .directory {
            guard rmdir(path) == 0 else { throw Failure(operation: "rmdir", path: path, code: errno) }
        } else {
            guard unlink(path) == 0 else { throw Failure(operation: "unlink", path: path, code: errno) }
        }
        syncDirectory(Paths.parent(path))
    }

    public static func move(_ from: String, to: String, overwrite: Bool) throws {
        try makeDirectories(Paths.parent(to))
        if !overwrite && kind(to) != nil { throw Failure(operation: "rename", path: to, code: EEXIST) }
        guard rename(from, to) == 0 else { throw Failure(operation: "rename", path: to, code: errno) }
        syncDirectory(Paths.parent(to))
    }
}
