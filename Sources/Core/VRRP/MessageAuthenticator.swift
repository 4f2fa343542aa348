// What the authenticated adverts and fast-detector probes need from cryptography, and nothing more.

/// Computes and checks message authentication tags for ``AuthenticatedAdvert`` and ``FastProbe``.
///
/// VRRP is pure core and imports no System module, so it names only this protocol; the System layer's
/// `Cryptography` module implements it with libcrypto's HMAC-SHA256 (`HMACSHA256`), and the edge that opens
/// the sockets (VRRPTransport) injects it. Tests may inject their own, as long as it records what it
/// was asked (the known-answer tests run against the real one).
public protocol MessageAuthenticator: Sendable {
    /// The 32-byte tag of `message` (the wire formats have room for exactly 32). Throws when the
    /// implementation cannot compute one (the library's error).
    func tag(_ message: [UInt8]) throws -> [UInt8]
    /// Whether `tag` is the tag of `message`, compared in time independent of where they differ, so a
    /// forger learns nothing from how fast a guess is refused.
    func verify(_ message: [UInt8], tag: ArraySlice<UInt8>) throws -> Bool
}
