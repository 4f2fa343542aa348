import Digest
import Topology
import XCTest
@testable import VRRP
import Net

final class DecoderFuzzTests: XCTestCase {
    /// Thousands of random and mutated inputs through both decoders: each must return a value or a
    /// typed error, never crash, and anything accepted must re-encode to the same bytes.
    func testRandomAndMutatedBytesNeverCrashTheDecoder() {
        // Net's seeded generator: a failing run replays from its seed.
        var rng = SplitMix64(seed: 0x5798)
        let key = HMACSHA256(key: [1, 2, 3])
        let sources: [(IPAddress, IPAddress)] = [(IPAddress("10.0.0.1")!, VRRPPacket.ipv4Group),
                                                 (IPAddress("fe80::1")!, VRRPPacket.ipv6Group)]
        let seeds: [[UInt8]] = sources.map { s, d in
            VRRPPacket(vrid: 51, priority: 100, maxAdvertIntervalCentiseconds: 100,
                       addresses: s.family == .v4 ? [IPAddress("10.0.0.100")!] : [IPAddress("2001:db8::1")!],
                       family: s.family).encode(source: s, destination: d)
        } + [CodecTests.keepalivedAdvert]
        var accepted = 0, rejected: [String: Int] = [:]
        for i in 0..<20_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if i % 4 == 0, !bytes.isEmpty { bytes[0] = 0x31 }  // get past the version check more often
            } else {
                bytes = seeds[i % seeds.count]
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                    case 1: bytes.append(UInt8.random(in: 0...255, using: &rng))
                    default: if !bytes.isEmpty { bytes.removeLast(Int.random(in: 0...min(4, bytes.count), using: &rng)) }
                    }
                }
            }
            let (s, d) = sources[i % 2]
            switch VRRPPacket.decode(bytes, source: s, destination: d) {
            case .success(let p):
                accepted += 1
                XCTAssertEqual(p.encode(source: s, destination: d), bytes, "accepted input must round-trip")
            case .failure(let e): rejected[e.code, default: 0] += 1
            }
            _ = AuthenticatedAdvert.open(bytes, source: s, destination: d, hmac: key)
            _ = FastProbe.decode(bytes, vrid: 51, source: s, hmac: key)
        }
        // The mutations must exercise the rejection paths, not just one of them.
        for code in ["truncated", "wrong_version", "address_count_mismatch", "bad_checksum"] {
            XCTAssertGreaterThan(rejected[code, default: 0], 0, "fuzzing never hit \(code)")
        }
        XCTAssertEqual(accepted + rejected.values.reduce(0, +), 20_000)
    }
}
