import Net
import Placement
import Topology
import XCTest

/// Issue 16: a load-balancer-only site is valid and has nothing to place; the planner says so
/// instead of printing an empty plan, and the plain parts of a mixed site are never placed.
final class NothingToPlaceTests: XCTestCase {
    func testLoadBalancerOnlySiteHasNothingToPlaceAndSaysWhy() throws {
        let t = try shippedTopology("lb-only.yaml")
        let nothing = try XCTUnwrap(Planner.nothingToPlace(t))
        XCTAssertEqual(nothing.site, "lb-only")
        XCTAssertTrue(nothing.reason.contains("no hypervisor inventory (no hosts, no VMs)"), nothing.reason)
        XCTAssertTrue(nothing.reason.contains("2 machines and 5 plain real servers run where they are"), nothing.reason)
    }

    func testSitesWithVMsHaveAPlanToMake() throws {
        XCTAssertNil(Planner.nothingToPlace(try shippedTopology("fermigrid-ha.yaml")))
    }

    /// Plain real servers beside VMs: only the VMs are placed and counted in the N+1 report.
    func testPlainMembersBesideVMsAreNeitherPlacedNorLostWithAHost() throws {
        var t = try shippedTopology("fermigrid-ha.yaml")
        var gums = try XCTUnwrap(t.service(named: "gums"))
        gums.members.append(ServiceMember(server: try XCTUnwrap(.init("10.10.0.200")), port: gums.port, name: "gums-metal"))
        t.services[t.services.firstIndex { $0.name == "gums" }!] = gums
        guard case .success(let plan) = Planner.plan(t) else { return XCTFail("the FermiGrid site must still be placed") }
        XCTAssertNil(plan.assignment["gums-metal"])
        for r in Planner.nPlusOne(t, plan) {
            for loss in r.services where loss.name == "gums" {
                XCTAssertFalse(loss.lostMembers.contains("gums-metal") || loss.survivingMembers.contains("gums-metal"), "\(loss)")
            }
        }
    }
}
