/// Path and text helpers that FoundationEssentials leaves out (devmode does not load the full
/// Foundation: it would cost several megabytes of memory in every process).
public enum Paths {
    /// `a/b/c` → `a/b`; `c` → `.`; `/c` → `/`.
    public static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// Whether `path` is `root` or lies under it (both absolute, resolved).
    public static func isInside(_ path: String, _ root: String) -> Bool {
        path == root || path.hasPrefix(root == "/" ? "/" : root + "/")
    }

    /// `a/b/c` → `c`.
    public static func lastComponent(_ path: String) -> String {
        String(path.split(separator: "/").last ?? Substring(path))
    }
}

extension String {
    /// Without leading and trailing white space and line breaks.
    public var trimmed: String {
        let characters = Array(self)
        var start = 0
        var end = characters.count
        while start < end && (characters[start].isWhitespace || characters[start].isNewline) { start += 1 }
        while end > start && (characters[end - 1].isWhitespace || characters[end - 1].isNewline) { end -= 1 }
        return String(characters[start..<end])
    }
}
