import Daemon
import DaemonAPI
import Foundation
import HealthCheck
import HostControl
import Hosts
import IPVS
import Logging
import Placement
import ServiceLifecycle
import TestSupport
import Topology
import TopologyFiles
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// tandemd's host controller (issue 13) wired into a daemon with a dry-run kernel: recording
/// hypervisor hosts and fence device, the members' checks from a switchboard. Only the pair's
/// master acts; a handover mid-way hands the restore over; `/status`, `/metrics` and
/// `POST /hosts/HOST/confirm-off` show and drive it over HTTP.
final class HostsDaemonTests: XCTestCase {
    static let yaml = """
    site: hosts
    hosts:
      - {name: h1, address: 192.0.2.1, cpus: 8, memory: 8GiB}
      - {name: h2, address: 192.0.2.2, cpus: 8, memory: 8GiB}
      - {name: h3, address: 192.0.2.3, cpus: 8, memory: 8GiB}
    vms:
      - {name: a1, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.20.0.11/24]}
      - {name: a2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.20.0.12/24]}
      - {name: b1, role: voms, vcpus: 1, memory: 1GiB, addresses: [10.20.0.21/24]}
      - {name: b2, role: voms, vcpus: 1, memory: 1GiB, addresses: [10.20.0.22/24]}
    services:
      - name: gums
        vip: 10.20.1.1
        port: 80
        members:
          - {vm: a1, port: 80, weight: 100}
          - {vm: a2, port: 80, weight: 100}
        check: {kind: tcp, interval: 50ms, timeout: 40ms, rise: 1, fall: 1}
      - name: voms
        vip: 10.20.1.2
        port: 80
        members:
          - {vm: b1, port: 80, weight: 100}
          - {vm: b2, port: 80, weight: 100}
        check: {kind: tcp, interval: 50ms, timeout: 40ms, rise: 1, fall: 1}

    """
    static let token = "hosts-test-token-0123456789abcdef"

    /// A running daemon with its host controller, its API on loopback, and the doubles.
    struct Site {
        let daemon: TandemDaemon<ContinuousClock>
        let hosts: DaemonHosts
        let recording: [String: RecordingHost]
        let fencer: RecordingFencer
        let board: Switchboard
        let mastership: PairMastership
        let plan: PlacementPlan
        let url: String

        /// The host `vm` is planned on, and the other two.
        func split(_ vm: String) -> (lost: String, survivors: [String]) {
            let lost = plan.assignment[vm]!
            return (lost, ["h1", "h2", "h3"].filter { $0 != lost })
        }

        func status() async throws -> StatusReport {
            let (data, _) = try await URLSession.shared.data(from: URL(string: "\(url)/status")!)
            return try JSONDecoder().decode(StatusReport.self, from: data)
        }

        func metrics() async throws -> [String] {
            let (data, _) = try await URLSession.shared.data(from: URL(string: "\(url)/metrics")!)
            return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        }

        func confirmOff(_ host: String, token: String? = HostsDaemonTests.token) async throws -> (status: Int, body: Data) {
            var r = URLRequest(url: URL(string: "\(url)/hosts/\(host)/confirm-off")!)
            r.httpMethod = "POST"
            r.setValue("application/json", forHTTPHeaderField: "Accept")
            if let token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            let (data, response) = try await URLSession.shared.data(for: r)
            return ((response as? HTTPURLResponse)?.statusCode ?? -1, data)
        }

        /// The phase of `host` in /status.
        func phase(_ host: String) async -> String? {
            (try? await status())?.hosts?.hosts.first { $0.name == host }?.phase
        }
    }

    var work = ""

