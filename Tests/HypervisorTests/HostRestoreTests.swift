import Fencing
import Foundation
import HostControl
import HostDrill
import HostLab
import Hosts
import Hypervisor
import Logging
import Net
import Placement
import TestSupport
import Topology
import XCTest

/// The host controller's loop against real libvirtd hosts, the lab fence agent and HTTP checks of
/// the domains from the lab's switch: a crashed host is fenced and its domains restart on the
/// survivors in parallel; a failing fence device means no restart; a returning host starts
/// nothing twice; a hung host is fenced after keepalive; a management-only partition is left alone.
/// Each test prints its measurements (`measure:` lines).
final class HostRestoreTests: XCTestCase {
    func testCrashedHostIsFencedAndItsFiveDomainsRestartInParallelOnTheSurvivors() async throws {
        let rig = try await LabRig(pairs: 5, label: "restore", repoRoot: RealRing.repoRoot, gridsvc: try LabHosts.builtGridsvc())
        try await rig.running { rig in
            let (r, crash) = try await rig.recovery(after: "crash", "h1")
            XCTAssertEqual(r.host, "h1")
            XCTAssertEqual(r.confirmedBy, .fenceAgent)
            XCTAssertEqual(Set(r.moves.map(\.vm)), ["p1a", "p2a", "p3a", "p4a", "p5a"])
            // Every pair is split again: pNa never lands beside pNb.
            for m in r.moves {
                let partner = m.vm.replacingOccurrences(of: "a", with: "b")
                XCTAssertNotEqual(m.to, rig.site.plan.assignment[partner], "\(m.vm) moved next to \(partner)")
                XCTAssertEqual(rig.hostsRunning(m.vm), [m.to], "virsh does not show \(m.vm) running on \(m.to) only")
                let body = await rig.probe.get(m.vm, timeout: .seconds(1))
                XCTAssertEqual(body, "{\"vm\":\"\(m.vm)\"}", "the answer at \(m.vm)'s address is not its gridsvc's")
            }
            XCTAssertEqual(rig.lab.run("status").output.split(separator: "\n").first.map(String.init), "h1: off")
            rig.assertNothingRunsTwice()
            func ms(_ d: Duration?) -> String { d.map { formatted(($0 - crash).inMilliseconds) } ?? "—" }
            print("measure: crash of h1 with 5 domains: detected (condemned) +\(ms(r.condemnedAt)) ms, fenced +\(ms(r.fencedAt)) ms, "
                  + "restarts issued +\(ms(r.restartsIssuedAt)) ms, all started +\(ms(r.startedAt)) ms, all healthy +\(ms(r.healthyAt)) ms "
                  + "(first signal +\(ms(r.firstSignalAt)) ms)")
            XCTAssertTrue(rig.notes.all.contains { $0.hasPrefix("[condemned] h1") })
        }
    }

    func testFailingFenceDeviceMeansNoRestartUntilAnOperatorConfirms() async throws {
        let rig = try await LabRig(pairs: 2, label: "fencefail", repoRoot: RealRing.repoRoot, gridsvc: try LabHosts.builtGridsvc())
        try await rig.running { rig in
            rig.lab.run("fence-fault", "h1", "fail")
            _ = try rig.lab.fault("crash", "h1")
            let waiting = await eventually(timeout: .seconds(20)) { rig.control.phases()["h1"] == .awaitingOperator }
            XCTAssertTrue(waiting, "h1 is \(String(describing: rig.control.phases()["h1"])); notes: \(rig.notes.all)")
            // Give a wrong controller every chance to restart something.
            try await Task.sleep(for: .seconds(2))
            for vm in ["p1a", "p2a"] { XCTAssertEqual(rig.hostsRunning(vm), [], "\(vm) was restarted without a confirmed fence") }
            XCTAssertEqual(rig.notes.all.filter { $0.hasPrefix("[fence-failed] h1") }.count, 2, rig.notes.all.joined(separator: "\n"))
            XCTAssertTrue(rig.notes.all.contains { $0.hasPrefix("[awaiting-operator] h1") })
            // The operator checked: the host is off. Now the VMs come back.
            rig.control.confirmOff(host: "h1")
            let recovery = await rig.firstRecovery(within: .seconds(20))
            XCTAssertEqual(recovery?.confirmedBy, .operatorConfirmed)
            rig.assertNothingRunsTwice()
        }
    }

