import Daemon
import Net
import IPVSModel
import Foundation
import HealthCheck
import IPVS
import Reconcile
import Synchronization
import Topology
import XCTest
import Health
import TestSupport
import TopologyFiles

/// A checker whose answer a test sets per member; it records how many checkers were built.
final class Switchboard: Sendable {
    private let alive = Mutex<Set<String>>([])
    private let built = Mutex<[String]>([])
    func set(_ member: String, alive up: Bool) { alive.withLock { if up { $0.insert(member) } else { $0.remove(member) } } }
    var checkersBuilt: [String] { built.withLock { $0 } }
    func make(_ t: CheckTarget) -> any HealthChecker {
        built.withLock { $0.append(t.member) }
        return Probe(board: self, member: t.member)
    }
    struct Probe: HealthChecker {
        let board: Switchboard
        let member: String
        func check(timeout: Duration) async -> CheckOutcome {
            board.alive.withLock { $0.contains(member) } ? .success : .failure(reason: "connection refused", immediate: true)
        }
    }
}

final class DaemonTests: XCTestCase {
    let yaml = """
    site: t
    hosts:
      - {name: h1, address: 192.0.2.1, cpus: 4, memory: 4GiB}
      - {name: h2, address: 192.0.2.2, cpus: 4, memory: 4GiB}
      - {name: h3, address: 192.0.2.3, cpus: 4, memory: 4GiB}
    vms:
      - {name: fg5x2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.10.5.12/24]}
      - {name: fg6x2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.10.6.12/24]}
    services:
      - name: gums
        vip: 10.10.0.12
        port: 8443
        members:
          - {vm: fg5x2, port: 8443, weight: 100}
          - {vm: fg6x2, port: 8443, weight: 100}
        check: {kind: tcp, interval: 1s, timeout: 500ms, rise: 2, fall: 2}

    """