    override func setUpWithError() throws {
        work = NSTemporaryDirectory() + "tandem-hostsd-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: work) }

    /// Builds the site (every host with `libvirt:`, with a fence device when `fenced`) and runs it
    /// while `body` runs.
    func running(fenced: Bool, master: Bool, _ body: (Site) async throws -> Void) async throws {
        let path = work + "/site.yaml"
        try Self.yaml.write(toFile: path, atomically: true, encoding: .utf8)
        var topology = try TopologyLoader.load(path: path)
        topology.hosts = topology.hosts.map { h in
            var h = h
            h.libvirt = "test:///\(h.name)"
            if fenced { h.fence = HostFence(agent: "fence_recording", options: ["plug": h.name], attempts: 2) }
            return h
        }
        let plan = try Planner.plan(topology).get()
        let board = Switchboard()
        for vm in plan.assignment.keys { board.set(vm, alive: true) }
        var recording: [String: RecordingHost] = [:]
        for h in ["h1", "h2", "h3"] {
            recording[h] = RecordingHost(name: h, domains: Dictionary(uniqueKeysWithValues: plan.vms(on: h).map { ($0, DomainState.running) }),
                                         startTime: .milliseconds(20)) { board.set($0, alive: true) }
        }
        let fencer = RecordingFencer { action, _ in action == .status ? .power(.off) : .succeeded }
        let logger = Logger(label: "tandem.test.hostsd")
        let daemon = TandemDaemon(topology: topology, topologyFile: path, node: "d1", kernel: RecordingKernel(), dryRun: true,
                                  clock: ContinuousClock(), seed: 1, logger: logger, makeChecker: board.make)
        try await daemon.start()
        let mastership = PairMastership(describe: { $0 ? "master of pair test" : "backup of pair test: watching" })
        mastership.set(master)
        let recorded = recording
        let hosts = try XCTUnwrap(DaemonHosts.make(
            topology: topology, daemon: daemon,
            definitions: Dictionary(uniqueKeysWithValues: plan.assignment.keys.map { ($0, DomainDefinition(name: $0, xml: "<domain><name>\($0)</name></domain>")) }),
            mastership: mastership,
            settings: HostControlSettings(checkInterval: nil, checkTimeout: .milliseconds(40), reconnectInterval: .milliseconds(100)),
            connect: { h, _ in recorded[h.name]! }, fencer: fencer,
            adjust: { $0.crossCheckWindow = .seconds(1); $0.fenceRetryDelay = .milliseconds(100) }, logger: logger))
        let port = try XCTUnwrap(RealRing.freePortRange(count: 1), "no free port on 127.0.0.1")
        let tokenFile = work + "/token"
        try Self.token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o600)
        let app = StatusAPI.application(daemon: daemon, host: "127.0.0.1", port: port, token: try BearerToken.load(path: tokenFile),
                                        hosts: hosts, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [
            .init(service: daemon.monitor), .init(service: ReconcileService(daemon: daemon)), .init(service: hosts), .init(service: app),
        ], logger: logger))
        let site = Site(daemon: daemon, hosts: hosts, recording: recording, fencer: fencer, board: board, mastership: mastership,
                        plan: plan, url: "http://127.0.0.1:\(port)")
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let up = await eventually(timeout: .seconds(10)) {
                    guard let r = try? await site.status().hosts else { return false }
                    return r.hosts.allSatisfy { $0.phase == "up" }
                }
                let seen = try? await site.status().hosts
                XCTAssertTrue(up, "hosts not all up: \(String(describing: seen))")
                try await body(site)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// The calls a host received besides connecting and listing.
    func actions(_ host: RecordingHost) -> [String] { host.calls.filter { $0 != "connect" && $0 != "list" } }

