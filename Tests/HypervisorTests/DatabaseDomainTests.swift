import Foundation
import HostDrill
import HostLab
import Syscall
import TestSupport
import XCTest

/// Database VMs in the host lab: domains whose init is the real mariadbd, their data on the
/// machine's file system as a site's shared storage. A crash of the host of db1 must restart it on
/// a survivor other than db2's (the pair stays split), where InnoDB recovers and a row committed
/// before the crash is read back through the real client.
final class DatabaseDomainTests: XCTestCase {
    func testCrashedDatabaseVMRestartsOnASurvivorWithItsCommittedData() async throws {
        let rig = try await LabRig(pairs: 1, databases: true, label: "dbdomain", repoRoot: RealRing.repoRoot,
                                   gridsvc: try LabHosts.builtGridsvc())
        try await rig.running { rig in
            let row = "committed-\(UInt32.random(in: 0...UInt32.max))"
            let wrote = try await Self.sql(rig, "db1", "CREATE TABLE IF NOT EXISTS kv (k INT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB; "
                                           + "REPLACE INTO kv VALUES (1, '\(row)'); SELECT v FROM kv WHERE k = 1")
            XCTAssertEqual(wrote, row, "db1 did not take the write before the crash")
            let (r, crash) = try await rig.recovery(after: "crash", "h1")
            let db1 = try XCTUnwrap(r.moves.first { $0.vm == "db1" }, "db1 was not restarted: \(r.moves)")
            XCTAssertEqual(Set(r.moves.map(\.vm)), ["db1", "p1a"])
            XCTAssertNotEqual(db1.to, "h2", "db1 restarted beside db2")
            XCTAssertEqual(rig.hostsRunning("db1"), [db1.to], "virsh does not show db1 running on \(db1.to) only")
            let greets = await rig.probe.check(vm: "db1", timeout: .seconds(1))
            XCTAssertTrue(greets, "db1 sends no MariaDB greeting on \(db1.to)")
            let read = try await Self.sql(rig, "db1", "SELECT v FROM kv WHERE k = 1")
            XCTAssertEqual(read, row, "db1 lost a committed row in the crash and restart")
            let db2 = try await Self.sql(rig, "db2", "SELECT 1")
            XCTAssertEqual(db2, "1", "db2 (on a survivor) stopped answering")
            rig.assertNothingRunsTwice()
            let healthy = r.healthyAt.map { ($0 - crash).inMilliseconds } ?? -1
            print("measure: crash of h1 with db1 (mariadbd) and p1a: db1 on \(db1.to), every moved VM healthy +\(formatted(healthy)) ms, "
                  + "committed row read back")
        }
    }

    /// Runs `statements` on `vm`'s mariadbd (database `lab`, user `tandem`) with the real `mariadb`
    /// client from the lab's switch; the first column of the last result, trimmed.
    static func sql(_ rig: LabRig, _ vm: String, _ statements: String) async throws -> String {
        let password = try XCTUnwrap(rig.databasePasswords[vm], "\(vm) is not a database VM of this lab")
        let run = try await Subprocess.run(["/usr/bin/ip", "netns", "exec", rig.lab.switchNamespace, "/usr/bin/mariadb",
                                            "-h", rig.site.addresses[vm]!, "-u", "tandem", "lab", "-N", "-B", "-e", statements],
                                           environment: ["MYSQL_PWD": password], timeout: .seconds(15))
        let text = String(decoding: run.output, as: UTF8.self)
        guard run.termination == .exited(0) else { throw LabHosts.Unavailable(description: "mariadb on \(vm) failed: \(run.termination): \(text)") }
        return text.split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }
}
