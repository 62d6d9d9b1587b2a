import Foundation
import JSONRPC
import Testing

@Suite("Decoding")
struct DecodingTests {
    func decode(
        _ text: String, limits: Limits = Limits(),
        responseType: @escaping @Sendable (RequestID) -> (any ResponseType.Type)? = { _ in nil }
    ) -> DecodedPayload {
        decode(Data(text.utf8), limits: limits, responseType: responseType)
    }

    func decode(
        _ data: Data, limits: Limits = Limits(),
        responseType: @escaping @Sendable (RequestID) -> (any ResponseType.Type)? = { _ in nil }
    ) -> DecodedPayload {
        let context = MessageDecodingContext(registry: testRegistry, responseType: responseType)
        return JSONRPCDecoder(context: context, limits: limits).decode(data)
    }

    /// The error a whole payload was rejected with (answered with id null).
    func failure(_ payload: DecodedPayload) -> ResponseError? {
        if case .failure(let error) = payload { return error }
        return nil
    }

    func single(_ payload: DecodedPayload) -> IncomingMessage? {
        if case .single(let message) = payload { return message }
        return nil
    }

    /// The error and reply target of an unusable single message.
    func invalid(_ payload: DecodedPayload) -> (error: ResponseError, reply: ReplyTarget)? {
        invalid(single(payload))
    }

    func invalid(_ message: IncomingMessage?) -> (error: ResponseError, reply: ReplyTarget)? {
        if case .invalid(let error, let reply)? = message { return (error, reply) }
        return nil
    }

    func decodedRequest(_ payload: DecodedPayload) -> (request: any RequestType, id: RequestID)? {
        if case .request(let request, let id)? = single(payload) { return (request, id) }
        return nil
    }

    func nested(depth: Int) -> String {
        // The message object and `params` are two levels; the arrays make up the rest.
        let arrays = depth - 2
        return #"{"jsonrpc":"2.0","id":1,"method":"test/any","params":{"value":"#
            + String(repeating: "[", count: arrays) + String(repeating: "]", count: arrays) + "}}"
    }

    // MARK: Whole payloads

