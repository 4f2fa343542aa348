import Foundation
import TestSupport
import XCTest

/// Single writer end to end: the built `tandemd` inside a user-mode-linux kernel (real IPVS), a
/// real 3-node MariaDB ring (`RealRing`, node1 → node2 → node3 → node1) and a single-writer
/// service (scheduler `fo`, `mariadb` check; db1 weight 100, db2 80, db3 50). The host side is
/// `Fixtures/single-writer-e2e.sh` (network as in scripts/lab-e2e: a bridge and a tap in a
/// namespace, socat relays to the ring's sockets), the director `Fixtures/uml-single-writer-init.sh`.
/// Asserts on the UML kernel's own table (/proc/net/ip_vs, read inside the UML) and on /status;
/// last, two SIGHUP reloads of the ring monitor (one refused, one dropping the dead node).
/// Needs root; a missing mariadbd, linux.uml, socat, curl or jq fails the test naming it.
final class SingleWriterKernelTests: XCTestCase {
    func testWriterMovesOnlyToCaughtUpNodesInTheRealKernel() throws {
        let started = Date()
        guard let tandemd = tandemdBinary() else { return }
        let ring: RealRing
        do { ring = try RealRing.start(nodes: 3, label: "sw-e2e") } catch {
            return XCTFail("the MariaDB ring did not start: \(error)")
        }
        defer { ring.stop() }
        let run = RealRing.runProcess(["/bin/bash", fixturePath("single-writer-e2e.sh"), tandemd.path, ring.stateDir, "120"],
                                      timeout: 150, what: "single-writer-e2e.sh")
        let text = run.output
        print(text)
        print(String(format: "SingleWriterKernelTests: ring up %.1f s, whole test %.1f s", ring.upSeconds, Date().timeIntervalSince(started)))
        var r: [String: String] = [:]
        for l in text.split(separator: "\n") where l.hasPrefix("RESULT ") {
            let kv = l.dropFirst("RESULT ".count).split(separator: "=", maxSplits: 1)
            if kv.count == 2 { r[String(kv[0])] = String(kv[1]) }
        }
        XCTAssertNil(r["error"], "the fixture stopped: \(r["error"] ?? "")")
        XCTAssertEqual(run.status, 0, "single-writer-e2e.sh exited \(run.status)")

        // a: exactly one member weighted, the writer (highest weight).
        XCTAssertNotNil(Int(r["a_ms"] ?? ""), "the kernel never held exactly db1 weighted")
        XCTAssertEqual(r["a_weights"], "100,0,0", "at start only the writer db1 has weight (db1,db2,db3)")
        XCTAssertTrue(r["a_status"]?.hasPrefix("single writer: db1 has the writes") ?? false, "/status: \(r["a_status"] ?? "-")")

        // c: an operator drain of the writer moves the writes to a caught-up member.
        XCTAssertNotNil(Int(r["c_ms"] ?? ""), "drain of db1 never moved the writes to db2: \(r["c_weights"] ?? "-")")
        XCTAssertEqual(r["c_weights"], "0,80,0", "after the drain only db2 has weight")
        XCTAssertEqual(r["c_db3_max"], "0", "db3 must never get weight while db2 is the better candidate")
        XCTAssertTrue(r["c_status"]?.hasPrefix("single writer: db2 has the writes") ?? false, "/status: \(r["c_status"] ?? "-")")
        XCTAssertEqual(r["c_after_undrain"], "0,80,0", "undraining db1 must not bounce the writes back")

        // b: the writer stops while the preferred node lags: the writes go to the caught-up one only.
        XCTAssertNotNil(Int(r["b_ms"] ?? ""), "kill -9 of the writer never moved the writes to db3: \(r["b_weights"] ?? "-")")
        XCTAssertEqual(r["b_weights"], "0,0,50", "after node2 died only db3 (caught up) has weight")
        XCTAssertEqual(r["b_db1_max"], "0", "db1 lags node2's writes: it must never get weight")
        XCTAssertTrue(r["b_status"]?.hasPrefix("single writer: db3 has the writes") ?? false, "/status: \(r["b_status"] ?? "-")")
        XCTAssertTrue(r["b_db1_verdict"]?.contains("drain") ?? false, "the ring monitor drains the lagging db1: \(r["b_db1_verdict"] ?? "-")")

        // d: SIGHUP reloads the ring monitor in place (the "ring" ReloadFollower).
        let refused = r["d_refused"] ?? "-"
        XCTAssertTrue(refused.contains("refused") && refused.contains("cannot read password file") && refused.contains("missing.pw"),
                      "a reload with an unreadable monitor password file must be refused, naming the file: \(refused)")
        XCTAssertEqual(r["d_refused_nodes"], "db1,db2,db3", "a refused reload leaves the ring monitor as it was")
        let applied = r["d_applied"] ?? "-"
        XCTAssertTrue(applied.contains("applied") && applied.contains("ring: stopped probing db2 (removed)"),
                      "dropping db2 from the ring: \(applied)")
        XCTAssertEqual(r["d_applied_nodes"], "db1,db3", "the monitor no longer probes db2")
        XCTAssertEqual(r["d_weights"], "0,0,50", "the reload keeps the writer")
    }
}