    func testTheBackupWatchesAndTheMasterActsAfterAHandover() async throws {
        try await running(fenced: true, master: false) { site in
            let (lost, survivors) = site.split("a1")
            for vm in site.plan.vms(on: lost) { site.board.set(vm, alive: false) }
            site.recording[lost]!.crash()
            let condemned = await eventually(timeout: .seconds(10)) { await site.phase(lost) == "condemned" }
            let phase = await site.phase(lost)
            XCTAssertTrue(condemned, "\(lost) is \(String(describing: phase))")
            // Give a wrong backup every chance to act.
            try await Task.sleep(for: .milliseconds(400))
            XCTAssertEqual(site.fencer.calls, [], "the backup fenced")
            for h in survivors { XCTAssertEqual(actions(site.recording[h]!), [], "the backup touched \(h)") }
            let backup = try await site.status().hosts
            XCTAssertEqual(backup?.acting, false)
            XCTAssertEqual(backup?.mastership, "backup of pair test: watching")
            let note = backup?.hosts.first { $0.name == lost }?.lastNote
            XCTAssertEqual(note?.kind, "standby", "\(String(describing: note))")

            // The election makes this director the master: it fences and restores.
            site.mastership.set(true)
            let restored = await eventually(timeout: .seconds(10)) { await site.phase(lost) == "restored" }
            let report = try await site.status().hosts
            XCTAssertTrue(restored, "\(String(describing: report))")
            XCTAssertEqual(site.fencer.calls, ["\(lost) off", "\(lost) status"])
            let moved = site.plan.vms(on: lost).sorted()
            let started = survivors.flatMap { h in actions(site.recording[h]!).filter { $0.hasPrefix("start ") } }.sorted()
            XCTAssertEqual(started, moved.map { "start \($0)" })
            XCTAssertEqual(report?.acting, true)
            let row = try XCTUnwrap(report?.hosts.first { $0.name == lost })
            // The reason is the hypervisor's last word: the drop, then each failed reconnect.
            XCTAssertTrue(["lost: end of file from libvirtd", "lost: host unreachable"].contains(row.connection), row.connection)
            XCTAssertEqual(row.fenceAgent, "fence_recording")
            XCTAssertEqual(row.fenceState, "confirmed off: off succeeded and status reports off")
            let recovery = try XCTUnwrap(row.lastRecovery)
            XCTAssertEqual(recovery.confirmedBy, "fence agent")
            XCTAssertEqual(Set(recovery.moves.map(\.vm)), Set(moved))
            // Restored means healthy and back in IPVS: the dry-run kernel weights the moved members.
            XCTAssertNotNil(recovery.healthyMs)
            XCTAssertNotNil(recovery.inIPVSMs, "restored without the members back in IPVS: \(recovery.summary)")
            XCTAssertNotNil(recovery.restoredMs)
            XCTAssertGreaterThanOrEqual(recovery.restoredMs ?? 0, recovery.inIPVSMs ?? .infinity)

            let metrics = try await site.metrics()
            func value(_ name: String, _ labels: [String]) -> Double? {
                metrics.first { $0.hasPrefix(name + "{") && labels.allSatisfy($0.contains) }?.split(separator: " ").last.flatMap { Double($0) }
            }
            XCTAssertEqual(value("tandem_host_phase", ["host=\"\(lost)\"", "phase=\"restored\""]), 1, metrics.joined(separator: "\n"))
            XCTAssertEqual(value("tandem_host_phase", ["host=\"\(lost)\"", "phase=\"up\""]), 0)
            XCTAssertEqual(value("tandem_host_phase", ["host=\"\(survivors[0])\"", "phase=\"up\""]), 1)
            XCTAssertEqual(value("tandem_host_connected", ["host=\"\(lost)\""]), 0)
            XCTAssertEqual(value("tandem_host_fence_total", ["host=\"\(lost)\"", "action=\"off\"", "result=\"succeeded\""]), 1)
            XCTAssertEqual(value("tandem_host_fence_total", ["host=\"\(lost)\"", "action=\"status\"", "result=\"power_off\""]), 1)
            XCTAssertEqual(value("tandem_host_fence_total", ["host=\"\(survivors[0])\"", "action=\"off\"", "result=\"succeeded\""]), 0)
            XCTAssertEqual(value("tandem_host_recoveries_total", ["host=\"\(lost)\""]), 1)
            let seconds = try XCTUnwrap(value("tandem_host_recovery_seconds", ["host=\"\(lost)\""]))
            XCTAssertEqual(seconds * 1000, recovery.restoredMs ?? -1, accuracy: 1)
        }
    }

