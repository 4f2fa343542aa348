import Foundation
import XCTest
@testable import Topology
import TopologyFiles

/// The per-service `passive:` key (passive silence detection): its defaults, its bounds, and that
/// only NAT TCP services may have it.
final class PassiveTopologyTests: XCTestCase {
    let checkLine = "    check: {kind: http, path: /healthz, interval: 1s, timeout: 500ms, rise: 2, fall: 3}\n"

    func site(passive: String, forwarding: String = "nat") -> String {
        edited(checkLine, checkLine + "    passive: \(passive)\n").replacingOccurrences(of: "forwarding: nat", with: "forwarding: \(forwarding)")
    }

    func load(_ text: String) throws -> Topology {
        try TopologyLoader.parse(data: Data(text.utf8), file: "site.yaml").topology
    }

    func testAbsentMeansOff() throws {
        XCTAssertNil(try load(baseSite).services[0].passive)
    }

    func testValuesAndDefaults() throws {
        XCTAssertEqual(try load(site(passive: "{window: 250ms, min_connections: 5}")).services[0].passive,
                       PassiveDetection(windowMs: 250, minConnections: 5))
        XCTAssertEqual(try load(site(passive: "{}")).services[0].passive, PassiveDetection(windowMs: 300, minConnections: 3))
        XCTAssertEqual(try load(site(passive: "{window: 1s}")).services[0].passive?.windowMs, 1000)
    }

    func testOnlyWithNATForwarding() {
        for fwd in ["dr", "tun"] {
            let t = site(passive: "{window: 300ms}", forwarding: fwd)
            let d = assertDiagnostic(in: t, .badValue, at: "{window: 300ms}", mentions: "passive detection needs forwarding: nat, this service uses \(fwd)")
            XCTAssertEqual(d?.keyPath, "services[0].passive")
            XCTAssertTrue(d?.description.contains("never sees a reply") == true, "\(d.map { "\($0)" } ?? "")")
        }
    }

    func testNotForUDP() {
        let t = site(passive: "{window: 300ms}").replacingOccurrences(of: "    port: 8443\n    scheduler", with: "    port: 8443\n    protocol: udp\n    scheduler")
        assertDiagnostic(in: t, .badValue, at: "{window: 300ms}", mentions: "this service is UDP")
    }

    func testWindowBounds() {
        assertDiagnostic(in: site(passive: "{window: 20ms}"), .badValue, at: "20ms", mentions: "duration 20ms is out of range (services[0].passive.window)")
        assertDiagnostic(in: site(passive: "{window: 11s}"), .badValue, at: "11s", mentions: "use from 50ms to 10s")
        assertDiagnostic(in: site(passive: "{window: soon}"), .typeMismatch, at: "soon", mentions: "expected a duration")
        XCTAssertEqual(diagnostics(site(passive: "{window: 50ms}")), [])
        XCTAssertEqual(diagnostics(site(passive: "{window: 10s}")), [])
    }

    func testMinConnectionsAtLeastOne() {
        assertDiagnostic(in: site(passive: "{min_connections: 0}"), .badValue, at: "0}", mentions: "0 is out of range (services[0].passive.min_connections)")
        assertDiagnostic(in: site(passive: "{min_conections: 3}"), .unknownKey, at: "min_conections", mentions: "did you mean 'min_connections'?")
    }

    func testShippedTopologiesTurnItOnForTheirNATServices() throws {
        // The web services get it; the database service does not (its clients hold pooled
        // connections, so new ones are rare, and its writer follows the ring monitor).
        let want = ["topology/lab.yaml": ["voms", "gums", "saz"],
                    "topology/fermigrid-ha.yaml": ["voms", "voms-v6", "gums", "saz-gatekeeper", "saz-cms"]]
        for (file, names) in want {
            let t = try TopologyLoader.load(path: repoRoot.appendingPathComponent(file).path)
            XCTAssertEqual(t.services.filter { $0.passive != nil }.map(\.name), names, file)
            for s in t.services where s.passive != nil {
                XCTAssertEqual(s.forwarding, .nat)
                XCTAssertEqual(s.passive, PassiveDetection(windowMs: 300, minConnections: 3), "\(file): \(s.name)")
            }
        }
    }
}
