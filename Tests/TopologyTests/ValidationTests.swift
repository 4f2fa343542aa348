import Foundation
import XCTest
@testable import Topology

/// One test per error class the validator must catch, each checking the code, the line and
/// column, and that the message says what to do.
final class ValidationTests: XCTestCase {
    // MARK: Structure: type mismatch, missing key, unknown key, duplicate key

    func testTypeMismatchIsLocatedAtTheValue() {
        let t = edited("cpus: 4, memory: 8GiB, labels: {rack: r1}", "cpus: four, memory: 8GiB, labels: {rack: r1}")
        assertDiagnostic(in: t, .typeMismatch, at: "four", mentions: "expected an integer, found 'four' (hosts[0].cpus)")
        let l = edited("vms:\n  - {name: d1", "vms:\n  - {name: [d1]")
        assertDiagnostic(in: l, .typeMismatch, at: "[d1]", mentions: "expected a string, found a list")
        let q = edited("port: 8443\n    scheduler", "port: \"8443\"\n    scheduler")
        assertDiagnostic(in: q, .typeMismatch, at: "\"8443\"", mentions: "write the port as a number")
    }

    func testMissingRequiredKeyIsReportedAtItsMapping() {
        let t = edited("    vip: 10.0.9.1\n", "")
        assertDiagnostic(in: t, .missingKey, at: "name: gums", mentions: "missing required key 'vip' (services[0].vip) — add `vip:`")
    }

    func testUnknownKeySuggestsTheNearestValidKey() {
        let t = edited("{name: d1, role: director, vcpus: 1", "{name: d1, role: director, vpcus: 1")
        let d = assertDiagnostic(in: t, .unknownKey, at: "vpcus", mentions: "did you mean 'vcpus'?")
        XCTAssertEqual(d?.keyPath, "vms[0].vpcus")
        // The typo also leaves the real key missing; both are reported.
        XCTAssertTrue(diagnostics(t).contains { $0.code == .missingKey && $0.keyPath == "vms[0].vcpus" })
        let s = edited("    scheduler: wlc", "    shceduler: wlc")
        assertDiagnostic(in: s, .unknownKey, at: "shceduler", mentions: "did you mean 'scheduler'?")
    }

    func testDuplicateKeyIsAnError() {
        let t = edited("    port: 8443\n", "    port: 8443\n    port: 9443\n")
        assertDiagnostic(in: t, .duplicateKey, at: "port: 9443", mentions: "key 'port' appears twice")
        XCTAssertEqual(diagnostics(t).count, 1, "a repeated key stops the YAML parser, so it is the only error")
    }

    // MARK: Duplicates

    func testDuplicateNames() {
        let t = edited("{name: g2, role: gums", "{name: g1, role: gums")
        assertDiagnostic(in: t, .duplicateName, at: "g1", occurrence: 2, mentions: "VM 'g1' is declared twice (first at site.yaml:8:")
        let h = edited("{name: h2, address", "{name: h1, address")
        assertDiagnostic(in: h, .duplicateName, at: "h1", occurrence: 2, mentions: "host 'h1' is declared twice")
    }

    func testDuplicateVIPAndPortAcrossServices() {
        let second = """
          - name: gums2
            vip: 10.0.9.1
            port: 8443
            members: [{vm: g1, port: 9000}]
            check: {kind: tcp}
        directors:
        """
        let t = edited("directors:", second)
        assertDiagnostic(in: t, .duplicateVIP, at: "10.0.9.1", occurrence: 2, mentions: "tcp 10.0.9.1:8443, already used by service gums")
        // Same VIP on another port is a separate service, as in LVS.
        XCTAssertEqual(diagnostics(t.replacingOccurrences(of: "    port: 8443\n    members: [{vm: g1", with: "    port: 8444\n    members: [{vm: g1")), [])
    }

    func testVIPThatIsAMachineAddress() {
        let t = edited("vip: 10.0.9.1", "vip: 10.0.1.1")
        assertDiagnostic(in: t, .duplicateVIP, at: "10.0.1.1", occurrence: 2, mentions: "is the address of VM g1")
    }