    func testAMasterWithoutAFenceDeviceWaitsForConfirmOffOverHTTP() async throws {
        try await running(fenced: false, master: true) { site in
            let (lost, survivors) = site.split("b1")
            for vm in site.plan.vms(on: lost) { site.board.set(vm, alive: false) }
            site.recording[lost]!.crash()
            let waiting = await eventually(timeout: .seconds(10)) { await site.phase(lost) == "awaiting operator" }
            let phase = await site.phase(lost)
            XCTAssertTrue(waiting, "\(lost) is \(String(describing: phase))")
            let row = try await site.status().hosts?.hosts.first { $0.name == lost }
            XCTAssertEqual(row?.fenceAgent, nil)
            XCTAssertEqual(row?.lastNote?.kind, "awaiting-operator")
            XCTAssertTrue(row?.lastNote?.message.contains("tandemctl hosts confirm-off \(lost)") == true, "\(String(describing: row))")
            for h in survivors { XCTAssertEqual(actions(site.recording[h]!), [], "restarted without a confirmed-off host") }

            let unknown = try await site.confirmOff("zz")
            XCTAssertEqual(unknown.status, 404)
            XCTAssertEqual(try JSONDecoder().decode(APIProblem.self, from: unknown.body),
                           APIProblem(.unknownHost, "no host zz among the hosts this tandemd watches (h1, h2, h3)"))
            let up = try await site.confirmOff(survivors[0])
            XCTAssertEqual(up.status, 409)
            XCTAssertEqual(try JSONDecoder().decode(APIProblem.self, from: up.body),
                           APIProblem(.hostPhase, "\(survivors[0]) is up, not awaiting an operator: nothing to confirm"))
            let noToken = try await site.confirmOff(lost, token: nil)
            XCTAssertEqual(noToken.status, 401)
            let still = await site.phase(lost)
            XCTAssertEqual(still, "awaiting operator", "a refused request changed the host")

            let confirmed = try await site.confirmOff(lost)
            XCTAssertEqual(confirmed.status, 200, String(decoding: confirmed.body, as: UTF8.self))
            let result = try JSONDecoder().decode(ConfirmOffResult.self, from: confirmed.body)
            XCTAssertEqual(result.host, lost)
            XCTAssertEqual(result.phaseBefore, "awaiting operator")
            XCTAssertTrue(result.acting)
            XCTAssertNotEqual(result.phase, "awaiting operator")
            let restored = await eventually(timeout: .seconds(10)) { await site.phase(lost) == "restored" }
            let after = try await site.status().hosts
            XCTAssertTrue(restored, "\(String(describing: after))")
            let recovery = try await site.status().hosts?.hosts.first { $0.name == lost }?.lastRecovery
            XCTAssertEqual(recovery?.confirmedBy, "operator")
            XCTAssertEqual(site.fencer.calls, [], "no fence device: nothing to run")
        }
    }

    func testASiteWithoutLibvirtKeysHasNoHostController() throws {
        let path = work + "/site.yaml"
        try Self.yaml.write(toFile: path, atomically: true, encoding: .utf8)
        let topology = try TopologyLoader.load(path: path)
        let daemon = TandemDaemon(topology: topology, topologyFile: path, node: "d1", kernel: RecordingKernel(), dryRun: true,
                                  clock: ContinuousClock(), seed: 1, logger: Logger(label: "test"))
        XCTAssertNil(DaemonHosts.make(topology: topology, daemon: daemon, definitions: [:], mastership: .withoutVRRP(),
                                      logger: Logger(label: "test")))
    }
}
