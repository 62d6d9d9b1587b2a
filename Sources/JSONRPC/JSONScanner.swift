import FoundationEssentials

/// A streaming validator for one JSON text (RFC 8259, strictly), fed bytes as they arrive: the
/// framing parser runs it over a body or line while it streams in, so a message over a limit is
/// refused at the byte that crosses it and the rest is skipped, never buffered nor decoded.
///
/// It checks, each byte once: the grammar (no trailing commas, no leading zeros, no bare
/// literals but `true`, `false` and `null`), strings (no raw control characters, only the escapes
/// RFC 8259 names, valid UTF-8), unique keys in every object (compared after unescaping), nesting
/// depth (`maxNestingDepth`) and batch length (`maxBatchLength`). A UTF-8 byte order mark before
/// the text is skipped (RFC 8259 §8.1 allows a parser to ignore it); anywhere else it is refused.
///
/// It also notes which messages carry an `"id"` that is a number but not an integer (`1.0`, `1e3`),
/// since a decoder reading an `Int` cannot tell `1.0` from `1`.
struct JSONScanner {
    private enum State: UInt8 {
        case start, value, valueOrArrayEnd, keyOrObjectEnd, key, colon, afterValue, done
        case string, escape, unicode, utf8
        case minus, zero, integer, dot, fraction, exponentMark, exponentSign, exponent
        case literal
        case failed
    }

    private let maxDepth: Int
    private let maxBatchLength: Int

    private var state: State = .start
    /// Bytes of the BOM seen so far, while in `.start`.
    private var bomMatched = 0
    /// True for an object, false for an array, innermost last.
    private var containers: [Bool] = []
    /// Hashes of the keys seen in each open object, innermost last.
    private var keys: [Set<Int>] = []
    private var inKey = false
    private var currentKey: [UInt8] = []
    private var pendingHighSurrogate: UInt32?
    private var unicodeDigits = 0
    private var unicodeValue: UInt32 = 0
    private var utf8Remaining = 0
    private var utf8Low: UInt8 = 0x80
    private var utf8High: UInt8 = 0xBF
    private var literalBytes: StaticString = "true"
    private var literalIndex = 0
    private var numberIsInteger = true
    private var numberIsID = false
    private var nextValueIsID = false
    private var sawValue = false

    /// Bytes consumed so far.
    private(set) var position = 0
    /// Length of the byte order mark skipped at the start (0 or 3).
    private(set) var prefixLength = 0
    /// The top-level value is an array: a batch.
    private(set) var isBatch = false
    /// The top-level value is an object or an array.
    private(set) var isContainer = false
    /// Members of the batch so far (1 for a single message once it has begun).
    private(set) var memberCount = 0
    /// Messages (batch indices; 0 for a single message) whose `"id"` is a non-integer number.
    private(set) var nonIntegerIDMembers: [Int] = []
    private(set) var failure: ResponseError?

    init(limits: Limits) {
        maxDepth = limits.maxNestingDepth
        maxBatchLength = limits.maxBatchLength
    }

