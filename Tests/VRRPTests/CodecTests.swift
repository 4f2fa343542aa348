import Topology
import XCTest
@testable import VRRP
import Net

private let src4 = IPAddress("10.0.0.1")!
private let src6 = IPAddress("fe80::1")!

final class CodecTests: XCTestCase {
    func testIPv4RoundTrip() throws {
        let p = VRRPPacket(vrid: 51, priority: 150, maxAdvertIntervalCentiseconds: 100,
                           addresses: [IPAddress("10.0.0.100")!, IPAddress("10.0.0.101")!], family: .v4)
        let bytes = p.encode(source: src4, destination: VRRPPacket.ipv4Group)
        XCTAssertEqual(bytes.count, 16)
        XCTAssertEqual(Array(bytes[0..<6]), [0x31, 51, 150, 2, 0x00, 100])
        XCTAssertEqual(try VRRPPacket.decode(bytes, source: src4, destination: VRRPPacket.ipv4Group).get(), p)
    }

    func testIPv6RoundTrip() throws {
        let p = VRRPPacket(vrid: 7, priority: 254, maxAdvertIntervalCentiseconds: 10,
                           addresses: [IPAddress("2001:db8::100")!], family: .v6)
        let bytes = p.encode(source: src6, destination: VRRPPacket.ipv6Group)
        XCTAssertEqual(bytes.count, 24)
        XCTAssertEqual(try VRRPPacket.decode(bytes, source: src6, destination: VRRPPacket.ipv6Group).get(), p)
        // The pseudo-header binds the checksum to the addresses: another source fails.
        XCTAssertEqual(VRRPPacket.decode(bytes, source: IPAddress("fe80::2")!, destination: VRRPPacket.ipv6Group).failureCode, "bad_checksum")
    }

    /// Bytes a keepalived 2.2.7 master (vrrp_version 3, VRID 51, priority 150, advert_int 1,
    /// virtual_ipaddress 10.99.0.100) sent from 10.99.0.1 to 224.0.0.18, captured in this lab with a raw socket
    /// (scripts/vrrp-interop). keepalived includes the IPv4 pseudo-header in the v3 checksum (RFC 5798 §5.2.8).
    static let keepalivedAdvert: [UInt8] = [0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0x42, 0xad, 0x0a, 0x63, 0x00, 0x64]

    func testKeepalivedShapedPacketDecodesAndReencodesToTheSameBytes() throws {
        let ka = IPAddress("10.99.0.1")!
        let bytes = Self.keepalivedAdvert
        let p = try VRRPPacket.decode(bytes, source: ka, destination: VRRPPacket.ipv4Group).get()
        XCTAssertEqual(p.vrid, 51); XCTAssertEqual(p.priority, 150); XCTAssertEqual(p.advertInterval, .seconds(1))
        XCTAssertEqual(p.addresses, [IPAddress("10.99.0.100")!])
        XCTAssertEqual(p.encode(source: ka, destination: VRRPPacket.ipv4Group), bytes)
        // Without the pseudo-header (VRRPv2 style) the checksum would differ: keepalived uses it.
        var plain = InternetChecksum(); var zeroed = bytes; zeroed[6] = 0; zeroed[7] = 0; plain.add(zeroed)
        XCTAssertNotEqual(plain.value, 0x42ad)
    }

    func testRejectsTruncated() {
        XCTAssertEqual(VRRPPacket.decode([0x31, 1, 100], source: src4, destination: VRRPPacket.ipv4Group).failureCode, "truncated")
        XCTAssertEqual(VRRPPacket.decode([], source: src4, destination: VRRPPacket.ipv4Group).failureCode, "truncated")
    }

    func testRejectsEachMalformedCase() {
        let good = VRRPPacket(vrid: 51, priority: 100, maxAdvertIntervalCentiseconds: 100,
                              addresses: [IPAddress("10.0.0.100")!], family: .v4).encode(source: src4, destination: VRRPPacket.ipv4Group)
        func dec(_ b: [UInt8]) -> String? { VRRPPacket.decode(b, source: src4, destination: VRRPPacket.ipv4Group).failureCode }
        XCTAssertNil(dec(good))
        var v2 = good; v2[0] = 0x21
        XCTAssertEqual(dec(v2), "wrong_version")
        var t2 = good; t2[0] = 0x32
        XCTAssertEqual(dec(t2), "wrong_type")
        var vr0 = good; vr0[1] = 0
        XCTAssertEqual(dec(vr0), "invalid_vrid")
        var count2 = good; count2[3] = 2
        XCTAssertEqual(dec(count2), "address_count_mismatch")
        XCTAssertEqual(dec(good + [0, 0, 0, 0]), "address_count_mismatch")
        XCTAssertEqual(dec(Array(good.dropLast())), "address_count_mismatch")
        var ck = good; ck[7] ^= 0x01
        XCTAssertEqual(dec(ck), "bad_checksum")
        var body = good; body[2] = 101
        XCTAssertEqual(dec(body), "bad_checksum")
        // Zero interval with a valid checksum.
        let zero = VRRPPacket(vrid: 51, priority: 100, maxAdvertIntervalCentiseconds: 0,
                              addresses: [], family: .v4).encode(source: src4, destination: VRRPPacket.ipv4Group)
        XCTAssertEqual(dec(zero), "zero_interval")
        XCTAssertEqual(VRRPPacket.decode(good, source: src4, destination: VRRPPacket.ipv6Group).failureCode, "family_mismatch")
        // An IPv4-sized body under IPv6 addresses is a count mismatch, not a crash.
        XCTAssertEqual(VRRPPacket.decode(good, source: src6, destination: VRRPPacket.ipv6Group).failureCode, "address_count_mismatch")
    }

    func testInternetChecksumRFC1071Example() {
        // RFC 1071 §3 example words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum is its complement.
        var c = InternetChecksum()
        c.add([0x00, 0x01, 0xf2])
        c.add([0x03, 0xf4, 0xf5, 0xf6, 0xf7])
        XCTAssertEqual(c.value, ~UInt16(0xddf2))
    }
}

extension Result where Failure == VRRPDecodeError {
    var failureCode: String? { if case .failure(let e) = self { e.code } else { nil } }
}
