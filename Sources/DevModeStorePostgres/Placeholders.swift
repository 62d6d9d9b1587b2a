/// The Store writes parameters `?`, as SQLite does; PostgreSQL numbers them `$1, $2, …`.
enum Placeholders {
    /// `sql` with each `?` outside string literals, quoted identifiers and comments replaced by
    /// `$1`, `$2`, …, and the number of parameters.
    static func numbered(_ sql: String) -> (sql: String, count: Int) {
        enum Context { case code, singleQuoted, doubleQuoted, lineComment, blockComment }
        let bytes = Array(sql.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + 16)
        var context = Context.code
        var count = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let next = index + 1 < bytes.count ? bytes[index + 1] : 0
            switch context {
            case .code:
                switch byte {
                case UInt8(ascii: "?"):
                    count += 1
                    output.append(UInt8(ascii: "$"))
                    output.append(contentsOf: String(count).utf8)
                    index += 1
                    continue
                case UInt8(ascii: "'"): context = .singleQuoted
                case UInt8(ascii: "\""): context = .doubleQuoted
                case UInt8(ascii: "-") where next == UInt8(ascii: "-"): context = .lineComment
                case UInt8(ascii: "/") where next == UInt8(ascii: "*"):
                    context = .blockComment
                    output.append(contentsOf: [byte, next])
                    index += 2
                    continue
                default: break
                }
            // A doubled quote inside a literal ('it''s') closes and reopens it: same result.
            case .singleQuoted:
                if byte == UInt8(ascii: "'") { context = .code }
            case .doubleQuoted:
                if byte == UInt8(ascii: "\"") { context = .code }
            case .lineComment:
                if byte == UInt8(ascii: "\n") { context = .code }
            case .blockComment:
                if byte == UInt8(ascii: "*") && next == UInt8(ascii: "/") {
                    context = .code
                    output.append(contentsOf: [byte, next])
                    index += 2
                    continue
                }
            }
            output.append(byte)
            index += 1
        }
        return (String(decoding: output, as: UTF8.self), count)
    }
}
