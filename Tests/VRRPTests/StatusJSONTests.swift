import Foundation
import XCTest
import VRRPTransport

/// The status file is ``VRRPStatus`` through ``StatusJSON``: the keys scripts read with `jq`, and a
/// round trip back to the same value.
final class StatusJSONTests: XCTestCase {
    private func sample() -> VRRPStatus {
        var fast = FastDetectorStats()
        fast.peerUp = true; fast.probesSent = 500; fast.probesReceived = 498; fast.peerDowns = 1; fast.ownStalls = 2
        fast.worstOwnStall = .milliseconds(37); fast.worstProbeGap = .milliseconds(61); fast.realtimePriority = 10
        fast.drops = ["probe_auth_bad_tag": 3]
        var s = VRRPStatus(
            vrid: 51, state: "master", priority: 150, vips: ["10.99.0.100"], vipsHeld: true, transitions: 2,
            recent: [.init(at: "2026-01-01T00:00:00.000Z", from: "backup", to: "master", reason: "no advert for Master_Down_Interval 3.609375 seconds",
                           reasonCode: "master_down")],
            peer: .init(address: "10.99.0.2", priority: 100, lastSeenUnix: 1_767_225_600.25), advertsSent: 12, advertsReceived: 7,
            drops: ["auth_bad_tag": 4, "bad_ttl": 1], fastDetector: "20ms x3", witness: nil, fastDetectorStats: fast)
        s.loop.worstTimerLate = .milliseconds(3); s.loop.worstSendGap = .milliseconds(1004); s.loop.worstReceiveGap = .milliseconds(1010)
        s.loop.worstStep = .milliseconds(2); s.loop.worstStepName = "status"; s.loop.worstStatusWrite = .milliseconds(5)
        return s
    }

    func testStatusFileHasTheFieldsScriptsReadAndRoundTrips() throws {
        let s = sample()
        let bytes = try StatusJSON.encode(s)
        XCTAssertEqual(bytes.last, UInt8(ascii: "\n"))
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        XCTAssertEqual(object["state"] as? String, "master")
        XCTAssertEqual(object["adverts_received"] as? Int, 7)
        XCTAssertEqual((object["drops"] as? [String: Int])?["auth_bad_tag"], 4, "drop codes stay as written (no key strategy)")
        XCTAssertEqual((object["peer"] as? [String: Any])?["address"] as? String, "10.99.0.2")
        XCTAssertEqual((object["fast_detector_stats"] as? [String: Any])?["worst_probe_gap_ms"] as? Int, 61)
        XCTAssertEqual((object["loop"] as? [String: Any])?["worst_receive_gap_ms"] as? Int, 1010)
        XCTAssertEqual((object["loop"] as? [String: Any])?["worst_status_write_ms"] as? Int, 5)
        XCTAssertTrue(object["witness"] is NSNull, "absent values are written as null, not left out")
        XCTAssertEqual(try StatusJSON.decode(VRRPStatus.self, from: bytes), s)
    }

    func testAFreshInstanceSnapshotEncodesWithNulls() throws {
        let s = VRRPStatus(vrid: 1, state: "initialize", priority: 100, vips: [], vipsHeld: false, transitions: 0, recent: [],
                           peer: nil, advertsSent: 0, advertsReceived: 0, drops: [:], fastDetector: nil, witness: nil)
        let text = String(decoding: try StatusJSON.encode(s), as: UTF8.self)
        XCTAssertTrue(text.contains("\"peer\":null") && text.contains("\"fast_detector_stats\":null"), text)
        XCTAssertEqual(try StatusJSON.decode(VRRPStatus.self, from: Array(text.utf8)), s)
    }
}
