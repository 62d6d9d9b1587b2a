import Foundation
import JSONRPC

/// The first example's params of each method in `protocol/openrpc.json` (as one by-name object),
/// for tests generated over the registry. `file` is a source file of the package (the caller's).
public struct SpecExamples: Sendable {
    public var params: [String: JSONValue?] = [:]

    public static func load(file: String = #filePath) throws -> SpecExamples {
        var directory = URL(fileURLWithPath: file).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
            guard directory.path != "/" else { throw SpecExamplesError("no Package.swift above \(file)") }
            directory.deleteLastPathComponent()
        }
        let data = try Data(contentsOf: directory.appendingPathComponent("protocol/openrpc.json"))
        let spec = try JSONDecoder().decode(JSONValue.self, from: data)
        var examples = SpecExamples()
        guard case .array(let methods)? = spec["methods"] else { throw SpecExamplesError("openrpc.json has no methods") }
        for method in methods {
            guard let name = method["name"]?.stringValue, case .array(let list)? = method["examples"], let example = list.first
            else { continue }
            // OpenRPC examples list params as [{name, value}]; a by-name request sends them as one object.
            var object: [String: JSONValue] = [:]
            if case .array(let pairs)? = example["params"] {
                for pair in pairs {
                    if let key = pair["name"]?.stringValue, let value = pair["value"] { object[key] = value }
                }
            }
            examples.params[name] = .some(.object(object))
        }
        return examples
    }
}

struct SpecExamplesError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
