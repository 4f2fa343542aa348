// SHA-256 from libcrypto: one wrapper around EVP_Digest.
import CTandemOpenSSL

/// SHA-256 (FIPS 180-4) computed by the system's libcrypto.
///
/// Why libcrypto and not a Swift implementation: the package already links the system OpenSSL for
/// HTTPS checks (no C build, unlike swift-crypto's bundled BoringSSL), and a library that is tested
/// and maintained for this beats a hand-written copy. Used by HTTP checks' `body_sha256`.
public enum SHA256 {
    /// Digest length in bytes.
    public static let digestLength = 32

    /// The 32-byte digest of `message` (`EVP_Digest` with `EVP_sha256`).
    public static func hash(_ message: some Collection<UInt8>) throws(CryptoError) -> [UInt8] {
        let bytes = Array(message)
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { m in
            out.withUnsafeMutableBufferPointer { o in EVP_Digest(m.baseAddress, m.count, o.baseAddress, &length, EVP_sha256(), nil) }
        }
        guard ok == 1, Int(length) == digestLength else { throw CryptoError.fromQueue("EVP_Digest") }
        return Array(out.prefix(digestLength))
    }

    /// The digest as lower-case hex, the form an HTTP check's `body_sha256` is written in.
    public static func hex(_ message: some Collection<UInt8>) throws(CryptoError) -> String {
        try hash(message).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
