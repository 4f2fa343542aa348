import Foundation
import HealthCheck
import RingHealth
import Topology
import XCTest
import RingMonitoring

/// The ring monitor's part of a SIGHUP reload, without a ring: the config diff (pure), what
/// `prepareReload` accepts and refuses, and `reconfigure` on a monitor that is not running.
/// (Against a real ring: `RingCheckTests.testReloadAddingAndRemovingANodeChangesWhatTheMonitorProbes`.)
final class RingMonitorReloadTests: XCTestCase {
    func member(_ n: String, _ port: UInt16, host: String = "127.0.0.1") -> RingMemberAddress {
        RingMemberAddress(name: n, host: host, port: port)
    }

    func testConfigChangeNamesAddedRemovedMovedAndSettings() {
        let old = RingMonitorConfig(members: [member("a", 1), member("b", 2), member("c", 3)], user: "monitor", password: "x")
        XCTAssertTrue(RingMonitor.ConfigChange.between(old, old).isEmpty)
        XCTAssertNil(RingMonitor.ConfigChange.between(old, old).summary)

        var new = old
        new.members = [member("a", 1), member("b", 2, host: "10.0.0.2"), member("d", 4)]
        new.password = "y"
        new.policy = RingHealthPolicy(heartbeatInterval: .milliseconds(500))
        let c = RingMonitor.ConfigChange.between(old, new)
        XCTAssertEqual(c.added, ["d"])
        XCTAssertEqual(c.removed, ["c"])
        XCTAssertEqual(c.moved, ["b"])
        XCTAssertFalse(c.reordered)
        XCTAssertEqual(c.settings, ["password", "policy"])
        XCTAssertEqual(c.summary, "probing d (added); stopped probing c (removed); new address for b; new password, policy")

        var swapped = old
        swapped.members = [member("b", 2), member("a", 1), member("c", 3)]
        XCTAssertEqual(RingMonitor.ConfigChange.between(old, swapped).summary, "new ring order")
    }

    func testReconfigureChangesTheRingInPlaceAndRefusesANonRing() throws {
        let m = try RingMonitor(config: RingMonitorConfig(members: [member("a", 1), member("b", 2)], user: "monitor", password: "x",
                                                          monitorName: "t1"))
        let run = m.runID
        var next = m.config
        next.members.append(member("c", 3))
        next.monitorName = "other"
        XCTAssertEqual(try m.reconfigure(next), "probing c (added)")
        XCTAssertEqual(m.ring.nodes.map(\.name), ["a", "b", "c"])
        XCTAssertEqual(m.report().nodes.map(\.name), ["a", "b", "c"])
        XCTAssertEqual(m.nodeName(host: "127.0.0.1", port: 3), "c")
        XCTAssertEqual(m.config.monitorName, "t1", "the heartbeat rows' name stays")
        XCTAssertEqual(m.runID, run)
        XCTAssertNil(try m.reconfigure(m.config), "nothing to change")

        var bad = m.config
        bad.members = [member("a", 1)]
        XCTAssertThrowsError(try m.reconfigure(bad)) { e in
            XCTAssertTrue("\(e)".contains("at least 2 nodes"), "\(e)")
        }
        XCTAssertEqual(m.ring.nodes.map(\.name), ["a", "b", "c"], "a refused change leaves the monitor as it was")
    }