    func testReturningHostDoesNotRunItsOldDomainsASecondTime() async throws {
        let rig = try await LabRig(pairs: 2, label: "return", repoRoot: RealRing.repoRoot, gridsvc: try LabHosts.builtGridsvc())
        try await rig.running { rig in
            // An operator once marked p1a autostart on h1: when h1 boots, libvirtd starts it again.
            XCTAssertEqual(rig.lab.virsh("h1", "autostart", "p1a").status, 0)
            let (r, _) = try await rig.recovery(after: "crash", "h1")
            let bootedAt = wallClockSeconds()
            XCTAssertEqual(rig.lab.run("boot", "h1").status, 0)
            let cleaned = await eventually(timeout: .seconds(20)) {
                rig.control.phases()["h1"] == .up && rig.lab.defined(on: "h1").isDisjoint(with: ["p1a", "p2a"])
            }
            XCTAssertTrue(cleaned, "h1 still defines \(rig.lab.defined(on: "h1")); notes: \(rig.notes.all.joined(separator: "\n"))")
            let cleanedAfter = (wallClockSeconds() - bootedAt) * 1000
            for m in r.moves { XCTAssertEqual(rig.hostsRunning(m.vm), [m.to]) }
            rig.assertNothingRunsTwice()
            let notes = rig.notes.all
            XCTAssertTrue(notes.contains { $0.hasPrefix("[stale-copy] h1") && $0.contains("p1a") }, notes.joined(separator: "\n"))
            XCTAssertTrue(notes.contains { $0.hasPrefix("[running-twice]") && $0.contains("p1a") },
                          "the autostarted copy of p1a ran beside the restored one and must be reported")
            print("measure: h1 booted → its stale domains destroyed and undefined within \(formatted(cleanedAfter)) ms")
        }
    }

    func testHungHostIsFencedAfterKeepaliveAndRestored() async throws {
        let rig = try await LabRig(pairs: 2, label: "hung", repoRoot: RealRing.repoRoot, gridsvc: try LabHosts.builtGridsvc())
        try await rig.running { rig in
            let (r, hang) = try await rig.recovery(after: "hang", "h1")
            XCTAssertEqual(rig.lab.run("status").output.split(separator: "\n").first.map(String.init), "h1: off",
                           "the fence must kill a stopped host's processes")
            rig.assertNothingRunsTwice()
            func ms(_ d: Duration?) -> String { d.map { formatted(($0 - hang).inMilliseconds) } ?? "—" }
            print("measure: hang of h1 with 2 domains: detected +\(ms(r.condemnedAt)) ms, fenced +\(ms(r.fencedAt)) ms, "
                  + "all healthy +\(ms(r.healthyAt)) ms (keepalive 1 s × 2)")
        }
    }

    func testManagementPartitionIsNotFencedButAFullPartitionIs() async throws {
        let rig = try await LabRig(pairs: 2, label: "partition", repoRoot: RealRing.repoRoot, gridsvc: try LabHosts.builtGridsvc())
        try await rig.running { rig in
            _ = try rig.lab.fault("partition", "h1", "--management-only")
            let reported = await eventually(timeout: .seconds(15)) { rig.notes.all.contains { $0.hasPrefix("[partition] h1") } }
            XCTAssertTrue(reported, rig.notes.all.joined(separator: "\n"))
            XCTAssertEqual(rig.control.phases()["h1"], .suspect)
            XCTAssertFalse(rig.notes.all.contains { $0.hasPrefix("[fencing]") }, "fenced a host whose VMs serve")
            XCTAssertEqual(rig.hostsRunning("p1b", among: ["h2", "h3"]).count, 1)
            for vm in ["p1a", "p2a"] {
                let answer = await rig.probe.check(vm: vm, timeout: .seconds(1))
                XCTAssertTrue(answer, "\(vm) stopped answering during a management-only partition")
            }
            rig.lab.run("heal", "h1")
            let back = await eventually(timeout: .seconds(15)) { rig.control.phases()["h1"] == .up }
            XCTAssertTrue(back)
            // Now the whole host drops off the network: both signals, so it is fenced and restored.
            let (r, cut) = try await rig.recovery(after: "partition", "h1")
            rig.lab.run("heal", "h1")
            rig.assertNothingRunsTwice()
            print("measure: full partition of h1: detected +\(formatted((r.condemnedAt - cut).inMilliseconds)) ms, "
                  + "healthy +\(formatted(((r.healthyAt ?? cut) - cut).inMilliseconds)) ms")
        }
    }
}

extension LabRig {
    /// Fails if any VM runs on more than one host right now (virsh on every host that answers).
    func assertNothingRunsTwice(file: StaticString = #filePath, line: UInt = #line) {
        let running = lab.hosts.map { (host: $0, vms: lab.running(on: $0)) }
        for vm in site.plan.assignment.keys.sorted() {
            let on = running.filter { $0.vms.contains(vm) }.map(\.host)
            XCTAssertLessThanOrEqual(on.count, 1, "\(vm) runs on \(on)", file: file, line: line)
        }
    }
}
