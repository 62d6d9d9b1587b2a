import FoundationEssentials

/// Code completion with a chat-only model (Anthropic's, or any chat model without
/// fill-in-the-middle): the "hole filler" prompt that Continue uses for such models. The file is
/// sent with a marker at the cursor and the model is asked for the text that replaces the marker,
/// inside `<COMPLETION>` tags; the reply is then cleaned of what chat models add around code.
/// Run `PostProcessor.process` on the extracted text as for any other model.
public enum ChatFallback {
    /// Stands for the cursor in the file sent to the model.
    public static let holeMarker = "{{FILL_HERE}}"

    static let system = """
        You are a code completion engine inside an editor. You are given a file with one hole, \
        written \(holeMarker), where the cursor is. Answer with exactly the text that replaces the hole, \
        inside <COMPLETION></COMPLETION> tags, and nothing else: no explanation, no Markdown fences, \
        no code from before or after the hole. Continue the code at the cursor, with the file's \
        indentation for any line after the first. Prefer a short completion: finish the current \
        line, or the current block when the cursor is on an empty line. If nothing should be \
        inserted, answer <COMPLETION></COMPLETION>.

        Example:

        <QUERY>
        function sumEvens(limit) {
          let sum = 0;
          for (let i = 0; i < limit; i++) {
            \(holeMarker)
          }
          return sum;
        }
        </QUERY>
        <COMPLETION>if (i % 2 === 0) sum += i;</COMPLETION>
        """

    /// The system prompt and the one user message for the hole between `prefix` and `suffix`.
    public static func prompt(prefix: String, suffix: String, path: String?, language: String?) -> (system: String, messages: [ChatMessage]) {
        var user = ""
        if let path, !path.isEmpty { user += "File: \(path)\n" }
        if let language, !language.isEmpty { user += "Language: \(language)\n" }
        user += "<QUERY>\n\(prefix)\(holeMarker)\(suffix)\n</QUERY>\n"
        user += "Fill the \(holeMarker) hole. Answer only with <COMPLETION>…</COMPLETION>."
        return (system, [ChatMessage(role: .user, content: user)])
    }

    /// The text to insert, from a reply to `prompt`: the inside of the `<COMPLETION>` tags (or of
    /// the first Markdown code block, or the whole reply), without fences, hole markers, an echo of
    /// the last lines before the cursor, indentation the cursor's line already has, a leading newline
    /// that is only formatting, or trailing blank lines. Empty when nothing is left.
    public static func extractCompletion(from reply: String, prefix: String, suffix: String, language: String? = nil) -> String {
        var text = reply[...]
        if let open = text.firstRange(of: "<COMPLETION>") {
            text = text[open.upperBound...]
            if let close = text.firstRange(of: "</COMPLETION>") { text = text[..<close.lowerBound] }
        } else if reply.contains("<COMPLETION/>") || reply.contains("<COMPLETION />") {
            return ""
        }
        var body = unfenced(text).replacing(holeMarker, with: "")

        let syntax = LanguageSyntax.resolve(language: language, path: nil)
        let cursor = Cursor(prefix: prefix, suffix: suffix, syntax: syntax)
        // A newline right after the tag is layout, unless the cursor ends a block opener (where
        // the completion may well start on the next line).
        if !cursor.endsWithOpener {
            if body.hasPrefix("\r\n") {
                body.removeFirst(2)
            } else if body.hasPrefix("\n") {
                body.removeFirst()
            }
        }
        if let stripped = EchoStrip.strip(body, prefix: prefix, maxLines: 3) {
            body = stripped
        } else if cursor.lineIsBlank, !cursor.line.isEmpty, body.utf8.starts(with: cursor.line.utf8) {
            // The first line was written with its absolute indentation, which the cursor's line has.
            body = String(Substring(body.utf8.dropFirst(cursor.line.utf8.count)))
        }
        while let last = body.utf8.last, EchoStrip.isSpace(last) { body.removeLast() }
        return body
    }

    /// The content of the first fenced code block when `text` has one, else `text`.
    static func unfenced(_ text: Substring) -> String {
        let lines = Lines.split(String(text))
        guard let open = lines.firstIndex(where: { $0.drop(while: { $0 == " " }).hasPrefix("```") }) else {
            return String(text)
        }
        let after = lines.index(after: open)
        let close = lines[after...].firstIndex(where: { $0.drop(while: { $0 == " " }).hasPrefix("```") }) ?? lines.endIndex
        return lines[after..<close].joined(separator: "\n")
    }
}
