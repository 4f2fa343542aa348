import Fencing
import HostControl
import Hosts
import Logging
import Net
import Placement
import Synchronization
import TestSupport
import Topology
import XCTest

/// VM checks whose answers the test sets; it records how often each VM was checked.
final class SwitchboardProbe: VMProbe {
    private let passing: Mutex<[String: Bool]>
    init(_ passing: [String: Bool]) { self.passing = Mutex(passing) }
    func set(_ vm: String, _ ok: Bool) { passing.withLock { $0[vm] = ok } }
    func check(vm: String, timeout: Duration) async -> Bool { passing.withLock { $0[vm] ?? false } }
}

final class HostControlTests: XCTestCase {
    static let plan = PlacementPlan(assignment: ["a1": "h1", "a2": "h2", "b1": "h1", "b2": "h3"])

    static func topology() -> Topology {
        let hosts = ["h1", "h2", "h3"].map { XenHost(name: $0, address: IPAddress("192.0.2.1")!, cpus: 4, memoryMiB: 4096) }
        let vms = plan.assignment.keys.sorted().map { DomU(name: $0, role: .other, vcpus: 1, memoryMiB: 256, addresses: []) }
        return Topology(site: "t", hosts: hosts, vms: vms, services: [],
                        antiAffinity: [AntiAffinityGroup(name: "a", members: ["a1", "a2"]), AntiAffinityGroup(name: "b", members: ["b1", "b2"])])
    }

    struct Setup {
        let control: HostControl
        let hosts: [String: RecordingHost]
        let probe: SwitchboardProbe
    }

    static func setUp(fencer: RecordingFencer, leftovers: [String: [String]] = [:]) -> Setup {
        let probe = SwitchboardProbe(["a1": true, "a2": true, "b1": true, "b2": true])
        var hosts: [String: RecordingHost] = [:]
        for h in ["h1", "h2", "h3"] {
            var domains = Dictionary(uniqueKeysWithValues: plan.vms(on: h).map { ($0, DomainState.running) })
            for vm in leftovers[h] ?? [] { domains[vm] = .shutOff }
            hosts[h] = RecordingHost(name: h, domains: domains) { probe.set($0, true) }
        }
        let topology = topology()
        let config = HostController.Configuration(hosts: ["h1", "h2", "h3"], fenceDevices: ["h1", "h2", "h3"],
                                                  fenceAttempts: 2, fenceRetryDelay: .milliseconds(200),
                                                  replan: { p, h in Planner.replan(topology, current: p, without: h) })
        let control = HostControl(controller: HostController(configuration: config, plan: plan), hosts: Array(hosts.values),
                                  fencer: fencer, probe: probe, definitions: { DomainDefinition(name: $0, xml: "<domain><name>\($0)</name></domain>") },
                                  settings: HostControlSettings(checkInterval: .milliseconds(50), checkTimeout: .milliseconds(20),
                                                                reconnectInterval: .milliseconds(100)),
                                  clock: ContinuousClock(), logger: Logger(label: "tandem.test.hostcontrol"))
        return Setup(control: control, hosts: hosts, probe: probe)
    }

    func running(_ s: Setup, _ body: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await s.control.run() }
            s.control.setMastership(true)
            let up = await eventually(timeout: .seconds(10)) { s.control.phases().values.allSatisfy { $0 == .up } }
            XCTAssertTrue(up, "hosts not up: \(s.control.phases())")
            do { try await body() } catch { group.cancelAll(); throw error }
            group.cancelAll()
        }
    }

    func testLostHostIsFencedAndItsVMsAreDefinedAndStartedOnSurvivorsInParallel() async throws {
        let fencer = RecordingFencer { action, _ in action == .status ? .power(.off) : .succeeded }
        let s = Self.setUp(fencer: fencer)
        try await running(s) {
            s.probe.set("a1", false); s.probe.set("b1", false)
            s.hosts["h1"]!.crash()
            let recovery = await first(s.control.recoveries, within: .seconds(10))
            let r = try XCTUnwrap(recovery)
            XCTAssertEqual(r.moves, [Move(vm: "a1", from: "h1", to: "h3"), Move(vm: "b1", from: "h1", to: "h2")])
            XCTAssertEqual(fencer.calls, ["h1 off", "h1 status"])
            // Neither survivor listed the domain: define, then start.
            XCTAssertEqual(s.hosts["h3"]!.calls.filter { !$0.hasPrefix("connect") && !$0.hasPrefix("list") }, ["define a1", "start a1"])
            XCTAssertEqual(s.hosts["h2"]!.calls.filter { !$0.hasPrefix("connect") && !$0.hasPrefix("list") }, ["define b1", "start b1"])
            // Both starts ran at once: each takes 100 ms, they began less than that apart.
            let a = try XCTUnwrap(s.hosts["h3"]!.startTimes.first?.at), b = try XCTUnwrap(s.hosts["h2"]!.startTimes.first?.at)
            XCTAssertLessThan(a < b ? b - a : a - b, .milliseconds(90), "the restarts ran one after the other")
            XCTAssertEqual(s.control.plan().assignment, ["a1": "h3", "a2": "h2", "b1": "h2", "b2": "h3"])
            XCTAssertEqual(s.control.phases()["h1"], .restored)
        }
    }

    func testAStartOnAHostThatLostTheDefinitionDefinesItAgain() async throws {
        let fencer = RecordingFencer { action, _ in action == .status ? .power(.off) : .succeeded }
        // h3 listed a1 (defined, shut off) when it connected; h2 had b1 and still has it.
        let s = Self.setUp(fencer: fencer, leftovers: ["h3": ["a1"], "h2": ["b1"]])
        try await running(s) {
            s.hosts["h3"]!.forget("a1")
            s.probe.set("a1", false); s.probe.set("b1", false)
            s.hosts["h1"]!.crash()
            let recovery = await first(s.control.recoveries, within: .seconds(10))
            XCTAssertNotNil(recovery)
            XCTAssertEqual(s.hosts["h3"]!.calls.filter { !$0.hasPrefix("connect") && !$0.hasPrefix("list") }, ["start a1", "define a1", "start a1"])
            XCTAssertEqual(s.hosts["h2"]!.calls.filter { !$0.hasPrefix("connect") && !$0.hasPrefix("list") }, ["start b1"],
                           "a domain the host has is started without redefining it")
        }
    }

    func testFenceThatKeepsFailingLeavesEverythingDownUntilConfirmOff() async throws {
        let fencer = RecordingFencer { _, _ in .failed(reason: "exit status 1: unreachable") }
        let s = Self.setUp(fencer: fencer)
        try await running(s) {
            s.probe.set("a1", false); s.probe.set("b1", false)
            s.hosts["h1"]!.crash()
            let waiting = await eventually(timeout: .seconds(10)) { s.control.phases()["h1"] == .awaitingOperator }
            XCTAssertTrue(waiting, "\(s.control.phases())")
            XCTAssertEqual(fencer.calls, ["h1 off", "h1 off"], "one retry after the retry delay, then no more")
            try await Task.sleep(for: .milliseconds(300))
            for h in ["h2", "h3"] {
                XCTAssertFalse(s.hosts[h]!.calls.contains { $0.hasPrefix("start") || $0.hasPrefix("define") }, "\(h): \(s.hosts[h]!.calls)")
            }
            s.control.confirmOff(host: "h1")
            let recovery = await first(s.control.recoveries, within: .seconds(10))
            XCTAssertEqual(recovery?.confirmedBy, .operatorConfirmed)
        }
    }
}
