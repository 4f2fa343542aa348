// HMAC-SHA256 from libcrypto, and the constant-time compare: the VRRP core's MessageAuthenticator.
import CTandemOpenSSL
import VRRP

/// HMAC-SHA256 (RFC 2104 with SHA-256; test vectors in RFC 4231) computed by libcrypto's one-shot
/// `HMAC`, with tags compared by `CRYPTO_memcmp`. The key of Tandem's authenticated adverts and
/// fast-detector probes (``VRRP/AuthenticatedAdvert``, ``VRRP/FastProbe``).
public struct HMACSHA256: MessageAuthenticator {
    private let key: [UInt8]

    /// An authenticator with `key` (any length; an empty key gives integrity without authenticity,
    /// which is what the fast detector uses when the pair runs without a key).
    public init(key: [UInt8]) { self.key = key }

    /// The 32-byte tag of `message` (`HMAC` with `EVP_sha256`).
    public func tag(_ message: [UInt8]) throws(CryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        // Never a NULL key pointer, even for the empty key: OpenSSL reads NULL as "keep the previous key".
        let keyBytes = key.isEmpty ? [0] : key
        let done = keyBytes.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBufferPointer { o in
                    HMAC(EVP_sha256(), k.baseAddress, Int32(key.count), m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count,
                         o.baseAddress, &length)
                }
            }
        }
        guard done != nil, Int(length) == SHA256.digestLength else { throw CryptoError.fromQueue("HMAC") }
        return Array(out.prefix(SHA256.digestLength))
    }

    /// Whether `tag` is the tag of `message`; the bytes are compared with `CRYPTO_memcmp`, whose time
    /// does not depend on where they differ. A tag of the wrong length is refused without comparing.
    public func verify(_ message: [UInt8], tag: ArraySlice<UInt8>) throws(CryptoError) -> Bool {
        let expected = try self.tag(message)
        guard tag.count == expected.count else { return false }
        return ConstantTime.equal(Array(tag), expected)
    }
}

/// Constant-time comparison of secrets (tags, tokens).
public enum ConstantTime {
    /// Whether `a` and `b` are equal, by `CRYPTO_memcmp` (time independent of the first difference).
    /// Different lengths are unequal; the lengths themselves are not secret.
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
    }
}
