import COpenSSL

/// The few primitives devmode needs, from OpenSSL's libcrypto: secure random bytes, SHA-256,
/// HMAC-SHA256 and a comparison whose time does not depend on where two secrets differ.
public enum Crypto {
    public struct Failure: Error, CustomStringConvertible {
        public let function: String
        public var description: String { "\(function) failed" }
    }

    /// `count` bytes from OpenSSL's CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let status = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        // RAND_bytes fails only when the CSPRNG cannot be seeded: nothing safe can go on without it.
        precondition(status == 1, "RAND_bytes failed: no secure randomness available")
        return bytes
    }

    public static func sha256<Bytes: Collection>(_ message: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        let input = Array(message)
        var length: UInt32 = 0
        let status = input.withUnsafeBytes { inputBytes in
            digest.withUnsafeMutableBufferPointer { output in
                EVP_Digest(inputBytes.baseAddress, inputBytes.count, output.baseAddress, &length, EVP_sha256(), nil)
            }
        }
        precondition(status == 1 && length == SHA256_DIGEST_LENGTH, "EVP_Digest(SHA-256) failed")
        return digest
    }

    public static func sha256(_ text: String) -> [UInt8] { sha256(Array(text.utf8)) }

    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let result = key.withUnsafeBytes { keyBytes in
            message.withUnsafeBytes { messageBytes in
                digest.withUnsafeMutableBufferPointer { output in
                    HMAC(
                        EVP_sha256(), keyBytes.baseAddress, Int32(keyBytes.count),
                        messageBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), messageBytes.count,
                        output.baseAddress, &length)
                }
            }
        }
        precondition(result != nil && length == 32, "HMAC(SHA-256) failed")
        return Array(digest.prefix(Int(length)))
    }

    /// True when the two are equal; takes the same time wherever they differ (CRYPTO_memcmp).
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 }
        }
    }
}

/// Text encodings of bytes.
public enum ByteEncoding {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    public static func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        for byte in bytes {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static let base64URLAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Base64url without padding (RFC 4648 §5), as JWTs use.
    public static func base64URL<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= input.count {
            let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            for shift in [18, 12, 6, 0] { out.append(base64URLAlphabet[Int((value >> UInt32(shift)) & 63)]) }
            index += 3
        }
        let remaining = input.count - index
        if remaining == 1 {
            let value = UInt32(input[index]) << 16
            out.append(base64URLAlphabet[Int((value >> 18) & 63)])
            out.append(base64URLAlphabet[Int((value >> 12) & 63)])
        } else if remaining == 2 {
            let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
            out.append(base64URLAlphabet[Int((value >> 18) & 63)])
            out.append(base64URLAlphabet[Int((value >> 12) & 63)])
            out.append(base64URLAlphabet[Int((value >> 6) & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes base64url without padding; nil for any other character or an impossible length.
    public static func fromBase64URL(_ text: String) -> [UInt8]? {
        var values: [UInt8] = []
        values.reserveCapacity(text.utf8.count)
        for character in text.utf8 {
            switch character {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(character - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(character - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(character - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "-"): values.append(62)
            case UInt8(ascii: "_"): values.append(63)
            default: return nil
            }
        }
        if values.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            var value: UInt32 = 0
            for (offset, digit) in chunk.enumerated() { value |= UInt32(digit) << UInt32(18 - 6 * offset) }
            let bytes = chunk.count - 1
            for offset in 0..<bytes { out.append(UInt8((value >> UInt32(16 - 8 * offset)) & 0xFF)) }
            index += 4
        }
        // Reject non-canonical encodings (stray low bits), so one token has exactly one spelling.
        guard base64URL(out) == text else { return nil }
        return out
    }
}
