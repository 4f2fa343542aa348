import Fencing
import Foundation
import HostControl
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
    /// A lab site: `pairs` pairs pNa/pNb; every pNa on h1, the pNb alternately on h2 and h3.
    struct Site {
        let topology: Topology
        let plan: PlacementPlan
        let addresses: [String: String]
        let macs: [String: String]

        init(pairs: Int) {
            var assignment: [String: String] = [:], addresses: [String: String] = [:], macs: [String: String] = [:]
            var vms: [DomU] = [], groups: [AntiAffinityGroup] = []
            for p in 1...pairs {
                let a = "p\(p)a", b = "p\(p)b"
                assignment[a] = "h1"
                assignment[b] = p % 2 == 1 ? "h2" : "h3"
                for (i, vm) in [a, b].enumerated() {
                    let octet = 10 + p * 2 + i
                    addresses[vm] = "10.79.0.\(octet)"
                    macs[vm] = String(format: "52:54:00:79:01:%02x", octet)
                    vms.append(DomU(name: vm, role: .other, vcpus: 1, memoryMiB: 64, addresses: []))
                }
                groups.append(AntiAffinityGroup(name: "pair\(p)", members: [a, b]))
            }
            let hosts = ["h1", "h2", "h3"].map { XenHost(name: $0, address: IPAddress("10.79.0.200")!, cpus: 16, memoryMiB: 4096) }
            topology = Topology(site: "lab", hosts: hosts, vms: vms, services: [], antiAffinity: groups)
            plan = PlacementPlan(assignment: assignment)
            self.addresses = addresses
            self.macs = macs
        }
    }

    /// A lab with a site's domains defined and started where the plan puts them, and a controller
    /// loop ready to run.
    final class Rig: @unchecked Sendable {
        // @unchecked Sendable: every stored property is immutable after init.
        let lab: LabHosts
        let site: Site
        let control: HostControl
        let probe: NamespaceHTTPProbe
        let hosts: [LibvirtHost]
        let notes = LockedLog()
        /// CLOCK_REALTIME at the controller's time zero.
        let wallZero: Double

        init(pairs: Int, fenceDevices: Set<String> = ["h1", "h2", "h3"], label: String) async throws {
            let lab = try LabHosts.up(3, label: label)
            do {
                let site = Site(pairs: pairs)
                let logger = Logger(label: "tandem.test.hosts")
                let hosts = lab.hosts.map { LibvirtHost(name: $0, uri: lab.uri($0), keepAlive: KeepAlive(intervalSeconds: 1, count: 2),
                                                        openTimeout: .seconds(2), logger: logger) }
                var definitions: [String: DomainDefinition] = [:]
                for vm in site.plan.assignment.keys.sorted() {
                    definitions[vm] = try lab.domain(vm, address: site.addresses[vm]!, mac: site.macs[vm]!)
                }
                // Define and start from the plan, through the edge, all at once.
                for host in hosts { try await host.connect() }
                let defs = definitions
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (vm, h) in site.plan.assignment {
                        let host = hosts.first { $0.name == h }!
                        let definition = defs[vm]!
                        group.addTask {
                            try await host.define(definition)
                            try await host.start(domain: vm)
                        }
                    }
                    try await group.waitForAll()
                }
                let probe = try NamespaceHTTPProbe(namespace: lab.switchNamespace, addresses: site.addresses)
                let vms = site.plan.assignment.keys.sorted()
                let healthy = await eventually(timeout: .seconds(30)) {
                    for vm in vms where await probe.check(vm: vm, timeout: .milliseconds(500)) == false { return false }
                    return true
                }
                guard healthy else { throw LabHosts.Unavailable(description: "the lab's domains did not all answer HTTP within 30 s") }
                let topology = site.topology
                let config = HostController.Configuration(
                    hosts: lab.hosts, fenceDevices: fenceDevices, crossCheckWindow: .seconds(2),
                    fenceAttempts: 2, fenceRetryDelay: .milliseconds(500), restoreDeadline: .seconds(20),
                    replan: { plan, lost in Planner.replan(topology, current: plan, without: lost) })
                var devices: [String: FenceDevice] = [:]
                for h in fenceDevices { devices[h] = lab.fenceDevice(h) }
                wallZero = wallClockSeconds()
                control = HostControl(controller: HostController(configuration: config, plan: site.plan), hosts: hosts,
                                      fencer: AgentFencer(devices: devices, logger: logger), probe: probe,
                                      definitions: { defs[$0] },
                                      settings: HostControlSettings(checkInterval: .milliseconds(200), checkTimeout: .milliseconds(150),
                                                                    reconnectInterval: .milliseconds(500)),
                                      clock: ContinuousClock(), logger: logger)
                self.lab = lab; self.site = site; self.hosts = hosts; self.probe = probe
            } catch {
                lab.down()
                throw error
            }
        }

        /// Runs the controller loop (as master) while `body` runs, then stops it and the lab.
        func running(_ body: @escaping @Sendable (Rig) async throws -> Void) async throws {
            defer { lab.down() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.control.run() }
                group.addTask { for await n in self.control.notes { self.notes.append(n.description) } }
                control.setMastership(true)
                let allUp = await eventually(timeout: .seconds(20)) { self.control.phases().values.allSatisfy { $0 == .up } }
                guard allUp else { throw LabHosts.Unavailable(description: "hosts not all up: \(self.control.phases())") }
                do { try await body(self) } catch { group.cancelAll(); throw error }
                group.cancelAll()
            }
            for host in hosts { await host.close() }
            probe.shutdown()
        }

        /// Controller time (since its zero) of a wall-clock instant.
        func controllerTime(_ wall: Double) -> Duration { .nanoseconds(Int64((wall - wallZero) * 1e9)) }

        /// Which hosts run `vm` per virsh (asking only `among`: virsh blocks on a stopped libvirtd).
        func hostsRunning(_ vm: String, among: [String]? = nil) -> [String] {
            (among ?? lab.hosts).filter { lab.running(on: $0).contains(vm) }
        }

        /// Fails if any VM runs on more than one host right now (virsh on every host that answers).
        func assertNothingRunsTwice(file: StaticString = #filePath, line: UInt = #line) {
            let running = lab.hosts.map { (host: $0, vms: lab.running(on: $0)) }
            for vm in site.plan.assignment.keys.sorted() {
                let on = running.filter { $0.vms.contains(vm) }.map(\.host)
                XCTAssertLessThanOrEqual(on.count, 1, "\(vm) runs on \(on)", file: file, line: line)
            }
        }

        func firstRecovery(within: Duration) async -> HostRecovery? {
            await first(control.recoveries, within: within)
        }

        /// Injects a fault (`crash h1`, `hang h1`, `partition h1`) and waits for the controller to
        /// restore redundancy; returns the recovery and the fault's time on the controller's clock.
        func recovery(after fault: String...) async throws -> (HostRecovery, at: Duration) {
            let at = try lab.fault(fault[0], Array(fault.dropFirst()))
            let recovery = await firstRecovery(within: .seconds(30))
            let r = try XCTUnwrap(recovery, "no recovery within 30 s of \(fault.joined(separator: " ")); notes:\n\(notes.all.joined(separator: "\n"))")
            return (r, controllerTime(at))
        }
    }

    func testCrashedHostIsFencedAndItsFiveDomainsRestartInParallelOnTheSurvivors() async throws {
        let rig = try await Rig(pairs: 5, label: "restore")
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
                XCTAssertEqual(body?.split(separator: " ").first.map(String.init), m.vm)
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
        let rig = try await Rig(pairs: 2, label: "fencefail")
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
        let rig = try await Rig(pairs: 2, label: "return")
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
        let rig = try await Rig(pairs: 2, label: "hung")
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
        let rig = try await Rig(pairs: 2, label: "partition")
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