    /// Scans more bytes of the text. Returns the failure (once found, again on every later call).
    @discardableResult
    mutating func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> ResponseError? {
        if let failure { return failure }
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            switch state {
            case .string:
                // The common case: a run of plain ASCII.
                var run = index
                while run < count {
                    let plain = bytes[run]
                    if plain < 0x20 || plain >= 0x80 || plain == UInt8(ascii: "\"") || plain == UInt8(ascii: "\\") { break }
                    run += 1
                }
                if run > index {
                    if inKey {
                        flushSurrogate()
                        currentKey.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<run]))
                    }
                    position += run - index
                    index = run
                    continue
                }
                if byte == UInt8(ascii: "\"") {
                    if let failure = endString() { return failure }
                } else if byte == UInt8(ascii: "\\") {
                    state = .escape
                } else if byte < 0x20 {
                    return fail(
                        .parseError(
                            "a raw control character (0x\(hex(byte))) inside a string at byte \(position); RFC 8259 asks for an escape"))
                } else if !startUTF8(byte) {
                    return fail(.parseError("not valid UTF-8 at byte \(position)"))
                }

            case .utf8:
                guard byte >= utf8Low && byte <= utf8High else {
                    return fail(.parseError("not valid UTF-8 at byte \(position)"))
                }
                if inKey { currentKey.append(byte) }
                utf8Low = 0x80
                utf8High = 0xBF
                utf8Remaining -= 1
                if utf8Remaining == 0 { state = .string }

            case .escape:
                var unescaped: UInt8?
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped = byte
                case UInt8(ascii: "b"): unescaped = 0x08
                case UInt8(ascii: "f"): unescaped = 0x0C
                case UInt8(ascii: "n"): unescaped = 0x0A
                case UInt8(ascii: "r"): unescaped = 0x0D
                case UInt8(ascii: "t"): unescaped = 0x09
                case UInt8(ascii: "u"):
                    unicodeDigits = 0
                    unicodeValue = 0
                    state = .unicode
                default:
                    return fail(.parseError("an unknown escape '\\\(printable(byte))' in a string at byte \(position)"))
                }
                if let unescaped {
                    if inKey {
                        flushSurrogate()
                        currentKey.append(unescaped)
                    }
                    state = .string
                }

            case .unicode:
                guard let digit = hexValue(byte) else {
                    return fail(.parseError("a \\u escape needs four hex digits, at byte \(position)"))
                }
                unicodeValue = unicodeValue << 4 | UInt32(digit)
                unicodeDigits += 1
                if unicodeDigits == 4 {
                    if inKey { addKeyUnit(unicodeValue) }
                    state = .string
                }

            case .start:
                // A byte order mark, then the text.
                let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
                if bomMatched > 0 || (byte == 0xEF && position == 0) {
                    guard byte == bom[bomMatched] else {
                        return fail(.parseError("not valid UTF-8 at byte \(position)"))
                    }
                    bomMatched += 1
                    if bomMatched == 3 {
                        prefixLength = 3
                        state = .value
                    }
                } else {
                    state = .value
                    continue
                }

            case .value, .valueOrArrayEnd:
                if isWhitespace(byte) { break }
                if byte == UInt8(ascii: "]") && state == .valueOrArrayEnd {
                    closeContainer()
                    break
                }
                if let failure = beginValue(byte) { return failure }

            case .keyOrObjectEnd, .key:
                if isWhitespace(byte) { break }
                if byte == UInt8(ascii: "}") && state == .keyOrObjectEnd {
                    closeContainer()
                    break
                }
                guard byte == UInt8(ascii: "\"") else {
                    return fail(unexpected(byte, expecting: "a key in double quotes"))
                }
                inKey = true
                currentKey.removeAll(keepingCapacity: true)
                state = .string

            case .colon:
                if isWhitespace(byte) { break }
                guard byte == UInt8(ascii: ":") else { return fail(unexpected(byte, expecting: "':'")) }
                state = .value

            case .afterValue:
                if isWhitespace(byte) { break }
                guard let isObject = containers.last else {
                    state = .done
                    continue
                }
                if byte == UInt8(ascii: ",") {
                    state = isObject ? .key : .value
                } else if byte == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    closeContainer()
                } else {
                    return fail(unexpected(byte, expecting: isObject ? "',' or '}'" : "',' or ']'"))
                }

            case .done:
                guard isWhitespace(byte) else {
                    return fail(unexpected(byte, expecting: "the end of the message"))
                }

            case .minus:
                guard isDigit(byte) else { return fail(unexpected(byte, expecting: "a digit")) }
                state = byte == UInt8(ascii: "0") ? .zero : .integer
            case .zero:
                if byte == UInt8(ascii: ".") {
                    state = .dot
                } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                    state = .exponentMark
                } else if isDigit(byte) {
                    return fail(.parseError("a number with a leading zero at byte \(position)"))
                } else {
                    endNumber()
                    continue
                }
            case .integer:
                if isDigit(byte) { break }
                if byte == UInt8(ascii: ".") {
                    state = .dot
                } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                    state = .exponentMark
                } else {
                    endNumber()
                    continue
                }
            case .dot:
                guard isDigit(byte) else { return fail(unexpected(byte, expecting: "a digit after '.'")) }
                numberIsInteger = false
                state = .fraction
            case .fraction:
                if isDigit(byte) { break }
                if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                    state = .exponentMark
                } else {
                    endNumber()
                    continue
                }
            case .exponentMark:
                numberIsInteger = false
                if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") {
                    state = .exponentSign
                } else if isDigit(byte) {
                    state = .exponent
                } else {
                    return fail(unexpected(byte, expecting: "an exponent"))
                }
            case .exponentSign:
                guard isDigit(byte) else { return fail(unexpected(byte, expecting: "an exponent")) }
                state = .exponent
            case .exponent:
                if !isDigit(byte) {
                    endNumber()
                    continue
                }

            case .literal:
                let expected = literalBytes.withUTF8Buffer { $0[literalIndex] }
                guard byte == expected else { return fail(unexpected(byte, expecting: "'\(literalBytes)'")) }
                literalIndex += 1
                if literalIndex == literalBytes.utf8CodeUnitCount { endValue() }

            case .failed:
                return failure
            }
            index += 1
            position += 1
        }
        return nil
    }

    /// The text has ended: returns why it is not a whole JSON-RPC payload, or nil.
    mutating func finish() -> ResponseError? {
        if let failure { return failure }
        switch state {
        case .zero, .integer, .fraction, .exponent:
            endNumber()
        default:
            break
        }
        switch state {
        case .done:
            break
        case .afterValue where containers.isEmpty:
            break
        case .start:
            return fail(.parseError(bomMatched > 0 && bomMatched < 3 ? "not valid UTF-8 at byte \(position)" : "empty message"))
        case .value where !sawValue:
            return fail(.parseError(bomMatched > 0 && bomMatched < 3 ? "not valid UTF-8 at byte \(position)" : "empty message"))
        default:
            return fail(.parseError("not valid JSON: the message ends inside a value, at byte \(position)"))
        }
        if !isContainer {
            return fail(.invalidRequest("a message is a JSON object or a batch array"))
        }
        if isBatch && memberCount == 0 {
            return fail(.invalidRequest("empty batch"))
        }
        return nil
    }

    // MARK: Steps

    private mutating func fail(_ error: ResponseError) -> ResponseError {
        failure = error
        state = .failed
        return error
    }

    private mutating func beginValue(_ byte: UInt8) -> ResponseError? {
        let depth = containers.count
        if depth == 0 {
            if sawValue { return fail(unexpected(byte, expecting: "the end of the message")) }
            sawValue = true
            isBatch = byte == UInt8(ascii: "[")
            isContainer = isBatch || byte == UInt8(ascii: "{")
            if !isBatch { memberCount = 1 }
        } else if depth == 1 && isBatch {
            memberCount += 1
            if memberCount > maxBatchLength {
                return fail(
                    .payloadTooLarge("a batch of more than \(maxBatchLength) messages", limit: maxBatchLength, setting: "maxBatchLength"))
            }
        }
        numberIsID = nextValueIsID
        nextValueIsID = false
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            if depth + 1 > maxDepth {
                return fail(
                    .invalidRequest(
                        "JSON nesting is deeper than the limit of \(maxDepth)",
                        data: ["limit": .int(maxDepth), "setting": "maxNestingDepth"]))
            }
            let isObject = byte == UInt8(ascii: "{")
            containers.append(isObject)
            if isObject { keys.append([]) }
            state = isObject ? .keyOrObjectEnd : .valueOrArrayEnd
        case UInt8(ascii: "\""):
            inKey = false
            state = .string
        case UInt8(ascii: "-"):
            numberIsInteger = true
            state = .minus
        case UInt8(ascii: "0"):
            numberIsInteger = true
            state = .zero
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            numberIsInteger = true
            state = .integer
        case UInt8(ascii: "t"):
            beginLiteral("true")
        case UInt8(ascii: "f"):
            beginLiteral("false")
        case UInt8(ascii: "n"):
            beginLiteral("null")
        default:
            return fail(unexpected(byte, expecting: "a value"))
        }
        return nil
    }

    private mutating func beginLiteral(_ literal: StaticString) {
        literalBytes = literal
        literalIndex = 1
        state = .literal
    }

    private mutating func endNumber() {
        if numberIsID && !numberIsInteger { nonIntegerIDMembers.append(isBatch ? memberCount - 1 : 0) }
        endValue()
    }

    private mutating func endValue() {
        numberIsID = false
        state = containers.isEmpty ? .done : .afterValue
    }

    private mutating func closeContainer() {
        if containers.removeLast() { keys.removeLast() }
        endValue()
    }

    private mutating func endString() -> ResponseError? {
        guard inKey else {
            endValue()
            return nil
        }
        flushSurrogate()
        inKey = false
        state = .colon
        // Hashes, not the keys: an object of a million short keys costs 8 bytes each. The seed is
        // random per process, so a peer cannot choose two keys that collide.
        if !keys[keys.count - 1].insert(currentKey.hashValue).inserted {
            let shown = String(decoding: currentKey.prefix(64), as: UTF8.self)
            return fail(.parseError("duplicate key \"\(shown)\" in an object, at byte \(position)"))
        }
        // The message's own `id` (not one inside params): its value is checked for being an integer.
        let messageDepth = isBatch ? 2 : 1
        nextValueIsID = containers.count == messageDepth && currentKey == Self.idKey
        return nil
    }

    private static let idKey: [UInt8] = Array("id".utf8)

    /// Starts a multi-byte UTF-8 sequence, or returns false for a byte that cannot lead one.
    private mutating func startUTF8(_ byte: UInt8) -> Bool {
        switch byte {
        case 0xC2...0xDF: utf8Remaining = 1
        case 0xE0:
            utf8Remaining = 2
            utf8Low = 0xA0
        case 0xED:
            utf8Remaining = 2
            utf8High = 0x9F  // no UTF-16 surrogates
        case 0xE1...0xEC, 0xEE...0xEF: utf8Remaining = 2
        case 0xF0:
            utf8Remaining = 3
            utf8Low = 0x90
        case 0xF1...0xF3: utf8Remaining = 3
        case 0xF4:
            utf8Remaining = 3
            utf8High = 0x8F  // nothing past U+10FFFF
        default: return false
        }
        if inKey {
            flushSurrogate()
            currentKey.append(byte)
        }
        state = .utf8
        return true
    }

    /// Adds one `\uXXXX` code unit to the key being read, pairing surrogates.
    private mutating func addKeyUnit(_ unit: UInt32) {
        if let high = pendingHighSurrogate {
            pendingHighSurrogate = nil
            if unit >= 0xDC00 && unit <= 0xDFFF {
                appendScalar(0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00))
                return
            }
            appendScalar(high)
        }
        if unit >= 0xD800 && unit <= 0xDBFF {
            pendingHighSurrogate = unit
        } else {
            appendScalar(unit)
        }
    }

    private mutating func flushSurrogate() {
        if let high = pendingHighSurrogate {
            pendingHighSurrogate = nil
            appendScalar(high)
        }
    }

    /// UTF-8 of a scalar; a lone surrogate gets the same three-byte form, so that keys compare as
    /// their escapes do.
    private mutating func appendScalar(_ value: UInt32) {
        switch value {
        case 0..<0x80:
            currentKey.append(UInt8(value))
        case 0x80..<0x800:
            currentKey.append(UInt8(0xC0 | value >> 6))
            currentKey.append(UInt8(0x80 | value & 0x3F))
        case 0x800..<0x10000:
            currentKey.append(UInt8(0xE0 | value >> 12))
            currentKey.append(UInt8(0x80 | value >> 6 & 0x3F))
            currentKey.append(UInt8(0x80 | value & 0x3F))
        default:
            currentKey.append(UInt8(0xF0 | value >> 18))
            currentKey.append(UInt8(0x80 | value >> 12 & 0x3F))
            currentKey.append(UInt8(0x80 | value >> 6 & 0x3F))
            currentKey.append(UInt8(0x80 | value & 0x3F))
        }
    }

    private func unexpected(_ byte: UInt8, expecting: String) -> ResponseError {
        .parseError("not valid JSON: '\(printable(byte))' at byte \(position) where \(expecting) was expected")
    }

    private func printable(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "0x" + hex(byte)
    }

    private func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
    }

    private func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private func isWhitespace(_ byte: UInt8) -> Bool { JSONScan.isWhitespace(byte) }
}

extension JSONScanner {
    /// Scans a whole text at once.
    static func scanning(_ payload: Data, limits: Limits) -> JSONScanner {
        var scanner = JSONScanner(limits: limits)
        payload.withUnsafeBytes { raw in
            _ = scanner.scan(raw.bindMemory(to: UInt8.self))
        }
        _ = scanner.finish()
        return scanner
    }
}
