import FoundationEssentials
import JSONRPC

/// Content on the wire: UTF-8 text as is, or base64 for anything else.
enum FileContentCoding {
    static func decode(_ content: String, encoding: String?) throws -> [UInt8] {
        switch encoding ?? "utf-8" {
        case "utf-8", "utf8": return Array(content.utf8)
        case "base64":
            guard let data = Data(base64Encoded: content) else {
                throw ResponseError.invalidParams("content is not valid base64", field: "content")
            }
            return Array(data)
        default:
            throw ResponseError.invalidParams("encoding must be utf-8 or base64", field: "encoding")
        }
    }

    /// Text when the bytes are UTF-8 without NUL; base64 otherwise.
    static func encode(_ bytes: [UInt8]) -> (content: String, encoding: String) {
        if !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) {
            return (text, "utf-8")
        }
        return (Data(bytes).base64EncodedString(), "base64")
    }
}