    func write(_ text: String) throws -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-daemon-\(UUID().uuidString).yaml").path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func testReloadAppliesADiffKeepsUnchangedCheckersAndRefusesBadFiles() async throws {
        let path = try write(yaml)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let clock = ManualClock()
        let board = Switchboard()
        board.set("fg5x2", alive: true); board.set("fg6x2", alive: true)
        let kernel = RecordingKernel()
        let daemon = TandemDaemon(topology: try TopologyLoader.load(path: path), topologyFile: path, node: "d1", kernel: kernel,
                                  dryRun: true, clock: clock, seed: 1, logger: .init(label: "test"), makeChecker: board.make)
        try await daemon.start()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await daemon.monitor.run() }
            defer { group.cancelAll() }  // every early return must still stop the monitor
            guard await clock.waitForSleepers(2) else { return XCTFail("checks never parked") }
            guard await clock.advance(to: .init(offset: .seconds(2)), expectSleepers: 2) else { return XCTFail("did not settle") }
            await daemon.reconcileOnce()
            let dests = kernel.table.services.values.first!.destinations.values
            XCTAssertEqual(dests.map(\.weight).sorted(), [100, 100])

            // fg6x2 refuses: it is drained to weight 0, kept in the table.
            board.set("fg6x2", alive: false)
            guard await clock.advance(to: .init(offset: .seconds(3)), expectSleepers: 2) else { return XCTFail("did not settle") }
            await daemon.reconcileOnce()
            XCTAssertEqual(kernel.table.services.values.first!.destinations.values.map(\.weight).sorted(), [0, 100])

            // A bad file is refused with the validator's messages; nothing changes.
            let before = kernel.operations.count
            try "services: [ {name: gums, vip: nope} ]\n".write(toFile: path, atomically: true, encoding: .utf8)
            guard case .refused(let why) = await daemon.reload(path: path) else { return XCTFail("bad file accepted") }
            XCTAssertTrue(why.contains(path), why)
            await daemon.reconcileOnce()
            XCTAssertEqual(kernel.operations.count, before, "a refused reload writes nothing")
            XCTAssertEqual(daemon.topology.services.first?.members.count, 2)

            // A good file that adds a member and changes nothing else: a diff, no checker restarted.
            try (yaml.replacingOccurrences(of: "- {name: fg6x2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.10.6.12/24]}",
                                           with: "- {name: fg6x2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.10.6.12/24]}\n  - {name: fg7x2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.10.7.12/24]}")
                .replacingOccurrences(of: "- {vm: fg6x2, port: 8443, weight: 100}",
                                      with: "- {vm: fg6x2, port: 8443, weight: 100}\n      - {vm: fg7x2, port: 8443, weight: 100}"))
                .write(toFile: path, atomically: true, encoding: .utf8)
            let outcome = await daemon.reload(path: path)
            guard case .applied(let diff) = outcome else { return XCTFail("good file refused: \(outcome)") }
            XCTAssertEqual(diff.kept.map(\.member), ["fg5x2", "fg6x2"])
            XCTAssertEqual(diff.added.map(\.member), ["fg7x2"])
            XCTAssertEqual(diff.removed, [])
            // The new member's loop builds its checker when it starts; wait until all three loops are parked.
            guard await clock.waitForSleepers(3) else { return XCTFail("the new member's check never started") }
            XCTAssertEqual(board.checkersBuilt.sorted(), ["fg5x2", "fg6x2", "fg7x2"], "unchanged members kept their checkers")
            XCTAssertEqual(daemon.memberStates()[MemberRef(service: "gums", member: "fg6x2")], .down, "state survived the reload")
            let opsBefore = kernel.operations.count
            await daemon.reconcileOnce()
            let newOps = kernel.operations[opsBefore...].map(\.description)
            XCTAssertEqual(newOps, ["add-destination TCP 10.10.0.12:8443 -> 10.10.7.12:8443 Masq weight 0"],
                           "only the new member is written, at weight 0 until its first check")
        }
    }

    func testAServiceTakenOutOfTheFileLeavesTheKernelAndTheRecordFollows() async throws {
        let two = yaml + """
          - name: voms
            vip: 10.10.0.11
            port: 8443
            members:
              - {vm: fg5x2, port: 8443, weight: 100}
              - {vm: fg6x2, port: 8443, weight: 100}
            check: {kind: tcp, interval: 1s, timeout: 500ms, rise: 2, fall: 2}

        """
        let path = try write(two)
        let recordPath = path + ".owned.json"
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: recordPath) }
        // A record from an earlier run that owned a service this file no longer has.
        let old = ServiceKey.address(.tcp, IPAddress("10.10.0.99")!, port: 80)
        let manual = ServiceKey.address(.tcp, IPAddress("10.10.0.98")!, port: 80)
        let record = OwnedServicesRecord(path: recordPath)
        try record.save([old])
        var before = IPVSState()
        for k in [old, manual] { before.services[k] = ServiceState(service: IPVSService(key: k, scheduler: "rr")) }
        let kernel = RecordingKernel(table: before)
        let daemon = TandemDaemon(topology: try TopologyLoader.load(path: path), topologyFile: path, node: "d1", kernel: kernel,
                                  dryRun: false, clock: ManualClock(), seed: 1, logger: .init(label: "test"), owned: record)
        try await daemon.start()
        await daemon.reconcileOnce()
        XCTAssertNil(kernel.table.services[old], "owned by an earlier run and gone from the file: deleted")
        XCTAssertNotNil(kernel.table.services[manual], "never owned: untouched")
        XCTAssertEqual(kernel.table.services.count, 3)
        XCTAssertEqual(try record.load(), Set(kernel.table.services.keys).subtracting([manual]))

        // A reload without voms removes it from the kernel and from the record.
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        guard case .applied = await daemon.reload(path: path) else { return XCTFail("reload refused") }
        let voms = ServiceKey.address(.tcp, IPAddress("10.10.0.11")!, port: 8443)
        XCTAssertNil(kernel.table.services[voms])
        XCTAssertNotNil(kernel.table.services[manual])
        XCTAssertEqual(try record.load(), [ServiceKey.address(.tcp, IPAddress("10.10.0.12")!, port: 8443)])
    }

    func testOperatorDrainAndReportAndTokenFileModes() async throws {
        let path = try write(yaml)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let kernel = RecordingKernel()
        let daemon = TandemDaemon(topology: try TopologyLoader.load(path: path), topologyFile: path, node: "d1", kernel: kernel,
                                  dryRun: true, clock: ManualClock(), seed: 1, logger: .init(label: "test"))
        try await daemon.start()
        XCTAssertThrowsError(try daemon.setDrained(MemberRef(service: "gums", member: "nosuch"), true))
        let drained = MemberRef(service: "gums", member: "fg5x2")
        try daemon.setDrained(drained, true)
        // POST /drain answers only once the kernel holds the weight: before a reconcile it is pending.
        let before = await daemon.waitForKernelWeight(drained, timeout: .milliseconds(30))
        XCTAssertEqual(before, .pending(wanted: 0, kernel: nil))
        await daemon.reconcileOnce()
        guard case .applied(let weight, _) = await daemon.waitForKernelWeight(drained, timeout: .seconds(1)) else {
            return XCTFail("the drain was reconciled but the kernel view does not show weight 0")
        }
        XCTAssertEqual(weight, 0)
        let r = daemon.report()
        XCTAssertEqual(r.services.first?.members.map(\.drained), [true, false])
        XCTAssertEqual(r.services.first?.members.map(\.weight), [0, 100])
        XCTAssertTrue(r.rendered().contains("DRAINED"), r.rendered())

        let tokenPath = path + ".token"
        defer { try? FileManager.default.removeItem(atPath: tokenPath) }
        try "0123456789abcdef0123".write(toFile: tokenPath, atomically: true, encoding: .utf8)
        chmod(tokenPath, 0o644)
        XCTAssertThrowsError(try BearerToken.load(path: tokenPath)) { e in
            XCTAssertTrue("\(e)".contains("must be 0600"), "\(e)")
        }
        chmod(tokenPath, 0o600)
        XCTAssertNoThrow(try BearerToken.load(path: tokenPath))
    }

    func testALargeDegradedSiteListsTheFirstServicesNeedingALookAndCountsTheRest() throws {
        // 1,300 services, none of whose members has been checked yet: every one needs a look.
        var text = "site: big\nservices:\n"
        for i in 0..<1300 {
            text += "  - {name: s\(i), vip: 10.1.\(i / 250).\(1 + i % 250), port: 80, members: [{address: 10.2.\(i / 250).\(1 + i % 250), port: 80}], check: {kind: tcp}}\n"
        }
        let topology = try TopologyLoader.parse(data: Data(text.utf8), file: "big.yaml").topology
        let daemon = TandemDaemon(topology: topology, topologyFile: "big.yaml", node: "d1", kernel: RecordingKernel(),
                                  dryRun: true, clock: ManualClock(), seed: 1, logger: .init(label: "test"))
        let r = daemon.report()
        XCTAssertEqual(r.services.map(\.name), (0..<200).map { "s\($0)" }, "the first 200 in topology order")
        XCTAssertEqual(r.summary?.services, 1300)
        XCTAssertEqual(r.summary?.shown, 200)
        XCTAssertEqual(r.summary?.members["unknown"], 1300)
        XCTAssertEqual(r.summary?.omitted,
                       "1100 services are not listed: 0 whose members are all up, and 1100 more that need a look beyond the first 200; ask /status?all=1 or /status?service=NAME[,NAME]")
        XCTAssertEqual(daemon.report(all: true).services.count, 1300)
        XCTAssertEqual(daemon.report(services: ["s1299", "s7"]).services.map(\.name), ["s7", "s1299"])
        XCTAssertNil(daemon.report(services: ["s7"]).summary?.omitted)
    }
}
