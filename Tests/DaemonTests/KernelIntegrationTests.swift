import Foundation
import XCTest

/// tandemd's kernel half in a real IPVS kernel: `scripts/uml-run` boots user-mode-linux and runs
/// `Fixtures/uml-daemon.sh`, which starts tandemd against two HTTP servers and reads the table
/// back with `ipvsadm -Ln`. Real-time numbers are printed; the bound asserted is the issue's
/// `fall × interval + timeout` plus one second of slack for the UML's slow syscalls and the
/// 50 ms polling of ipvsadm. Beside it, the built tandemctl as an operator uses it (issues 12, 15):
/// drain through tandemd's API, kernel-direct writes refused while tandemd owns the table.
final class KernelIntegrationTests: XCTestCase {
    func testKilledBackendIsDrainedInTheRealKernelAndBadReloadChangesNothing() throws {
        guard let run = try UMLFixtureRun.run("uml-daemon.sh", products: ["tandemctl"], timeoutSeconds: 240) else { return }
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
        try assertOperatorCommands(r)
    }

    /// The tandemctl half of the run: what each command printed and its exit status.
    private func assertOperatorCommands(_ r: [String: String]) throws {
        let pid = try XCTUnwrap(r["tandemd_pid"], "no tandemd pid")
        // status --member: 1 while be1 is down, 0 once both are up, 0 for a drained member that is up.
        XCTAssertEqual(r["member_down_rc"], "1", r["member_down_out"] ?? "-")
        XCTAssertTrue(r["member_down_out"]?.contains("gums/be1 DOWN") ?? false, r["member_down_out"] ?? "-")
        XCTAssertEqual(r["member_up_rc"], "0", r["member_up_out"] ?? "-")
        XCTAssertEqual(r["drained_member_rc"], "0", r["drained_member_out"] ?? "-")
        XCTAssertTrue(r["drained_member_out"]?.contains("gums/be1 UP DRAINED weight 0/100 (kernel 0)") ?? false, r["drained_member_out"] ?? "-")
        // tandemctl drain: through the API, answered once the kernel holds weight 0.
        XCTAssertEqual(r["drain_rc"], "0", r["drain_out"] ?? "-")
        XCTAssertTrue(r["drain_out"]?.range(of: #"drained gums/be1: weight 0 in the kernel after \d+ ms"#, options: .regularExpression) != nil,
                      r["drain_out"] ?? "-")
        XCTAssertEqual(r["drain_kernel_weight"], "0", "the kernel must hold weight 0 when tandemctl drain returns")
        // Kernel-direct writes refuse while tandemd runs, naming it; nothing written.
        for key in ["ipvs_drain", "ipvs_apply"] {
            XCTAssertEqual(r["\(key)_rc"], "1", r["\(key)_out"] ?? "-")
            XCTAssertTrue(r["\(key)_out"]?.contains("tandemd (pid \(pid), node d1, status http://127.0.0.1:9595) owns this IPVS table") ?? false,
                          "\(key): \(r["\(key)_out"] ?? "-")")
            XCTAssertFalse(r["\(key)_out"]?.contains("Usage") ?? true, "a refusal is not a usage error")
        }
        XCTAssertTrue(r["ipvs_drain_out"]?.contains("tandemctl drain SERVICE MEMBER --url http://127.0.0.1:9595") ?? false, r["ipvs_drain_out"] ?? "-")
        XCTAssertEqual(r["refused_kernel_weight"], "100", "a refused ipvs drain must not write")
        // tandemd's refusals: exit 1 with its message.
        XCTAssertEqual(r["wrong_token_rc"], "1", r["wrong_token_out"] ?? "-")
        XCTAssertTrue(r["wrong_token_out"]?.contains("missing or wrong bearer token") ?? false, r["wrong_token_out"] ?? "-")
        XCTAssertEqual(r["unknown_member_rc"], "1", r["unknown_member_out"] ?? "-")
        XCTAssertTrue(r["unknown_member_out"]?.contains("no member be9 in service gums") ?? false, r["unknown_member_out"] ?? "-")
        // A second tandemd in the same namespace refuses to start, naming the first.
        XCTAssertTrue(r["second_tandemd"]?.hasPrefix("exited") ?? false, r["second_tandemd"] ?? "-")
        XCTAssertTrue(r["second_tandemd_log"]?.contains("already owns this network namespace's IPVS table") ?? false, r["second_tandemd_log"] ?? "-")
        XCTAssertEqual(r["undrain_rc"], "0", r["undrain_out"] ?? "-")
        XCTAssertEqual(r["undrain_kernel_weight"], "100")
        // tandemd stopped (SIGTERM) or crashed (kill -9): the lock is free, direct writes work.
        XCTAssertEqual(r["after_stop_rc"], "0", r["after_stop_out"] ?? "-")
        XCTAssertEqual(r["after_stop_weight"], "0")
        XCTAssertEqual(r["status_no_daemon_rc"], "3", r["status_no_daemon_out"] ?? "-")
        XCTAssertEqual(r["restarted_held"], "yes", "the restarted tandemd never took the lock")
        XCTAssertEqual(r["after_crash_rc"], "0", "kill -9 must free the lock: \(r["after_crash_out"] ?? "-")")
        XCTAssertEqual(r["after_crash_weight"], "0")
    }
}
