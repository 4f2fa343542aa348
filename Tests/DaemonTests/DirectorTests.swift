import Daemon
import Foundation
import IPVS
import Topology
import VRRP
import VRRPTransport
import XCTest
import DaemonAPI
import IPVSModel
import Net
import TopologyFiles

/// The director half of tandemd without root: the connection-sync policy, the VRRP setup read from
/// the topology, and the `/status` block built from an instance snapshot.
final class DirectorTests: XCTestCase {
    let yaml = """
    site: t
    hosts:
      - {name: h1, address: 192.0.2.1, cpus: 4, memory: 4GiB}
      - {name: h2, address: 192.0.2.2, cpus: 4, memory: 4GiB}
    vms:
      - {name: d1, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.11/24]}
      - {name: d2, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.12/24]}
      - {name: rs1, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.0.0.21/24]}
      - {name: rs2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.0.0.22/24]}
    services:
      - name: echo
        vip: 10.0.0.100
        port: 7000
        forwarding: dr
        members:
          - {vm: rs1, port: 7000, weight: 100}
          - {vm: rs2, port: 7000, weight: 100}
        check: {kind: tcp, interval: 500ms, timeout: 300ms, rise: 1, fall: 2}
    directors:
      members: [d1, d2]
      vrid: 51
      priorities: {d1: 150, d2: 100}
      advert_interval: 200ms
      interface: eth0
      witness: 10.0.0.1

    """

