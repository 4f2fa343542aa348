import RingHealth
import XCTest

/// `RingHealthModel.reconfigure`: a reload changes the ring in place for the same monitor run.
final class ReconfigureTests: XCTestCase {
    func testKeptNodesKeepTheirHistoryAddedNodesStartUnprobedRemovedNodesVanish() throws {
        var sim = try RingSim(["A", "B", "C"])
        sim.ticks(4)
        let before = sim.report()
        XCTAssertEqual(before.node("A")?.lastHeartbeatWritten, 4)
        XCTAssertEqual(before.node("B")?.appliedHeartbeats["A"], 4)

        // Reload: C goes, D comes (at a new endpoint).
        let ring = try Ring(nodes: [RingNode(name: "A", endpoint: "127.0.0.1:13306"), RingNode(name: "B", endpoint: "127.0.0.1:13307"),
                                    RingNode(name: "D", endpoint: "127.0.0.1:13399")])
        let at = sim.now + .milliseconds(30)
        sim.model.reconfigure(ring: ring, policy: sim.model.policy, at: at)
        let r = sim.model.report(at: at)
        XCTAssertEqual(r.nodes.map(\.name), ["A", "B", "D"])
        XCTAssertNil(r.node("C"))
        XCTAssertEqual(r.node("A")?.lastHeartbeatWritten, 4, "kept node keeps its heartbeat history")
        XCTAssertEqual(r.node("A")?.reachability, .answering, "kept node keeps its state")
        XCTAssertEqual(r.node("B")?.appliedHeartbeats["A"], 4)
        XCTAssertEqual(r.node("D")?.reachability, .notYetProbed, "a new node is not silent the moment it is added")
        XCTAssertEqual(r.node("D")?.endpoint, "127.0.0.1:13399")
        XCTAssertEqual(r.links.map(\.id.description), ["D→A", "A→B", "B→D"])
        // D never answers: silent once silentAfter has passed since the reload (not since the start).
        let later = sim.model.report(at: at + sim.model.policy.silentAfter + .milliseconds(1))
        guard case .silent = later.node("D")!.reachability else { return XCTFail("D: \(later.node("D")!.reachability)") }
        // Events for the removed node are ignored.
        sim.model.on(.heartbeatWritten(node: "C", seq: 99, at: at))
        XCTAssertNil(sim.model.report(at: at).node("C"))
    }

    func testNewPolicyAppliesToTheNextReport() throws {
        var sim = try RingSim(["A", "B"])
        sim.ticks(3)
        sim.blocked.insert(RingLinkID(from: "A", to: "B"))
        sim.ticks(3)  // 750 ms without A's rows at B: stale after 1 s is not reached yet
        XCTAssertNotEqual(sim.report().links.first { $0.id.to == "B" }?.state, .down)
        let strict = RingHealthPolicy(heartbeatInterval: .milliseconds(250), staleAfter: .milliseconds(400))
        sim.model.reconfigure(ring: sim.model.ring, policy: strict, at: sim.now)
        XCTAssertEqual(sim.model.policy, strict)
        XCTAssertEqual(sim.report().links.first { $0.id.to == "B" }?.state, .down, sim.report().rendered())
    }
}
