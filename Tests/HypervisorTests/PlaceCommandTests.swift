import Foundation
import HostLab
import TestSupport
import XCTest

/// `tandemctl place` (the built executable) against real libvirtd hosts of the lab: VMs made from a
/// domain template are defined and started where the plan puts them, a second run does nothing,
/// and a copy started by hand elsewhere is reported and left running.
final class PlaceCommandTests: XCTestCase {
    func tandemctl(_ args: String...) throws -> (status: Int32, output: String) {
        let bin = try XCTUnwrap(BuildProducts.path("tandemctl"), "tandemctl not built beside the tests: swift build --product tandemctl")
        return RealRing.runProcess([bin.path] + args, timeout: 120, what: "tandemctl \(args.joined(separator: " "))")
    }

    /// An LXC domain as scripts/lab/domain-xml writes it (`gridsvc` its init), with Tandem's placeholders.
    static func template(gridsvc: String) -> String {
        """
        <domain type='lxc'>
          <name>{{name}}</name>
          <memory unit='MiB'>{{memory_mib}}</memory>
          <vcpu>{{vcpus}}</vcpu>
          <os>
            <type>exe</type>
            <init>\(gridsvc)</init>
            <initarg>static</initarg>
            <initarg>--listen</initarg>
            <initarg>0.0.0.0:{{port}}</initarg>
            <initarg>--threads</initarg>
            <initarg>1</initarg>
            <initarg>--body</initarg>
            <initarg>{"vm":"{{name}}"}</initarg>
          </os>
          <features><privnet/></features>
          <on_poweroff>destroy</on_poweroff>
          <on_reboot>destroy</on_reboot>
          <on_crash>destroy</on_crash>
          <devices>
            <interface type='bridge'>
              <source bridge='br0'/>
              <mac address='{{mac}}'/>
              <guest dev='eth0'/>
              <ip address='{{address}}' prefix='{{prefix}}'/>
            </interface>
            <console type='pty'/>
          </devices>
        </domain>
        """
    }

    func testApplyStartsEveryVMWhereThePlanSaysThenDoesNothingAndLeavesAHandStartedCopyAlone() throws {
        let lab = try LabHosts.up(3, label: "place")
        defer { lab.down() }
        let templatePath = lab.stateDir + "/gridsvc.xml"
        try Self.template(gridsvc: lab.gridsvc).write(toFile: templatePath, atomically: true, encoding: .utf8)
        let topology = lab.stateDir + "/site.yaml"
        try """
            site: place
            hosts:
              - {name: h1, address: 192.0.2.1, cpus: 2, memory: 1GiB, libvirt: "\(lab.uri("h1"))"}
              - {name: h2, address: 192.0.2.2, cpus: 2, memory: 1GiB, libvirt: "\(lab.uri("h2"))"}
              - {name: h3, address: 192.0.2.3, cpus: 2, memory: 1GiB, libvirt: "\(lab.uri("h3"))"}
            domain_templates: {gridsvc: \(templatePath)}
            vms:
              - {name: a1, role: gums, vcpus: 1, memory: 64MiB, addresses: [10.79.0.51/24], domain: {template: gridsvc, values: {port: "8080"}}}
              - {name: a2, role: gums, vcpus: 1, memory: 64MiB, addresses: [10.79.0.52/24], domain: {template: gridsvc, values: {port: "8080"}}}
              - {name: b1, role: voms, vcpus: 1, memory: 64MiB, addresses: [10.79.0.53/24], domain: {template: gridsvc, values: {port: "8080"}}}
              - {name: b2, role: voms, vcpus: 1, memory: 64MiB, addresses: [10.79.0.54/24], domain: {template: gridsvc, values: {port: "8080"}}}
            anti_affinity:
              - {name: a, members: [a1, a2]}
              - {name: b, members: [b1, b2]}
            services: []
            """.write(toFile: topology, atomically: true, encoding: .utf8)

        let planned = try plan(topology)
        XCTAssertEqual(Set(planned.keys), ["a1", "a2", "b1", "b2"])

        // The dry run prints a define and a start per VM and changes nothing.
        var r = try tandemctl("place", "--dry-run", topology)
        XCTAssertEqual(r.status, 0, r.output)
        for (vm, host) in planned {
            XCTAssertTrue(r.output.contains("define \(vm) on \(host): \(vm): runs nowhere; the plan puts it on \(host)"), r.output)
            XCTAssertTrue(r.output.contains("start \(vm) on \(host):"), r.output)
        }
        XCTAssertTrue(r.output.hasSuffix("8 steps\n"), r.output)
        for h in lab.hosts { XCTAssertEqual(lab.defined(on: h), [], "the dry run defined something on \(h)") }

        // Apply: every VM runs where the plan says, as virsh sees it, with the name-derived MAC.
        r = try tandemctl("place", "--apply", topology)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("8 steps: 8 ok, 0 failed"), r.output)
        for h in lab.hosts {
            XCTAssertEqual(lab.running(on: h), Set(planned.filter { $0.value == h }.keys), "on \(h): \(r.output)")
        }
        let a1Host = try XCTUnwrap(planned["a1"])
        let xml = lab.virsh(a1Host, "dumpxml", "a1").output
        XCTAssertTrue(xml.contains("<ip address='10.79.0.51' family='ipv4' prefix='24'/>") || xml.contains("address='10.79.0.51'"), xml)
        XCTAssertTrue(xml.contains("<mac address='52:54:00:"), xml)

