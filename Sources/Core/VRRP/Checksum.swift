// The Internet checksum (RFC 1071) and the pseudo-headers VRRPv3 folds into it.
import Net

/// The 16-bit one's-complement Internet checksum of RFC 1071, accumulated over several byte runs.
///
/// VRRPv3 (RFC 5798 §5.2.8) sums a pseudo-header and the VRRP message as one stream, so the
/// accumulator keeps an odd trailing byte between `add` calls instead of padding each run.
public struct InternetChecksum: Sendable {
    private var sum: UInt32 = 0
    private var pending: UInt8? = nil

    /// An empty accumulator.
    public init() {}

    /// Adds `bytes` to the running sum, continuing a 16-bit word left open by the previous call.
    public mutating func add<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        for b in bytes {
            if let hi = pending {
                sum &+= UInt32(hi) << 8 | UInt32(b)
                pending = nil
            } else {
                pending = b
            }
            // Fold early so the 32-bit accumulator cannot overflow on long inputs.
            if sum > 0xFFFF_0000 { sum = (sum & 0xFFFF) + (sum >> 16) }
        }
    }

    /// The one's complement of the folded sum; an odd final byte is padded with zero (RFC 1071 §4.1).
    public var value: UInt16 {
        var s = sum
        if let hi = pending { s &+= UInt32(hi) << 8 }
        while s > 0xFFFF { s = (s & 0xFFFF) + (s >> 16) }
        return ~UInt16(truncatingIfNeeded: s)
    }
}

/// Builds the checksum pseudo-header that RFC 5798 §5.2.8 prescribes for VRRPv3.
///
/// For IPv6 it is RFC 8200 §8.1 (source, destination, 32-bit upper-layer length, three zero bytes,
/// next header 112). RFC 5798 applies the same idea to IPv4 with the RFC 768/793 layout (source,
/// destination, zero, protocol 112, 16-bit length); keepalived does this for v3 over IPv4 (verified
/// against a 2.2.7 capture in CodecTests) with the packet's real destination (multicast group or
/// unicast peer, since its issue #642), so both addresses must be known to check a packet.
public func vrrpPseudoHeader(source: IPAddress, destination: IPAddress, length: Int) -> [UInt8] {
    precondition(source.family == destination.family, "pseudo-header needs one address family")
    switch source.family {
    case .v4:
        return source.bytes + destination.bytes
            + [0, VRRPPacket.ipProtocol, UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)]
    case .v6:
        let l = UInt32(length)
        return source.bytes + destination.bytes
            + [UInt8(l >> 24), UInt8((l >> 16) & 0xFF), UInt8((l >> 8) & 0xFF), UInt8(l & 0xFF), 0, 0, 0, VRRPPacket.ipProtocol]
    }
}
