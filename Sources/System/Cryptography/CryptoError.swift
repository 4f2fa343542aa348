// The Cryptography module's one error: which libcrypto function failed and OpenSSL's own reason.
import CTandemOpenSSL

/// A libcrypto call that failed. Such a failure means the library could not run at all (out of
/// memory, a provider that cannot load SHA-256 under the system's OpenSSL configuration), never a bad
/// message: there is nothing to retry, but the caller can refuse the packet or fail the check and say why.
public struct CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The C function that failed (`EVP_Digest`, `HMAC`).
    public var function: String
    /// OpenSSL's error queue at the time, one `ERR_error_string_n` line per entry.
    public var reason: String

    /// Creates an error.
    public init(function: String, reason: String) { self.function = function; self.reason = reason }

    /// A stable counter name.
    public var code: String { "crypto_error" }

    /// `function failed: reason`, with a hint at what to look at.
    public var description: String {
        "\(function) failed: \(reason) (libcrypto could not compute SHA-256; check the system OpenSSL configuration, OPENSSL_CONF)"
    }

    /// Drains the calling thread's OpenSSL error queue into an error for `function`: the queue is
    /// per thread, so what is read here is what this call left.
    static func fromQueue(_ function: String) -> CryptoError {
        var lines: [String] = []
        for _ in 0..<16 {
            let e = ERR_get_error()
            if e == 0 { break }
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(e, &buf, buf.count)
            lines.append(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return CryptoError(function: function, reason: lines.isEmpty ? "no error queued" : lines.joined(separator: "; "))
    }
}
