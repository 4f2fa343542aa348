import Foundation
import XCTest
import Net
@testable import Topology
import TopologyFiles

/// Issue 16: a site without a hypervisor inventory. Hosts and VMs are optional; directors may be
/// plain machines and members plain real servers. Every check that still applies runs; the ones
/// that cannot (placement) are explained, not passed silently.
final class InventoryFreeTests: XCTestCase {
    /// Two plain directors and bare-metal members, nothing else. Line numbers below refer to it.
    static let site = """
    site: lb
    machines:
      - {name: lb1, addresses: [192.0.2.11/24]}
      - {name: lb2, addresses: [192.0.2.12/24]}
    services:
      - name: web
        vip: 192.0.2.100
        port: 80
        members:
          - {name: web1, address: 192.0.2.21, weight: 100}
          - {address: 192.0.2.22, port: 8080}
          - {address: 192.0.2.23}
        check: {kind: tcp}
    directors:
      members: [lb1, lb2]
      vrid: 60
      priorities: {lb1: 150, lb2: 100}
      interface: eth0
    """

    private func edit(_ old: String, _ new: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        XCTAssertTrue(Self.site.contains(old), "test edit target not found: \(old)", file: file, line: line)
        return Self.site.replacingOccurrences(of: old, with: new)
    }

    func testLoadBalancerOnlySiteValidatesAndNamesItsPlainMembers() throws {
        let t = try TopologyLoader.parse(data: Data(Self.site.utf8), file: "lb.yaml").topology
        XCTAssertTrue(t.hosts.isEmpty && t.vms.isEmpty)
        XCTAssertFalse(t.hasInventory)
        XCTAssertEqual(t.machines.map(\.name), ["lb1", "lb2"])
        let web = try XCTUnwrap(t.service(named: "web"))
        XCTAssertEqual(web.members.map(\.name), ["web1", "192.0.2.22:8080", "192.0.2.23:80"])
        XCTAssertEqual(web.members.map(\.vmName), [nil, nil, nil])
        XCTAssertEqual(web.members.map(\.port), [80, 8080, 80], "a plain member's port defaults to the service's")
        XCTAssertEqual(web.members.map(\.weight), [100, 1, 1])
        XCTAssertEqual(web.members.map { t.address(of: $0, in: web)?.description }, ["192.0.2.21", "192.0.2.22", "192.0.2.23"])
        XCTAssertEqual(t.addresses(ofNode: "lb2")?.map(\.address.description), ["192.0.2.12"])
        XCTAssertNil(t.addresses(ofNode: "web1"), "a real server is not a node the pair or ring can name")
        XCTAssertTrue(t.antiAffinityGroups.isEmpty, "machines and plain servers are never placed: \(t.antiAffinityGroups)")
        XCTAssertEqual(t.inapplicableChecks.count, 1)
        XCTAssertTrue(t.inapplicableChecks[0].contains("placement, anti-affinity and capacity checks do not apply"), t.inapplicableChecks[0])
        XCTAssertTrue(t.inapplicableChecks[0].contains("2 machines and 3 plain real servers"), t.inapplicableChecks[0])
    }

    func testShippedLoadBalancerOnlyExampleValidates() throws {
        let t = try TopologyLoader.load(path: repoRoot.appendingPathComponent("topology/lb-only.yaml").path)
        XCTAssertFalse(t.hasInventory)
        XCTAssertEqual(t.directors?.members, ["lb1", "lb2"])
        XCTAssertEqual(t.services.flatMap(\.members).filter { $0.vmName == nil }.count, t.services.flatMap(\.members).count)
    }

    /// The issue's complaint: one host and two bare-metal members gave "service web has 2 members
    /// but the site has only 1 host". Members that are not VMs are not placed, so no such error.
    func testOneHostSiteWithPlainMembersIsNotShortOfHosts() throws {
        let text = """
        site: one
        hosts: [{name: h1, address: 192.0.2.1, cpus: 4, memory: 8GiB}]
        vms: [{name: mon, role: other, vcpus: 1, memory: 1GiB, addresses: [10.0.0.5/24]}]
        services:
          - {name: web, vip: 10.0.9.1, port: 80, check: {kind: tcp}, members: [{address: 10.0.0.21}, {address: 10.0.0.22}]}
        """
        let t = try TopologyLoader.parse(data: Data(text.utf8), file: "one.yaml").topology
        XCTAssertTrue(t.antiAffinityGroups.isEmpty)
        XCTAssertEqual(t.inapplicableChecks.count, 1)
        XCTAssertTrue(t.inapplicableChecks[0].contains("0 machines and 2 plain real servers are outside the hypervisor inventory"), t.inapplicableChecks[0])
    }

