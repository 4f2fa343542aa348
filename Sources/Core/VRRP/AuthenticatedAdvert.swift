// Tandem's authenticated advert: a plain VRRPv3 message followed by a sequence number and an HMAC.
import Digest
import Net

/// The authenticated heartbeat format (not part of RFC 5798, which dropped authentication; §9).
///
/// On the wire it is the VRRPv3 message, unchanged, then a 44-byte trailer:
/// `"TDA1"` (4) · sequence number (8, big-endian) · HMAC-SHA256 (32).
/// The tag covers the sender's IP address, the VRRP message, the magic and the sequence number, so
/// neither the advert nor its claimed origin can be altered, and a copy replayed later is refused by
/// the receiver's ``ReplayGuard``. A plain VRRPv3 peer (keepalived) would refuse these packets
/// (their length does not match the address count), which is why this mode is all-or-nothing per pair.
public enum AuthenticatedAdvert {
    /// Marks the trailer and its format version.
    public static let magic: [UInt8] = Array("TDA1".utf8)
    /// Trailer length: magic, sequence number, tag.
    public static let trailerLength = 4 + 8 + 32

    /// Appends the trailer to an encoded VRRP message.
    public static func seal(_ message: [UInt8], source: IPAddress, sequence: UInt64, hmac: HMACSHA256) -> [UInt8] {
        let head = magic + bigEndian(sequence)
        let tag = hmac.authenticationCode(for: source.bytes + message + head)
        return message + head + tag
    }

    /// Verifies the trailer, then decodes the VRRP message in front of it. The sequence number is
    /// returned for the caller's ``ReplayGuard``: this function has no memory.
    public static func open(_ bytes: [UInt8], source: IPAddress, destination: IPAddress, hmac: HMACSHA256)
        -> Result<(packet: VRRPPacket, sequence: UInt64), AuthenticationError>
    {
        guard bytes.count >= VRRPPacket.headerLength + trailerLength else { return .failure(.missingTrailer) }
        let split = bytes.count - trailerLength
        let message = Array(bytes[..<split])
        let trailer = Array(bytes[split...])
        guard Array(trailer[0..<4]) == magic else { return .failure(.missingTrailer) }
        let head = Array(trailer[0..<12])
        guard hmac.isValid(trailer[12...], for: source.bytes + message + head) else { return .failure(.badTag) }
        var seq: UInt64 = 0
        for b in trailer[4..<12] { seq = seq << 8 | UInt64(b) }
        switch VRRPPacket.decode(message, source: source, destination: destination) {
        case .success(let p): return .success((p, seq))
        case .failure(let e): return .failure(.malformed(e))
        }
    }

    static func bigEndian(_ v: UInt64) -> [UInt8] { (0..<8).reversed().map { UInt8(truncatingIfNeeded: v >> (UInt64($0) * 8)) } }
}

/// Why an authenticated advert (or fast-detector probe) was dropped.
public enum AuthenticationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No Tandem trailer: a plain VRRP packet reached an authenticated instance, or it was cut short.
    case missingTrailer
    /// The HMAC does not match: forged, altered, or signed with another key.
    case badTag
    /// The sequence number is not newer than the last one accepted from this sender: a replay.
    case replayed(sequence: UInt64, lastAccepted: UInt64)
    /// The tag was right but the VRRP message inside was malformed.
    case malformed(VRRPDecodeError)

    /// A stable counter name.
    public var code: String {
        switch self {
        case .missingTrailer: "auth_missing_trailer"
        case .badTag: "auth_bad_tag"
        case .replayed: "auth_replayed"
        case .malformed(let e): e.code
        }
    }

    /// A human-readable reason.
    public var description: String {
        switch self {
        case .missingTrailer: "no authentication trailer"
        case .badTag: "HMAC mismatch (forged or wrong key)"
        case .replayed(let s, let l): "replayed sequence \(s) (last accepted \(l))"
        case .malformed(let e): "authenticated but malformed: \(e)"
        }
    }
}

/// Replay protection: remembers the highest sequence number accepted per sender and refuses anything
/// not strictly greater.
///
/// Senders start their sequence at the wall-clock time in microseconds (see ``SequenceNumbers``), so a
/// restarted sender continues above its old numbers and the receiver needs no reset; a receiver that
/// restarts accepts the first authentic advert it sees, which a replay can exploit only with a packet
/// captured after that advert was sent. Failure mode: a sender whose clock steps back by more than its
/// downtime is refused until its clock catches up (documented in docs/director.md).
public struct ReplayGuard: Sendable {
    private var last: [IPAddress: UInt64] = [:]
    /// An empty guard.
    public init() {}
    /// Accepts `sequence` from `sender` if it is newer than anything accepted before, and records it.
    /// Returns the accepted number, or why it was refused.
    public mutating func accept(_ sequence: UInt64, from sender: IPAddress) -> Result<UInt64, AuthenticationError> {
        if let l = last[sender], sequence <= l { return .failure(.replayed(sequence: sequence, lastAccepted: l)) }
        last[sender] = sequence
        return .success(sequence)
    }
}

/// A monotonically increasing sequence source for one sender.
public struct SequenceNumbers: Sendable {
    private var next: UInt64
    /// Starts at `start`; pass the wall-clock time in microseconds so a restart never reuses numbers.
    public init(start: UInt64) { next = start }
    /// The next number.
    public mutating func take() -> UInt64 { defer { next &+= 1 }; return next }
}
