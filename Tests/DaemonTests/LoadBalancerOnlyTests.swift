import Foundation
import Health
import IPVSModel
import Net
import Reconcile
import Topology
import VRRPTransport
import XCTest
import TopologyFiles

/// Issue 16 from the daemon's side, without root: a load-balancer-only site (two plain directors,
/// bare-metal members) gives health targets, kernel state, drains and a VRRP setup, each keyed by
/// the plain member's stable name. The real-kernel run is `testLoadBalancerOnlySiteDrainsAKilledMemberInTheKernel`.
final class LoadBalancerOnlyTests: XCTestCase {
    /// topology/lb-only.yaml: machines lb1 and lb2; web (web1, web2, and 192.0.2.23 unnamed) and imap.
    func topology() throws -> Topology {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return try TopologyLoader.load(path: root.appendingPathComponent("topology/lb-only.yaml").path)
    }

    func testHealthTargetsAndKernelStateUseThePlainMembersNamesAndAddresses() throws {
        let t = try topology()
        XCTAssertEqual(CheckTarget.all(in: t).map { "\($0.member)@\($0.address):\($0.port)" },
                       ["web1@192.0.2.21:80", "web2@192.0.2.22:80", "192.0.2.23:80@192.0.2.23:80", "mail1@10.1.0.31:1143", "mail2@10.1.0.32:1143"])
        let state = desired(t, weights: [MemberRef(service: "web", member: "192.0.2.23:80"): 0])
        let web = try XCTUnwrap(t.service(named: "web"))
        let dests = try XCTUnwrap(state.services[TopologyMapping.serviceKey(web)]).destinations
        XCTAssertEqual(dests.count, 3)
        XCTAssertEqual(dests[DestinationKey(address: try XCTUnwrap(IPAddress("192.0.2.21")), port: 80)]?.weight, 100)
        XCTAssertEqual(dests[DestinationKey(address: try XCTUnwrap(IPAddress("192.0.2.23")), port: 80)]?.weight, 0, "the override is keyed by the member's name")
    }

    func testDrainFindsAPlainMemberByName() throws {
        let t = try topology()
        let observed = desired(t)
        let op = try memberWeightOperation(topology: t, service: "web", member: "web1", drain: true) { _ in observed }
        guard case .editDestination(_, let d)? = op else { return XCTFail("expected one edit, got \(String(describing: op))") }
        XCTAssertEqual(d.weight, 0)
        XCTAssertEqual(d.address.description, "192.0.2.21")
    }

    func testWeightPolicyDrainsADownPlainMember() throws {
        let t = try topology()
        let states: [MemberRef: RiseFall.State] = [MemberRef(service: "web", member: "web1"): .down,
                                                   MemberRef(service: "web", member: "192.0.2.23:80"): .up]
        let d = WeightPolicy.decide(t, states: states, drained: [])
        XCTAssertEqual(d.weights[MemberRef(service: "web", member: "web1")], 0)
        XCTAssertEqual(d.weights[MemberRef(service: "web", member: "192.0.2.23:80")], 50)
    }

    func testVRRPSetupOfAPlainMachineUsesItsAddressesAndThePeers() throws {
        let t = try topology()
        let s = try DirectorSetup.make(topology: t, node: "lb1")
        XCTAssertEqual(s.peer, "lb2")
        XCTAssertEqual(s.options.config.primaryAddress.description, "192.0.2.11")
        XCTAssertEqual(s.options.config.priority, 150)
        XCTAssertEqual(s.options.config.virtualAddresses.map(\.description), ["192.0.2.100", "192.0.2.143"])
        XCTAssertThrowsError(try DirectorSetup.make(topology: t, node: "web1")) { e in
            XCTAssertTrue("\(e)".contains("no director pair has member web1"), "\(e)")
        }
    }
}
