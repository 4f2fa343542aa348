import Foundation
import Keepalived
import Net
import TestSupport
import Topology
import XCTest
#if canImport(Glibc)
import Glibc
import TopologyFiles
#endif

/// The lab's keepalived configurations imported, and the export that replaced the lab's regular-
/// expression converter: it writes what the drill ran, keepalived 2.2.7 accepts it (`keepalived -t`),
/// and importing it gives the topology back.
final class LabAndExportTests: XCTestCase {
    static let drillDirectors = KeepalivedImportOptions(directors: [KeepalivedDirector(name: "da", address: IPAddress("10.99.0.1")!),
                                                                    KeepalivedDirector(name: "db", address: IPAddress("10.99.0.2")!)])

    func shipped(_ name: String) throws -> Topology { try TopologyLoader.load(path: repoRoot.appendingPathComponent("topology/\(name)").path) }

    // MARK: - Import of the lab's files

    func testDrillPairsConfigImportsBackToTheDrillTopology() throws {
        let (r, t) = try importTopology(fixture("lab/drill-da.conf"), options: Self.drillDirectors)
        let drill = try shipped("drill.yaml")
        let s = try XCTUnwrap(t.services.first), want = try XCTUnwrap(drill.services.first)
        XCTAssertEqual(t.services.count, 1)
        XCTAssertEqual([s.vip, s.port, s.scheduler, s.forwarding] as [AnyHashable], [want.vip, want.port, want.scheduler, want.forwarding] as [AnyHashable])
        XCTAssertEqual(s.members.map { "\(t.address(of: $0, in: s)!):\($0.port) \($0.weight)" },
                       want.members.map { "\(drill.address(of: $0, in: want)!):\($0.port) \($0.weight)" })
        XCTAssertEqual(s.check, want.check, "HTTP /healthz 200, 500ms, 400ms, rise 1, fall 3")
        let d = try XCTUnwrap(t.directors)
        XCTAssertEqual([d.vrid, d.priorities["da"], d.advertIntervalMs], [51, 150, 100])
        XCTAssertEqual(d.members, ["da", "db"])
        XCTAssertTrue(r.notes.contains { $0.keyword == "lvs_sync_daemon" }, "the sync daemon's interface is a tandemd flag: \(r.notes)")
    }

    func testVRRPLabAndBenchHealthConfigsImport() throws {
        let vrrp = try importTopology(fixture("lab/vrrp-lab-a.conf"), options: Self.drillDirectors)
        XCTAssertEqual(vrrp.topology.directors?.vrid, 51)
        XCTAssertTrue(vrrp.result.notes.contains { $0.keyword == "10.99.0.100/32" && $0.instead.contains("no imported service") },
                      "a VRRP-only configuration holds an address no service has: \(vrrp.result.notes)")
        let bench = try importTopology(fixture("lab/bench-health.conf"))
        let s = try XCTUnwrap(bench.topology.services.first)
        XCTAssertEqual(s.members.map(\.name), ["10.0.1.2:8080", "10.0.2.2:8080"])
        XCTAssertEqual(s.check, HealthCheckSpec(kind: .tcp, intervalMs: 1000, timeoutMs: 1000, rise: 1, fall: 2), "retry 1: fall 2")
        XCTAssertEqual(bench.topology.site, "bench")
    }

    // MARK: - Export

    func exportText(_ t: Topology, node: String, _ configure: (inout KeepalivedExportOptions) -> Void = { _ in }) throws -> KeepalivedExport {
        var o = KeepalivedExportOptions(node: node)
        configure(&o)
        return try KeepalivedExporter.config(t, options: o)
    }

    /// The drill's keepalived pair runs from drill.yaml through the export: the same statements the
    /// removed converter wrote, plus inhibit_on_failure (tandemd drains a failed member to weight 0).
    func testExportOfTheDrillTopologyIsWhatTheLabRan() throws {
        let e = try exportText(try shipped("drill.yaml"), node: "da") {
            $0.routerID = "ka-da"; $0.vrrpInterface = "a0"; $0.vipInterface = "a0"; $0.syncInterface = .interface("a0")
        }
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let exported = try reader().read(try write(e.text, "da.conf", in: dir))
        let ran = try reader().read(fixture("lab/drill-da.conf"))
        // The removed converter asked for script security, which only MISC_CHECK needs.
        func shape(_ c: KeepalivedConfig) -> [String] {
            c.statements.flatMap { [$0] + $0.descendants }
                .filter { !["script_user", "enable_script_security", "inhibit_on_failure"].contains($0.keyword) }
                .map { $0.words.joined(separator: " ") }
        }
        XCTAssertEqual(shape(exported), shape(ran))
        XCTAssertEqual(exported.statements.flatMap(\.descendants).filter { $0.keyword == "inhibit_on_failure" }.count, 2)
        XCTAssertEqual(e.notes, ["service web: last_member: keep has no keepalived equivalent; keepalived takes every failed member out (to weight 0)"])
    }