    func testDuplicateAddressBetweenVMs() {
        let t = edited("addresses: [10.0.0.2/24]", "addresses: [10.0.0.1/24]")
        assertDiagnostic(in: t, .duplicateAddress, at: "10.0.0.1/24", occurrence: 2, mentions: "already used by VM d1")
    }

    func testDuplicateRealServerInOneService() {
        let t = edited("      - {vm: g2, port: 8443}", "      - {vm: g2, port: 8443}\n      - {vm: g2, port: 8443, weight: 5}")
        assertDiagnostic(in: t, .duplicateEndpoint, at: "{vm: g2, port: 8443, weight", mentions: "real server 10.0.1.2:8443 is listed twice")
    }

    func testDuplicateVRIDOnOneLink() {
        let pairs = """
        directors:
          - {name: lvs-a, members: [d1, d2], vrid: 7, interface: eth0}
          - {name: lvs-b, members: [d3, d4], vrid: 7, interface: eth0}
        """
        var t = baseSite.components(separatedBy: "directors:")[0] + pairs
        t = t.replacingOccurrences(of: "vms:\n", with: "vms:\n  - {name: d3, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.3]}\n  - {name: d4, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.4]}\n")
        assertDiagnostic(in: t, .duplicateVRID, at: "7, interface", occurrence: 2, mentions: "VRID 7 on eth0 is already used by pair lvs-a")
        XCTAssertEqual(diagnostics(t.replacingOccurrences(of: "[d3, d4], vrid: 7", with: "[d3, d4], vrid: 8")), [])
    }

    // MARK: Addresses and ports

    func testMalformedAddresses() {
        assertDiagnostic(in: edited("vip: 10.0.9.1", "vip: 10.0.9.256"), .badAddress, at: "10.0.9.256", mentions: "'10.0.9.256' is not a valid IP address")
        assertDiagnostic(in: edited("address: 192.0.2.2", "address: 2001:db8::g"), .badAddress, at: "2001:db8::g", mentions: "not a valid IP address")
        assertDiagnostic(in: edited("vip: 10.0.9.1", "vip: 10.0.9.1/24"), .badAddress, at: "10.0.9.1/24", mentions: "without /prefix")
    }

    func testBadCIDR() {
        assertDiagnostic(in: edited("[10.0.0.2/24]", "[10.0.0.2/33]"), .badCIDR, at: "10.0.0.2/33", mentions: "an ipv4 prefix is 0 to 32")
        assertDiagnostic(in: edited("\"2001:db8::2/64\"", "\"2001:db8::2/129\""), .badCIDR, at: "\"2001:db8::2/129\"", mentions: "0 to 128")
        let p = edited("    forwarding: nat\n", "    forwarding: nat\n    persistence: {timeout: 300s, netmask: 255.0.255.0}\n")
        assertDiagnostic(in: p, .badCIDR, at: "255.0.255.0", mentions: "not a contiguous netmask")
    }

    func testBadPorts() {
        assertDiagnostic(in: edited("port: 8443\n    scheduler", "port: 70000\n    scheduler"), .badPort, at: "70000", mentions: "port 70000 is out of range")
        assertDiagnostic(in: edited("{vm: g1, port: 8443}", "{vm: g1, port: 0}"), .badPort, at: "0}", mentions: "use a port from 1 to 65535")
    }

    func testAddressFamilyMismatch() {
        let t = edited("{vm: g1, port: 8443}", "{vm: g1, port: 8443, address: \"2001:db8::1\"}")
        assertDiagnostic(in: t, .familyMismatch, at: "\"2001:db8::1\"}", mentions: "member address 2001:db8::1 is ipv6 but VIP 10.0.9.1 is ipv4")
        let v6 = edited("vip: 10.0.9.1", "vip: \"2001:db8::9\"").replacingOccurrences(of: "addresses: [10.0.1.2/24, \"2001:db8::2/64\"]", with: "addresses: [10.0.1.2/24]")
        assertDiagnostic(in: v6, .familyMismatch, at: "g2, port", mentions: "VM g2 has no ipv6 address")
    }