    func topology() throws -> Topology {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-director-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: p, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: p) }
        return try TopologyLoader.load(path: p)
    }

    // MARK: Connection sync policy

    func testBothDirectionsEachNodeRunsMasterWithItsOwnIDAndBackupWithThePeers() throws {
        let pair = try XCTUnwrap(try topology().directors)
        XCTAssertEqual(ConnectionSyncPolicy.syncID(pair: pair, member: "d1"), 101)
        XCTAssertEqual(ConnectionSyncPolicy.syncID(pair: pair, member: "d2"), 102)
        XCTAssertNil(ConnectionSyncPolicy.syncID(pair: pair, member: "rs1"))
        let a = ConnectionSyncPolicy.daemons(pair: pair, node: "d1")
        let b = ConnectionSyncPolicy.daemons(pair: pair, node: "d2", interface: "sync0")
        XCTAssertEqual(a, [SyncDaemon(role: .master, interface: "eth0", syncID: 101), SyncDaemon(role: .backup, interface: "eth0", syncID: 102)])
        XCTAssertEqual(b, [SyncDaemon(role: .master, interface: "sync0", syncID: 102), SyncDaemon(role: .backup, interface: "sync0", syncID: 101)])
        XCTAssertEqual(ConnectionSyncPolicy.daemons(pair: pair, node: "rs1"), [], "a node outside the pair runs no sync daemon")
    }

    func testSyncIDsStayInOneToTwoFiftyFiveAndDifferPerVRID() {
        var seen = Set<UInt32>()
        for vrid in 1...127 {
            let pair = DirectorPair(members: ["a", "b"], vrid: vrid, priorities: [:], advertIntervalMs: 1000, interface: "eth0")
            for m in ["a", "b"] {
                let id = try! XCTUnwrap(ConnectionSyncPolicy.syncID(pair: pair, member: m))
                XCTAssertTrue((1...255).contains(id), "vrid \(vrid) \(m): \(id)")
                XCTAssertTrue(seen.insert(id).inserted, "vrid \(vrid) \(m): id \(id) reused")
            }
        }
        let top = DirectorPair(members: ["a", "b"], vrid: 255, priorities: [:], advertIntervalMs: 1000, interface: "eth0")
        XCTAssertTrue((1...255).contains(ConnectionSyncPolicy.syncID(pair: top, member: "b")!))
    }

    func testChangesStartMissingRestartMismatchedStopUnwantedAndIgnoreKernelDefaults() {
        let want = [SyncDaemon(role: .master, interface: "eth0", syncID: 101), SyncDaemon(role: .backup, interface: "eth0", syncID: 102)]
        XCTAssertEqual(ConnectionSyncPolicy.changes(running: [], desired: want), [.start(want[0]), .start(want[1])])
        // The kernel reports its defaults (length, group, port, TTL): still a match, nothing written.
        let asKernelSaysIt = want.map { d in
            SyncDaemon(role: d.role, interface: d.interface, syncID: d.syncID, maxLength: 1472,
                       group: IPAddress("224.0.0.81"), port: 8848, ttl: 1)
        }
        XCTAssertEqual(ConnectionSyncPolicy.changes(running: asKernelSaysIt, desired: want), [])
        let wrongID = [SyncDaemon(role: .master, interface: "eth0", syncID: 7), want[1]]
        XCTAssertEqual(ConnectionSyncPolicy.changes(running: wrongID, desired: want), [.stop(.master), .start(want[0])])
        let wrongIface = [want[0], SyncDaemon(role: .backup, interface: "eth1", syncID: 102)]
        XCTAssertEqual(ConnectionSyncPolicy.changes(running: wrongIface, desired: want), [.stop(.backup), .start(want[1])])
        XCTAssertEqual(ConnectionSyncPolicy.changes(running: want, desired: [want[0]]), [.stop(.backup)])
        XCTAssertEqual(SyncDaemonChange.start(want[0]).description, "start master eth0 syncid 101")
    }

    // MARK: VRRP setup from the topology

    func testSetupReadsThePairAndRefusesBadInputNamingIt() throws {
        let t = try topology()
        let s1 = try DirectorSetup.make(topology: t, node: "d1")
        XCTAssertEqual(s1.peer, "d2")
        XCTAssertEqual(s1.options.config.vrid, 51)
        XCTAssertEqual(s1.options.config.priority, 150)
        XCTAssertEqual(s1.options.config.advertInterval, .milliseconds(200))
        XCTAssertEqual(s1.options.config.virtualAddresses, [IPAddress("10.0.0.100")!])
        XCTAssertEqual(s1.options.config.primaryAddress, IPAddress("10.0.0.11")!)
        XCTAssertEqual(s1.options.interface, "eth0")
        XCTAssertEqual(s1.options.config.splitBrain, .witness(checkInterval: .seconds(1)), "a witness turns the split-brain rule on")
        XCTAssertNil(s1.options.fastDetector)

        var o = DirectorOverrides()
        o.interface = "d20"
        o.fastDetectorInterval = .milliseconds(20)
        o.advertInterval = .milliseconds(100)
        let s2 = try DirectorSetup.make(topology: t, node: "d2", overrides: o)
        XCTAssertEqual(s2.options.interface, "d20")
        XCTAssertEqual(s2.options.config.priority, 100)
        XCTAssertEqual(s2.options.fastDetector?.peer, IPAddress("10.0.0.11")!, "probes go to the peer's topology address")
        XCTAssertEqual(s2.options.config.advertInterval, .milliseconds(100))

        XCTAssertThrowsError(try DirectorSetup.make(topology: t, node: "rs1")) { e in
            XCTAssertTrue("\(e)".contains("no director pair has member rs1"), "\(e)")
        }
        var bad = DirectorOverrides()
        bad.primaryAddress = "10.0.0.999"
        XCTAssertThrowsError(try DirectorSetup.make(topology: t, node: "d1", overrides: bad)) { e in
            XCTAssertTrue("\(e)".contains("10.0.0.999 is not an IP address"), "\(e)")
        }
        bad = DirectorOverrides()
        bad.priority = 300
        XCTAssertThrowsError(try DirectorSetup.make(topology: t, node: "d1", overrides: bad)) { e in
            XCTAssertTrue("\(e)".contains("priority 300 is outside 1–255"), "\(e)")
        }
    }

    // MARK: /status block

    func testStatusBlockShowsStatePeerLastSeenTransitionsAndSync() throws {
        let setup = try DirectorSetup.make(topology: try topology(), node: "d2")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let status = VRRPStatus(
            vrid: 51, state: "master", priority: 100, vips: ["10.0.0.100"], vipsHeld: true, transitions: 2,
            recent: [.init(at: "2027-01-15T08:00:00.000Z", from: "initialize", to: "backup", reason: "startup", reasonCode: "startup"),
                     .init(at: "2027-01-15T08:00:05.000Z", from: "backup", to: "master", reason: "fast detector declared the master down",
                           reasonCode: "fast_detector")],
            peer: .init(address: "10.0.0.11", priority: 150, lastSeenUnix: 1_800_000_000 - 2.5),
            advertsSent: 40, advertsReceived: 25, drops: ["bad_ttl": 1], fastDetector: "20ms x3", witness: "10.0.0.1")
        let want = ConnectionSyncPolicy.daemons(pair: setup.pair, node: "d2")
        let r = DirectorReport.make(status: status, setup: setup, syncDesired: want, syncRunning: want, syncError: nil, now: now)
        XCTAssertEqual(r.state, "master")
        XCTAssertEqual(r.peer, "d1")
        XCTAssertTrue(r.vipsHeld)
        XCTAssertEqual(r.lastTransition?.to, "master")
        XCTAssertEqual(r.lastTransition?.reason, "fast detector declared the master down")
        XCTAssertEqual(r.recentTransitions.count, 2)
        XCTAssertEqual(r.peerLastSeen?.address, "10.0.0.11")
        XCTAssertEqual(r.peerLastSeen?.secondsAgo, 2.5)
        XCTAssertEqual(r.connectionSync.map(\.syncID), [102, 101])
        XCTAssertEqual(r.connectionSyncRunning?.map(\.role), ["master", "backup"])

        // It travels in the JSON report and shows in the page for people.
        var report = StatusReport(node: "d2", site: "t", topologyFile: "f", startedAt: "s", kernel: "real",
                                  lastReconcile: nil, lastReload: nil, services: [], director: r)
        let data = try JSONEncoder().encode(report)
        XCTAssertEqual(try JSONDecoder().decode(StatusReport.self, from: data), report)
        let page = report.rendered()
        XCTAssertTrue(page.contains("director pair directors: MASTER vrid 51"), page)
        XCTAssertTrue(page.contains("backup → master (fast detector declared the master down)"), page)
        XCTAssertTrue(page.contains("peer d1 (10.0.0.11) last heard 2.5 s ago"), page)
        XCTAssertTrue(page.contains("master syncid 102 on eth0, backup syncid 101 on eth0"), page)
        report.director = nil
        XCTAssertFalse(report.rendered().contains("director pair"))
    }
}