    func testMemberNeedsAVMOrAnAddress() {
        let text = edit("{address: 192.0.2.22, port: 8080}", "{port: 8080}")
        assertDiagnostic(diagnostics(text), .missingKey, line: 11, column: 9, mentions: "missing key: give 'vm' or 'address'")
        XCTAssertTrue(diagnostics(text).first?.hint.contains("`address: 192.0.2.21` for a plain real server") ?? false)
        XCTAssertEqual(diagnostics(text).first?.keyPath, "services[0].members[1].vm")
    }

    func testNameBelongsToPlainServersOnly() {
        let text = Self.site + "\nvms: [{name: w9, role: other, vcpus: 1, memory: 1GiB, addresses: [192.0.2.29/24]}]"
            + "\nhosts: [{name: h1, address: 192.0.2.1, cpus: 4, memory: 8GiB}]"
        let both = text.replacingOccurrences(of: "{address: 192.0.2.22, port: 8080}", with: "{vm: w9, name: nine, port: 8080}")
        assertDiagnostic(diagnostics(both), .badValue, line: 11, column: 24, mentions: "'name' is set together with 'vm': a VM member is named by its VM")
    }

    func testPlainServerNamedAfterAVMOrAnotherMachineIsRefused() {
        let vmName = Self.site + "\nvms: [{name: web1, role: other, vcpus: 1, memory: 1GiB, addresses: [192.0.2.29/24]}]"
            + "\nhosts: [{name: h1, address: 192.0.2.1, cpus: 4, memory: 8GiB}]"
        assertDiagnostic(diagnostics(vmName), .duplicateName, line: 10, column: 16, mentions: "real server name 'web1' is the name of a VM")
        // Named after the machine it runs on: fine with that machine's address, refused with another.
        let onMachine = edit("{name: web1, address: 192.0.2.21", "{name: lb2, address: 192.0.2.12")
            .replacingOccurrences(of: "members: [lb1, lb2]", with: "members: [lb1, lb3]")
            .replacingOccurrences(of: "lb2: 100", with: "lb3: 100")
            .replacingOccurrences(of: "  - {name: lb2, addresses: [192.0.2.12/24]}", with: "  - {name: lb2, addresses: [192.0.2.12/24]}\n  - {name: lb3, addresses: [192.0.2.13/24]}")
        XCTAssertEqual(diagnostics(onMachine), [])
        let elsewhere = onMachine.replacingOccurrences(of: "{name: lb2, address: 192.0.2.12", with: "{name: lb2, address: 192.0.2.99")
        assertDiagnostic(diagnostics(elsewhere), .duplicateName, line: 11, column: 16, mentions: "named after machine lb2, which has no such address")
        let twice = edit("{address: 192.0.2.22, port: 8080}", "{name: web1, address: 192.0.2.22, port: 8080}")
        assertDiagnostic(diagnostics(twice), .duplicateName, line: 11, column: 16, mentions: "member name 'web1' is used twice in service web")
    }

    func testMachinesAndVMsShareOneNamespace() {
        let text = Self.site + "\nvms: [{name: lb1, role: other, vcpus: 1, memory: 1GiB, addresses: [192.0.2.29/24]}]"
            + "\nhosts: [{name: h1, address: 192.0.2.1, cpus: 4, memory: 8GiB}]"
        let d = diagnostics(text).filter { $0.code == .duplicateName }
        XCTAssertEqual(d.count, 1, "\(d)")
        XCTAssertTrue(d.first?.message.contains("already the name of a") ?? false, "\(d)")
    }

    func testVMsWithoutHostsAreRefusedWithWhatToDo() {
        let text = Self.site + "\nvms: [{name: w9, role: other, vcpus: 1, memory: 1GiB, addresses: [192.0.2.29/24]}]"
        let d = assertDiagnostic(diagnostics(text), .missingKey, line: 19, column: 6, mentions: "declares 1 VM but no hosts to place them on")
        XCTAssertTrue(d?.hint.contains("list them under `machines`") ?? false, d?.hint ?? "-")
    }

