import Foundation
import Health
import IPVSModel
import Net
import Reconcile
import Topology
import VRRPTransport
import XCTest

/// Issue 16 from the daemon's side, without root: a load-balancer-only site (two plain directors,
/// bare-metal members) gives health targets, kernel state, drains and a VRRP setup, each keyed by
/// the plain member's stable name. The real-kernel run is `testLoadBalancerOnlySiteDrainsAKilledMemberInTheKernel`.
final class LoadBalancerOnlyTests: XCTestCase {
    let yaml = """
    site: lb
    machines:
      - {name: lb1, addresses: [10.0.0.11/24]}
      - {name: lb2, addresses: [10.0.0.12/24, "fd00::12/64"]}
    services:
      - name: web
        vip: 10.0.0.100
        port: 80
        forwarding: dr
        members:
          - {name: web1, address: 10.0.0.21, weight: 100}
          - {address: 10.0.0.22, weight: 50}
        check: {kind: tcp}
    directors:
      members: [lb1, lb2]
      vrid: 60
      priorities: {lb1: 150, lb2: 100}
      interface: eth0
    """

    func topology() throws -> Topology { try TopologyLoader.parse(data: Data(yaml.utf8), file: "lb.yaml").topology }

    func testHealthTargetsAndKernelStateUseThePlainMembersNamesAndAddresses() throws {
        let t = try topology()
        XCTAssertEqual(CheckTarget.all(in: t).map { "\($0.member)@\($0.address):\($0.port)" }, ["web1@10.0.0.21:80", "10.0.0.22:80@10.0.0.22:80"])
        let state = desired(t, weights: [MemberRef(service: "web", member: "10.0.0.22:80"): 0])
        let dests = try XCTUnwrap(state.services.values.first).destinations
        XCTAssertEqual(dests.count, 2)
        XCTAssertEqual(dests[DestinationKey(address: try XCTUnwrap(IPAddress("10.0.0.21")), port: 80)]?.weight, 100)
        XCTAssertEqual(dests[DestinationKey(address: try XCTUnwrap(IPAddress("10.0.0.22")), port: 80)]?.weight, 0, "the override is keyed by the member's name")
    }

    func testDrainFindsAPlainMemberByName() throws {
        let t = try topology()
        let observed = desired(t)
        let op = try memberWeightOperation(topology: t, service: "web", member: "web1", drain: true) { _ in observed }
        guard case .editDestination(_, let d)? = op else { return XCTFail("expected one edit, got \(String(describing: op))") }
        XCTAssertEqual(d.weight, 0)
        XCTAssertEqual(d.address.description, "10.0.0.21")
    }

    func testWeightPolicyDrainsADownPlainMember() throws {
        let t = try topology()
        let states: [MemberRef: RiseFall.State] = [MemberRef(service: "web", member: "web1"): .down,
                                                   MemberRef(service: "web", member: "10.0.0.22:80"): .up]
        let d = WeightPolicy.decide(t, states: states, drained: [])
        XCTAssertEqual(d.weights[MemberRef(service: "web", member: "web1")], 0)
        XCTAssertEqual(d.weights[MemberRef(service: "web", member: "10.0.0.22:80")], 50)
    }

    func testVRRPSetupOfAPlainMachineUsesItsAddressesAndThePeers() throws {
        let t = try topology()
        let s = try DirectorSetup.make(topology: t, node: "lb1")
        XCTAssertEqual(s.peer, "lb2")
        XCTAssertEqual(s.options.config.primaryAddress.description, "10.0.0.11")
        XCTAssertEqual(s.options.config.priority, 150)
        XCTAssertEqual(s.options.config.virtualAddresses.map(\.description), ["10.0.0.100"])
        XCTAssertThrowsError(try DirectorSetup.make(topology: t, node: "web1")) { e in
            XCTAssertTrue("\(e)".contains("no director pair has member web1"), "\(e)")
        }
    }
}
