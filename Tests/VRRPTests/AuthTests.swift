import Digest
import Topology
import XCTest
@testable import VRRP
import Net

private func hex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []; var it = s.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
    return out
}
private func hexString(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

final class AuthTests: XCTestCase {
    func testSHA256FIPS180Examples() {
        XCTAssertEqual(hexString(SHA256.hash(Array("abc".utf8))),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hexString(SHA256.hash([UInt8]())),
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hexString(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(hexString(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000))),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// RFC 4231 §4.2–§4.8, HMAC-SHA-256 column.
    func testHMACSHA256RFC4231Vectors() {
        let cases: [(key: [UInt8], data: [UInt8], mac: String, truncate: Int?)] = [
            ([UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8),
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", nil),
            (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", nil),
            ([UInt8](repeating: 0xaa, count: 20), [UInt8](repeating: 0xdd, count: 50),
             "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", nil),
            (hex("0102030405060708090a0b0c0d0e0f10111213141516171819"), [UInt8](repeating: 0xcd, count: 50),
             "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", nil),
            ([UInt8](repeating: 0x0c, count: 20), Array("Test With Truncation".utf8),
             "a3b6167473100ee06e0c796c2955552b", 16),
            ([UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", nil),
            ([UInt8](repeating: 0xaa, count: 131),
             Array("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".utf8),
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", nil),
        ]
        for (i, c) in cases.enumerated() {
            var mac = HMACSHA256(key: c.key).authenticationCode(for: c.data)
            if let t = c.truncate { mac = Array(mac.prefix(t)) }
            XCTAssertEqual(hexString(mac), c.mac, "RFC 4231 test case \(i + 1)")
        }
    }

    private let key = HMACSHA256(key: Array("correct horse battery staple".utf8))
    private let src = IPAddress("10.0.0.2")!
    private func advert(priority: UInt8 = 200) -> [UInt8] {
        VRRPPacket(vrid: 51, priority: priority, maxAdvertIntervalCentiseconds: 100,
                   addresses: [IPAddress("10.0.0.100")!], family: .v4).encode(source: src, destination: VRRPPacket.ipv4Group)
    }

    func testAuthenticatedAdvertRoundTripAndReplayRejected() throws {
        let sealed = AuthenticatedAdvert.seal(advert(), source: src, sequence: 1000, hmac: key)
        XCTAssertEqual(sealed.count, 12 + AuthenticatedAdvert.trailerLength)
        let (p, seq) = try AuthenticatedAdvert.open(sealed, source: src, destination: VRRPPacket.ipv4Group, hmac: key).get()
        XCTAssertEqual(p.priority, 200); XCTAssertEqual(seq, 1000)
        var guardian = ReplayGuard()
        XCTAssertNoThrow(try guardian.accept(seq, from: src).get())
        // The same packet again: replay.
        XCTAssertEqual(guardian.accept(seq, from: src), .failure(.replayed(sequence: 1000, lastAccepted: 1000)))
        XCTAssertEqual(guardian.accept(999, from: src), .failure(.replayed(sequence: 999, lastAccepted: 1000)))
        XCTAssertNoThrow(try guardian.accept(1001, from: src).get())
        // Another sender has its own window.
        XCTAssertNoThrow(try guardian.accept(5, from: IPAddress("10.0.0.3")!).get())
    }

    func testForgedAdvertsAreRejected() {
        let sealed = AuthenticatedAdvert.seal(advert(), source: src, sequence: 7, hmac: key)
        func open(_ b: [UInt8], from s: IPAddress? = nil, with k: HMACSHA256? = nil) -> String? {
            if case .failure(let e) = AuthenticatedAdvert.open(b, source: s ?? src, destination: VRRPPacket.ipv4Group, hmac: k ?? key) { return e.code }
            return nil
        }
        XCTAssertNil(open(sealed))
        // Wrong key.
        XCTAssertEqual(open(sealed, with: HMACSHA256(key: Array("guess".utf8))), "auth_bad_tag")
        // A higher priority spliced in, checksum fixed up: still refused.
        let stronger = AuthenticatedAdvert.seal(advert(priority: 254), source: src, sequence: 7, hmac: key)
        XCTAssertEqual(open(Array(stronger[..<12]) + Array(sealed[12...])), "auth_bad_tag")
        // Sequence bumped without the key.
        var bumped = sealed; bumped[12 + 11] &+= 1
        XCTAssertEqual(open(bumped), "auth_bad_tag")
        // Claimed from another address.
        XCTAssertEqual(open(sealed, from: IPAddress("10.0.0.9")!), "auth_bad_tag")
        // Plain VRRP to an authenticated instance.
        XCTAssertEqual(open(advert()), "auth_missing_trailer")
        // Tag cut off.
        XCTAssertEqual(open(Array(sealed.dropLast(5))), "auth_missing_trailer")
    }

    func testFastProbeAuthenticatesAndRejectsForgery() throws {
        let p = FastProbe.encode(vrid: 51, sequence: 42, source: src, hmac: key)
        XCTAssertEqual(p.count, FastProbe.length)
        XCTAssertEqual(try FastProbe.decode(p, vrid: 51, source: src, hmac: key).get(), 42)
        var forged = p; forged[15] = 43
        XCTAssertEqual(FastProbe.decode(forged, vrid: 51, source: src, hmac: key), .failure(.badTag))
        XCTAssertEqual(FastProbe.decode(p, vrid: 52, source: src, hmac: key), .failure(.malformed(.wrongVRID(51))))
        XCTAssertEqual(FastProbe.decode(Array(p.prefix(20)), vrid: 51, source: src, hmac: key), .failure(.missingTrailer))
    }
}

final class FastDetectorTests: XCTestCase {
    func testPeerDeclaredDownAfterMissLimitIntervalsWithoutProbe() {
        var d = FastDetector(probeInterval: .milliseconds(20), missLimit: 3, sequenceStart: 100)
        XCTAssertEqual(d.on(.start(now: .zero)), [.sendProbe(sequence: 100), .setTimer(deadline: .milliseconds(20))])
        XCTAssertEqual(d.on(.probeReceived(sequence: 1, now: .milliseconds(5))), [.peerUp])
        // Probes arrive every 20 ms for a while: no misses.
        var t = 20
        while t <= 200 {
            let out = d.on(.timerFired(now: .milliseconds(t)))
            XCTAssertFalse(out.contains { if case .peerDown = $0 { true } else { false } })
            _ = d.on(.probeReceived(sequence: UInt64(t), now: .milliseconds(t + 5)))
            t += 20
        }
        XCTAssertEqual(d.misses, 0)
        // Peer goes silent after 205 ms. The 220 ms tick still sees the 205 ms probe; misses at 240, 260,
        // down at 280 ms: within detectionTime (80 ms) of the last probe.
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(220))).count, 2); XCTAssertEqual(d.misses, 0)
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(240))).count, 2); XCTAssertEqual(d.misses, 1)
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(260))).count, 2); XCTAssertEqual(d.misses, 2)
        let down = d.on(.timerFired(now: .milliseconds(280)))
        XCTAssertEqual(down.last, .peerDown(misses: 3, lastHeard: .milliseconds(205)))
        XCTAssertLessThanOrEqual(.milliseconds(280 - 205), d.detectionTime)
        XCTAssertFalse(d.peerUp)
        // Down is reported once, then up again when it returns.
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(300))).count, 2)
        XCTAssertEqual(d.on(.probeReceived(sequence: 9999, now: .milliseconds(310))), [.peerUp])
    }

    func testOneLateProbeResetsTheMissCount() {
        var d = FastDetector(probeInterval: .milliseconds(20), missLimit: 3, sequenceStart: 0)
        _ = d.on(.start(now: .zero)); _ = d.on(.probeReceived(sequence: 1, now: .milliseconds(1)))
        _ = d.on(.timerFired(now: .milliseconds(20)))
        _ = d.on(.timerFired(now: .milliseconds(40))); _ = d.on(.timerFired(now: .milliseconds(60)))
        XCTAssertEqual(d.misses, 2)
        _ = d.on(.probeReceived(sequence: 2, now: .milliseconds(65)))
        XCTAssertEqual(d.misses, 0)
        XCTAssertFalse(d.on(.timerFired(now: .milliseconds(80))).contains { if case .peerDown = $0 { true } else { false } })
    }

    private func isDown(_ a: [FastDetectorAction]) -> Bool { a.contains { if case .peerDown = $0 { true } else { false } } }

    /// A detector that heard the peer at 5 ms and ticked on time at 20 ms.
    private func heardDetector(tolerance: Duration? = nil) -> FastDetector {
        var d = FastDetector(probeInterval: .milliseconds(20), missLimit: 3, sequenceStart: 0, stallTolerance: tolerance)
        _ = d.on(.start(now: .zero))
        XCTAssertEqual(d.on(.probeReceived(sequence: 1, now: .milliseconds(5))), [.peerUp])
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(20))), [.sendProbe(sequence: 1), .setTimer(deadline: .milliseconds(40))])
        return d
    }

    func testOwnStallIsNoEvidenceAndRestartsTheCount() {
        var d = heardDetector()
        // The 40 ms tick fires at 100 ms: we were not scheduled for 60 ms. That silence is ours.
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(100))),
                       [.sendProbe(sequence: 2), .setTimer(deadline: .milliseconds(120)), .ownStall(late: .milliseconds(60))])
        XCTAssertEqual(d.misses, 0); XCTAssertTrue(d.peerUp); XCTAssertEqual(d.stalls, 1)
        XCTAssertEqual(d.worstStall, .milliseconds(60))
        // Then three on-time ticks without a probe: now it is evidence, and the peer is down.
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(120))), [.sendProbe(sequence: 3), .setTimer(deadline: .milliseconds(140))])
        XCTAssertEqual(d.misses, 1)
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(140))), [.sendProbe(sequence: 4), .setTimer(deadline: .milliseconds(160))])
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(160))),
                       [.sendProbe(sequence: 5), .setTimer(deadline: .milliseconds(180)), .peerDown(misses: 3, lastHeard: .milliseconds(5))])
    }

    func testMissesBeforeAStallDoNotAddToMissesAfterIt() {
        var d = heardDetector()
        _ = d.on(.timerFired(now: .milliseconds(40))); _ = d.on(.timerFired(now: .milliseconds(60)))
        XCTAssertEqual(d.misses, 2)
        // The 80 ms tick fires 41 ms late: the count starts again instead of reaching 3.
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(121))).last, .ownStall(late: .milliseconds(41)))
        XCTAssertEqual(d.misses, 0)
        XCTAssertFalse(isDown(d.on(.timerFired(now: .milliseconds(141)))))
        XCTAssertFalse(isDown(d.on(.timerFired(now: .milliseconds(161)))))
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(181))).last, .peerDown(misses: 3, lastHeard: .milliseconds(5)))
    }

    func testAProbeQueuedDuringTheStallKeepsThePeerUp() {
        var d = heardDetector()
        _ = d.on(.timerFired(now: .milliseconds(40))); _ = d.on(.timerFired(now: .milliseconds(60)))
        // We slept from 60 to 130 ms; the peer's probes waited in the socket and are drained first.
        XCTAssertEqual(d.on(.probeReceived(sequence: 2, now: .milliseconds(130))), [])
        XCTAssertEqual(d.worstGap, .milliseconds(125))
        let out = d.on(.timerFired(now: .milliseconds(130)))
        XCTAssertEqual(out.last, .ownStall(late: .milliseconds(50)))
        XCTAssertFalse(isDown(out)); XCTAssertTrue(d.peerUp); XCTAssertEqual(d.misses, 0)
    }

    func testLatenessWithinToleranceStillCounts() {
        // A tick 15 ms late (under the 20 ms default tolerance) is judged normally.
        var d = heardDetector()
        _ = d.on(.timerFired(now: .milliseconds(55)))
        _ = d.on(.timerFired(now: .milliseconds(75)))
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(95))).last, .peerDown(misses: 3, lastHeard: .milliseconds(5)))
        XCTAssertEqual(d.stalls, 0); XCTAssertEqual(d.worstStall, .milliseconds(15))
        // A tighter tolerance makes the same 15 ms a stall.
        var t = heardDetector(tolerance: .milliseconds(5))
        XCTAssertEqual(t.on(.timerFired(now: .milliseconds(55))).last, .ownStall(late: .milliseconds(15)))
        XCTAssertEqual(t.misses, 0)
    }

    func testEarlyOrRepeatedTimerDoesNothing() {
        var d = heardDetector()
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(39))), [])   // before the 40 ms deadline
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(40))).count, 2)
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(40))), [])   // the same deadline again
        XCTAssertEqual(d.misses, 1)
        XCTAssertEqual(d.on(.stop), [.cancelTimer])
        XCTAssertEqual(d.on(.timerFired(now: .milliseconds(60))), [])
    }

    func testNeverHeardPeerIsNeverDeclaredDown() {
        var d = FastDetector(probeInterval: .milliseconds(10), missLimit: 2, sequenceStart: 0)
        _ = d.on(.start(now: .zero))
        for t in 1...50 {
            XCTAssertFalse(d.on(.timerFired(now: .milliseconds(t * 10))).contains { if case .peerDown = $0 { true } else { false } })
        }
    }
}
