// The VRRPv3 advertisement codec (RFC 5798 §5). One codec for IPv4 and IPv6, for encode and decode.
import Net

/// A VRRPv3 advertisement (RFC 5798 §5.2), independent of the IP header that carried it.
///
/// ```
///  0                   1                   2                   3
///  |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
///  |(rsvd) |     Max Adver Int     |          Checksum             |
///  |                       IPvX Address(es)                        |
/// ```
public struct VRRPPacket: Sendable, Equatable {
    /// The IP protocol number VRRP uses (RFC 5798 §5.1.1.4).
    public static let ipProtocol: UInt8 = 112
    /// The only version this codec speaks (RFC 5798 §5.2.1).
    public static let version: UInt8 = 3
    /// The only type RFC 5798 defines: ADVERTISEMENT (§5.2.2).
    public static let typeAdvertisement: UInt8 = 1
    /// The IPv4 multicast group for VRRP (RFC 5798 §5.1.1.2).
    public static let ipv4Group = IPAddress("224.0.0.18")!
    /// The IPv6 multicast group for VRRP (RFC 5798 §5.1.2.2).
    public static let ipv6Group = IPAddress("ff02::12")!
    /// The TTL / hop limit every VRRP packet must carry and every receiver must check (RFC 5798 §5.1.1.3, §7.1).
    public static let requiredTTL: UInt8 = 255
    /// Fixed header length before the addresses.
    public static let headerLength = 8

    /// The virtual router this advert speaks for, 1–255 (RFC 5798 §5.2.3).
    public var vrid: UInt8
    /// The sender's priority: 255 address owner, 1–254 backup, 0 "master is stopping" (§5.2.4).
    public var priority: UInt8
    /// The advertisement interval in centiseconds, 12 bits (§5.2.7).
    public var maxAdvertIntervalCentiseconds: UInt16
    /// The virtual addresses, all of one family (§5.2.9).
    public var addresses: [IPAddress]
    /// The family of the message (and of the IP header that carries it).
    public var family: AddressFamily

    /// Creates an advertisement. `addresses` must all be of `family`; the encoder checks it.
    public init(vrid: UInt8, priority: UInt8, maxAdvertIntervalCentiseconds: UInt16,
                addresses: [IPAddress], family: AddressFamily) {
        self.vrid = vrid; self.priority = priority
        self.maxAdvertIntervalCentiseconds = maxAdvertIntervalCentiseconds
        self.addresses = addresses; self.family = family
    }

    /// The advertisement interval as a `Duration`.
    public var advertInterval: Duration { .milliseconds(Int(maxAdvertIntervalCentiseconds) * 10) }

    /// Encoded length in bytes: the header plus 4 or 16 bytes per address.
    public var encodedLength: Int { Self.headerLength + addresses.count * (family == .v4 ? 4 : 16) }

    /// Encodes the message with its RFC 5798 §5.2.8 checksum over the pseudo-header built from
    /// `source` and `destination` (the IP header's addresses) and the message.
    ///
    /// Preconditions (programmer errors, not wire input): at most 255 addresses of `family`, an
    /// interval that fits 12 bits, and source/destination of `family`.
    public func encode(source: IPAddress, destination: IPAddress) -> [UInt8] {
        precondition(addresses.count <= 255 && addresses.allSatisfy { $0.family == family })
        precondition(maxAdvertIntervalCentiseconds <= 0x0FFF, "Max Adver Int is 12 bits (RFC 5798 §5.2.7)")
        var out: [UInt8] = [Self.version << 4 | Self.typeAdvertisement, vrid, priority, UInt8(addresses.count),
                            UInt8(maxAdvertIntervalCentiseconds >> 8), UInt8(maxAdvertIntervalCentiseconds & 0xFF), 0, 0]
        out.reserveCapacity(encodedLength)
        for a in addresses { out += a.bytes }
        var ck = InternetChecksum()
        ck.add(vrrpPseudoHeader(source: source, destination: destination, length: out.count))
        ck.add(out)
        let v = ck.value
        out[6] = UInt8(v >> 8); out[7] = UInt8(v & 0xFF)
        return out
    }

    /// Whether `bytes`, which decoded to this packet, are what ``encode(source:destination:)`` sends for
    /// it, up to what a receiver ignores: the 4 reserved bits before Max Adver Int (RFC 5798 §5.2.6:
    /// zero on transmission, ignored on reception) and the checksum that covers them. The decoder
    /// fuzzers' round-trip property (libFuzzer found an advert with those bits set).
    public func isEncoded(as bytes: [UInt8], source: IPAddress, destination: IPAddress) -> Bool {
        let sent = encode(source: source, destination: destination)
        guard sent.count == bytes.count, sent.count >= Self.headerLength else { return false }
        if bytes[4] & 0xF0 == 0 { return sent == bytes }
        return sent[..<4] == bytes[..<4] && sent[4] == bytes[4] & 0x0F && sent[5] == bytes[5] && sent[8...] == bytes[8...]
    }

