import Cryptography
import Topology
import XCTest
@testable import VRRP
import Net

/// Authenticated adverts and probes with the real authenticator (libcrypto's HMAC-SHA256; its known
/// answers are in CryptoTests).
final class AuthTests: XCTestCase {
    private let key = HMACSHA256(key: Array("correct horse battery staple".utf8))
    private let src = IPAddress("10.0.0.2")!
    private func advert(priority: UInt8 = 200) -> [UInt8] {
        VRRPPacket(vrid: 51, priority: priority, maxAdvertIntervalCentiseconds: 100,
                   addresses: [IPAddress("10.0.0.100")!], family: .v4).encode(source: src, destination: VRRPPacket.ipv4Group)
    }

    func testAuthenticatedAdvertRoundTripAndReplayRejected() throws {
        let sealed = try AuthenticatedAdvert.seal(advert(), source: src, sequence: 1000, authenticator: key)
        XCTAssertEqual(sealed.count, 12 + AuthenticatedAdvert.trailerLength)
        let (p, seq) = try AuthenticatedAdvert.open(sealed, source: src, destination: VRRPPacket.ipv4Group, authenticator: key).get()
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

    func testForgedAdvertsAreRejected() throws {
        let sealed = try AuthenticatedAdvert.seal(advert(), source: src, sequence: 7, authenticator: key)
        func open(_ b: [UInt8], from s: IPAddress? = nil, with k: HMACSHA256? = nil) -> String? {
            if case .failure(let e) = AuthenticatedAdvert.open(b, source: s ?? src, destination: VRRPPacket.ipv4Group, authenticator: k ?? key) { return e.code }
            return nil
        }
        XCTAssertNil(open(sealed))
        // Wrong key.
        XCTAssertEqual(open(sealed, with: HMACSHA256(key: Array("guess".utf8))), "auth_bad_tag")
        // A higher priority spliced in, checksum fixed up: still refused.
        let stronger = try AuthenticatedAdvert.seal(advert(priority: 254), source: src, sequence: 7, authenticator: key)
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
        let p = try FastProbe.encode(vrid: 51, sequence: 42, source: src, authenticator: key)
        XCTAssertEqual(p.count, FastProbe.length)
        XCTAssertEqual(try FastProbe.decode(p, vrid: 51, source: src, authenticator: key).get(), 42)
        var forged = p; forged[15] = 43
        XCTAssertEqual(FastProbe.decode(forged, vrid: 51, source: src, authenticator: key), .failure(.badTag))
        XCTAssertEqual(FastProbe.decode(p, vrid: 52, source: src, authenticator: key), .failure(.malformed(.wrongVRID(51))))
        XCTAssertEqual(FastProbe.decode(Array(p.prefix(20)), vrid: 51, source: src, authenticator: key), .failure(.missingTrailer))
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
