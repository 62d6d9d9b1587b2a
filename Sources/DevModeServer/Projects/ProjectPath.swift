import DevModeFileSystem
import DevModeProtocol
import FoundationEssentials
import JSONRPC

#if canImport(Glibc)
import Glibc
#endif

/// A client's path, checked and resolved inside one project.
///
/// Refused: empty paths (where a file is needed), absolute paths, `..` and `.` components, empty
/// components (`a//b`, a trailing `/`), backslashes, NUL and other control characters, anything in
/// or named `.git` (in any case), over-long names (255 bytes a component, 4096 a path), and any
/// path whose existing part leads through a symlink to outside the project.
struct ProjectPath: Sendable, Hashable {
    /// Normalised, `/`-separated, relative to the root ("" is the root itself).
    let relative: String
    /// The absolute path on disk.
    let absolute: String

    static let maxComponentBytes = 255
    static let maxPathBytes = 4096

    static func refuse(_ raw: String, _ why: String) -> ResponseError {
        ResponseError(
            code: .invalidParams, message: "Invalid params: path refused: \(why)",
            data: ["field": "path", "reason": .string(why)])
    }

    /// Checks `raw` (`allowRoot`: "" names the root, for listings) and resolves it against `root`.
    static func resolve(_ raw: String, in root: String, allowRoot: Bool = false) throws -> ProjectPath {
        if raw.isEmpty {
            guard allowRoot else { throw refuse(raw, "a path is required") }
            return ProjectPath(relative: "", absolute: root)
        }
        guard raw.utf8.count <= maxPathBytes else { throw refuse(raw, "longer than \(maxPathBytes) bytes") }
        guard !raw.hasPrefix("/") else { throw refuse(raw, "absolute paths are not allowed") }
        guard !raw.contains("\\") else { throw refuse(raw, "backslashes are not allowed") }
        guard !raw.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw refuse(raw, "control characters (NUL included) are not allowed")
        }
        let components = raw.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for component in components {
            if component.isEmpty { throw refuse(raw, "empty path component") }
            if component == ".." { throw refuse(raw, "'..' is not allowed") }
            if component == "." { throw refuse(raw, "'.' is not allowed") }
            if component.lowercased() == ".git" { throw refuse(raw, "the .git folder is off limits") }
            if component.utf8.count > maxComponentBytes { throw refuse(raw, "a name longer than \(maxComponentBytes) bytes") }
        }
        let absolute = root + "/" + components.joined(separator: "/")
        try checkNoEscape(absolute, relativeComponents: components, root: root, raw: raw)
        return ProjectPath(relative: components.joined(separator: "/"), absolute: absolute)
    }

    /// Walks the existing part of the path: every symlink on the way must resolve inside the root.
    private static func checkNoEscape(_ absolute: String, relativeComponents: [String], root: String, raw: String) throws {
        let realRoot = realPath(root) ?? root
        var current = root
        for component in relativeComponents {
            current += "/" + component
            var info = stat()
            guard lstat(current, &info) == 0 else { return }  // The rest does not exist yet.
            if (info.st_mode & S_IFMT) == S_IFLNK {
                guard let target = realPath(current) else { throw refuse(raw, "a symlink that leads nowhere") }
                guard target == realRoot || target.hasPrefix(realRoot + "/") else {
                    throw refuse(raw, "a symlink that leads outside the project")
                }
                let inside = target.dropFirst(realRoot.count).split(separator: "/").map(String.init)
                if inside.contains(where: { $0.lowercased() == ".git" }) {
                    throw refuse(raw, "a symlink into the .git folder")
                }
            }
        }
    }

    /// For reading: when the last component is a symlink (which `FileSystem.read` will not follow),
    /// the file it leads to. `resolve` let it through because it stays inside the project and out
    /// of `.git`; that is checked again here, just before the read.
    func followingFinalSymlink(in root: String) throws -> ProjectPath {
        guard FileSystem.kind(absolute) == .symlink else { return self }
        let realRoot = Self.realPath(root) ?? root
        guard let target = Self.realPath(absolute) else { throw Self.refuse(relative, "a symlink that leads nowhere") }
        guard target == realRoot || target.hasPrefix(realRoot + "/") else {
            throw Self.refuse(relative, "a symlink that leads outside the project")
        }
        if target.dropFirst(realRoot.count).split(separator: "/").contains(where: { $0.lowercased() == ".git" }) {
            throw Self.refuse(relative, "a symlink into the .git folder")
        }
        return ProjectPath(relative: relative, absolute: target)
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
