import Daemon
import Foundation
import Health
import IPVSModel
import Reconcile
import TestSupport
import Topology
import XCTest
import TopologyFiles

/// The daemon's reconcile path at a size where a whole-table pass would show: a health event
/// recomputes and writes its own service only, and the repair sweep fixes what was changed behind
/// the daemon's back, in chunks.
final class EventPassTests: XCTestCase {
    static let services = 400

    func site() throws -> String {
        var y = """
        site: many
        hosts:
          - {name: h1, address: 192.0.2.1, cpus: 64, memory: 64GiB}
          - {name: h2, address: 192.0.2.2, cpus: 64, memory: 64GiB}
        vms:
          - {name: a, role: other, vcpus: 1, memory: 1GiB, addresses: [10.200.0.1/32]}
          - {name: b, role: other, vcpus: 1, memory: 1GiB, addresses: [10.200.0.2/32]}
        services:

        """
        for i in 0..<Self.services {
            y += "  - {name: s\(i), vip: 10.100.\(i / 250).\(i % 250 + 1), port: 80, members: [{vm: a, port: \(20000 + i)}, {vm: b, port: \(20000 + i)}], check: {kind: tcp, interval: 1s, timeout: 500ms, rise: 1, fall: 1}}\n"
        }
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-many-\(UUID().uuidString).yaml").path
        try y.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func testAHealthEventWritesAndReadsOnlyItsOwnServiceAndTheRepairSweepFixesTampering() async throws {
        let path = try site()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let clock = ManualClock()
        let board = Switchboard()
        for m in ["a", "b"] { board.set(m, alive: true) }
        let kernel = RecordingKernel()
        let topology = try TopologyLoader.load(path: path)
        let daemon = TandemDaemon(topology: topology, topologyFile: path, node: "d1", kernel: kernel, dryRun: true,
                                  clock: clock, seed: 1, logger: .init(label: "test"), makeChecker: board.make)
        try await daemon.start()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await daemon.monitor.run() }
            defer { group.cancelAll() }
            let checks = 2 * Self.services
            guard await clock.waitForSleepers(checks) else { return XCTFail("checks never parked") }
            guard await clock.advance(to: .init(offset: .seconds(1)), expectSleepers: checks) else { return XCTFail("did not settle") }
            await daemon.reconcileOnce()   // the first pass: the whole table
            XCTAssertEqual(kernel.table.services.count, Self.services)
            await daemon.reconcileOnce()   // whatever the first checks changed
            let readsBefore = kernel.reads.count, opsBefore = kernel.operations.count

            // Member a of service s1234 dies: the switchboard fails every check of `a`, but the test
            // reports the transition of one service only, through the daemon's own path.
            let victim = topology.service(named: "s234")!
            let key = TopologyMapping.serviceKey(victim)
            let ref = MemberRef(service: "s234", member: "a")
            try daemon.setDrained(ref, true)
            await daemon.reconcileOnce()
            let ops = Array(kernel.operations[opsBefore...])
            XCTAssertEqual(ops.count, 1, "\(ops)")
            guard case .editDestination(let k, let d) = ops.first else { return XCTFail("\(ops)") }
            XCTAssertEqual(k, key)
            XCTAssertEqual(d.weight, 0)
            XCTAssertEqual(Array(kernel.reads[readsBefore...]), [[key]], "one read-back, of that service only")
            XCTAssertNotNil(daemon.report(services: ["s234"]).services.first?.lastEventToKernelMs, "/status says how long the event took")

            // Someone sets a weight by hand: the repair sweep puts it back, reading no more than a chunk at a time.
            let other = TopologyMapping.serviceKey(topology.service(named: "s7")!)
            let dk = kernel.table.services[other]!.destinations.keys.min()!
            let right = kernel.table.services[other]!.destinations[dk]!.weight
            kernel.tamper { $0.services[other]!.destinations[dk]!.weight = 3 }
            let r0 = kernel.reads.count
            var sweep = 0
            while true {
                let (position, count) = await daemon.repairOnce(maxServices: 50)
                sweep += 1
                if position >= count { break }
            }
            XCTAssertEqual(sweep, Self.services / 50)
            XCTAssertTrue(kernel.reads[r0...].allSatisfy { $0.count <= 50 })
            XCTAssertEqual(kernel.table.services[other]!.destinations[dk]!.weight, right, "repaired")
        }
    }
}
