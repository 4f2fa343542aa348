import Foundation
import Net
import XCTest
@testable import Topology

/// Director settings in the topology (issue 15): the pair's keys, each member's `nodes:` entry over
/// them, and the `daemon:` section; every mistake reported at its line and column.
final class DirectorSettingsTests: XCTestCase {
    let pairKeys = """

      key_file: /etc/tandem/secrets/vrrp.key
      preempt: false
      preempt_delay: 2s
      fast_detector: {interval: 20ms, misses: 4}
      connection_sync: true
      nodes:
        d1: {interface: hb0, vip_interface: eth1, primary_address: 10.98.0.1, unicast_peers: [10.98.0.2], preempt: true}
        d2: {primary_address: 10.98.0.2, fast_detector: {interval: 50ms, priority: 0}, sync_interface: eth2}
    daemon: {token_file: /etc/tandem/secrets/api-token, repair_interval: 2s}
    """

    func testEachMemberGetsItsOwnSettingsOverThePairs() throws {
        let t = try TopologyLoader.parse(data: Data((baseSite + pairKeys).utf8), file: "site.yaml").topology
        let pair = try XCTUnwrap(t.directors)
        let d1 = pair.settings(for: "d1"), d2 = pair.settings(for: "d2")
        XCTAssertEqual(d1, DirectorSettings(interface: "hb0", vipInterface: "eth1", primaryAddress: IPAddress("10.98.0.1"),
                                            unicastPeers: [IPAddress("10.98.0.2")!], keyFile: "/etc/tandem/secrets/vrrp.key", preempt: true,
                                            preemptDelayMs: 2000, fastDetector: FastDetectorSettings(intervalMs: 20, misses: 4, priority: 10),
                                            connectionSync: true))
        XCTAssertEqual(d2, DirectorSettings(interface: "eth0", primaryAddress: IPAddress("10.98.0.2"), keyFile: "/etc/tandem/secrets/vrrp.key",
                                            preempt: false, preemptDelayMs: 2000, fastDetector: FastDetectorSettings(intervalMs: 50, misses: 3, priority: 0),
                                            connectionSync: true, syncInterface: "eth2"),
                       "d2: the pair's interface, its own detector (defaults filled per key), the pair's preempt")
        XCTAssertEqual(t.daemon, DaemonSettings(tokenFile: "/etc/tandem/secrets/api-token", repairIntervalMs: 2000))
    }

    func testNothingSetMeansNothingSet() throws {
        let t = try TopologyLoader.parse(data: Data(baseSite.utf8), file: "site.yaml").topology
        XCTAssertEqual(t.directors?.settings(for: "d1"), DirectorSettings(interface: "eth0"))
        XCTAssertEqual(t.daemon, DaemonSettings(tokenFile: nil, repairIntervalMs: 5000))
    }

    func testAMistakeIsReportedWhereItStands() {
        let text = baseSite + pairKeys
        assertDiagnostic(in: text.replacingOccurrences(of: "    d2: {primary", with: "    d3: {primary"), .unknownReference, at: "{primary_address: 10.98.0.2",
                         mentions: "'d3' is not a member of this director pair")
        assertDiagnostic(in: text.replacingOccurrences(of: "key_file: /etc/tandem/secrets/vrrp.key", with: "key_file: secrets/vrrp.key"),
                         .badValue, at: "secrets/vrrp.key", mentions: "key_file 'secrets/vrrp.key' is not an absolute path")
        assertDiagnostic(in: text.replacingOccurrences(of: "preempt: false", with: "preempt: maybe"), .badValue, at: "maybe", mentions: "maybe")
        assertDiagnostic(in: text.replacingOccurrences(of: "priority: 0}", with: "priority: 100}"), .badValue, at: "100}, sync", mentions: "100")
        assertDiagnostic(in: text.replacingOccurrences(of: "primary_address: 10.98.0.1", with: "primary_address: 10.98.0"), .badAddress,
                         at: "10.98.0,", mentions: "10.98.0")
        assertDiagnostic(in: text.replacingOccurrences(of: "unicast_peers: [10.98.0.2]", with: "unicast_peerz: [10.98.0.2]"), .unknownKey,
                         at: "unicast_peerz", mentions: "unicast_peerz")
        assertDiagnostic(in: text.replacingOccurrences(of: "fast_detector: {interval: 20ms, misses: 4}", with: "fast_detector: {misses: 4}"),
                         .missingKey, at: "{misses: 4}", mentions: "interval")
        assertDiagnostic(in: text.replacingOccurrences(of: "token_file: /etc/tandem/secrets/api-token", with: "token_file: api-token"),
                         .badValue, at: "api-token", mentions: "token_file 'api-token' is not an absolute path")
        assertDiagnostic(in: text.replacingOccurrences(of: "repair_interval: 2s", with: "repair_interval: 10ms"), .badValue, at: "10ms", mentions: "10ms")
    }
}