    /// Decodes a VRRP message taken from an IP packet whose header named `source` and `destination`.
    ///
    /// The message must be exactly as long as its address count says; anything after it is the
    /// business of a wrapper (see ``AuthenticatedAdvert``), which passes only the VRRP part here.
    public static func decode(_ bytes: some Collection<UInt8>, source: IPAddress, destination: IPAddress)
        -> Result<VRRPPacket, VRRPDecodeError>
    {
        let b = Array(bytes)
        guard b.count >= headerLength else { return .failure(.truncated(length: b.count)) }
        let version = b[0] >> 4, type = b[0] & 0x0F
        guard version == Self.version else { return .failure(.wrongVersion(version)) }
        guard type == typeAdvertisement else { return .failure(.wrongType(type)) }
        guard source.family == destination.family else { return .failure(.familyMismatch) }
        let family = source.family
        let vrid = b[1]
        guard vrid != 0 else { return .failure(.invalidVRID) }
        let count = Int(b[3])
        let width = family == .v4 ? 4 : 16
        let expected = headerLength + count * width
        guard b.count >= expected else { return .failure(.addressCountMismatch(count: count, length: b.count)) }
        guard b.count == expected else { return .failure(.addressCountMismatch(count: count, length: b.count)) }
        // RFC 5798 §7.1: verify the checksum before trusting any field beyond the header shape.
        var ck = InternetChecksum()
        ck.add(vrrpPseudoHeader(source: source, destination: destination, length: b.count))
        ck.add(b)
        guard ck.value == 0 else {
            return .failure(.badChecksum(received: UInt16(b[6]) << 8 | UInt16(b[7])))
        }
        let interval = (UInt16(b[4] & 0x0F) << 8) | UInt16(b[5])
        guard interval > 0 else { return .failure(.zeroInterval) }
        var addrs: [IPAddress] = []
        addrs.reserveCapacity(count)
        var i = headerLength
        for _ in 0..<count {
            addrs.append(IPAddress(bytes: Array(b[i..<i + width]))!)
            i += width
        }
        return .success(VRRPPacket(vrid: vrid, priority: b[2], maxAdvertIntervalCentiseconds: interval,
                                   addresses: addrs, family: family))
    }
}

/// Why a received VRRP message was dropped. Each case has a stable `code` the caller counts by.
public enum VRRPDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Shorter than the 8-byte fixed header.
    case truncated(length: Int)
    /// Version field not 3 (VRRPv2 and others are not spoken here; RFC 5798 §7.1).
    case wrongVersion(UInt8)
    /// Type field not 1 (ADVERTISEMENT).
    case wrongType(UInt8)
    /// VRID 0 is not a valid virtual router (RFC 5798 §5.2.3: 1–255).
    case invalidVRID
    /// The length does not match `8 + count × address width` (RFC 5798 §7.1 "MUST verify").
    case addressCountMismatch(count: Int, length: Int)
    /// The checksum over pseudo-header and message is wrong (§5.2.8, §7.1).
    case badChecksum(received: UInt16)
    /// A Max Adver Int of 0 would make every timer fire at once; refuse it.
    case zeroInterval
    /// Source and destination addresses of different families (a caller bug or a forged header).
    case familyMismatch
    /// The IP TTL / hop limit was not 255, so the packet crossed a router (§7.1).
    case badTTL(UInt8)
    /// The advert was for another virtual router on the same link (counted, then ignored).
    case wrongVRID(UInt8)

    /// A stable short code, used as the counter name.
    public var code: String {
        switch self {
        case .truncated: "truncated"
        case .wrongVersion: "wrong_version"
        case .wrongType: "wrong_type"
        case .invalidVRID: "invalid_vrid"
        case .addressCountMismatch: "address_count_mismatch"
        case .badChecksum: "bad_checksum"
        case .zeroInterval: "zero_interval"
        case .familyMismatch: "family_mismatch"
        case .badTTL: "bad_ttl"
        case .wrongVRID: "wrong_vrid"
        }
    }

    /// A human-readable reason.
    public var description: String {
        switch self {
        case .truncated(let l): "truncated VRRP message (\(l) bytes, header needs 8)"
        case .wrongVersion(let v): "VRRP version \(v), expected 3"
        case .wrongType(let t): "VRRP type \(t), expected 1 (advertisement)"
        case .invalidVRID: "VRID 0 is invalid"
        case .addressCountMismatch(let c, let l): "address count \(c) does not match message length \(l)"
        case .badChecksum(let r): "bad checksum 0x\(String(r, radix: 16))"
        case .zeroInterval: "advertisement interval 0"
        case .familyMismatch: "source and destination of different address families"
        case .badTTL(let t): "TTL/hop limit \(t), expected 255"
        case .wrongVRID(let v): "advert for VRID \(v), not ours"
        }
    }
}