        // A second run finds nothing to do.
        r = try tandemctl("place", "--apply", topology)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("0 steps: 0 ok, 0 failed"), r.output)

        // A second copy of a1 started by hand on another host, and a domain the topology does not
        // know: reported (a1) or ignored (stray), never touched.
        let other = try XCTUnwrap(lab.hosts.first { $0 != a1Host })
        try lab.virshDefine(other, try lab.domain("a1", address: "10.79.0.51", mac: "52:54:00:79:00:51"))
        XCTAssertEqual(lab.virsh(other, "start", "a1").status, 0)
        try lab.virshDefine(other, try lab.domain("stray", address: "10.79.0.59", mac: "52:54:00:79:00:59"))
        XCTAssertEqual(lab.virsh(other, "start", "stray").status, 0)
        let before = lab.hosts.map { lab.running(on: $0) }
        r = try tandemctl("place", "--apply", topology)
        XCTAssertEqual(r.status, 0, r.output)
        let both = [a1Host, other].sorted().joined(separator: ", ")
        XCTAssertTrue(r.output.contains("note: a1: runs on 2 hosts at once (\(both)) (left alone: `--move` stops the stray copy and starts it on \(a1Host))"), r.output)
        XCTAssertTrue(r.output.contains("0 steps: 0 ok, 0 failed"), r.output)
        XCTAssertEqual(lab.hosts.map { lab.running(on: $0) }, before, "place without --move touched a running domain")
        XCTAssertTrue(lab.running(on: other).isSuperset(of: ["a1", "stray"]))
    }

    func testABadTemplateStopsPlaceBeforeAnyHostIsTouched() throws {
        let dir = NSTemporaryDirectory() + "tandem-place-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "<domain>\n  <name>{{name}}</name>\n  <x>{{bridge}}</x>\n</domain>\n".write(toFile: dir + "/t.xml", atomically: true, encoding: .utf8)
        let path = dir + "/site.yaml"
        try """
            site: bad
            hosts:
              - {name: h1, address: 192.0.2.1, cpus: 4, memory: 4GiB, libvirt: "lxc+unix:///system?socket=\(dir)/none.sock"}
            domain_templates: {t: \(dir)/t.xml, gone: \(dir)/missing.xml}
            vms:
              - {name: v1, role: gums, vcpus: 1, memory: 64MiB, addresses: [10.79.0.41/24], domain: {template: t}}
              - {name: v2, role: gums, vcpus: 1, memory: 64MiB, addresses: [10.79.0.42/24], domain: {template: gone}}
            services: []
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try tandemctl("place", "--dry-run", path)
        XCTAssertEqual(r.status, 1, r.output)
        XCTAssertTrue(r.output.contains("\(dir)/t.xml:3:6: error: placeholder {{bridge}} has no value for VM v1"), r.output)
        XCTAssertTrue(r.output.contains("\(dir)/missing.xml:1:1: error: cannot read the file (No such file or directory) (named by domain_templates.gone)"), r.output)
        XCTAssertFalse(r.output.contains("step"), r.output)
        // validate warns about the same files and still accepts the topology itself.
        let v = try tandemctl("validate", path)
        XCTAssertEqual(v.status, 0, v.output)
        XCTAssertTrue(v.output.contains("t.xml:3:6: warning: placeholder {{bridge}}"), v.output)
    }

    /// `tandemctl plan --json`'s assignment: VM → host.
    func plan(_ topology: String) throws -> [String: String] {
        let r = try tandemctl("plan", topology, "--json")
        XCTAssertEqual(r.status, 0, r.output)
        struct Report: Decodable { var assignment: [String: String] }
        return try JSONDecoder().decode(Report.self, from: Data(r.output.utf8)).assignment
    }
}
