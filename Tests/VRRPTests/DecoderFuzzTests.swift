import Cryptography
import Foundation
import Topology
import XCTest
@testable import VRRP
import Net

/// The decoders under hostile input, in CI on every run, bounded in time:
/// - the corpus in `Tests/VRRPTests/Corpus` (`manifest.json` says, per file, which decoder reads it,
///   from which source to which destination, and whether it must be accepted or refused with which
///   code); it also seeds `scripts/fuzz-vrrp-decoder` (libFuzzer), whose crashers belong here too;
/// - seeded random and mutated inputs (SplitMix64: a failure replays from its seed).
/// Every input must come back as a value or a typed error, never a crash, and anything the plain
/// decoder accepts must re-encode to the same bytes (reserved bits aside, see ``VRRPPacket/isEncoded(as:source:destination:)``).
final class DecoderFuzzTests: XCTestCase {
    /// One corpus file and what it must do.
    struct Entry: Codable {
        var file: String
        /// `vrrp` (VRRPPacket.decode), `advert` (AuthenticatedAdvert.open) or `probe` (FastProbe.decode).
        var decoder: String
        var source: IPAddress
        var destination: IPAddress
        /// `accept`, or the refusal's stable code.
        var expect: String
        var why: String
    }
    struct Manifest: Codable {
        var key: String
        var vrid: UInt8
        var entries: [Entry]
    }

    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")

    /// A corpus that is not there fails the test, naming the path.
    struct CorpusMissing: Error, CustomStringConvertible {
        var path: String
        var description: String { "the VRRP decoder corpus is missing: \(path) (Tests/VRRPTests/Corpus)" }
    }

    static func loadManifest() throws -> Manifest {
        let path = corpus.appendingPathComponent("manifest.json").path
        guard let data = FileManager.default.contents(atPath: path) else { throw CorpusMissing(path: path) }
        return try JSONDecoder().decode(Manifest.self, from: data)
    }

    /// What `decoder` says about `bytes`: "accept" or the refusal's code.
    static func verdict(_ decoder: String, _ bytes: [UInt8], source: IPAddress, destination: IPAddress,
                        authenticator: HMACSHA256, vrid: UInt8) -> String {
        switch decoder {
        case "vrrp":
            switch VRRPPacket.decode(bytes, source: source, destination: destination) {
            case .success(let p):
                return p.isEncoded(as: bytes, source: source, destination: destination) ? "accept" : "accepted-but-not-round-trip"
            case .failure(let e): return e.code
            }
        case "advert":
            switch AuthenticatedAdvert.open(bytes, source: source, destination: destination, authenticator: authenticator) {
            case .success: return "accept"
            case .failure(let e): return e.code
            }
        case "probe":
            switch FastProbe.decode(bytes, vrid: vrid, source: source, authenticator: authenticator) {
            case .success: return "accept"
            case .failure(let e): return e.code
            }
        default: return "unknown decoder \(decoder)"
        }
    }

    func testCorpusInputsAreAcceptedOrRefusedAsTheManifestSays() throws {
        let manifest = try Self.loadManifest()
        let key = HMACSHA256(key: Array(manifest.key.utf8))
        var listed = Set<String>()
        for e in manifest.entries {
            listed.insert(e.file)
            guard let bytes = FileManager.default.contents(atPath: Self.corpus.appendingPathComponent(e.file).path) else {
                XCTFail("\(e.file) is in manifest.json but not in \(Self.corpus.path)"); continue
            }
            let got = Self.verdict(e.decoder, Array(bytes), source: e.source, destination: e.destination, authenticator: key, vrid: manifest.vrid)
            XCTAssertEqual(got, e.expect, "\(e.file) (\(e.why))")
        }
        // Files not in the manifest (libFuzzer crashers added later) must at least not crash any decoder.
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path).filter { $0 != "manifest.json" }
        for f in files where !listed.contains(f) {
            let bytes = Array(FileManager.default.contents(atPath: Self.corpus.appendingPathComponent(f).path) ?? Data())
            for (s, d) in [(IPAddress("10.0.0.1")!, VRRPPacket.ipv4Group), (IPAddress("fe80::1")!, VRRPPacket.ipv6Group)] {
                for decoder in ["vrrp", "advert", "probe"] {
                    XCTAssertNotEqual(Self.verdict(decoder, bytes, source: s, destination: d, authenticator: key, vrid: manifest.vrid),
                                      "accepted-but-not-round-trip", f)
                }
            }
        }
        XCTAssertGreaterThanOrEqual(manifest.entries.count, 20, "the corpus lost entries")
        for code in ["accept", "truncated", "wrong_version", "address_count_mismatch", "bad_checksum", "auth_bad_tag", "auth_missing_trailer"] {
            XCTAssertTrue(manifest.entries.contains { $0.expect == code }, "no corpus entry expects \(code)")
        }
    }

    /// Random bytes and mutations of the corpus seeds through all three decoders, at most 20,000
    /// inputs or 10 s, whichever comes first.
    func testRandomAndMutatedBytesNeverCrashTheDecoders() throws {
        let manifest = try Self.loadManifest()
        let key = HMACSHA256(key: Array(manifest.key.utf8))
        let seeds = manifest.entries.compactMap { e in
            FileManager.default.contents(atPath: Self.corpus.appendingPathComponent(e.file).path).map { (Array($0), e) }
        }
        XCTAssertEqual(seeds.count, manifest.entries.count)
        var rng = SplitMix64(seed: 0x5798)
        let deadline = ContinuousClock.now + .seconds(10)
        var verdicts: [String: Int] = [:], done = 0
        for i in 0..<20_000 where ContinuousClock.now < deadline {
            var bytes: [UInt8]
            let (seed, entry) = seeds[i % seeds.count]
            if i % 4 == 0 {
                bytes = (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if i % 8 == 0, !bytes.isEmpty { bytes[0] = 0x31 }  // get past the version check more often
            } else {
                bytes = seed
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                    case 1: bytes.append(UInt8.random(in: 0...255, using: &rng))
                    default: if !bytes.isEmpty { bytes.removeLast(Int.random(in: 0...min(4, bytes.count), using: &rng)) }
                    }
                }
            }
            for decoder in ["vrrp", "advert", "probe"] {
                let v = Self.verdict(decoder, bytes, source: entry.source, destination: entry.destination, authenticator: key, vrid: manifest.vrid)
                XCTAssertNotEqual(v, "accepted-but-not-round-trip", "input \(i) (seed \(entry.file)): \(bytes)")
                verdicts["\(decoder):\(v)", default: 0] += 1
            }
            done += 1
        }
        XCTAssertGreaterThan(done, 1000, "fewer than 1000 inputs in 10 s")
        // The mutations must exercise the rejection paths, not just one of them.
        for v in ["vrrp:truncated", "vrrp:wrong_version", "vrrp:address_count_mismatch", "vrrp:bad_checksum",
                  "advert:auth_bad_tag", "advert:auth_missing_trailer", "probe:auth_bad_tag", "probe:auth_missing_trailer"] {
            XCTAssertGreaterThan(verdicts[v, default: 0], 0, "fuzzing never hit \(v) (\(verdicts))")
        }
    }
}
