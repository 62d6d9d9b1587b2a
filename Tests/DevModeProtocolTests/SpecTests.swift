import DevModeProtocol
import DevModeServer
import DevModeTestSupport
import Foundation
import JSONRPC
import Testing

/// `protocol/openrpc.json` is the contract; these tests hold it and the code to each other: the method
/// set (registry and server tables), each method's params and result (examples decoded into the
/// Swift types, property names and optionality compared by reflection, live results validated),
/// the errors each method declares, and the tables in `protocol/README.md`.
@Suite struct SpecTests {
    let spec: OpenRPCDocument

    init() throws {
        spec = try OpenRPCDocument.load()
    }

    @Test func documentHeader() {
        #expect(spec.root["openrpc"] == "1.3.2")
        #expect(spec.root["info"]?["title"] == "devmode")
        #expect(
            spec.root["info"]?["version"]?.stringValue == DevModeMessages.protocolVersion,
            "info.version in openrpc.json must equal DevModeMessages.protocolVersion")
        let names = spec.methods.map(\.name)
        #expect(names.count == Set(names).count, "a method is listed twice in openrpc.json: \(names)")
    }

    // (a) Server-to-client notifications are not in the registry (the server never receives them): they
    // must be exactly `DevModeMessages.serverNotifications`, and everything else exactly the registry.
    @Test func methodsEqualTheRegistry() {
        let toClients = Set(spec.methods.filter(\.isServerToClient).map(\.name))
        let serverNotifications = Set(DevModeMessages.serverNotifications.map { $0.method })
        #expect(
            toClients == serverNotifications,
            """
            openrpc.json marks \(toClients.sorted()) "x-direction": "server-to-client", \
            but DevModeMessages.serverNotifications is \(serverNotifications.sorted())
            """)
        let inSpec = Set(spec.methods.filter { !$0.isServerToClient }.map(\.name))
        let inRegistry = DevModeMessages.registry.methods
        #expect(
            inRegistry.isDisjoint(with: serverNotifications),
            "server-to-client notifications must not be in DevModeMessages.registry: \(inRegistry.intersection(serverNotifications).sorted())")
        #expect(
            inRegistry.subtracting(inSpec).isEmpty,
            "in DevModeMessages.registry but missing from openrpc.json: \(inRegistry.subtracting(inSpec).sorted())")
        #expect(
            inSpec.subtracting(inRegistry).isEmpty,
            "in openrpc.json but not in DevModeMessages.registry: \(inSpec.subtracting(inRegistry).sorted())")
    }

    // (b)
    @Test func methodsEqualTheServersTables() {
        // Notifications the server sends are not in its method table: a client sending one is answered as unknown.
        let inSpec = Set(spec.methods.filter { !$0.isServerToClient }.map(\.name))
        let debugServer = DevModeServer.methods(for: ServerConfiguration(enableDebugMethods: true))
        #expect(
            debugServer.subtracting(inSpec).isEmpty,
            "served (with debug methods) but missing from openrpc.json: \(debugServer.subtracting(inSpec).sorted())")
        #expect(
            inSpec.subtracting(debugServer).isEmpty,
            "in openrpc.json but without a handler in DevModeServer: \(inSpec.subtracting(debugServer).sorted())")

        let debugOnly = Set(spec.methods.filter(\.isDebugOnly).map(\.name))
        let plainServer = DevModeServer.methods(for: ServerConfiguration(enableDebugMethods: false))
        #expect(
            plainServer == inSpec.subtracting(debugOnly),
            """
            without --enable-debug-methods the server must serve exactly the methods not marked x-debug-only; \
            served but marked or missing: \(plainServer.subtracting(inSpec.subtracting(debugOnly)).sorted()); \
            not served: \(inSpec.subtracting(debugOnly).subtracting(plainServer).sorted())
            """)
        #expect(
            debugOnly == DevModeMessages.debugMethods,
            "x-debug-only marks \(debugOnly.sorted()) but DevModeMessages.debugMethods is \(DevModeMessages.debugMethods.sorted())")
    }

    @Test func methodEntriesAreComplete() {
        let notifications = Set(DevModeMessages.registry.notifications.keys)
            .union(DevModeMessages.serverNotifications.map { $0.method })
        #expect(spec.methods.count >= 60, "the spec lists \(spec.methods.count) methods: did it load?")
        for method in spec.methods {
            let name = method.name
            if let direction = method.json["x-direction"] {
                #expect(
                    direction == "server-to-client" && method.isNotification,
                    "\(name): \"x-direction\" may only be \"server-to-client\", on a notification (\"x-notification\": true)")
                #expect(!method.isDebugOnly, "\(name): a server-to-client notification cannot be x-debug-only")
            }
            #expect(hasText(method.json["summary"]), "\(name): no summary")
            #expect(hasText(method.json["description"]), "\(name): no description")
            #expect(method.json["paramStructure"] == "by-name", "\(name): paramStructure must be \"by-name\"")
            #expect(!method.examples.isEmpty, "\(name): add at least one example (params, and result for a request)")
            for param in method.params {
                #expect(param.schema != nil, "\(name): param '\(param.name)' has no schema")
            }
            if notifications.contains(name) {
                #expect(method.isNotification, "\(name) is a notification: mark it \"x-notification\": true")
                #expect(method.json["result"] == nil, "\(name) is a notification: it must have no result")
                for example in method.examples {
                    #expect(example.result == nil, "\(name), example '\(example.name)': a notification has no result")
                }
            } else {
                #expect(!method.isNotification, "\(name) is a request: it must not be marked x-notification")
                #expect(method.json["result"]?["schema"] != nil, "\(name): a request needs result.schema")
                #expect(!method.errorRefs.isEmpty, "\(name): list the errors it can answer")
                for example in method.examples {
                    #expect(example.result != nil, "\(name), example '\(example.name)': a request's example needs a result")
                }
            }
        }
    }

    // (c) The examples decode into the Swift types and encode back to themselves, and they satisfy the schemas.
    @Test func examplesRoundTripThroughTheSwiftTypes() throws {
        #expect(spec.methods.count >= 60, "the spec lists \(spec.methods.count) methods: did it load?")
        for method in spec.methods {
            guard let type = messageType(named: method.name) else {
                Issue.record("\(method.name): no Swift type in DevModeMessages.registry")
                continue
            }
            let paramsSchema = method.paramsSchema
            for example in method.examples {
                let label = "\(method.name), example '\(example.name)'"
                var problems: [String] = []
                spec.validate(example.params, against: paramsSchema, at: "params", problems: &problems)
                for problem in problems { Issue.record("\(label): \(problem)") }

                let decoded: any MessageType
                do {
                    decoded = try decode(type, from: example.params)
                } catch {
                    Issue.record("\(label): params do not decode into \(type): \(error)")
                    continue
                }
                let reencoded = try encodeToJSON(decoded)
                #expect(
                    reencoded == example.params.withoutNulls,
                    "\(label): params change on a trip through \(type) (a field the type does not have, or a wrong name?): \(example.params.withoutNulls) became \(reencoded)"
                )

                guard let result = example.result, let requestType = type as? any RequestType.Type,
                    let resultSchema = method.json["result"]?["schema"]
                else { continue }
                problems = []
                spec.validate(result, against: resultSchema, at: "result", problems: &problems)
                for problem in problems { Issue.record("\(label): \(problem)") }
                let responseType = responseType(of: requestType)
                do {
                    let decodedResult = try decode(responseType, from: result)
                    let reencodedResult = try encodeToJSON(decodedResult)
                    #expect(
                        reencodedResult == result.withoutNulls,
                        "\(label): result changes on a trip through \(responseType): \(result) became \(reencodedResult)")
                } catch {
                    Issue.record("\(label): result does not decode into \(responseType): \(error)")
                }
            }
        }
    }

    // (c) The schemas name exactly the Swift types' stored properties, required exactly when non-optional.
    @Test func schemasNameTheSwiftTypesProperties() throws {
        #expect(spec.methods.count >= 60, "the spec lists \(spec.methods.count) methods: did it load?")
        for method in spec.methods {
            guard let type = messageType(named: method.name) else { continue }
            for example in method.examples {
                let label = "\(method.name), example '\(example.name)'"
                guard let decoded = try? decode(type, from: example.params) else { continue }  // reported above
                var problems: [String] = []
                spec.checkShape(of: decoded, against: method.paramsSchema, at: "params", problems: &problems)
                if let requestType = type as? any RequestType.Type, let result = example.result,
                    let resultSchema = method.json["result"]?["schema"],
                    let decodedResult = try? decode(responseType(of: requestType), from: result)
                {
                    spec.checkShape(of: decodedResult, against: resultSchema, at: "result", problems: &problems)
                }
                for problem in Set(problems).sorted() { Issue.record("\(label): \(problem)") }
            }
            // Optional params must admit null: LSP clients send `"rootUri": null` and Swift accepts it.
            for param in method.params where !param.required {
                if let schema = param.schema, !spec.admitsNull(schema) {
                    Issue.record("\(method.name): optional param '\(param.name)' must admit null (the Swift type accepts it)")
                }
            }
        }
    }

    // (c) Leaving out a required param fails to decode; leaving out an optional one does not.
    @Test func requiredParamsAreTheOnesTheTypesRequire() {
        #expect(spec.methods.count >= 60, "the spec lists \(spec.methods.count) methods: did it load?")
        for method in spec.methods {
            guard let type = messageType(named: method.name) else { continue }
            let required = Set(method.params.filter(\.required).map(\.name))
            for example in method.examples {
                guard case .object(let params) = example.params else { continue }
                for name in params.keys.sorted() {
                    var without = params
                    without[name] = nil
                    let decodes = (try? decode(type, from: .object(without))) != nil
                    if required.contains(name) {
                        #expect(!decodes, "\(method.name): '\(name)' is required in the spec, but \(type) decodes without it")
                    } else {
                        #expect(decodes, "\(method.name): '\(name)' is optional in the spec, but \(type) needs it")
                    }
                }
            }
        }
    }

    // (d)
    @Test func errorReferencesResolveAndEveryErrorCodeIsListed() throws {
        let components = spec.errors
        var codes: [Int: String] = [:]
        for (key, error) in components {
            guard let code = error["code"]?.intValue else {
                Issue.record("components/errors/\(key): no integer code")
                continue
            }
            if let other = codes[code] { Issue.record("code \(code) is listed twice: \(other) and \(key)") }
            codes[code] = key
            #expect(hasText(error["message"]), "components/errors/\(key): no message")
            if let data = error["data"] {
                var problems: [String] = []
                spec.checkSchemaKeywords(data, at: "components/errors/\(key)/data", problems: &problems)
                for problem in problems { Issue.record("\(problem)") }
            }
        }
        #expect(spec.methods.count >= 60, "the spec lists \(spec.methods.count) methods: did it load?")
        for method in spec.methods {
            for reference in method.errorRefs {
                guard let key = reference.stripping(prefix: "#/components/errors/") else {
                    Issue.record("\(method.name): error '\(reference)' is not a $ref to #/components/errors/…")
                    continue
                }
                #expect(components[key] != nil, "\(method.name): error $ref '\(reference)' is not in components/errors")
            }
        }

        // Every ErrorCode static member (JSON-RPC's and LSP's in JSONRPC, devmode's in DevModeProtocol),
        // read from the sources so that a new code cannot be forgotten, under its Swift name.
        let declared = try declaredErrorCodes()
        #expect(declared.count >= 21, "found only \(declared.count) ErrorCode members in the sources: is the pattern stale?")
        for (name, code) in declared.sorted(by: { $0.key < $1.key }) {
            guard let listed = components[name] else {
                Issue.record("ErrorCode.\(name) (\(code)) is missing from components/errors in openrpc.json")
                continue
            }
            #expect(listed["code"]?.intValue == code, "components/errors/\(name) has code \(listed["code"]?.brief ?? "none"), Swift says \(code)")
        }
        for key in components.keys where declared[key] == nil {
            Issue.record("components/errors/\(key) names no ErrorCode static member")
        }
        // A typed cross-check that the source reading above found the real values.
        let typed: [String: ErrorCode] = [
            "unauthenticated": .unauthenticated, "forbidden": .forbidden, "notFound": .notFound, "conflict": .conflict,
            "quotaExceeded": .quotaExceeded, "rateLimited": .rateLimited, "providerUnavailable": .providerUnavailable,
            "pluginFailed": .pluginFailed, "tooManyRequests": .tooManyRequests, "payloadTooLarge": .payloadTooLarge,
            "serverNotInitialized": .serverNotInitialized, "requestCancelled": .requestCancelled,
            "serverCancelled": .serverCancelled, "parseError": .parseError, "invalidRequest": .invalidRequest,
        ]
        for (name, code) in typed {
            #expect(declared[name] == code.rawValue, "ErrorCode.\(name) is \(code.rawValue); the sources read \(declared[name] ?? 0)")
        }
    }

    @Test func everyReferenceResolves() {
        var problems: [String] = []
        spec.checkReferences(in: spec.root, at: "", problems: &problems)
        for problem in problems { Issue.record("\(problem)") }
    }

    @Test func readmeTablesListEveryErrorAndLimit() throws {
        let readme = try String(contentsOf: packageRoot().appending(path: "protocol/README.md"), encoding: .utf8)
        let rows = readme.split(separator: "\n").filter { $0.hasPrefix("|") }
        for (key, error) in spec.errors {
            guard let code = error["code"]?.intValue else { continue }
            #expect(
                rows.contains { $0.contains("`\(code)`") && $0.contains(key) },
                "protocol/README.md: the error table needs a row with `\(code)` and \(key)")
        }
        let limitsSchema = spec.resolve(.object(["$ref": "#/components/schemas/DevModeCapabilities"]))["properties"]?["limits"]
        let specLimits = Set(limitsSchema?["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        let defaults = Mirror(reflecting: Limits()).children.compactMap { child -> (String, Int)? in
            guard let name = child.label, let value = child.value as? Int else { return nil }
            return (name, value)
        }
        // Durations (`outboundGrace`) are set in seconds and advertised in milliseconds, as `…Ms`.
        let durations = Mirror(reflecting: Limits()).children.compactMap { child -> (String, Duration)? in
            guard let name = child.label, let value = child.value as? Duration else { return nil }
            return (name, value)
        }
        #expect(defaults.count >= 7, "Limits has \(defaults.count) settings: is the reflection stale?")
        #expect(durations.map(\.0) == ["outboundGrace"], "Limits has the durations \(durations.map(\.0))")
        for (name, value) in defaults {
            let flag = "--" + name.kebabCased
            #expect(
                rows.contains { $0.contains("`\(name)`") && $0.contains("`\(flag)`") && $0.contains("\(value)") },
                "protocol/README.md: the limits table needs a row with `\(name)`, `\(flag)` and its default \(value)")
            #expect(specLimits.contains(name), "openrpc.json: DevModeCapabilities.limits must require \(name)")
        }
        for (name, value) in durations {
            let flag = "--" + name.kebabCased
            let seconds = value.components.seconds
            #expect(
                rows.contains { $0.contains("`\(name)`") && $0.contains("`\(flag)` (seconds)") && $0.contains("| \(seconds) |") },
                "protocol/README.md: the limits table needs a row with `\(name)`, `\(flag)` (seconds) and its default \(seconds)")
            #expect(specLimits.contains(name + "Ms"), "openrpc.json: DevModeCapabilities.limits must require \(name)Ms")
        }
        let names = defaults.map(\.0) + durations.map { $0.0 + "Ms" }
        #expect(specLimits == Set(names), "openrpc.json names limits \(specLimits.sorted()); Limits has \(names.sorted())")
    }

    // The real server's results, for each request's first example, satisfy the result schemas. Every first example
    // must succeed, sent in document order to a fresh local-mode server (the caller is the local user: server admin,
    // tenant admin, owner of the workspace "default"); the examples tell one story, and the ids the live server
    // gives its objects stand in for the examples' ids (`ExampleIDs`).
    // `project/open` registers an existing folder of this machine inside the allowed roots: the examples' home folder
    // (`ExampleIDs.exampleHome`, local mode's default allowed root) stands for a fresh temporary folder, the server's
    // only allowed root, and the folder that the first example opens is made in it.
    @Test func liveResultsMatchTheSchemas() async throws {
        let home = try ExampleIDs.makeLiveHome()
        defer { try? FileManager.default.removeItem(atPath: home) }
        var configuration = ServerConfiguration(enableDebugMethods: true, localMode: true)
        configuration.projects.allowedRoots = [home]
        let client = TestClient(server: try await TestServer.make(configuration: configuration), local: true)
        // Client-to-server notifications other than the lifecycle's are part of the story too (a document opened
        // by `textDocument/didOpen` is read back by `document/get`): their first examples are sent in order.
        let lifecycleNotifications: Set<String> = [
            InitializedNotification.method, ExitNotification.method, CancelRequestNotification.method,
        ]
        let storyNotifications = Set(DevModeMessages.registry.notifications.keys).subtracting(lifecycleNotifications)
        let requests = spec.methods.filter { !$0.isNotification || storyNotifications.contains($0.name) }
        guard let initialize = requests.first(where: { $0.name == InitializeRequest.method }) else {
            Issue.record("no initialize in openrpc.json")
            return
        }
        // `initialize` first, `shutdown` last; `debug/print` writes to this process's stdout on purpose.
        let middle = requests.filter { ![InitializeRequest.method, ShutdownRequest.method, DebugPrintRequest.method].contains($0.name) }
        let order = [initialize] + middle + requests.filter { $0.name == ShutdownRequest.method }
        var ids = ExampleIDs(liveHome: home)
        for method in order {
            if method.isNotification, let example = method.examples.first {
                var problems: [String] = []
                let params = ids.substituting(example.params, at: "params", problems: &problems)
                let message: JSONValue = ["jsonrpc": "2.0", "method": .string(method.name), "params": params]
                client.connection.sendRaw(Array(try JSONEncoder().encode(message)))
                for problem in problems { Issue.record("\(method.name), live: \(problem)") }
                continue
            }
            guard let example = method.examples.first, let schema = method.json["result"]?["schema"] else { continue }
            var problems: [String] = []
            let params = ids.substituting(example.params, at: "params", problems: &problems)
            if method.name == ProjectOpenRequest.method {
                if let folder = params["path"]?.stringValue, folder.hasPrefix(home + "/") {
                    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                } else {
                    problems.append("params.path: must be a folder under \(ExampleIDs.exampleHome), the examples' home folder")
                }
            }
            do {
                let result = try await client.connection.send(method: method.name, params: params)
                spec.validate(result, against: schema, at: "result", problems: &problems)
                if let expected = example.result { ids.learn(from: expected, live: result, at: "result", problems: &problems) }
                if method.name == InitializeRequest.method {
                    let served = result["capabilities"]?["experimental"]?["methods"]?.arrayValue?.compactMap(\.stringValue)
                    #expect(served == client.server.methods.sorted(), "initialize must list the server's method table, sorted")
                    // Every limit in force, under the names the schema requires (durations in ms).
                    let limitsSchema = spec.resolve(.object(["$ref": "#/components/schemas/DevModeCapabilities"]))["properties"]?["limits"]
                    let required = Set(limitsSchema?["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
                    if case .object(let limits)? = result["capabilities"]?["experimental"]?["limits"] {
                        #expect(Set(limits.keys) == required, "initialize advertises \(limits.keys.sorted())")
                        #expect(limits["outboundGraceMs"] == .int(5_000), "outboundGrace (5 s by default) in milliseconds")
                        #expect(limits["maxFramingErrors"] == .int(Limits().maxFramingErrors))
                    } else {
                        Issue.record("initialize: no capabilities.experimental.limits")
                    }
                    client.send(InitializedNotification())
                }
            } catch let error as ResponseError {
                Issue.record("\(method.name): its first example failed live with \(error.code) \(error.message)")
            }
            for problem in problems { Issue.record("\(method.name), live: \(problem)") }
        }
        await client.close()
        await client.server.store.driver.close()
    }

    // Whatever error a method answers in each phase of a session must be one it declares.
    @Test func liveErrorsAreDeclared() async throws {
        for enableDebugMethods in [false, true] {
            let client = TestClient(
                server: try await TestServer.make(
                    configuration: ServerConfiguration(enableDebugMethods: enableDebugMethods, localMode: true)),
                local: true)
            let requests = spec.methods.filter { !$0.isNotification && $0.name != DebugPrintRequest.method }
            // Before initialize: everything but initialize answers -32002. Skip initialize itself here.
            let initialize = requests.first { $0.name == InitializeRequest.method }
            let others = requests.filter { $0.name != InitializeRequest.method && $0.name != ShutdownRequest.method }
            for method in others {
                guard let example = method.examples.first else { continue }
                do {
                    _ = try await client.connection.send(method: method.name, params: example.params)
                    Issue.record("\(method.name) before initialize: expected -32002, got a result")
                } catch let error as ResponseError {
                    // A method this server does not serve (a debug method without --enable-debug-methods) is
                    // unknown in every phase: -32601 comes before the lifecycle's answers.
                    let expected: ErrorCode = method.isDebugOnly && !enableDebugMethods ? .methodNotFound : .serverNotInitialized
                    #expect(error.code == expected, "\(method.name) before initialize answered \(error.code)")
                    expectDeclared(error, by: method, phase: "before initialize")
                }
            }
            if let initialize, let example = initialize.examples.first {
                _ = try await client.connection.send(method: initialize.name, params: example.params)
                client.send(InitializedNotification())
            }
            // Initialized: initialize again answers -32600; debug methods on a plain server -32601.
            for method in requests where method.name != ShutdownRequest.method {
                guard let example = method.examples.first else { continue }
                do {
                    _ = try await client.connection.send(method: method.name, params: example.params)
                    #expect(method.name != InitializeRequest.method, "a second initialize must fail")
                    #expect(!(method.isDebugOnly && !enableDebugMethods), "\(method.name) must be refused without --enable-debug-methods")
                } catch let error as ResponseError {
                    if method.isDebugOnly && !enableDebugMethods {
                        #expect(error.code == .methodNotFound, "\(method.name) without debug methods answered \(error.code)")
                    }
                    expectDeclared(error, by: method, phase: "after initialize")
                }
            }
            // Params by position (or a scalar) are refused, by every request, those without params included.
            for method in requests {
                for params: JSONValue in [[], 1] {
                    do {
                        _ = try await client.connection.send(method: method.name, params: params)
                        Issue.record("\(method.name) with params \(params.brief): expected -32602, got a result")
                    } catch let error as ResponseError {
                        if !(method.isDebugOnly && !enableDebugMethods) {
                            #expect(error.code == .invalidParams, "\(method.name) with params \(params.brief) answered \(error.code)")
                        }
                        expectDeclared(error, by: method, phase: "with params \(params.brief)")
                    }
                }
            }
            _ = try await client.send(ShutdownRequest())
            // After shutdown: every request answers -32600.
            for method in requests {
                guard let example = method.examples.first else { continue }
                do {
                    _ = try await client.connection.send(method: method.name, params: example.params)
                    Issue.record("\(method.name) after shutdown: expected -32600, got a result")
                } catch let error as ResponseError {
                    let expected: ErrorCode = method.isDebugOnly && !enableDebugMethods ? .methodNotFound : .invalidRequest
                    #expect(error.code == expected, "\(method.name) after shutdown answered \(error.code)")
                    expectDeclared(error, by: method, phase: "after shutdown")
                }
            }
            await client.close()
            await client.server.store.driver.close()
        }
    }

    private func expectDeclared(_ error: ResponseError, by method: SpecMethod, phase: String) {
        let key = spec.errors.first { $0.value["code"]?.intValue == error.code.rawValue }?.key
        guard let key else {
            Issue.record("\(method.name) \(phase) answered \(error.code), which components/errors does not list")
            return
        }
        #expect(
            method.errorRefs.contains("#/components/errors/\(key)"),
            "\(method.name) \(phase) answered \(error.code) (\(key)), which its errors do not list")
    }
}

