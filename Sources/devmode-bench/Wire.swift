import Foundation
import JSONRPC

/// Requests encoded once, before any timing: the hot path only slices and writes bytes.
enum Wire {
    static func frame(_ json: String) -> [UInt8] {
        FramingMode.contentLength.frame(Array(json.utf8))
    }

    /// `initialize`, with `initializationOptions.token` when the server wants a credential.
    static func initialize(id: Int, token: String?) -> [UInt8] {
        guard let token else { return frame(#"{"jsonrpc":"2.0","id":\#(id),"method":"initialize","params":{}}"#) }
        let quoted = String(decoding: try! JSONEncoder().encode(token), as: UTF8.self)
        return frame(
            #"{"jsonrpc":"2.0","id":\#(id),"method":"initialize","params":{"initializationOptions":{"token":\#(quoted)}}}"#)
    }

    /// One request with any params (encoded with JSONSerialization: off the hot path).
    static func request(id: Int, method: String, params: [String: Any]?) throws -> [UInt8] {
        var object: [String: Any] = ["jsonrpc": "2.0", "id": id, "method": method]
        if let params { object["params"] = params }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])
        return FramingMode.contentLength.frame(Array(data))
    }

    static let initialized = frame(#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#)
}

/// `count` framed `server/info` requests with ids `firstID ..< firstID + count`, back to back in one
/// buffer, so any run of consecutive requests goes out in a single `write`.
struct RequestBatch {
    let firstID: Int
    let bytes: [UInt8]
    /// `offsets[i]` is where request i starts; `offsets[count]` is the end.
    let offsets: [Int]

    var count: Int { offsets.count - 1 }

    init(method: String = "server/info", firstID: Int, count: Int) {
        self.firstID = firstID
        var bytes: [UInt8] = []
        var offsets: [Int] = [0]
        offsets.reserveCapacity(count + 1)
        bytes.reserveCapacity(count * 80)
        for index in 0..<count {
            bytes.append(contentsOf: Wire.frame(#"{"jsonrpc":"2.0","id":\#(firstID + index),"method":"\#(method)"}"#))
            offsets.append(bytes.count)
        }
        self.bytes = bytes
        self.offsets = offsets
    }

    /// The bytes of requests `range`.
    func byteRange(_ range: Range<Int>) -> Range<Int> { offsets[range.lowerBound]..<offsets[range.upperBound] }
}