    @Test("a request decodes straight into its registered type, with its id")
    func decodesRequest() throws {
        let payload = decode(#"{"jsonrpc":"2.0","id":"abc","method":"test/echo","params":{"text":"hi","extra":1}}"#)
        let (request, id) = try #require(decodedRequest(payload))
        #expect(request as? EchoRequest == EchoRequest(text: "hi"))
        #expect(id == .string("abc"))
    }

    @Test("a notification decodes into its registered type")
    func decodesNotification() throws {
        let message = single(decode(#"{"jsonrpc":"2.0","method":"test/record","params":{"key":"k","value":3}}"#))
        guard case .notification(let notification)? = message else {
            Issue.record("not a notification: \(String(describing: message))")
            return
        }
        #expect(notification as? RecordNotification == RecordNotification(key: "k", value: 3))
    }

    @Test("a body that is not UTF-8 is a parse error (-32700)")
    func badUTF8() throws {
        var bytes = Data(#"{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"text":""#.utf8)
        bytes.append(contentsOf: [0xFF, 0xFE, 0xC3])
        bytes.append(contentsOf: Data(#""}}"#.utf8))
        #expect(failure(decode(bytes))?.code == .parseError)
        #expect(failure(decode(Data([0xFF, 0xFE, 0x7B, 0x7D])))?.code == .parseError)
        // Also in a member nobody reads: the message as a whole is not UTF-8.
        var unread = Data(#"{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"text":"a"},"x":""#.utf8)
        unread.append(0xC0)
        unread.append(contentsOf: Data(#""}"#.utf8))
        #expect(failure(decode(unread))?.code == .parseError)
        // Valid multi-byte UTF-8 is of course fine.
        let (request, _) = try #require(decodedRequest(decode(#"{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"text":"é ✓ 𝄞"}}"#)))
        #expect((request as? EchoRequest)?.text == "é ✓ 𝄞")
    }

    @Test(
        "invalid JSON is a parse error (-32700)",
        arguments: [
            "{", #"{"jsonrpc":"2.0","id":}"#, "nope", #"{"jsonrpc":"2.0","id":1,"method":"x"} trailing"#, "[1,2", "", "  \t ",
            "{'jsonrpc':'2.0'}",
        ])
    func invalidJSON(text: String) {
        let error = failure(decode(text))
        #expect(error?.code == .parseError)
        #expect(error?.code.rawValue == -32700)
    }

    @Test(
        "a payload that is valid JSON but neither an object nor an array is an invalid request (-32600)",
        arguments: ["42", #""x""#, "true", "null", "3.5"])
    func nonObject(text: String) {
        #expect(failure(decode(text))?.code == .invalidRequest)
    }

    // MARK: Nesting

    @Test("nesting deeper than maxNestingDepth (128) is rejected with -32600 before decoding")
    func tooDeep() throws {
        let error = try #require(failure(decode(nested(depth: 129))))
        #expect(error.code == .invalidRequest)
        #expect(error.data?["limit"]?.intValue == 128)
        #expect(error.data?["setting"]?.stringValue == "maxNestingDepth")
        // Far deeper than any decoder's stack would like: still a clean error.
        #expect(failure(decode(String(repeating: "[", count: 100_000)))?.code == .invalidRequest)
    }

    @Test("nesting exactly at maxNestingDepth is accepted")
    func deepAtTheLimit() throws {
        let (request, _) = try #require(decodedRequest(decode(nested(depth: 128))))
        #expect(request is AnyValueRequest)
    }

    @Test("the nesting limit is configurable")
    func customNestingLimit() {
        var limits = Limits()
        limits.maxNestingDepth = 3
        #expect(decodedRequest(decode(nested(depth: 3), limits: limits)) != nil)
        #expect(failure(decode(nested(depth: 4), limits: limits))?.code == .invalidRequest)
    }

    @Test("brackets inside strings do not count towards nesting, escaped quotes included")
    func bracketsInStrings() throws {
        let brackets = String(repeating: "[{", count: 500)
        let text = #"{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"text":"\""# + brackets + #"\" ok"}}"#
        let (request, _) = try #require(decodedRequest(decode(text)))
        #expect((request as? EchoRequest)?.text == "\"\(brackets)\" ok")
    }

    @Test("a string ending in an escaped backslash closes the string: what follows is counted")
    func escapedBackslashClosesString() {
        // If `\\"` were read as an escaped quote, the scanner would think the string runs on and
        // would skip the deep arrays after it.
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        let text = #"{"jsonrpc":"2.0","id":1,"method":"test/any","params":{"text":"\\","value":"# + deep + "}}"
        #expect(failure(decode(text))?.code == .invalidRequest)
    }

    // MARK: Batches

    @Test("an empty batch is an invalid request (-32600)")
    func emptyBatch() {
        #expect(failure(decode("[]"))?.code == .invalidRequest)
        #expect(failure(decode(" [ ] "))?.code == .invalidRequest)
    }

    @Test("a batch over maxBatchLength is rejected with -32022; one at the limit is accepted")
    func batchLength() throws {
        var limits = Limits()
        limits.maxBatchLength = 3
        let member = #"{"jsonrpc":"2.0","method":"test/record","params":{"key":"k","value":1}}"#
        let atLimit = decode("[" + Array(repeating: member, count: 3).joined(separator: ",") + "]", limits: limits)
        guard case .batch(let members) = atLimit else {
            Issue.record("a batch of 3 was not accepted: \(atLimit)")
            return
        }
        #expect(members.count == 3)
        let error = try #require(failure(decode("[" + Array(repeating: member, count: 4).joined(separator: ",") + "]", limits: limits)))
        #expect(error.code == .payloadTooLarge)
        #expect(error.data?["limit"]?.intValue == 3)
        #expect(error.data?["setting"]?.stringValue == "maxBatchLength")
    }

    @Test("each bad member of a batch is its own invalid request; the good ones decode")
    func batchMembers() {
        let payload = decode(
            #"[1, "x", {"jsonrpc":"2.0","id":9,"method":"test/echo","params":{"text":"a"}}, {"jsonrpc":"2.0","id":10,"method":"nope"}]"#)
        guard case .batch(let members) = payload, members.count == 4 else {
            Issue.record("not a batch of 4: \(payload)")
            return
        }
        #expect(invalid(members[0])?.error.code == .invalidRequest)
        #expect(invalid(members[0])?.reply == .null)
        #expect(invalid(members[1])?.error.code == .invalidRequest)
        if case .request(let request, let id) = members[2] {
            #expect(request as? EchoRequest == EchoRequest(text: "a"))
            #expect(id == .number(9))
        } else {
            Issue.record("member 2 is not a request: \(members[2])")
        }
        #expect(invalid(members[3])?.error.code == .methodNotFound)
        #expect(invalid(members[3])?.reply == .id(.number(10)))
    }

    // MARK: The envelope

    @Test(
        "a missing or wrong \"jsonrpc\" is an invalid request, answered under the id when there is one",
        arguments: [
            #"{"id":1,"method":"test/echo","params":{"text":"a"}}"#,
            #"{"jsonrpc":"1.0","id":1,"method":"test/echo","params":{"text":"a"}}"#,
            #"{"jsonrpc":2.0,"id":1,"method":"test/echo","params":{"text":"a"}}"#,
        ])
    func badVersion(text: String) throws {
        let (error, reply) = try #require(invalid(decode(text)))
        #expect(error.code == .invalidRequest)
        #expect(error.message.contains("jsonrpc"))
        #expect(reply == .id(.number(1)))
    }

    @Test("a message without \"jsonrpc\" or id is answered with id null (it is not a valid notification)")
    func badVersionWithoutID() throws {
        let (error, reply) = try #require(invalid(decode(#"{"method":"test/record","params":{"key":"k","value":1}}"#)))
        #expect(error.code == .invalidRequest)
        #expect(reply == .null)
    }

    @Test(
        "an id that is neither a string nor an integer is an invalid request answered with id null",
        arguments: [#"{"a":1}"#, "true", "1.5", "[1]"])
    func badIDType(id: String) throws {
        let (error, reply) = try #require(
            invalid(decode(#"{"jsonrpc":"2.0","id":"# + id + #","method":"test/echo","params":{"text":"a"}}"#)))
        #expect(error.code == .invalidRequest)
        #expect(reply == .null)
    }

    @Test("\"id\": null on a request is an invalid request answered with id null")
    func nullIDRequest() throws {
        let (error, reply) = try #require(invalid(decode(#"{"jsonrpc":"2.0","id":null,"method":"test/echo","params":{"text":"a"}}"#)))
        #expect(error.code == .invalidRequest)
        #expect(reply == .null)
    }

    @Test("\"method\" that is not a string is an invalid request under the id")
    func methodNotString() throws {
        let (error, reply) = try #require(invalid(decode(#"{"jsonrpc":"2.0","id":4,"method":5}"#)))
        #expect(error.code == .invalidRequest)
        #expect(reply == .id(.number(4)))
    }

    @Test("a message with an id but no method, result or error is an invalid request under the id")
    func noMethodNoResult() throws {
        let (error, reply) = try #require(invalid(decode(#"{"jsonrpc":"2.0","id":"q"}"#)))
        #expect(error.code == .invalidRequest)
        #expect(reply == .id(.string("q")))
    }

    @Test(
        "a message with neither id nor method is not a notification: it is answered -32600 with id null",
        arguments: [#"{"jsonrpc":"2.0"}"#, #"{"jsonrpc":"2.0","params":{"text":"a"}}"#])
    func noIDNoMethod(text: String) throws {
        let (error, reply) = try #require(invalid(decode(text)))
        #expect(error.code == .invalidRequest)
        #expect(reply == .null)
    }

    @Test("an unknown method with an id is -32601 under that id, naming the method")
    func unknownMethod() throws {
        let (error, reply) = try #require(invalid(decode(#"{"jsonrpc":"2.0","id":"req-7","method":"no/such"}"#)))
        #expect(error.code == .methodNotFound)
        #expect(error.code.rawValue == -32601)
        #expect(error.data?["method"]?.stringValue == "no/such")
        #expect(reply == .id(.string("req-7")))
        #expect(invalid(decode(#"{"jsonrpc":"2.0","id":-12,"method":"no/such"}"#))?.reply == .id(.number(-12)))
    }

    @Test(
        "an unknown notification is dropped: no reply",
        arguments: [#"{"jsonrpc":"2.0","method":"no/such"}"#, #"{"jsonrpc":"2.0","method":"$/setTrace","params":{}}"#])
    func unknownNotification(text: String) throws {
        let (_, reply) = try #require(invalid(decode(text)))
        #expect(reply == ReplyTarget.none)
    }

    // MARK: Params

    @Test(
        "params of the wrong type answer -32602 naming the field, in message and data.field",
        arguments: [
            (#"{"a":{"b":"x"},"tags":[],"items":[]}"#, "a.b"),
            (#"{"a":{"b":1},"tags":[1,"two"],"items":[]}"#, "tags[1]"),
            (#"{"a":{"b":1},"tags":[],"items":[{"name":"x"},{"name":5}]}"#, "items[1].name"),
            (#"{"a":{},"tags":[],"items":[]}"#, "a.b"),
            (#"{"a":{"b":null},"tags":[],"items":[]}"#, "a.b"),
            (#"{"a":{"b":1},"items":[]}"#, "tags"),
            (#"{"a":7,"tags":[],"items":[]}"#, "a"),
        ])
    func wrongParams(params: String, field: String) throws {
        let (error, reply) = try #require(
            invalid(decode(#"{"jsonrpc":"2.0","id":3,"method":"test/nested","params":"# + params + "}")))
        #expect(error.code == .invalidParams)
        #expect(error.code.rawValue == -32602)
        #expect(error.data?["field"]?.stringValue == field)
        #expect(error.message.contains("'\(field)'"), "\(error.message)")
        #expect(reply == .id(.number(3)))
    }

    @Test("a field of the params that is itself called 'params' is named in full")
    func fieldCalledParams() throws {
        let (error, _) = try #require(
            invalid(decode(#"{"jsonrpc":"2.0","id":3,"method":"test/command","params":{"command":"run","params":{"b":"x"}}}"#)))
        #expect(error.code == .invalidParams)
        #expect(error.data?["field"]?.stringValue == "params.b")
    }

    @Test("a missing field and a null field say so")
    func missingAndNullWording() {
        let missing = invalid(decode(#"{"jsonrpc":"2.0","id":3,"method":"test/nested","params":{"a":{},"tags":[],"items":[]}}"#))
        #expect(missing?.error.message == "Invalid params: missing field 'a.b'")
        let null = invalid(decode(#"{"jsonrpc":"2.0","id":3,"method":"test/nested","params":{"a":{"b":null},"tags":[],"items":[]}}"#))
        #expect(null?.error.message.contains("not null") == true)
        let wrong = invalid(decode(#"{"jsonrpc":"2.0","id":3,"method":"test/nested","params":{"a":{"b":"x"},"tags":[],"items":[]}}"#))
        #expect(wrong?.error.message == "Invalid params: field 'a.b' must be an integer")
    }

    @Test("params given as an array (by position) or a scalar answer -32602", arguments: [#"["hi"]"#, #""hi""#, "3"])
    func paramsNotAnObject(params: String) throws {
        let (error, reply) = try #require(
            invalid(decode(#"{"jsonrpc":"2.0","id":5,"method":"test/echo","params":"# + params + "}")))
        #expect(error.code == .invalidParams)
        #expect(error.message == "Invalid params: params must be an object")
        #expect(reply == .id(.number(5)))
    }

    @Test("absent or null params are accepted when every field is optional", arguments: ["", #","params":null"#])
    func absentParamsOptional(params: String) throws {
        let (request, _) = try #require(decodedRequest(decode(#"{"jsonrpc":"2.0","id":1,"method":"test/optional""# + params + "}")))
        #expect(request as? OptionalParamsRequest == OptionalParamsRequest())
    }

    @Test("absent params answer -32602 naming the first required field")
    func absentParamsRequired() throws {
        let (error, _) = try #require(invalid(decode(#"{"jsonrpc":"2.0","id":1,"method":"test/echo"}"#)))
        #expect(error.code == .invalidParams)
        #expect(error.data?["field"]?.stringValue == "text")
    }

    @Test("a notification with bad params is dropped, not answered")
    func notificationBadParams() throws {
        let (error, reply) = try #require(invalid(decode(#"{"jsonrpc":"2.0","method":"test/record","params":{"key":1}}"#)))
        #expect(error.code == .invalidParams)
        #expect(reply == ReplyTarget.none)
    }

    // MARK: Responses

    @Test("a result decodes into the result type of the request this side sent")
    func typedResult() throws {
        let payload = decode(#"{"jsonrpc":"2.0","id":7,"result":{"text":"ok"}}"#) { id in
            id == .number(7) ? EchoResult.self : nil
        }
        guard case .response(let id, let result)? = single(payload) else {
            Issue.record("not a response: \(payload)")
            return
        }
        #expect(id == .number(7))
        #expect(try result.get() as? EchoResult == EchoResult(text: "ok"))
    }

    @Test("a result for an id this side does not know decodes as JSON; a null result as VoidResponse")
    func untypedAndNullResults() throws {
        guard case .response(_, let untyped)? = single(decode(#"{"jsonrpc":"2.0","id":8,"result":[1,"a"]}"#)) else {
            Issue.record("not a response")
            return
        }
        #expect(try untyped.get() as? JSONValue == [1, "a"])
        let void = decode(#"{"jsonrpc":"2.0","id":"v","result":null}"#) { _ in VoidResponse.self }
        guard case .response(_, let result)? = single(void) else {
            Issue.record("not a response")
            return
        }
        #expect(try result.get() is VoidResponse)
    }

    @Test("an error response decodes into the peer's ResponseError, code, message and data")
    func errorResponse() throws {
        let payload = decode(#"{"jsonrpc":"2.0","id":2,"error":{"code":-32050,"message":"nope","data":{"why":"because"}}}"#)
        guard case .response(let id, .failure(let error))? = single(payload) else {
            Issue.record("not an error response: \(payload)")
            return
        }
        #expect(id == .number(2))
        #expect(error == ResponseError(code: ErrorCode(rawValue: -32050), message: "nope", data: ["why": "because"]))
    }

    @Test("an error response with id null (the peer could not read our message) is not answered")
    func nullIDErrorResponse() throws {
        let (error, reply) = try #require(
            invalid(decode(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#)))
        #expect(error.code == .parseError)
        #expect(reply == ReplyTarget.none)
    }

    // MARK: Strict JSON (RFC 8259, issue 10)

    @Test(
        "what RFC 8259 does not allow is a parse error (-32700)",
        arguments: [
            #"{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"text":"a\u{01}b"}}"#,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test/echo\",\"params\":{\"text\":\"line\nbreak\"}}",
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test/echo\",\"params\":{\"text\":\"tab\there\"}}",
            #"{"jsonrpc":"2.0","id":01,"method":"test/echo"}"#,
            #"{"jsonrpc":"2.0","id":1,"method":"test/echo",}"#,
            #"[{"jsonrpc":"2.0","method":"a"},]"#,
            #"{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"text":"\x"}}"#,
            #"{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"text":"\u12"}}"#,
            #"{"jsonrpc":"2.0","id":-,"method":"test/echo"}"#,
            #"{"jsonrpc":"2.0","id":1.,"method":"test/echo"}"#,
            #"{"jsonrpc":"2.0","id":tru,"method":"test/echo"}"#,
            #"{"jsonrpc":"2.0","id":1,"method":"test/echo"}{}"#,
        ])
    func strictGrammar(text: String) {
        #expect(failure(decode(text))?.code == .parseError, "\(text)")
    }

    @Test("a raw control character in a string is refused, also through the framing parser")
    func controlCharacterRefused() throws {
        let text = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test/echo\",\"params\":{\"text\":\"a\u{0}b\"}}"
        let error = try #require(failure(decode(text)))
        #expect(error.code == .parseError)
        #expect(error.message.contains("control character"))
        var parser = FrameParser()
        let events = parser.feedAndDrain(lspFrame(text))
        #expect(events.map(\.failure?.code) == [.parseError])
        // Escaped, the same character is fine.
        let escaped = #"{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"text":"a\u0000b\n"}}"#
        let (request, _) = try #require(decodedRequest(decode(escaped)))
        #expect((request as? EchoRequest)?.text == "a\u{0}b\n")
    }

    @Test(
        "duplicate keys are refused (-32700), compared after unescaping, at any depth",
        arguments: [
            #"{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"text":"a"},"method":"test/fail"}"#,
            #"{"jsonrpc":"2.0","id":1,"id":2,"method":"test/echo","params":{"text":"a"}}"#,
            #"{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"text":"a","text":"b"}}"#,
            #"{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"text":"a","t\u0065xt":"b"}}"#,
            #"{"jsonrpc":"2.0","id":1,"method":"test/any","params":{"value":[{"é":1,"\u00e9":2}]}}"#,
        ])
    func duplicateKeysRefused(text: String) throws {
        let error = try #require(failure(decode(text)), "\(text)")
        #expect(error.code == .parseError)
        #expect(error.message.contains("duplicate key"))
    }

    @Test("the same key in different objects is not a duplicate")
    func sameKeyInDifferentObjects() throws {
        let text = #"{"jsonrpc":"2.0","id":1,"method":"test/any","params":{"value":[{"id":1},{"id":1,"x":{"id":2}}]}}"#
        #expect(decodedRequest(decode(text)) != nil)
    }

    @Test("an id that is a number but not an integer is an invalid request with id null", arguments: ["1.0", "1e0", "-2.5", "1E+2"])
    func nonIntegerID(id: String) throws {
        let (error, reply) = try #require(invalid(decode(#"{"jsonrpc":"2.0","id":"# + id + #","method":"test/echo","params":{"text":"a"}}"#)))
        #expect(error.code == .invalidRequest)
        #expect(error.message.contains("string or an integer"))
        #expect(reply == .null)
    }

    @Test("integer and string ids still decode; a fraction inside params is not the message's id")
    func integerIDs() throws {
        #expect(decodedRequest(decode(#"{"jsonrpc":"2.0","id":-7,"method":"test/echo","params":{"text":"a"}}"#))?.id == .number(-7))
        #expect(decodedRequest(decode(#"{"jsonrpc":"2.0","id":"1.0","method":"test/echo","params":{"text":"a"}}"#))?.id == .string("1.0"))
        let (request, id) = try #require(decodedRequest(decode(#"{"jsonrpc":"2.0","id":3,"method":"test/any","params":{"value":{"id":1.5}}}"#)))
        #expect(id == .number(3))
        #expect((request as? AnyValueRequest)?.value == ["id": .double(1.5)])
    }

    @Test("in a batch, only the member whose id is not an integer is refused")
    func nonIntegerIDInBatch() throws {
        let text = #"[{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"text":"a"}},{"jsonrpc":"2.0","id":2.0,"method":"test/echo","params":{"text":"b"}}]"#
        guard case .batch(let members) = decode(text) else {
            Issue.record("not a batch")
            return
        }
        try #require(members.count == 2)
        if case .request(_, let id) = members[0] { #expect(id == .number(1)) } else { Issue.record("member 0: \(members[0])") }
        #expect(invalid(members[1])?.reply == .null)
        #expect(invalid(members[1])?.error.code == .invalidRequest)
    }

    @Test("a UTF-8 BOM before the payload is skipped; inside it, it is a parse error")
    func byteOrderMark() throws {
        let text = #"{"jsonrpc":"2.0","id":1,"method":"test/echo","params":{"text":"a"}}"#
        #expect(decodedRequest(decode(Data([0xEF, 0xBB, 0xBF]) + Data(text.utf8)))?.id == .number(1))
        #expect(failure(decode(Data(" ".utf8) + Data([0xEF, 0xBB, 0xBF]) + Data(text.utf8)))?.code == .parseError)
        #expect(failure(decode(Data([0xEF, 0xBB]) + Data(text.utf8)))?.code == .parseError)
    }

    @Test("a 2 MB batch of [1,1,…] is refused at member maxBatchLength + 1 without decoding")
    func hugeBatchOfScalars() throws {
        let body = "[" + Array(repeating: "1", count: 1_000_000).joined(separator: ",") + "]"
        let error = try #require(failure(decode(body)))
        #expect(error.code == .payloadTooLarge)
        #expect(error.data?["setting"]?.stringValue == "maxBatchLength")
    }
}