    func testADirectorMachineServingAsARealServerIsRefused() {
        let text = edit("{address: 192.0.2.22, port: 8080}", "{address: 192.0.2.12, port: 8080}")
        assertDiagnostic(diagnostics(text), .directorIsMember, line: 15, column: 18, mentions: "director lb2 is also a member of service web")
    }

    func testDirectorWitnessOnAMachineAddressIsRefused() {
        let text = Self.site + "\n  witness: 192.0.2.11"
        assertDiagnostic(diagnostics(text), .unusableAddress, line: 19, column: 12, mentions: "is an address of director lb1")
    }

    func testMachineAddressesAreClaimedOnce() {
        let text = edit("{name: lb2, addresses: [192.0.2.12/24]}", "{name: lb2, addresses: [192.0.2.11/24]}")
        assertDiagnostic(diagnostics(text), .duplicateAddress, line: 4, column: 29, mentions: "already used by machine lb1")
    }

    func testAntiAffinityNamingAMachineSaysMachinesAreNotPlaced() {
        let text = Self.site + "\nanti_affinity: [{name: pair, members: [lb1, lb2]}]"
        let d = diagnostics(text).filter { $0.code == .unknownReference }
        XCTAssertEqual(d.count, 2, "\(d)")
        XCTAssertTrue(d.allSatisfy { $0.message.contains("is a machine, not a VM: machines are never placed") }, "\(d)")
    }

    func testUnknownDirectorPointsAtVMsAndMachines() {
        let text = edit("members: [lb1, lb2]", "members: [lb1, lb3]").replacingOccurrences(of: "lb2: 100", with: "lb3: 100")
        let d = assertDiagnostic(diagnostics(text), .unknownReference, line: 15, column: 18, mentions: "unknown VM or machine 'lb3'")
        XCTAssertTrue(d?.hint.contains("did you mean 'lb1'? declare it under vms or machines first") ?? false, d?.hint ?? "-")
    }

    func testRingOfMachines() throws {
        let text = Self.site + """

        database: {ring: [lb1, lb2], port: 3307}
        """
        let t = try TopologyLoader.parse(data: Data(text.utf8), file: "lb.yaml").topology
        XCTAssertEqual(t.database?.members, ["lb1", "lb2"])
        XCTAssertTrue(t.antiAffinityGroups.isEmpty, "a ring of machines is not placed")
    }

    /// The table's rules between keys are what the loader enforces (and what the JSON Schema says).
    func testKeyRulesOfTheTablesAreEnforced() {
        let rules = SchemaTests.allSpecs.flatMap { spec in spec.rules.map { (spec.name, $0) } }
        XCTAssertEqual(rules.count, 8, "service: port, fwmark, sorry_server; member: vm or address, name without vm; domain: template or xml_file, not both, no values with xml_file")
        // fwmark without protocol: fwmark, and protocol: fwmark without fwmark.
        let stray = edited("    port: 8443\n", "    port: 8443\n    fwmark: 3\n")
        assertDiagnostic(diagnostics(stray), .badValue, line: 14, column: 13, mentions: "fwmark is set but protocol is tcp")
        let noPort = edited("    port: 8443\n", "")
        assertDiagnostic(diagnostics(noPort), .missingKey, line: 11, column: 5, mentions: "missing required key 'port'")
        let sorry = edited("    forwarding: nat\n", "    forwarding: nat\n    last_member: sorry\n")
        assertDiagnostic(diagnostics(sorry), .missingKey, line: 11, column: 5, mentions: "last_member: sorry needs 'sorry_server'")
        let unused = edited("    forwarding: nat\n", "    forwarding: nat\n    sorry_server: {address: 10.0.9.99, port: 80}\n")
        assertDiagnostic(diagnostics(unused), .badValue, line: 16, column: 19, mentions: "sorry_server is set but last_member is keep")
        // An unknown selector value is reported once, by its own read, and no rule is judged on it.
        let typo = edited("    port: 8443\n", "    protocol: tcpp\n")
        XCTAssertEqual(diagnostics(typo).map(\.code), [.badValue], "\(diagnostics(typo))")
    }
}