    // MARK: Closed vocabularies

    func testUnknownScheduler() {
        assertDiagnostic(in: edited("scheduler: wlc", "scheduler: roundrobin"), .unknownScheduler, at: "roundrobin", mentions: "valid: rr, wrr")
    }

    func testUnknownForwardingMethod() {
        assertDiagnostic(in: edited("forwarding: nat", "forwarding: dsr"), .unknownForwarding, at: "dsr", mentions: "valid: nat, dr, tun")
        assertDiagnostic(in: edited("forwarding: nat", "forwarding: natt"), .unknownForwarding, at: "natt", mentions: "did you mean 'nat'?")
    }

    func testDirectRoutingCannotRemapPorts() {
        let t = edited("forwarding: nat", "forwarding: dr").replacingOccurrences(of: "{vm: g2, port: 8443}", with: "{vm: g2, port: 9443}")
        assertDiagnostic(in: t, .badPort, at: "9443", mentions: "DR cannot change the port (8443 → 9443)")
    }

    // MARK: References

    func testUnknownReferencesSuggestTheNearestName() {
        assertDiagnostic(in: edited("{vm: g2, port: 8443}", "{vm: g3, port: 8443}"), .unknownReference, at: "g3", mentions: "unknown VM 'g3'")
        assertDiagnostic(in: edited("members: [d1, d2]", "members: [d1, dd2]"), .unknownReference, at: "dd2", mentions: "did you mean 'd2'?")
        let pin = edited("addresses: [10.0.0.1/24]}", "addresses: [10.0.0.1/24], host: h9}")
        assertDiagnostic(in: pin, .unknownReference, at: "h9", mentions: "unknown host 'h9'")
    }

    func testAReferenceToAnEntryWithErrorsDoesNotCascade() {
        // g2 has a typo in its memory; the service that names g2 must not also say "unknown VM".
        let t = edited("{name: g2, role: gums, vcpus: 1, memory: 1GiB", "{name: g2, role: gums, vcpus: 1, memory: lots")
        XCTAssertEqual(diagnostics(t).map(\.code), [.typeMismatch])
    }

    // MARK: Pairs, capacity, ring, directors

    func testPairPinnedToOneHost() {
        let t = edited("addresses: [10.0.0.1/24]}", "addresses: [10.0.0.1/24], host: h1}")
            .replacingOccurrences(of: "addresses: [10.0.0.2/24]}", with: "addresses: [10.0.0.2/24], host: h1}")
        assertDiagnostic(in: t, .pinnedTogether, at: "h1}", occurrence: 2, mentions: "director pair directors: d1 and d2 are both pinned to host h1")
    }

    func testPairThatCannotBeSplit() {
        let t = edited("  - {name: h2, address: 192.0.2.2, cpus: 4, memory: 8GiB, labels: {rack: r2}}\n", "")
        let d = diagnostics(t).filter { $0.code == .cannotSplit }
        XCTAssertEqual(d.count, 2, "the director pair and the gums pair: \(d)")
        XCTAssertTrue(d.contains { $0.message == "service gums has 2 members but the site has only 1 host" && $0.location == SourceLocation(file: "site.yaml", line: locate("- {vm: g1", in: t).line, column: 7) })
        XCTAssertTrue(d.allSatisfy { $0.hint.contains("add 1 host(s)") })
    }

    func testPairThatCannotBeSplitAcrossFailureDomains() {
        let t = "placement: {spread: [rack]}\n" + edited("labels: {rack: r2}", "labels: {rack: r1}")
        let d = diagnostics(t).filter { $0.code == .cannotSplit }
        XCTAssertEqual(d.count, 2)
        XCTAssertTrue(d[0].message.contains("only 1 distinct 'rack' value (r1)"), d[0].description)
    }

