import Foundation
import Topology
import VRRP
import VRRPTransport
import XCTest

/// `DirectorSetup.liveChanges`: what a SIGHUP may change in a running VRRP instance.
final class LiveReloadTests: XCTestCase {
    private func topology(vrid: Int = 51, prioA: Int = 150, interval: Int = 1000, interface: String = "eth0",
                          addrA: String = "10.99.0.1/24", vips: [String] = ["10.99.0.100"], witness: String? = nil,
                          members: String = "[da, db]", priorities: String? = nil) throws -> Topology {
        var services = ""
        for (i, v) in vips.enumerated() {
            services += """
              - name: web\(i)
                vip: \(v)
                port: 80
                members: [{vm: w1, port: 80}]
                check: {kind: tcp, interval: 1s, timeout: 500ms}

            """
        }
        let yaml = """
        site: lab
        hosts:
          - {name: h1, address: 192.0.2.1, cpus: 2, memory: 4GiB}
          - {name: h2, address: 192.0.2.2, cpus: 2, memory: 4GiB}
        vms:
          - {name: da, role: director, vcpus: 1, memory: 1GiB, addresses: [\(addrA)]}
          - {name: db, role: director, vcpus: 1, memory: 1GiB, addresses: [10.99.0.2/24]}
          - {name: dc, role: director, vcpus: 1, memory: 1GiB, addresses: [10.99.0.4/24]}
          - {name: w1, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.99.0.11/24, "fd00:99::11/64"]}
        services:
        \(services)
        directors:
          members: \(members)
          vrid: \(vrid)
          priorities: \(priorities ?? "{da: \(prioA), db: 100}")
          advert_interval: \(interval)ms
          interface: \(interface)
        \(witness.map { "  witness: \($0)" } ?? "")

        """
        return try TopologyLoader.parse(data: Data(yaml.utf8), file: "test.yaml").topology
    }

    private func setup(_ t: Topology, _ o: DirectorOverrides = .init()) throws -> DirectorSetup {
        try DirectorSetup.make(topology: t, node: "da", overrides: o)
    }

    func testLiveChangesNameEachChangedParameter() throws {
        let old = try setup(try topology())
        let new = try setup(try topology(prioA: 120, interval: 500, vips: ["10.99.0.100", "10.99.0.101"], witness: "10.99.0.3"))
        XCTAssertEqual(try DirectorSetup.liveChanges(from: old, to: new), [
            "priority 150 -> 120", "advert interval 1.0 seconds -> 0.5 seconds", "vips +10.99.0.101", "witness none -> 10.99.0.3",
        ])
    }

    /// Both executables pass the key file's path; the replay record goes beside it, per VRID, and a
    /// reload that keeps the key keeps it (it is not a live change).
    func testReplayRecordGoesBesideTheKeyFile() throws {
        var o = DirectorOverrides(); o.authKeyFile = "/etc/tandem/vrrp.key"
        let withKey = try DirectorSetup.make(topology: try topology(vrid: 7), node: "da", overrides: o, authKey: Array("k".utf8))
        XCTAssertEqual(withKey.options.replayRecordFile, "/etc/tandem/vrrp.key.vrid7.replay.json")
        XCTAssertNil(try setup(try topology()).options.replayRecordFile, "no key file, no record")
        XCTAssertEqual(try DirectorSetup.liveChanges(from: withKey, to: withKey), [])
    }

    func testUnchangedPairHasNoChanges() throws {
        XCTAssertEqual(try DirectorSetup.liveChanges(from: try setup(try topology()), to: try setup(try topology())), [])
    }

    func testDroppedVIPAndFastDetectorChangeAreLive() throws {
        var o = DirectorOverrides(); o.fastDetectorInterval = .milliseconds(20)
        var o2 = o; o2.fastDetectorMisses = 5
        let old = try setup(try topology(vips: ["10.99.0.100", "10.99.0.101"]), o)
        let new = try setup(try topology(vips: ["10.99.0.101"]), o2)
        XCTAssertEqual(try DirectorSetup.liveChanges(from: old, to: new), [
            "vips -10.99.0.100", "fast detector 0.02 seconds x3 peer 10.99.0.2 -> 0.02 seconds x5 peer 10.99.0.2",
        ])
    }

    private func assertRefused(_ new: Topology, mentions key: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let old = try setup(try topology())
        XCTAssertThrowsError(try DirectorSetup.liveChanges(from: old, to: try setup(new)), file: file, line: line) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains(key), "\(text) should name \(key)", file: file, line: line)
            XCTAssertTrue(text.contains("restart"), "\(text) should say a restart is needed", file: file, line: line)
        }
    }

    func testVRIDChangeIsRefused() throws { try assertRefused(try topology(vrid: 52), mentions: "directors.vrid") }
    func testInterfaceChangeIsRefused() throws { try assertRefused(try topology(interface: "eth1"), mentions: "directors.interface") }
    func testPrimaryAddressChangeIsRefused() throws { try assertRefused(try topology(addrA: "10.99.0.5/24"), mentions: "primary address") }
    func testAddressFamilyChangeIsRefused() throws {
        try assertRefused(try topology(addrA: "\"fd00:99::1/64\"", vips: ["\"fd00:99::100\""]), mentions: "address family")
    }

    func testLeavingThePairFailsToBuildTheNewSetup() throws {
        XCTAssertThrowsError(try setup(try topology(members: "[db, dc]", priorities: "{db: 100, dc: 90}"))) { e in
            XCTAssertTrue("\(e)".contains("no director pair has member da"), "\(e)")
        }
    }
}
