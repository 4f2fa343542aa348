import Foundation
import XCTest

/// tandemd's kernel half in a real IPVS kernel: `scripts/uml-run` boots user-mode-linux and runs
/// `Fixtures/uml-daemon.sh`, which starts tandemd against two HTTP servers and reads the table
/// back with `ipvsadm -Ln`. Real-time numbers are printed; the bound asserted is the issue's
/// `fall × interval + timeout` plus one second of slack for the UML's slow syscalls and the
/// 50 ms polling of ipvsadm.
final class KernelIntegrationTests: XCTestCase {
    func testKilledBackendIsDrainedInTheRealKernelAndBadReloadChangesNothing() throws {
        guard let run = try UMLFixtureRun.run("uml-daemon.sh", timeoutSeconds: 240) else { return }
        let text = run.text, r = run.results
        print(text)
        XCTAssertEqual(run.status, 0, "uml-run failed:\n\(text)")
        let bound = try XCTUnwrap(Int(r["bound_ms"] ?? ""), "no bound in output")
        XCTAssertNotNil(Int(r["up1_ms"] ?? ""), "be1 never reached weight 100")
        XCTAssertNotNil(Int(r["up2_ms"] ?? ""), "be2 never reached weight 100")
        let drain = try XCTUnwrap(Int(r["drain_ms"] ?? ""), "killed backend never drained: \(r["drain_ms"] ?? "-")")
        XCTAssertLessThanOrEqual(drain, bound + 1000, "drain took \(drain) ms, bound \(bound) ms")
        XCTAssertEqual(r["other_weight"], "100", "the healthy member must keep its weight")
        XCTAssertNotNil(Int(r["back_ms"] ?? ""), "restarted backend never came back")
        XCTAssertEqual(r["badreload_table"], "unchanged")
        XCTAssertEqual(r["badreload_log"], "refused")
        XCTAssertEqual(r["alive_after_bad_reload"], "yes")
        XCTAssertEqual(r["stopped"], "yes")
        XCTAssertEqual(r["after_term_weights"], "100,100", "SIGTERM must leave the table as it is")
    }
}