    func testHostCapacityExceeded() {
        let big = edited("{name: g1, role: gums, vcpus: 1, memory: 1GiB", "{name: g1, role: gums, vcpus: 1, memory: 9GiB")
        assertDiagnostic(in: big, .capacityExceeded, at: "{name: g1", mentions: "VM g1 (1 vCPU, 9216 MiB) is larger than every host (largest: 4 CPU, 8192 MiB)")
        let short = edited("{name: g1, role: gums, vcpus: 1", "{name: g1, role: gums, vcpus: 4")
            .replacingOccurrences(of: "{name: g2, role: gums, vcpus: 1", with: "{name: g2, role: gums, vcpus: 4")
        assertDiagnostic(in: short, .capacityExceeded, at: "- {name: h1", mentions: "the VMs need 10 CPU / 4096 MiB but all hosts together have 8 / 16384")
        let pinned = edited("addresses: [10.0.0.1/24]}", "addresses: [10.0.0.1/24], host: h1}")
            .replacingOccurrences(of: "{name: g1, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.0.1.1/24, \"2001:db8::1/64\"]}",
                                  with: "{name: g1, role: gums, vcpus: 1, memory: 7.5GiB, addresses: [10.0.1.1/24, \"2001:db8::1/64\"], host: h1}")
        assertDiagnostic(in: pinned, .capacityExceeded, at: "{name: h1", mentions: "host h1 is over capacity with its pinned VMs (d1, g1): needs 2 CPU / 8704 MiB, has 4 / 8192")
    }

    func testRingOfFewerThanTwoNodes() {
        let t = baseSite + "\ndatabase:\n  ring: [g1]\n"
        assertDiagnostic(in: t, .ringTooSmall, at: "[g1]", mentions: "at least two distinct nodes, found 1")
        XCTAssertEqual(diagnostics(baseSite + "\ndatabase:\n  ring: [g1, g1]\n").map(\.code), [.ringTooSmall])
    }

    func testDirectorThatIsAlsoAServiceMember() {
        let t = edited("{vm: g2, port: 8443}", "{vm: d2, port: 8443}")
        assertDiagnostic(in: t, .directorIsMember, at: "d2]", mentions: "director d2 is also a member of service gums")
    }

    func testPriorityForANonMember() {
        let t = edited("priorities: {d1: 150, d2: 100}", "priorities: {d1: 150, d3: 100}")
        XCTAssertTrue(diagnostics(t).contains { $0.code == .unknownReference && $0.message.contains("priority given for 'd3'") })
        assertDiagnostic(in: edited("{d1: 150,", "{d1: 255,"), .badValue, at: "255", mentions: "RFC 5798")
    }

    func testSchedulerFlagsMustMatchTheScheduler() {
        let t = edited("    scheduler: wlc\n", "    scheduler: wlc\n    scheduler_flags: [sh-port]\n")
        assertDiagnostic(in: t, .badValue, at: "[sh-port]", mentions: "flag sh-port has no effect with scheduler wlc")
    }

    func testFwmarkRules() {
        let t = edited("    port: 8443\n    scheduler", "    protocol: fwmark\n    scheduler")
        assertDiagnostic(in: t, .missingKey, at: "name: gums", mentions: "protocol: fwmark needs 'fwmark'")
        let ok = edited("    port: 8443\n    scheduler", "    protocol: fwmark\n    fwmark: 12\n    scheduler")
        XCTAssertEqual(diagnostics(ok), [], "a fwmark service has no port")
    }

    func testCheckKindSpecificKeys() {
        assertDiagnostic(in: edited("kind: http", "kind: htp"), .badValue, at: "htp", mentions: "did you mean 'http'?")
        assertDiagnostic(in: edited("kind: http, path: /healthz", "kind: tcp, path: /healthz"), .unknownKey, at: "path", mentions: "unknown key 'path'")
        assertDiagnostic(in: edited("path: /healthz", "path: healthz"), .badValue, at: "healthz", mentions: "does not start with '/'")
        assertDiagnostic(in: edited("rise: 2", "rise: 0"), .badValue, at: "0, fall", mentions: "use a value from 1 to 100")
        assertDiagnostic(in: edited("interval: 1s", "interval: soon"), .typeMismatch, at: "soon", mentions: "expected a duration")
    }
}