    func testExportRefusesANodeThatIsNoDirector() throws {
        XCTAssertThrowsError(try exportText(try shipped("drill.yaml"), node: "w1")) { e in
            XCTAssertEqual("\(e)", "w1 is not a member of a director pair; members: da, db")
        }
    }

    /// What the export writes, imported again, is the same site (the names keepalived has no room for aside).
    func testExportThenImportGivesTheSameServicesAndPair() throws {
        let original = try shipped("lb-only.yaml")
        let e = try exportText(original, node: "lb1")
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try write(e.text, "lb1.conf", in: dir)
        let (_, back) = try importTopology(path, options: KeepalivedImportOptions(directors: [KeepalivedDirector(name: "lb1", address: IPAddress("192.0.2.11")!),
                                                                                               KeepalivedDirector(name: "lb2", address: IPAddress("192.0.2.12")!)]))
        func shape(_ t: Topology) -> [String] {
            t.services.map { s in
                "\(s.vip) \(s.port) \(s.proto) \(s.scheduler) \(s.forwarding) \(s.persistence.map { "\($0.timeoutSeconds)" } ?? "-") "
                    + s.members.map { "\(t.address(of: $0, in: s)!):\($0.port)/\($0.weight)" }.joined(separator: ",")
                    + " \(s.check.kind) \(s.check.intervalMs) \(s.check.timeoutMs) \(s.check.fall)"
            }
        }
        XCTAssertEqual(shape(back), shape(original))
        XCTAssertEqual(back.directors?.vrid, original.directors?.vrid)
        XCTAssertEqual(back.directors?.priorities["lb1"], original.directors?.priorities["lb1"])
        XCTAssertEqual(back.directors?.advertIntervalMs, original.directors?.advertIntervalMs)
    }

    /// keepalived 2.2.7 itself checks what the export writes (`keepalived -t -f FILE`, exit 0), in a
    /// network namespace whose veth interfaces carry the names the configuration uses.
    func testKeepalivedAcceptsWhatIsExported() throws {
        let keepalived = "/usr/sbin/keepalived"
        let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first(where: FileManager.default.isExecutableFile(atPath:))
        guard FileManager.default.isExecutableFile(atPath: keepalived), ip != nil else {
            return XCTFail("needs \(keepalived) and ip: install the Debian packages keepalived and iproute2 (scripts/lib/packages)")
        }
        guard getuid() == 0 else { return XCTFail("needs root: `keepalived -t` runs in a network namespace this test creates (ip netns add)") }
        let cases: [(file: String, node: String)] = [("drill.yaml", "da"), ("drill.yaml", "db"), ("fermigrid-ha.yaml", "fg5x0"),
                                                     ("lb-only.yaml", "lb1"), ("multi-community.yaml", "")]
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var checked = 0
        for c in cases {
            let t = try shipped(c.file)
            let node = c.node.isEmpty ? try XCTUnwrap(t.directors?.members.first, "\(c.file) has no pair") : c.node
            let e = try exportText(t, node: node)
            let path = try write(e.text, "\(c.file)-\(node).conf", in: dir)
            let iface = try XCTUnwrap(t.directorPairs.first { $0.members.contains(node) }?.interface)
            let (status, output) = keepalivedCheck(path, interfaces: [iface])
            XCTAssertEqual(status, 0, "keepalived -t refused the export of \(c.file) for \(node):\n\(output)\n\(e.text)")
            checked += 1
        }
        // Every kind of check and service the export writes: fwmark, UDP, exec, HTTPS, sorry server, persistence, IPv6.
        let rich = try TopologyLoader.load(path: fixture("every-kind.yaml"))
        let e = try exportText(rich, node: "d1")
        let (status, output) = keepalivedCheck(try write(e.text, "rich.conf", in: dir), interfaces: ["eth0"])
        XCTAssertEqual(status, 0, "keepalived -t refused:\n\(output)\n\(e.text)")
        XCTAssertTrue(e.text.contains("MISC_CHECK") && e.text.contains("SSL_GET") && e.text.contains("virtual_server fwmark 12")
                      && e.text.contains("sorry_server 10.0.9.99 80") && e.text.contains("persistence_granularity 255.255.255.0"), e.text)
        XCTAssertGreaterThanOrEqual(checked, 5)
    }

    /// `keepalived -t -f path` in a fresh network namespace with a veth named after each interface.
    func keepalivedCheck(_ path: String, interfaces: [String]) -> (status: Int32, output: String) {
        let ns = "tandem-ka-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var script = "set -e; ip netns add \(ns); trap 'ip netns del \(ns)' EXIT; "
        for (i, name) in interfaces.enumerated() { script += "ip -n \(ns) link add \(name) type veth peer name kp\(i); ip -n \(ns) link set \(name) up; " }
        script += "set +e; ip netns exec \(ns) /usr/sbin/keepalived -t -f \(path); rc=$?; exit $rc"
        return RealRing.runProcess(["/bin/bash", "-c", script], timeout: 30, what: "keepalived -t -f \(path)")
    }
}
