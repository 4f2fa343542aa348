import Daemon
import Foundation
import HealthCheck
import IPVS
import Reconcile
import RingHealth
import Topology
import XCTest
import RingMonitoring
import TestSupport
import TopologyFiles

/// tandemd's single-writer and ring-reload wiring in memory: a `RingMonitor` that never connects
/// (its report is fed with the events its probes would record), `RecordingKernel`, `ManualClock`.
/// The same behaviour against a real ring and kernel: `SingleWriterKernelTests`.
final class SingleWriterDaemonTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("sw-daemon-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "secret\n".write(to: dir.appendingPathComponent("monitor.pw"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: dir.appendingPathComponent("monitor.pw").path)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func yaml(ring: [String], passwordFile: String = "monitor.pw") -> String {
        """
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
            check: {kind: mariadb, user: monitor, password_file: \(dir.appendingPathComponent(passwordFile).path), interval: 1s, timeout: 1s, rise: 2, fall: 2}
        database:
          ring: [\(ring.joined(separator: ", "))]
          port: 3306

        """
    }

    func write(_ text: String) throws -> String {
        let p = dir.appendingPathComponent("topology.yaml").path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    /// One probe round as the monitor's loops would record it: every node writes heartbeat `seq`
    /// and reads every node's rows up to `seq` (a ring where everything arrives at once).
    func probeRound(_ m: RingMonitor, seq: UInt64) {
        let nodes = m.ring.nodes.map(\.name)
        for n in nodes { m.record(.heartbeatWritten(node: n, seq: seq, at: m.now)) }
        for (i, n) in nodes.enumerated() {
            let pred = m.ring.predecessor(of: n)!
            let predID = UInt32(nodes.firstIndex(of: pred.name)! + 1)
            m.record(.observed(NodeObservation(
                node: n, at: m.now, serverID: UInt32(i + 1), gtidDomainID: UInt32(i + 1),
                slaves: [SlaveLinkStatus(masterServerID: predID, masterEndpoint: pred.endpoint)],
                heartbeats: nodes.indices.map { HeartbeatRow(originServerID: UInt32($0 + 1), runID: m.runID, seq: seq) })))
        }
    }

    func testOperatorDrainOfTheWriterMovesTheWritesToACaughtUpMember() async throws {
        let path = try write(yaml(ring: ["db1", "db2"]))
        let topology = try TopologyLoader.load(path: path)
        let ring = try XCTUnwrap(try RingMonitorConfig.from(topology: topology, monitorName: "d1").map { try RingMonitor(config: $0) })
        let kernel = RecordingKernel()
        let daemon = TandemDaemon(topology: topology, topologyFile: path, node: "d1", kernel: kernel, dryRun: true,
                                  clock: ManualClock(), seed: 1, logger: .init(label: "test"), ring: ring,
                                  makeChecker: Switchboard().make)
        try await daemon.start()
        probeRound(ring, seq: 1)
        daemon.refreshWriters()
        XCTAssertEqual(daemon.writers()["mysql"]?.writer, "db1", daemon.writers()["mysql"]?.reason ?? "no decision")
        await daemon.reconcileOnce()
        XCTAssertEqual(weights(kernel), ["10.1.0.1": 100, "10.1.0.2": 0])

        // The operator drains the writer: db2 has applied its heartbeat 1, so it takes the writes.
        try daemon.setDrained(MemberRef(service: "mysql", member: "db1"), true)
        let moved = try XCTUnwrap(daemon.writers()["mysql"])
        XCTAssertEqual(moved.writer, "db2", moved.reason)
        XCTAssertTrue(moved.reason.contains("from db1 to db2"), moved.reason)
        await daemon.reconcileOnce()
        XCTAssertEqual(weights(kernel), ["10.1.0.1": 0, "10.1.0.2": 50])

        // Undrain: the writes stay on db2.
        try daemon.setDrained(MemberRef(service: "mysql", member: "db1"), false)
        probeRound(ring, seq: 2)
        daemon.refreshWriters()
        XCTAssertEqual(daemon.writers()["mysql"]?.writer, "db2")
        await daemon.reconcileOnce()
        XCTAssertEqual(weights(kernel), ["10.1.0.1": 0, "10.1.0.2": 50])
    }

    func testRingReloadFollowerReconfiguresTheMonitorOrRefusesTheWholeFile() async throws {
        let path = try write(yaml(ring: ["db1", "db2"]))
        let topology = try TopologyLoader.load(path: path)
        let ring = try XCTUnwrap(try RingMonitorConfig.from(topology: topology, monitorName: "d1").map { try RingMonitor(config: $0) })
        let daemon = TandemDaemon(topology: topology, topologyFile: path, node: "d1", kernel: RecordingKernel(), dryRun: true,
                                  clock: ManualClock(), seed: 1, logger: .init(label: "test"), ring: ring,
                                  makeChecker: Switchboard().make)
        try await daemon.start()
        let followers = [ReloadFollower(name: "ring") { old, new in try RingMonitor.prepareReload(ring, old: old, new: new) }]

        // An unreadable password file refuses the whole reload: nothing changes anywhere.
        _ = try write(yaml(ring: ["db1", "db2", "db3"], passwordFile: "missing.pw"))
        guard case .refused(let why) = await daemon.reload(path: path, followers: followers) else { return XCTFail("accepted") }
        XCTAssertTrue(why.contains("ring: cannot read password file") && why.contains("missing.pw"), why)
        XCTAssertEqual(ring.ring.nodes.map(\.name), ["db1", "db2"])
        XCTAssertEqual(daemon.topology.database?.members, ["db1", "db2"])

        // A good file adding db3 to the ring: the monitor watches it from the commit on.
        _ = try write(yaml(ring: ["db1", "db2", "db3"]))
        guard case .applied = await daemon.reload(path: path, followers: followers) else { return XCTFail("refused") }
        XCTAssertEqual(ring.ring.nodes.map(\.name), ["db1", "db2", "db3"])
        XCTAssertEqual(ring.nodeName(host: "10.1.0.3", port: 3306), "db3")
        let last = daemon.report().lastReload ?? ""
        XCTAssertTrue(last.contains("ring: probing db3 (added)"), last)
    }

    func weights(_ k: RecordingKernel) -> [String: Int32] {
        var out: [String: Int32] = [:]
        for d in k.table.services.values.flatMap(\.destinations.values) { out["\(d.address)"] = d.weight }
        return out
    }
}
