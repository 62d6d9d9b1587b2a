import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// devmode's session tokens: HS256 JSON Web Tokens (RFC 7519) signed with the server's secret.
/// Any other `alg` (none, RS256, HS512, …) is refused before the signature is looked at.
public enum SessionToken {
    public struct Claims: Codable, Sendable, Hashable {
        /// The user id.
        public var sub: String
        /// The tenant id.
        public var tid: String
        /// Issued at, seconds since 1970.
        public var iat: Int64
        /// Expires at, seconds since 1970.
        public var exp: Int64
        /// The token's own id.
        public var jti: String
        /// The API key whose session minted it, if any: the token dies with that key.
        public var kid: String?

        public init(sub: String, tid: String, iat: Int64, exp: Int64, jti: String, kid: String? = nil) {
            self.sub = sub
            self.tid = tid
            self.iat = iat
            self.exp = exp
            self.jti = jti
            self.kid = kid
        }
    }

    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        case malformed
        case unsupportedAlgorithm(String)
        case badSignature
        case expired

        public var description: String {
            switch self {
            case .malformed: return "malformed token"
            case .unsupportedAlgorithm(let alg): return "unsupported token algorithm '\(alg.prefix(16))'"
            case .badSignature: return "bad token signature"
            case .expired: return "expired token"
            }
        }
    }

    private struct Header: Codable {
        var alg: String
        var typ: String?
    }

    /// True when `text` has the shape of a JWT (three base64url parts), as opposed to an API key.
    public static func looksLikeToken(_ text: String) -> Bool {
        text.split(separator: ".", omittingEmptySubsequences: false).count == 3
    }

    public static func sign(_ claims: Claims, secret: [UInt8]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let header = ByteEncoding.base64URL(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        // Encoding these two plain structs cannot fail.
        let payload = ByteEncoding.base64URL(Array((try? encoder.encode(claims)) ?? Data()))
        let signingInput = header + "." + payload
        let signature = Crypto.hmacSHA256(key: secret, message: Array(signingInput.utf8))
        return signingInput + "." + ByteEncoding.base64URL(signature)
    }

    /// Checks the algorithm, the signature (in constant time) and the expiry, in that order.
    public static func verify(_ token: String, secret: [UInt8], now: Int64) throws(Failure) -> Claims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = ByteEncoding.fromBase64URL(String(parts[0])),
            let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes))
        else { throw .malformed }
        guard header.alg == "HS256" else { throw .unsupportedAlgorithm(header.alg) }
        guard let signature = ByteEncoding.fromBase64URL(String(parts[2])) else { throw .malformed }
        let expected = Crypto.hmacSHA256(key: secret, message: Array("\(parts[0]).\(parts[1])".utf8))
        guard Crypto.constantTimeEqual(signature, expected) else { throw .badSignature }
        guard let payload = ByteEncoding.fromBase64URL(String(parts[1])),
            let claims = try? JSONDecoder().decode(Claims.self, from: Data(payload))
        else { throw .malformed }
        guard claims.exp > now else { throw .expired }
        return claims
    }
}