// MARK: - Swift side

private func hasText(_ value: JSONValue?) -> Bool {
    !(value?.stringValue ?? "").isEmpty
}

private func messageType(named method: String) -> (any MessageType.Type)? {
    DevModeMessages.registry.requests[method] ?? DevModeMessages.registry.notifications[method]
        ?? DevModeMessages.serverNotifications.first { $0.method == method }
}

private func responseType<R: RequestType>(of type: R.Type) -> any ResponseType.Type { R.Response.self }

private func decode<T: Decodable>(_ type: T.Type, from json: JSONValue) throws -> T {
    try JSONDecoder().decode(T.self, from: JSONEncoder().encode(json))
}

private func encodeToJSON<T: Encodable>(_ value: T) throws -> JSONValue {
    try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
}

/// The package root: the nearest directory above this file that holds `Package.swift`.
private func packageRoot(file: String = #filePath) throws -> URL {
    var directory = URL(fileURLWithPath: file).deletingLastPathComponent()
    while directory.path != "/" {
        if FileManager.default.fileExists(atPath: directory.appending(path: "Package.swift").path) { return directory }
        directory.deleteLastPathComponent()
    }
    throw SpecError("no Package.swift above \(file)")
}

/// `static let name = ErrorCode(rawValue: N)` in JSONRPC's ErrorCode.swift and DevModeProtocol's ErrorCodes.swift.
private func declaredErrorCodes() throws -> [String: Int] {
    let root = try packageRoot()
    let pattern = try Regex(#"static\s+let\s+(\w+)\s*=\s*ErrorCode\(rawValue:\s*(-?\d+)\)"#)
    var codes: [String: Int] = [:]
    for file in ["Sources/JSONRPC/ErrorCode.swift", "Sources/DevModeProtocol/ErrorCodes.swift"] {
        let source = try String(contentsOf: root.appending(path: file), encoding: .utf8)
        for match in source.matches(of: pattern) {
            guard let name = match.output[1].substring, let code = match.output[2].substring.flatMap({ Int($0) }) else { continue }
            codes[String(name)] = code
        }
    }
    return codes
}

/// The examples tell one story, in document order: `initialize` introduces the local user and tenant, `tenant/create`
/// a tenant, `user/create` a user, `workspace/create` a workspace, `apiKey/create` a key, and later examples name
/// them by those ids. A live server gives the same objects ids of its own; this maps each example id to its live one,
/// learnt where the id appears in an example's result (outside arrays, whose order is the server's) from the same
/// place in the live result, and puts the live ids into the params of later examples. Strict both ways: an example id
/// must stand for one live object throughout, and a first example may only use ids the story introduced before it.
///
/// Paths under the examples' home folder (`exampleHome`) stand for the same paths under a live folder, in params and
/// in results alike (a result's path must be exactly the live one).
struct ExampleIDs {
    private var live: [String: String] = [:]
    private let liveHome: String?

    /// The home folder of the examples' local user, local mode's default allowed root for `project/open`.
    static let exampleHome = "/home/ada"

    init(liveHome: String? = nil) {
        self.liveHome = liveHome
    }

    /// A fresh temporary folder to stand for `exampleHome`, symlinks resolved as the server resolves them.
    static func makeLiveHome() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("devmode-spec-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.resolvingSymlinksInPath().path
    }

    /// The live path for a path under the examples' home folder; nil for anything else.
    private func livePath(_ text: String) -> String? {
        guard let liveHome, text == Self.exampleHome || text.hasPrefix(Self.exampleHome + "/") else { return nil }
        return liveHome + text.dropFirst(Self.exampleHome.count)
    }

    /// devmode's ids: a kind, `_`, and 16 lower-case letters and digits (`wsp_p4ym7nt3szk8wq2e`).
    static func looksLikeID(_ text: String) -> Bool {
        (try? Regex("[a-z]+_[a-z0-9]{16}").wholeMatch(in: text)) != nil
    }

    mutating func learn(from example: JSONValue, live actual: JSONValue, at path: String, problems: inout [String]) {
        switch (example, actual) {
        case (.string(let examplePath), .string(let actualPath)) where livePath(examplePath) != nil:
            if let expected = livePath(examplePath), actualPath != expected {
                problems.append("\(path): the examples' \(examplePath) stands for \(expected), but the live result has \(actualPath)")
            }
        case (.string(let exampleID), .string(let liveID)) where Self.looksLikeID(exampleID):
            if let known = live[exampleID], known != liveID {
                problems.append("\(path): the examples' \(exampleID) stood for \(known) before, but here for \(liveID)")
            } else {
                live[exampleID] = liveID
            }
        case (.object(let expected), .object(let members)):
            for (key, value) in expected {
                if let member = members[key] { learn(from: value, live: member, at: "\(path).\(key)", problems: &problems) }
            }
        default:
            break
        }
    }

    func substituting(_ params: JSONValue, at path: String, problems: inout [String]) -> JSONValue {
        switch params {
        case .string(let text) where livePath(text) != nil:
            return .string(livePath(text) ?? text)
        case .string(let text) where Self.looksLikeID(text):
            guard let liveID = live[text] else {
                problems.append("\(path): \(text) is not an id that an earlier example's result introduced")
                return params
            }
            return .string(liveID)
        case .object(let members):
            var substituted: [String: JSONValue] = [:]
            for (key, value) in members {
                substituted[key] = substituting(value, at: "\(path).\(key)", problems: &problems)
            }
            return .object(substituted)
        case .array(let elements):
            return .array(
                elements.enumerated().map { substituting($0.element, at: "\(path)[\($0.offset)]", problems: &problems) })
        default:
            return params
        }
    }
}

struct SpecError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - The document

struct SpecParam {
    var name: String
    var required: Bool
    var schema: JSONValue?
}

struct SpecExample {
    var name: String
    /// The by-name params as one object.
    var params: JSONValue
    var result: JSONValue?
}

struct SpecMethod {
    var json: JSONValue
    var name: String { json["name"]?.stringValue ?? "?" }
    var isNotification: Bool { json["x-notification"] == true }
    var isDebugOnly: Bool { json["x-debug-only"] == true }
    /// A notification the server sends to clients (`"x-direction": "server-to-client"`), never receives.
    var isServerToClient: Bool { json["x-direction"] == "server-to-client" }

    var params: [SpecParam] {
        (json["params"]?.arrayValue ?? []).map { param in
            SpecParam(
                name: param["name"]?.stringValue ?? "?", required: param["required"] == true, schema: param["schema"])
        }
    }

    /// The params as one object schema, as they travel by name.
    var paramsSchema: JSONValue {
        var properties: [String: JSONValue] = [:]
        for param in params { properties[param.name] = param.schema ?? [:] }
        return [
            "type": "object", "properties": .object(properties),
            "required": .array(params.filter(\.required).map { .string($0.name) }),
        ]
    }

    var errorRefs: [String] { (json["errors"]?.arrayValue ?? []).compactMap { $0["$ref"]?.stringValue } }

    var examples: [SpecExample] {
        (json["examples"]?.arrayValue ?? []).map { example in
            var params: [String: JSONValue] = [:]
            for param in example["params"]?.arrayValue ?? [] {
                if let name = param["name"]?.stringValue { params[name] = param["value"] ?? .null }
            }
            var result: JSONValue?
            if let descriptor = example["result"] { result = descriptor["value"] ?? .null }
            return SpecExample(name: example["name"]?.stringValue ?? "?", params: .object(params), result: result)
        }
    }
}

struct OpenRPCDocument {
    var root: JSONValue

    static func load() throws -> OpenRPCDocument {
        let url = try packageRoot().appending(path: "protocol/openrpc.json")
        let data = try Data(contentsOf: url)
        do {
            return OpenRPCDocument(root: try JSONDecoder().decode(JSONValue.self, from: data))
        } catch {
            throw SpecError("protocol/openrpc.json is not valid JSON: \(error)")
        }
    }

    var methods: [SpecMethod] { (root["methods"]?.arrayValue ?? []).map { SpecMethod(json: $0) } }

    var errors: [String: JSONValue] {
        if case .object(let errors)? = root["components"]?["errors"] { return errors }
        return [:]
    }

    /// Follows `$ref`s, and through a nullable `anyOf: [X, {type: null}]` to X.
    func resolve(_ schema: JSONValue) -> JSONValue {
        var schema = schema
        for _ in 0..<16 {
            if let reference = schema["$ref"]?.stringValue {
                guard let target = lookUp(reference) else { return schema }
                schema = target
            } else if let branches = schema["anyOf"]?.arrayValue, branches.count == 2,
                let other = branches.first(where: { $0 != ["type": "null"] }), branches.contains(["type": "null"])
            {
                schema = other
            } else {
                return schema
            }
        }
        return schema
    }

    func lookUp(_ reference: String) -> JSONValue? {
        guard let pointer = reference.stripping(prefix: "#/") else { return nil }
        var node: JSONValue? = root
        for part in pointer.split(separator: "/") { node = node?[String(part)] }
        return node
    }

    func admitsNull(_ schema: JSONValue) -> Bool {
        var problems: [String] = []
        validate(.null, against: schema, at: "", problems: &problems)
        return problems.isEmpty
    }

    // MARK: A small JSON Schema validator: the keywords this document uses, and a complaint for any other.

    static let assertions: Set<String> = [
        "$ref", "type", "properties", "required", "additionalProperties", "items", "enum", "minimum", "maximum", "anyOf",
        "maxItems",
    ]
    static let annotations: Set<String> = ["description", "title", "examples", "default"]

    func checkSchemaKeywords(_ schema: JSONValue, at path: String, problems: inout [String]) {
        guard case .object(let members) = schema else {
            problems.append("\(path): a schema must be an object")
            return
        }
        for key in members.keys where !Self.assertions.contains(key) && !Self.annotations.contains(key) {
            problems.append("\(path): schema keyword '\(key)' is not checked by SpecTests; add it to the validator or avoid it")
        }
        if case .object(let properties)? = members["properties"] {
            for (name, sub) in properties { checkSchemaKeywords(sub, at: "\(path).\(name)", problems: &problems) }
        }
        if let items = members["items"] { checkSchemaKeywords(items, at: "\(path)[]", problems: &problems) }
        if case .object? = members["additionalProperties"], let sub = members["additionalProperties"] {
            checkSchemaKeywords(sub, at: "\(path).*", problems: &problems)
        }
        for branch in members["anyOf"]?.arrayValue ?? [] { checkSchemaKeywords(branch, at: path, problems: &problems) }
    }

    func validate(_ value: JSONValue, against schema: JSONValue, at path: String, problems: inout [String]) {
        checkSchemaKeywords(schema, at: "schema of \(path)", problems: &problems)
        if let reference = schema["$ref"]?.stringValue {
            guard let target = lookUp(reference) else {
                problems.append("\(path): unresolved $ref \(reference)")
                return
            }
            validate(value, against: target, at: path, problems: &problems)
        }
        if let branches = schema["anyOf"]?.arrayValue {
            let matches = branches.contains { branch in
                var scratch: [String] = []
                validate(value, against: branch, at: path, problems: &scratch)
                return scratch.isEmpty
            }
            if !matches { problems.append("\(path): \(value.brief) matches none of anyOf") }
        }
        if let type = schema["type"] {
            let allowed = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue ?? ""]
            if !allowed.contains(where: { value.isOfType($0) }) {
                problems.append("\(path): \(value.brief) is not of type \(allowed.joined(separator: " or "))")
                return
            }
        }
        if let allowed = schema["enum"]?.arrayValue, !allowed.contains(value) {
            problems.append("\(path): \(value.brief) is not one of \(allowed.map(\.brief))")
        }
        if let minimum = schema["minimum"]?.numberValue, let number = value.numberValue, number < minimum {
            problems.append("\(path): \(number) is below the minimum \(minimum)")
        }
        if let maximum = schema["maximum"]?.numberValue, let number = value.numberValue, number > maximum {
            problems.append("\(path): \(number) is above the maximum \(maximum)")
        }
        if case .object(let members) = value {
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[name] == nil {
                problems.append("\(path): required '\(name)' is missing")
            }
            let properties: [String: JSONValue]
            if case .object(let declared)? = schema["properties"] { properties = declared } else { properties = [:] }
            for (name, member) in members {
                if let sub = properties[name] {
                    validate(member, against: sub, at: "\(path).\(name)", problems: &problems)
                } else if let additional = schema["additionalProperties"] {
                    if additional == false {
                        problems.append("\(path): '\(name)' is not allowed")
                    } else if case .object = additional {
                        validate(member, against: additional, at: "\(path).\(name)", problems: &problems)
                    }
                }
            }
        }
        if case .array(let elements) = value, let most = schema["maxItems"]?.numberValue, Double(elements.count) > most {
            problems.append("\(path): \(elements.count) items, more than maxItems \(most)")
        }
        if case .array(let elements) = value, let items = schema["items"] {
            for (index, element) in elements.enumerated() {
                validate(element, against: items, at: "\(path)[\(index)]", problems: &problems)
            }
        }
    }

    // MARK: Reflection: a decoded Swift value against its schema

    /// Compares a decoded Swift value's stored properties with the schema's `properties` (same names)
    /// and `required` (exactly the non-optional ones), recursively. Assumes the synthesized Codable
    /// (property name = JSON key); a type with custom CodingKeys needs this test taught about it.
    func checkShape(of value: Any, against schema: JSONValue, at path: String, problems: inout [String]) {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            if let wrapped = mirror.children.first { checkShape(of: wrapped.value, against: schema, at: path, problems: &problems) }
            return
        }
        if value is JSONValue || value is RequestID { return }  // any JSON / integer-or-string: nothing to compare
        let schema = resolve(schema)
        switch mirror.displayStyle {
        case .struct:
            let children = mirror.children.compactMap { child in child.label.map { ($0, child.value) } }
            guard case .object(let properties)? = schema["properties"] else {
                if !children.isEmpty {
                    problems.append("\(path): \(type(of: value)) has properties \(children.map(\.0).sorted()) but the schema names none")
                }
                return
            }
            let inSwift = Set(children.map(\.0))
            let inSpec = Set(properties.keys)
            if inSwift != inSpec {
                problems.append(
                    "\(path): \(type(of: value)) has \(inSwift.subtracting(inSpec).sorted()) that the schema lacks, and the schema has \(inSpec.subtracting(inSwift).sorted()) that the type lacks"
                )
            }
            let nonOptional = Set(children.filter { Mirror(reflecting: $0.1).displayStyle != .optional }.map(\.0))
            let required = Set(schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            if nonOptional != required {
                problems.append(
                    "\(path): required should be exactly the non-optional properties of \(type(of: value)) \(nonOptional.sorted()), the schema says \(required.sorted())"
                )
            }
            for (label, child) in children {
                if let sub = properties[label] { checkShape(of: child, against: sub, at: "\(path).\(label)", problems: &problems) }
            }
        case .collection:
            guard let items = schema["items"] else {
                problems.append("\(path): \(type(of: value)) is an array but the schema has no items")
                return
            }
            for (index, element) in mirror.children.enumerated() {
                checkShape(of: element.value, against: items, at: "\(path)[\(index)]", problems: &problems)
            }
        case .dictionary:
            for entry in mirror.children {
                let pair = Array(Mirror(reflecting: entry.value).children)
                guard pair.count == 2, let key = pair[0].value as? String else { continue }
                let sub = schema["properties"]?[key] ?? schema["additionalProperties"] ?? [:]
                checkShape(of: pair[1].value, against: sub, at: "\(path).\(key)", problems: &problems)
            }
        default:
            let expected: [String]
            switch value {
            case is String: expected = ["string"]
            case is Bool: expected = ["boolean"]
            case is Int, is Int64, is Int32, is UInt: expected = ["integer", "number"]
            case is Double, is Float: expected = ["number"]
            default: return
            }
            guard let type = schema["type"] else { return }
            let allowed = type.arrayValue?.compactMap(\.stringValue) ?? [type.stringValue ?? ""]
            if !allowed.contains(where: expected.contains) {
                problems.append("\(path): the Swift type is \(Swift.type(of: value)) but the schema says \(allowed)")
            }
        }
    }

    func checkReferences(in node: JSONValue, at path: String, problems: inout [String]) {
        switch node {
        case .object(let members):
            if let reference = members["$ref"]?.stringValue, lookUp(reference) == nil {
                problems.append("\(path): $ref \(reference) does not resolve")
            }
            for (key, member) in members { checkReferences(in: member, at: "\(path)/\(key)", problems: &problems) }
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                checkReferences(in: element, at: "\(path)/\(index)", problems: &problems)
            }
        default: break
        }
    }
}

// MARK: - Helpers

extension JSONValue {
    var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    var numberValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    func isOfType(_ type: String) -> Bool {
        switch (type, self) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): return true
        case ("integer", .int), ("number", .int), ("number", .double): return true
        case ("integer", .double(let value)): return value.rounded() == value
        default: return false
        }
    }

    /// The value as Swift's synthesized Codable writes it back: object members that are null left out.
    var withoutNulls: JSONValue {
        switch self {
        case .object(let members): return .object(members.filter { $0.value != .null }.mapValues(\.withoutNulls))
        case .array(let elements): return .array(elements.map(\.withoutNulls))
        default: return self
        }
    }

    var brief: String {
        guard let data = try? JSONEncoder().encode(self) else { return "\(self)" }
        let text = String(decoding: data, as: UTF8.self)
        return text.count > 80 ? String(text.prefix(77)) + "…" : text
    }
}

extension String {
    func stripping(prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }

    /// maxMessageBytes → max-message-bytes (the CLI flag's spelling).
    var kebabCased: String {
        var result = ""
        for character in self {
            if character.isUppercase {
                result += "-" + character.lowercased()
            } else {
                result.append(character)
            }
        }
        return result
    }
}