    // MARK: prepareReload with topologies

    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ring-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "secret\n".write(to: dir.appendingPathComponent("pw"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: dir.appendingPathComponent("pw").path)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// A topology with ring `ring` (VMs db1..db4 at 10.1.0.1..4) checked by a mariadb service
    /// whose password file is `passwordFile` (nil: no mariadb check at all).
    func topology(ring: [String]?, passwordFile: String? = "pw") throws -> Topology {
        let check = passwordFile.map { "{kind: mariadb, user: monitor, password_file: \(dir.appendingPathComponent($0).path), interval: 1s, timeout: 1s, rise: 2, fall: 2}" }
            ?? "{kind: tcp, interval: 1s, timeout: 1s, rise: 2, fall: 2}"
        var yaml = """
        site: t
        hosts:
          - {name: h1, address: 192.0.2.1, cpus: 8, memory: 16GiB}
          - {name: h2, address: 192.0.2.2, cpus: 8, memory: 16GiB}
          - {name: h3, address: 192.0.2.3, cpus: 8, memory: 16GiB}
        vms:
          - {name: db1, role: database, vcpus: 1, memory: 1GiB, addresses: [10.1.0.1/24]}
          - {name: db2, role: database, vcpus: 1, memory: 1GiB, addresses: [10.1.0.2/24]}
          - {name: db3, role: database, vcpus: 1, memory: 1GiB, addresses: [10.1.0.3/24]}
        services:
          - name: mysql
            vip: 10.1.1.1
            port: 3306
            scheduler: fo
            members:
              - {vm: db1, port: 3306, weight: 100}
              - {vm: db2, port: 3306, weight: 50}
              - {vm: db3, port: 3306, weight: 40}
            check: \(check)

        """
        if let ring { yaml += "database:\n  ring: [\(ring.joined(separator: ", "))]\n  port: 3306\n" }
        return try TopologyLoader.parse(data: Data(yaml.utf8), file: "test.yaml").topology
    }

    func testPrepareReloadAppliesOnlyAtCommit() async throws {
        let old = try topology(ring: ["db1", "db2"])
        let m = try XCTUnwrap(try RingMonitorConfig.from(topology: old, monitorName: "d1").map { try RingMonitor(config: $0) })
        let commit = try RingMonitor.prepareReload(m, old: old, new: try topology(ring: ["db1", "db2", "db3"]))
        XCTAssertEqual(m.ring.nodes.map(\.name), ["db1", "db2"], "prepare changes nothing")
        let summary = await commit()
        XCTAssertEqual(summary, "probing db3 (added)")
        XCTAssertEqual(m.ring.nodes.map(\.name), ["db1", "db2", "db3"])
        XCTAssertEqual(m.config.members.last?.endpoint, "10.1.0.3:3306")
        let none = await (try RingMonitor.prepareReload(m, old: old, new: try topology(ring: ["db1", "db2", "db3"])))()
        XCTAssertNil(none, "an unchanged ring reports nothing")
    }

    func testPrepareReloadRefusesWhatWouldBreakTheRunningMonitor() throws {
        let old = try topology(ring: ["db1", "db2"])
        let m = try XCTUnwrap(try RingMonitorConfig.from(topology: old, monitorName: "d1").map { try RingMonitor(config: $0) })
        // An unreadable password file: refused, naming the file and what to do.
        XCTAssertThrowsError(try RingMonitor.prepareReload(m, old: old, new: try topology(ring: ["db1", "db2"], passwordFile: "missing"))) { e in
            XCTAssertTrue("\(e)".contains("cannot read password file \(dir.appendingPathComponent("missing").path)"), "\(e)")
            XCTAssertTrue("\(e)".contains("create it"), "\(e)")
        }
        // The ring is gone, or nothing checks it any more: a reload cannot stop the monitor.
        XCTAssertThrowsError(try RingMonitor.prepareReload(m, old: old, new: try topology(ring: nil))) { e in
            XCTAssertTrue("\(e)".contains("no database ring") && "\(e)".contains("restart tandemd"), "\(e)")
        }
        XCTAssertThrowsError(try RingMonitor.prepareReload(m, old: old, new: try topology(ring: ["db1", "db2"], passwordFile: nil))) { e in
            XCTAssertTrue("\(e)".contains("no service checks the database ring"), "\(e)")
        }
        XCTAssertEqual(m.ring.nodes.map(\.name), ["db1", "db2"], "refusals change nothing")
        XCTAssertEqual(m.config.password, "secret")
    }

    func testWithoutAMonitorAReloadCannotStartOneAndSaysSo() async throws {
        let old = try topology(ring: nil)
        let quiet = await (try RingMonitor.prepareReload(nil, old: old, new: try topology(ring: nil)))()
        XCTAssertNil(quiet, "no ring before, none after: nothing to say")
        let said = await (try RingMonitor.prepareReload(nil, old: old, new: try topology(ring: ["db1", "db2"])))()
        XCTAssertTrue(said?.contains("restart tandemd") ?? false, said ?? "nil")
    }
}
