import Foundation
import XCTest

/// Issue 16's "done when": a load-balancer-only site (two plain machines as directors, bare-metal
/// real servers given by address, no hosts or VMs) validates, programs a real IPVS kernel
/// (user-mode-linux, `Fixtures/uml-lb-only.sh`) from both directors, and drains a killed member
/// within `fall × interval + timeout` (plus a second of slack for the UML), the other member kept.
final class LoadBalancerOnlyKernelTests: XCTestCase {
    func testLoadBalancerOnlySiteDrainsAKilledMemberInTheKernel() throws {
        guard let run = try UMLFixtureRun.run("uml-lb-only.sh", products: ["tandemctl"], timeoutSeconds: 240) else { return }
        let r = run.results
        print(run.text)
        XCTAssertEqual(run.status, 0, "uml-run failed:\n\(run.text)")
        XCTAssertEqual(r["validate_rc"], "0", r["validate_out"] ?? "-")
        XCTAssertTrue(r["validate_out"]?.contains("0 hosts, 0 VMs, 2 machines, 1 service, 1 director pair") ?? false, r["validate_out"] ?? "-")
        XCTAssertTrue(r["validate_out"]?.contains("note: no hosts or VMs") ?? false, r["validate_out"] ?? "-")
        XCTAssertNotNil(Int(r["d1_master_ms"] ?? ""), "lb1 (priority 150) never held the VIP")
        XCTAssertEqual(r["d2_has_vip"], "no", "lb2 must stay backup")
        for key in ["d1_web1_up_ms", "d1_other_up_ms", "d2_web1_up_ms", "d2_other_up_ms"] {
            XCTAssertNotNil(Int(r[key] ?? ""), "\(key): a real server never reached weight 100: \(r["d1_table"] ?? "-")")
        }
        let bound = try XCTUnwrap(Int(r["bound_ms"] ?? ""), "no bound in output")
        // The backup's table is read only once the master's shows the drain, each read a fork of
        // `ip netns exec ipvsadm` (200-500 ms in the UML): a second more of slack for it.
        for (key, slack) in [("d1_drain_ms", 1000), ("d2_drain_ms", 2000)] {
            let drain = try XCTUnwrap(Int(r[key] ?? ""), "\(key): the killed member was never drained: \(r[key] ?? "-")")
            XCTAssertLessThanOrEqual(drain, bound + slack, "\(key): \(drain) ms, bound \(bound) ms")
        }
        XCTAssertEqual(r["d1_other_weight"], "100", "the healthy member keeps its weight")
        // The members are known by their names: web1, and 10.0.0.22:8080 for the unnamed one.
        XCTAssertEqual(r["status_rc"], "1", r["status_out"] ?? "-")
        XCTAssertTrue(r["status_out"]?.contains("web/web1 DOWN") ?? false, r["status_out"] ?? "-")
        XCTAssertTrue(r["status_out"]?.contains("web/10.0.0.22:8080 UP") ?? false, r["status_out"] ?? "-")
    }
}
