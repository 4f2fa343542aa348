import Foundation
import HostLab
import TestSupport
import XCTest

/// `tandemctl hosts status` (the built executable) against real libvirtd hosts of the lab: what
/// virsh defines and starts, the command lists beside the plan, with each difference named.
final class HostsStatusCommandTests: XCTestCase {
    func tandemctl(_ args: String...) throws -> (status: Int32, output: String) {
        let bin = try XCTUnwrap(BuildProducts.path("tandemctl"), "tandemctl not built beside the tests: swift build --product tandemctl")
        return RealRing.runProcess([bin.path] + args, timeout: 60, what: "tandemctl \(args.joined(separator: " "))")
    }

    func testStatusListsTheHostsDomainsBesideThePlanAndNamesEveryDifference() throws {
        let lab = try LabHosts.up(2, label: "status")
        defer { lab.down() }
        // v1 is pinned to h1 and v2 to h2; h3's libvirtd does not exist.
        let topology = lab.stateDir + "/site.yaml"
        try """
            site: status
            hosts:
              - {name: h1, address: 192.0.2.1, cpus: 4, memory: 4GiB, libvirt: "\(lab.uri("h1"))"}
              - {name: h2, address: 192.0.2.2, cpus: 4, memory: 4GiB, libvirt: "\(lab.uri("h2"))"}
            vms:
              - {name: v1, role: gums, vcpus: 1, memory: 512MiB, addresses: [10.79.0.41/24], host: h1}
              - {name: v2, role: gums, vcpus: 1, memory: 512MiB, addresses: [10.79.0.42/24], host: h2}
            services: []
            """.write(toFile: topology, atomically: true, encoding: .utf8)

        // Nothing defined yet: both VMs missing.
        var r = try tandemctl("hosts", "status", topology)
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertTrue(r.output.contains("v1: runs nowhere; the plan puts it on h1"), r.output)
        XCTAssertTrue(r.output.contains("v2: runs nowhere; the plan puts it on h2"), r.output)

        // v1 where planned; v2 on the wrong host.
        let v1 = try lab.domain("v1", address: "10.79.0.41", mac: "52:54:00:79:00:41")
        let v2 = try lab.domain("v2", address: "10.79.0.42", mac: "52:54:00:79:00:42")
        try lab.virshDefine("h1", v1)
        XCTAssertEqual(lab.virsh("h1", "start", "v1").status, 0)
        try lab.virshDefine("h1", v2)
        XCTAssertEqual(lab.virsh("h1", "start", "v2").status, 0)
        r = try tandemctl("hosts", "status", topology)
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertTrue(r.output.contains("  v1  running  (planned here)"), r.output)
        XCTAssertTrue(r.output.contains("  v2  running  (planned on h2)"), r.output)
        XCTAssertTrue(r.output.contains("1 difference from the plan:\n  v2: runs on h1; the plan puts it on h2"), r.output)

        // A second copy on h2: running twice.
        try lab.virshDefine("h2", v2)
        XCTAssertEqual(lab.virsh("h2", "start", "v2").status, 0)
        r = try tandemctl("hosts", "status", topology, "--json")
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertTrue(r.output.contains("\"runningTwice\""), r.output)

        // The stray copy gone: the hosts match the plan.
        XCTAssertEqual(lab.virsh("h1", "destroy", "v2").status, 0)
        r = try tandemctl("hosts", "status", topology)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("  v2  shut off  (planned on h2)"), r.output)
        XCTAssertTrue(r.output.hasSuffix("every VM runs once, where the plan puts it\n") || r.output.hasSuffix("every VM runs once, where the plan puts it"), r.output)

        // A host whose libvirtd cannot be reached is a difference naming the VMs it leaves unverified.
        let broken = lab.stateDir + "/broken.yaml"
        try String(contentsOfFile: topology, encoding: .utf8)
            .replacingOccurrences(of: lab.uri("h2"), with: "lxc+unix:///system?socket=\(lab.stateDir)/no-such.sock")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        r = try tandemctl("hosts", "status", broken, "--timeout", "3")
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertTrue(r.output.contains("h2: unreachable: lxc+unix:///system?socket="), r.output)
        XCTAssertTrue(r.output.contains("unknown whether v2 runs there"), r.output)
    }

    func testABadURIIsRefusedWithItsPosition() throws {
        let dir = NSTemporaryDirectory() + "tandem-uri-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/site.yaml"
        try """
            site: bad
            hosts:
              - {name: h1, address: 192.0.2.1, cpus: 4, memory: 4GiB, libvirt: "dom0-1 system"}
            services: []
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try tandemctl("hosts", "status", path)
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertTrue(r.output.contains("site.yaml:3:"), r.output)
        XCTAssertTrue(r.output.contains("'dom0-1 system' is not a libvirt URI (hosts[0].libvirt)"), r.output)
    }
}
