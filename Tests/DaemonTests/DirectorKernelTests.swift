import Foundation
import XCTest

/// The director pair in a real IPVS kernel: `scripts/uml-run` boots user-mode-linux and runs
/// `Fixtures/uml-director.sh`. Two tandemd directors run in two network namespaces of the UML, and each
/// namespace has its own IPVS table and its own sync daemons. The sync traffic is real multicast over
/// a bridge, and a DR real server sits behind them. One client TCP connection runs through the VIP
/// while the master's namespace dies (kill -9 and link down).
///
/// - **With connection sync**: the backup holds the connection before the kill, and the same
///   connection carries on after the takeover.
/// - **Without it** (`--no-connection-sync`, the control): the new master resets the connection.
///
/// The control is what makes the first half mean something: the same drill fails without sync.
final class DirectorKernelTests: XCTestCase {
    func testEstablishedConnectionSurvivesTakeoverOnlyWithConnectionSync() throws {
        for tool in ["/usr/bin/curl", "/usr/bin/python3"] {
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is needed inside the UML (packages curl, python3)")
        }
        guard let run = try UMLFixtureRun.run("uml-director.sh", arguments: ["sync", "nosync"], timeoutSeconds: 300) else { return }
        let text = run.text, r = run.results
        print(text)
        XCTAssertEqual(run.status, 0, "uml-run failed:\n\(text)")

        for mode in ["sync", "nosync"] {
            XCTAssertNotNil(Int(r["\(mode).d1_master_ms"] ?? ""), "\(mode): d1 (priority 150) never held the VIP")
            XCTAssertNotNil(Int(r["\(mode).d1_served_ms"] ?? ""), "\(mode): d1's IPVS table never served rs1")
            XCTAssertNotNil(Int(r["\(mode).d2_served_ms"] ?? ""), "\(mode): the backup d2 must keep its own table programmed")
            XCTAssertNotNil(Int(r["\(mode).takeover_ms"] ?? ""), "\(mode): d2 never took the VIP over")
            XCTAssertEqual(r["\(mode).d2_status_state"], "master", "\(mode): /status on d2")
            XCTAssertGreaterThanOrEqual(Int(r["\(mode).d2_metric_master"] ?? "") ?? 0, 1, "\(mode): /metrics must count the transition to master")
            XCTAssertEqual(r["\(mode).d2_metric_state"], "1.0", "\(mode): tandem_vrrp_state{state=\"master\"} on d2")
            XCTAssertTrue(r["\(mode).d2_status_reason"]?.contains("Master_Down_Interval") == true,
                          "\(mode): reason was \(r["\(mode).d2_status_reason"] ?? "-")")
        }

        // Both-directions pattern, in the kernel: each node runs master (own ID) and backup (peer's ID).
        let d1 = r["sync.d1_daemons"] ?? "", d2 = r["sync.d2_daemons"] ?? ""
        // ipvsadm -L --daemon: "master sync daemon (mcast=eth0, syncid=101, maxlen=1472, group=…)".
        XCTAssertTrue(d1.contains("master sync daemon (mcast=eth0, syncid=101,") && d1.contains("backup sync daemon (mcast=eth0, syncid=102,"), d1)
        XCTAssertTrue(d2.contains("master sync daemon (mcast=eth0, syncid=102,") && d2.contains("backup sync daemon (mcast=eth0, syncid=101,"), d2)
        XCTAssertEqual(r["sync.d2_status_sync"], "master:102,backup:101")

        // With sync: the backup knew the connection, and the same connection carried on.
        XCTAssertGreaterThanOrEqual(Int(r["sync.backup_conn_entries"] ?? "") ?? 0, 1, "the backup's table never got the client's connection")
        XCTAssertEqual(r["sync.client_rc"], "0", "the connection broke: \(r["sync.client_last"] ?? "-")")
        XCTAssertTrue(r["sync.client_last"]?.hasPrefix("done") == true, r["sync.client_last"] ?? "-")
        XCTAssertGreaterThan(Int(r["sync.after_kill"] ?? "") ?? 0, 20, "too few echoes after the master died")

        // Without sync (the control): no entry on the backup, and the new master resets the connection.
        XCTAssertEqual(r["nosync.backup_conn_entries"], "0")
        XCTAssertNotEqual(r["nosync.client_rc"], "0", "without sync the connection should not survive")
        XCTAssertTrue(r["nosync.client_last"]?.hasPrefix("error") == true, r["nosync.client_last"] ?? "-")
    }

    /// SIGTERM of the master's tandemd: it resigns (priority-0 advert, VIP off its interface), exits, and
    /// the backup takes over at once on the RFC's Skew_Time, not after Master_Down_Interval; the client's
    /// connection carries on (connection sync).
    func testSIGTERMMakesTheMasterResignAndExitAndTheBackupTakeOver() throws {
        for tool in ["/usr/bin/curl", "/usr/bin/python3"] {
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: tool), "\(tool) is needed inside the UML (packages curl, python3)")
        }
        guard let run = try UMLFixtureRun.run("uml-director.sh", arguments: ["graceful"], timeoutSeconds: 200) else { return }
        let text = run.text, r = run.results
        print(text)
        XCTAssertEqual(run.status, 0, "uml-run failed:\n\(text)")
        XCTAssertNotNil(Int(r["graceful.d1_master_ms"] ?? ""), "d1 (priority 150) never held the VIP")
        XCTAssertNotNil(Int(r["graceful.d1_vip_gone_ms"] ?? ""), "d1 kept the VIP after SIGTERM: \(r["graceful.d1_vip_gone_ms"] ?? "-")")
        XCTAssertNotNil(Int(r["graceful.d1_exit_ms"] ?? ""), "d1's tandemd did not exit after SIGTERM")
        XCTAssertNotNil(Int(r["graceful.takeover_ms"] ?? ""), "d2 never took the VIP over")
        XCTAssertEqual(r["graceful.d2_status_state"], "master", "/status on d2")
        XCTAssertTrue(r["graceful.d2_status_reason"]?.contains("sent priority 0") == true,
                      "d2 must take over on the priority-0 advert, not a timeout; reason was \(r["graceful.d2_status_reason"] ?? "-")")
        XCTAssertEqual(r["graceful.client_rc"], "0", "the connection broke: \(r["graceful.client_last"] ?? "-")")
    }
}
