import Daemon
import HealthCheck
import IPVS
import Reconcile
import RingHealth
import Topology
import XCTest
import Health
import IPVSModel
import Net

func site(lastMember: LastMemberPolicy = .keepLast) -> Topology {
    let vms = ["fg5x2", "fg6x2", "fg7x2"].enumerated().map { i, n in
        DomU(name: n, role: .gums, vcpus: 1, memoryMiB: 1024, addresses: [InterfaceAddress(address: IPAddress("10.10.\(5 + i).12")!)])
    }
    let gums = VirtualService(name: "gums", vip: IPAddress("10.10.0.12")!, port: 8443,
                              members: [ServiceMember(vm: "fg5x2", port: 8443, weight: 100),
                                        ServiceMember(vm: "fg6x2", port: 8443, weight: 50),
                                        ServiceMember(vm: "fg7x2", port: 8443, weight: 10)],
                              check: HealthCheckSpec(kind: .tcp), lastMember: lastMember)
    return Topology(site: "t", hosts: [], vms: vms, services: [gums])
}

let a = MemberRef(service: "gums", member: "fg5x2")
let b = MemberRef(service: "gums", member: "fg6x2")
let c = MemberRef(service: "gums", member: "fg7x2")

final class WeightPolicyTests: XCTestCase {
    func testHealthyMembersKeepTheirWeightAndFailedOnesAreDrainedToZero() {
        let d = WeightPolicy.decide(site(), states: [a: .up, b: .down, c: .up], drained: [])
        XCTAssertEqual(d.weights, [a: 100, b: 0, c: 10])
        XCTAssertTrue(d.sorry.isEmpty)
        XCTAssertTrue(d.keptByLastMemberPolicy.isEmpty)
        // Drained means weight 0 in the table, not removal.
        let table = WeightPolicy.table(site(), d)
        let dests = table.services.values.first!.destinations.values.sorted { $0.key < $1.key }
        XCTAssertEqual(dests.map(\.weight), [100, 0, 10])
    }

    /// A single-writer service takes its weights from the writer decision, not from health: the
    /// writer at its weight, the others 0 even when healthy; an operator drain still wins; while
    /// the writes wait for a node to catch up the service is empty on purpose (no keep_last).
    func testSingleWriterServiceTakesItsWeightsFromTheWriterDecision() {
        let toB = WriterDecision(writer: "fg6x2", weights: ["fg5x2": 0, "fg6x2": 50, "fg7x2": 0], candidates: ["fg6x2"],
                                 reason: "writes move", changed: true)
        let d = WeightPolicy.decide(site(), states: [a: .up, b: .up, c: .up], drained: [], writers: ["gums": toB])
        XCTAssertEqual(d.weights, [a: 0, b: 50, c: 0])
        XCTAssertEqual(d.writers["gums"], .some("fg6x2"))
        let drainedWriter = WeightPolicy.decide(site(), states: [a: .up, b: .up, c: .up], drained: [b], writers: ["gums": toB])
        XCTAssertEqual(drainedWriter.weights, [a: 0, b: 0, c: 0])
        let waiting = WriterDecision(writer: nil, weights: ["fg5x2": 0, "fg6x2": 0, "fg7x2": 0], candidates: [],
                                     reason: "waiting for fg6x2 to apply heartbeat 9", changed: true)
        let w = WeightPolicy.decide(site(), states: [a: .down, b: .down, c: .down], drained: [], writers: ["gums": waiting])
        XCTAssertEqual(w.weights, [a: 0, b: 0, c: 0])
        XCTAssertTrue(w.keptByLastMemberPolicy.isEmpty, "no last-member policy for a single writer that waits")
        XCTAssertEqual(w.writers["gums"], .some(nil))
        // Without a writer decision the same service follows health as before.
        XCTAssertEqual(WeightPolicy.decide(site(), states: [a: .up, b: .up, c: .up], drained: []).weights, [a: 100, b: 50, c: 10])
    }

    func testOperatorDrainWinsOverHealth() {
        let d = WeightPolicy.decide(site(), states: [a: .up, b: .up, c: .up], drained: [b])
        XCTAssertEqual(d.weights, [a: 100, b: 0, c: 10])
    }

    func testKeepLastNeverEmptiesAServiceWhenEveryMemberFailed() {
        let d = WeightPolicy.decide(site(), states: [a: .down, b: .down, c: .down], drained: [])
        XCTAssertEqual(d.weights, [a: 100, b: 50, c: 10])
        XCTAssertEqual(d.keptByLastMemberPolicy, ["gums"])
        // Drained members stay out even then.
        let e = WeightPolicy.decide(site(), states: [a: .down, b: .down, c: .down], drained: [a])
        XCTAssertEqual(e.weights, [a: 0, b: 50, c: 10])
    }

    func testSorryServerTakesOverWhenEveryMemberFailed() {
        let t = site(lastMember: .sorryServer(IPAddress("10.10.9.9")!, port: 80))
        let d = WeightPolicy.decide(t, states: [a: .down, b: .down, c: .down], drained: [])
        XCTAssertEqual(d.weights, [a: 0, b: 0, c: 0])
        XCTAssertEqual(d.sorry["gums"], SorryServer(address: IPAddress("10.10.9.9")!, port: 80))
        let dests = WeightPolicy.table(t, d).services.values.first!.destinations
        XCTAssertEqual(dests[DestinationKey(address: IPAddress("10.10.9.9")!, port: 80)]?.weight, 1)
        XCTAssertEqual(dests.count, 4)
        // One member back: the sorry server leaves the table.
        let back = WeightPolicy.decide(t, states: [a: .up, b: .down, c: .down], drained: [])
        XCTAssertTrue(back.sorry.isEmpty)
        XCTAssertEqual(WeightPolicy.table(t, back).services.values.first!.destinations.count, 3)
    }

    func testUnknownMembersServeOnlyWhileNoMemberIsKnownUp() {
        let start = WeightPolicy.decide(site(lastMember: .sorryServer(IPAddress("10.10.9.9")!, port: 80)),
                                        states: [a: .unknown, b: .unknown, c: .down], drained: [])
        XCTAssertEqual(start.weights, [a: 100, b: 50, c: 0], "no sorry server before the first checks decide")
        XCTAssertTrue(start.sorry.isEmpty)
        let later = WeightPolicy.decide(site(), states: [a: .up, b: .unknown, c: .down], drained: [])
        XCTAssertEqual(later.weights, [a: 100, b: 0, c: 0])
    }

    /// Restart: members the kernel serves at their topology weight start `up` (no disturbance);
    /// any other (missing, weight 0 left by an earlier run, or another weight) starts `unknown`,
    /// so its first check decides and no unjustified 0 survives.
    func testRestartStartsFromWhatTheKernelHas() {
        let t = site()
        var observed = WeightPolicy.table(t, WeightPolicy.decide(t, states: [a: .up, b: .up, c: .up], drained: []))
        let key = observed.services.keys.first!
        observed.services[key]!.destinations[DestinationKey(address: IPAddress("10.10.6.12")!, port: 8443)]!.weight = 0
        observed.services[key]!.destinations[DestinationKey(address: IPAddress("10.10.7.12")!, port: 8443)] = nil
        XCTAssertEqual(WeightPolicy.initialStates(t, observed: observed), [a: .up, b: .unknown, c: .unknown])
        XCTAssertEqual(WeightPolicy.initialStates(t, observed: IPVSState()), [a: .unknown, b: .unknown, c: .unknown])
    }
}
