import Daemon
import Foundation
import HealthCheck
import IPVS
import Logging
import Reconcile
import Topology
import XCTest
import Health
import IPVSModel
import Net
import TestSupport
import TopologyFiles

/// Passive silence detection in the daemon: ``PassiveWatch`` over a ``RecordingKernel`` whose
/// traffic the test scripts (manual clock, no sleeping), the connection-table parser on the kernel's
/// own text, and the whole path in a real IPVS kernel (user-mode-linux): client traffic to a NAT
/// service, one member silenced, drained with the passive reason before its check could time out.
final class PassiveWatchTests: XCTestCase {
    func yaml(passive: Bool) -> String {
        """
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
            forwarding: nat
            members:
              - {vm: fg5x2, port: 8443, weight: 100}
              - {vm: fg6x2, port: 8443, weight: 100}
            check: {kind: tcp, interval: 1s, timeout: 1s, rise: 2, fall: 3}
        \(passive ? "    passive: {window: 300ms, min_connections: 3}\n" : "")
        """
    }

    func write(_ text: String, to path: String? = nil) throws -> String {
        let p = path ?? FileManager.default.temporaryDirectory.appendingPathComponent("tandem-passive-\(UUID().uuidString).yaml").path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func stats(_ conns: UInt64, _ outPackets: UInt64) -> IPVSStats {
        var s = IPVSStats()
        s.connections = conns; s.inPackets = conns * 3; s.outPackets = outPackets
        return s
    }

    func testASilentMemberIsFailedThroughTheMonitorOnceAndAReloadTurnsItOff() async throws {
        let path = try write(yaml(passive: true))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let t = try TopologyLoader.load(path: path)
        // The kernel already holds both members at their weight, so both start `up`.
        var all = WeightDecision()
        for m in t.services[0].members { all.weights[MemberRef(service: "gums", member: m.name)] = m.weight }
        let kernel = RecordingKernel(table: WeightPolicy.table(t, all))
        let clock = ManualClock()
        let board = Switchboard()
        let daemon = TandemDaemon(topology: t, topologyFile: path, node: "d1", kernel: kernel, dryRun: true, clock: clock,
                                  seed: 0, logger: Logger(label: "test"), makeChecker: board.make)
        try await daemon.start()
        let a = MemberRef(service: "gums", member: "fg5x2"), b = MemberRef(service: "gums", member: "fg6x2")
        XCTAssertEqual(daemon.memberStates()[a], .up)
        let watch = PassiveWatch(daemon: daemon, source: kernel, clock: clock, logger: Logger(label: "test"))
        XCTAssertEqual(PassiveWatch<ManualClock>.period(t), .milliseconds(75))

        let sk = TopologyMapping.serviceKey(t.services[0])
        let da = DestinationKey(address: IPAddress("10.10.5.12")!, port: 8443)
        let db = DestinationKey(address: IPAddress("10.10.6.12")!, port: 8443)
        // Nothing waits when the watch starts (what waits then is never judged: its age is unknown).
        kernel.setTraffic([sk: [da: MemberTraffic(waiting: [], stats: stats(40, 90)),
                                db: MemberTraffic(waiting: [], stats: stats(40, 90))]])
        var failed = await watch.pass()
        XCTAssertTrue(failed.isEmpty)
        // fg5x2 leaves three new connections unanswered; fg6x2 answers every handshake at once.
        kernel.setTraffic([sk: [da: MemberTraffic(waiting: [1, 2, 3], stats: stats(40, 90)),
                                db: MemberTraffic(waiting: [], stats: stats(40, 90))]])
        clock.advance(by: .milliseconds(75))
        failed = await watch.pass()
        XCTAssertTrue(failed.isEmpty, "nothing has waited yet")
        for _ in 0..<3 {
            clock.advance(by: .milliseconds(75))
            failed = await watch.pass()
            XCTAssertTrue(failed.isEmpty, "inside the window")
        }
        clock.advance(by: .milliseconds(75))
        failed = await watch.pass()
        XCTAssertEqual(failed.map(\.0), [a])
        let reason = try XCTUnwrap(failed.first?.1)
        XCTAssertTrue(reason.hasPrefix("passive: 3 new connections unanswered for 300 ms"), reason)
        // Exactly like a refused check: down at once (fall is 3), weight 0, the reason in /status.
        XCTAssertEqual(daemon.memberStates()[a], .down)
        XCTAssertEqual(daemon.memberStates()[b], .up)
        XCTAssertEqual(daemon.decision().weights[a], 0)
        XCTAssertEqual(daemon.decision().weights[b], 100)
        let member = daemon.report().services[0].members.first { $0.member == "fg5x2" }
        XCTAssertEqual(member?.lastReason, reason)
        XCTAssertEqual(member?.lastTransition, "up → down")
        let metrics = daemon.metrics.render()
        XCTAssertTrue(metrics.split(separator: "\n").contains { $0.hasPrefix("tandem_passive_silences_total") && $0.contains("fg5x2") && $0.hasSuffix(" 1") },
                      metrics)
        // The episode is reported once, however long it lasts.
        for _ in 0..<10 {
            clock.advance(by: .milliseconds(75))
            let again = await watch.pass()
            XCTAssertTrue(again.isEmpty)
        }
        XCTAssertEqual(metrics.components(separatedBy: "fg5x2").count, daemon.metrics.render().components(separatedBy: "fg5x2").count)

        // A reload that removes `passive:` turns it off: fg6x2 going silent changes nothing.
        _ = try write(yaml(passive: false), to: path)
        guard case .applied = await daemon.reload(path: path) else { return XCTFail("reload refused") }
        kernel.setTraffic([sk: [da: MemberTraffic(waiting: [1, 2, 3], stats: stats(40, 90)),
                                db: MemberTraffic(waiting: [4, 5, 6, 7], stats: stats(40, 90))]])
        for _ in 0..<10 {
            clock.advance(by: .milliseconds(75))
            let none = await watch.pass()
            XCTAssertTrue(none.isEmpty, "passive is off after the reload")
        }
        XCTAssertEqual(daemon.memberStates()[b], .up)
        XCTAssertNil(PassiveWatch<ManualClock>.period(daemon.topology))
    }

    /// Every member looking silent at once points at the director or the clients, not at a member:
    /// nothing is drained. One member alone looking silent is drained.
    func testWhenEveryMemberLooksSilentNoneIsDrained() async throws {
        let path = try write(yaml(passive: true))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let t = try TopologyLoader.load(path: path)
        var all = WeightDecision()
        for m in t.services[0].members { all.weights[MemberRef(service: "gums", member: m.name)] = m.weight }
        let kernel = RecordingKernel(table: WeightPolicy.table(t, all))
        let clock = ManualClock()
        let daemon = TandemDaemon(topology: t, topologyFile: path, node: "d1", kernel: kernel, dryRun: true, clock: clock,
                                  seed: 0, logger: Logger(label: "test"), makeChecker: Switchboard().make)
        try await daemon.start()
        let watch = PassiveWatch(daemon: daemon, source: kernel, clock: clock, logger: Logger(label: "test"))
        let sk = TopologyMapping.serviceKey(t.services[0])
        let da = DestinationKey(address: IPAddress("10.10.5.12")!, port: 8443)
        let db = DestinationKey(address: IPAddress("10.10.6.12")!, port: 8443)
        func passes(_ n: Int, _ a: Set<UInt64>, _ b: Set<UInt64>) async -> [MemberRef] {
            kernel.setTraffic([sk: [da: MemberTraffic(waiting: a), db: MemberTraffic(waiting: b)]])
            var out: [MemberRef] = []
            for _ in 0..<n {
                out += await watch.pass().map(\.0)
                clock.advance(by: .milliseconds(75))
            }
            return out
        }
        var drained = await passes(1, [], [])
        drained += await passes(6, [1, 2, 3], [4, 5, 6])
        XCTAssertEqual(drained, [], "both members look silent: the director or the clients are the likely cause")
        XCTAssertFalse(daemon.memberStates().values.contains(.down))
        // Later only fg5x2 leaves new connections unanswered; fg6x2 answers.
        drained = await passes(6, [1, 2, 3, 7, 8, 9], [])
        XCTAssertEqual(drained, [MemberRef(service: "gums", member: "fg5x2")])
        XCTAssertEqual(daemon.memberStates()[MemberRef(service: "gums", member: "fg5x2")], .down)
        XCTAssertEqual(daemon.memberStates()[MemberRef(service: "gums", member: "fg6x2")], .up)
    }

    func testAMemberTheKernelDoesNotHoldIsNotJudged() async throws {
        let path = try write(yaml(passive: true))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let t = try TopologyLoader.load(path: path)
        let kernel = RecordingKernel()
        let clock = ManualClock()
        let daemon = TandemDaemon(topology: t, topologyFile: path, node: "d1", kernel: kernel, dryRun: true, clock: clock,
                                  seed: 0, logger: Logger(label: "test"), makeChecker: Switchboard().make)
        try await daemon.start()
        let watch = PassiveWatch(daemon: daemon, source: kernel, clock: clock, logger: Logger(label: "test"))
        let sk = TopologyMapping.serviceKey(t.services[0])
        // Waiting connections reported for an address that is not a member of the service.
        kernel.setTraffic([sk: [DestinationKey(address: IPAddress("10.10.9.9")!, port: 8443): MemberTraffic(waiting: [1, 2, 3, 4])]])
        for _ in 0..<8 {
            let none = await watch.pass()
            XCTAssertTrue(none.isEmpty)
            clock.advance(by: .milliseconds(75))
        }
        XCTAssertFalse(daemon.memberStates().values.contains(.down))
    }

    /// `/proc/net/ip_vs_conn` as the 6.1 kernel prints it: only SYN_RECV entries are waiting, grouped by
    /// service (protocol, VIP, port) and real server; IPv6 lines too.
    func testConnectionTableParsing() {
        let text = """
        Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
        TCP 0A000902 C350 0A630001 0050 0A000202 1F90 SYN_RECV         59
        TCP 0A000902 C351 0A630001 0050 0A000202 1F90 SYN_RECV         58
        TCP 0A000902 C352 0A630001 0050 0A000102 1F90 ESTABLISHED     899
        TCP 0A000902 C353 0A630001 0050 0A000102 1F90 TIME_WAIT       119
        TCP 0A000902 C354 0A630001 0050 0A000102 1F90 CLOSE             9
        TCP 0A000902 C355 0A630002 0050 0A000202 1F90 SYN_RECV         59
        UDP 0A000902 C356 0A630001 0050 0A000202 1F90 UDP             299
        TCP 2001:0db8:0000:0000:0000:0000:0000:0009 C357 2001:0db8:0000:0000:0000:0000:0000:0001 0050 2001:0db8:0000:0000:0000:0000:0000:0202 1F90 SYN_RECV         59
        garbage line
        """
        let w = IPVSConnectionTable.waiting(in: Array(text.utf8))
        XCTAssertEqual(w.count, 4)
        XCTAssertEqual(Set(w.map(\.id)).count, 4, "ids differ per connection")
        let svc = ServiceKey.address(.tcp, IPAddress("10.99.0.1")!, port: 80)
        let other = ServiceKey.address(.tcp, IPAddress("10.99.0.2")!, port: 80)
        let v6 = ServiceKey.address(.tcp, IPAddress("2001:db8::1")!, port: 80)
        let be1 = DestinationKey(address: IPAddress("10.0.1.2")!, port: 8080)
        let be2 = DestinationKey(address: IPAddress("10.0.2.2")!, port: 8080)
        let be6 = DestinationKey(address: IPAddress("2001:db8::202")!, port: 8080)
        let g = IPVSConnectionTable.group(w, services: [svc, other, v6], destinations: [svc: [be1, be2], other: [be2], v6: [be6]])
        XCTAssertEqual(g[svc]?[be2]?.count, 2)
        XCTAssertNil(g[svc]?[be1], "established, closing and closed entries are not waiting")
        XCTAssertEqual(g[other]?[be2]?.count, 1)
        XCTAssertEqual(g[v6]?[be6]?.count, 1)
        // The same connection gets the same id on the next read.
        XCTAssertEqual(IPVSConnectionTable.waiting(in: Array(text.utf8)).map(\.id), w.map(\.id))
    }

    /// The real thing: inside a UML kernel, a NAT service with `passive:` on, client traffic at
    /// ~100 new connections/s, and one member silenced with netem loss 100%. Its check is slow on
    /// purpose (every 2 s, timeout 4 s, fall 3: a timeout-based drain could not happen before
    /// 3 × 4 s), so the order is unambiguous: the member must be drained with the passive reason,
    /// while the other member stays up, and come back through its check once the loss is removed.
    func testSilencedBackendUnderTrafficIsDrainedPassivelyInTheRealKernel() throws {
        guard let run = try UMLFixtureRun.run("uml-passive.sh", timeoutSeconds: 300) else { return }
        print(run.text)
        XCTAssertEqual(run.status, 0, "uml-run failed:\n\(run.text)")
        let r = run.results
        XCTAssertEqual(r["be2_weight_before"], "100", "be2 never reached its weight")
        XCTAssertEqual(r["client_ok_before"], "yes", "the client load did not get through the director")
        XCTAssertEqual(r["be2_drained"], "yes", "the silenced member was not drained")
        let reason = try XCTUnwrap(r["be2_reason"])
        XCTAssertTrue(reason.hasPrefix("passive:"), "drained for another reason: \(reason)")
        XCTAssertEqual(r["be2_checks_timed_out_before_drain"], "0", "a check timed out first: the drain was not passive")
        XCTAssertEqual(r["be1_went_down"], "no", "the answering member was drained (false alarm)")
        XCTAssertEqual(r["passive_metric"], "1")
        XCTAssertEqual(r["be2_back"], "yes", "the member did not come back through its check")
    }
}
