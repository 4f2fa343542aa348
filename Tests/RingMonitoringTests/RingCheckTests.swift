import Foundation
import HealthCheck
import MariaDB
import Net
import RingHealth
import TestSupport
import Topology
import XCTest

import Health
import Net
import RingMonitoring
#if canImport(Glibc)
import Glibc
#endif

/// The ring monitor against a real 3-node ring (node1→node2→node3→node1, `slave-net-timeout=5`).
/// Every scenario starts from a fresh ring the monitor calls healthy, breaks it, and asserts the
/// report; detection times are printed (`DETECT ...`), the bound asserted is the scenario's
/// point (e.g. a hung node must be caught before `slave_net_timeout`).
final class RingCheckTests: XCTestCase {
    /// Heartbeat every 250 ms; stale and silent after 4 periods (1 s).
    let policy = RingHealthPolicy(heartbeatInterval: .milliseconds(250))
    static let slaveNetTimeout = 5.0

    /// No link down (up or degraded: this machine is shared and loaded, a few hundred ms of lag
    /// can happen), no node to drain.
    func allUp(_ r: RingReport) -> Bool {
        r.links.allSatisfy { $0.state != .down } && r.nodesToDrain.isEmpty && r.endToEnd.complete
    }

    /// Polls the report every 10 ms until `condition`; returns the seconds it took, or fails with
    /// the last report.
    @discardableResult
    func waitFor(_ m: RingMonitor, _ what: String, within seconds: Double, from start: ContinuousClock.Instant = .now,
                 file: StaticString = #filePath, line: UInt = #line, _ condition: (RingReport) -> Bool) async throws -> Double {
        let deadline = start + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if condition(m.report()) { return (ContinuousClock.now - start).inSeconds }
            try await Task.sleep(for: .milliseconds(10))
        }
        if condition(m.report()) { return (ContinuousClock.now - start).inSeconds }
        XCTFail("\(what): not seen within \(seconds) s; last report:\n\(m.report().rendered())", file: file, line: line)
        throw RealRing.Unavailable(description: "gave up waiting for: \(what)")
    }

    /// A fresh ring and a running monitor that has called it healthy; both stopped afterwards.
    func withRing(policy: RingHealthPolicy? = nil, _ body: (RealRing, RingMonitor) async throws -> Void) async throws {
        let ring = try RealRing.start()
        addTeardownBlock { ring.stop() }
        let monitor = try RingMonitor(config: try ring.monitorConfig(policy: policy ?? self.policy))
        let task = Task { try await monitor.run() }
        do {
            let t = try await waitFor(monitor, "a healthy ring", within: 20) { allUp($0) }
            print("DETECT healthy ring after monitor start: \(ms(t))")
            try await body(ring, monitor)
        } catch {
            task.cancel(); _ = await task.result
            throw error
        }
        task.cancel(); _ = await task.result
    }

    func ms(_ s: Double) -> String { Duration.seconds(s).humanReadable }

    func testHealthyRingEveryLinkUpEveryNodeTrustedHeartbeatsEverywhere() async throws {
        try await withRing { ring, monitor in
            try await Task.sleep(for: .seconds(2))
            let r = monitor.report()
            XCTAssertTrue(allUp(r), r.rendered())
            XCTAssertEqual(r.links.map(\.id.description), ["node3→node1", "node1→node2", "node2→node3"])
            for n in r.nodes {
                XCTAssertEqual(n.serverID, UInt32(n.name.dropFirst(4)), r.rendered())
                XCTAssertGreaterThanOrEqual(n.lastHeartbeatWritten ?? 0, 8, "2 s at 250 ms: \(r.rendered())")
                for o in r.nodes where o.name != n.name {
                    XCTAssertGreaterThan(n.appliedHeartbeats[o.name] ?? 0, 0, "\(n.name) has no heartbeat of \(o.name)")
                }
            }
            let lag = try XCTUnwrap(r.endToEnd.lagSeconds)
            XCTAssertLessThan(lag, policy.staleAfter.inSeconds, r.rendered())
            print("MEASURE healthy end-to-end lag \(ms(lag)); links: \(r.links.map { "\($0.id) \(ms($0.lagSeconds ?? -1))" })")
            let m = r.metrics
            XCTAssertEqual(m.filter { $0.name == "tandem_ring_link_up" }.map(\.value), [1, 1, 1])
            XCTAssertEqual(m.filter { $0.name == "tandem_ring_link_lag_seconds" }.count, 3)
            XCTAssertEqual(m.filter { $0.name == "tandem_ring_end_to_end_lag_seconds" }.count, 1)
            // The rows are real: node3 holds a heartbeat row of each origin, written by this monitor.
            let c = try await ring.monitor(3)
            let rows = try await c.query("SELECT origin_server_id FROM tandem_monitor.heartbeat WHERE monitor = 'ringcheck-test' ORDER BY 1").rows
            XCTAssertEqual(rows.compactMap { $0.int("origin_server_id") }, [1, 2, 3])
            await c.close()
            // The per-member checks say healthy, through the factory the daemon uses.
            for n in 1...3 {
                let target = CheckTarget(service: "mysql", member: "node\(n)", address: IPAddress("127.0.0.1")!, port: UInt16(ring.port(n)),
                                         spec: HealthCheckSpec(kind: .mariadb(user: "monitor", passwordFile: ring.env["RING_MONITOR_PASSWORD_FILE"])))
                let checker = RingCheckerFactory.make(target, monitors: [monitor])
                XCTAssertNotNil((checker as? MariaDBChecker)?.ring, "node\(n) is judged by the ring monitor")
                let outcome = await checker.check(timeout: .seconds(1))
                XCTAssertEqual(outcome, .success)
            }
        }
    }

    func testStopSlaveOnOneNodeTakesExactlyThatLinkDown() async throws {
        try await withRing { ring, monitor in
            let root = try await ring.root(2)
            let t0 = ContinuousClock.now
            _ = try await root.query("STOP SLAVE")
            let t = try await waitFor(monitor, "node1→node2 down, the others up", within: 5, from: t0) { r in
                r.link(from: "node1", to: "node2")?.state == .down && r.link(from: "node2", to: "node3")?.state == .up
                    && r.link(from: "node3", to: "node1")?.state == .up && !r.endToEnd.complete && r.nodesToDrain.contains("node2")
            }
            print("DETECT STOP SLAVE on node2 (link node1→node2 down): \(ms(t))")
            let r = monitor.report()
            XCTAssertTrue(r.link(from: "node1", to: "node2")!.reason.contains("IO thread No, SQL thread No"), r.rendered())
            XCTAssertFalse(r.nodesToDrain.contains("node1"), r.rendered())
            // node3 gets node1's writes only through node2: after staleAfter it misses them too.
            let t3 = try await waitFor(monitor, "node3 drained for missing node1's writes", within: 5, from: t0) {
                $0.node("node3")?.verdict.description.contains("misses writes: node1's") == true
            }
            print("DETECT STOP SLAVE on node2 (node3 misses node1's writes): \(ms(t3))")
            let outcome = await monitor.outcome(for: "node2", timeout: .seconds(1))
            guard case .failure(let reason, false)? = outcome else { return XCTFail("node2 check should fail: \(String(describing: outcome))") }
            XCTAssertTrue(reason.contains("replication from node1 broken"), reason)
            let t1 = ContinuousClock.now
            _ = try await root.query("START SLAVE")
            let back = try await waitFor(monitor, "recovery after START SLAVE", within: 10, from: t1) { allUp($0) }
            print("DETECT recovery after START SLAVE: \(ms(back))")
            await root.close()
        }
    }

    func testHungNodeIsCaughtBeforeSlaveNetTimeoutWhileItsSlaveStillSaysYes() async throws {
        try await withRing { ring, monitor in
            let m3 = try await ring.monitor(3)
            let t0 = ContinuousClock.now
            try ring.signal(2, SIGSTOP)
            let t = try await waitFor(monitor, "hung node2 drained", within: Self.slaveNetTimeout, from: t0) { r in
                r.nodesToDrain.contains("node2") && r.link(from: "node1", to: "node2")?.state == .down
                    && r.link(from: "node2", to: "node3")?.state == .down && r.link(from: "node3", to: "node1")?.state == .up
            }
            print("DETECT kill -STOP node2 (drained, links down): \(ms(t)) (slave_net_timeout \(Self.slaveNetTimeout) s)")
            // What the node's neighbour says about it at that moment: all is well.
            let status = try await m3.replicationStatus()
            let hidden = (ContinuousClock.now - t0).inSeconds
            XCTAssertEqual(status.first?.ioRunning, "Yes", "node3's own status after \(ms(hidden))")
            XCTAssertEqual(status.first?.sqlRunning, "Yes")
            print("MEASURE node3 still reports IO Yes / SQL Yes for hung node2 at \(ms(hidden))")
            let r = monitor.report()
            XCTAssertFalse(r.nodesToDrain.contains("node1"), r.rendered())
            let t1 = ContinuousClock.now
            try ring.signal(2, SIGCONT)
            let back = try await waitFor(monitor, "recovery after kill -CONT", within: 10, from: t1) { allUp($0) }
            print("DETECT recovery after kill -CONT node2: \(ms(back))")
            await m3.close()
        }
    }

    func testKilledNodeIsRefusedDrainedAtOnceAndRecoversAfterRestart() async throws {
        try await withRing { ring, monitor in
            let t0 = ContinuousClock.now
            try ring.signal(2, SIGKILL)
            let t = try await waitFor(monitor, "killed node2 drained as refused", within: 5, from: t0) { r in
                guard let n = r.node("node2"), case .failed(.refused) = n.reachability else { return false }
                return !n.verdict.isTrusted && r.link(from: "node1", to: "node2")?.state == .down
                    && r.link(from: "node2", to: "node3")?.state == .down
            }
            print("DETECT kill -9 node2 (refused, drained): \(ms(t))")
            let outcome = await monitor.outcome(for: "node2", timeout: .seconds(1))
            guard case .failure(_, true)? = outcome else { return XCTFail("refused must fail at once: \(String(describing: outcome))") }
            XCTAssertTrue(monitor.report().node("node1")!.verdict.isTrusted, monitor.report().rendered())
            let t1 = ContinuousClock.now
            let up = ring.up()
            XCTAssertEqual(up.status, 0, up.output)
            let back = try await waitFor(monitor, "recovery after restart", within: 20, from: t1) { allUp($0) }
            print("DETECT recovery after scripts/ring up restarted node2: \(ms(back)) (includes the restart)")
        }
    }

    func testWrongMasterBreaksTheRingWhileEveryNodeSaysYesYes() async throws {
        try await withRing { ring, monitor in
            let root = try await ring.root(2)
            let t0 = ContinuousClock.now
            // node2 now replicates from node3: node2 and node3 feed each other, node1's writes reach nobody.
            _ = try await root.query("STOP SLAVE")
            _ = try await root.query("CHANGE MASTER TO MASTER_PORT=\(ring.port(3)), MASTER_HEARTBEAT_PERIOD=1")
            _ = try await root.query("START SLAVE")
            let t = try await waitFor(monitor, "node1→node2 down: node2 replicates from node3", within: 5, from: t0) {
                $0.link(from: "node1", to: "node2")?.reason.contains("node2 replicates from node3") == true
            }
            print("DETECT wrong master on node2: \(ms(t))")
            // Every node's own status: Yes/Yes, no error. That is the ring every node calls healthy.
            for n in 1...3 {
                let c = try await ring.monitor(n)
                let ok = try await eventuallyTrue(within: 5) { try await c.replicationStatus().allSatisfy { $0.isHealthy && $0.lastIOErrno == 0 && $0.lastSQLErrno == 0 } }
                XCTAssertTrue(ok, "node\(n) should call itself healthy")
                await c.close()
            }
            let t3 = try await waitFor(monitor, "node3 misses node1's writes", within: 5, from: t0) {
                $0.node("node3")?.verdict.description.contains("misses writes: node1's") == true
            }
            print("DETECT wrong master on node2 (node3 misses node1's writes): \(ms(t3))")
            let r = monitor.report()
            XCTAssertFalse(r.endToEnd.complete, r.rendered())
            XCTAssertEqual(r.link(from: "node2", to: "node3")?.state, .up, r.rendered())
            XCTAssertTrue(r.node("node1")!.verdict.isTrusted, r.rendered())
            // Put it back.
            _ = try await root.query("STOP SLAVE")
            _ = try await root.query("CHANGE MASTER TO MASTER_PORT=\(ring.port(1)), MASTER_HEARTBEAT_PERIOD=1")
            _ = try await root.query("START SLAVE")
            let t1 = ContinuousClock.now
            let back = try await waitFor(monitor, "recovery after CHANGE MASTER back", within: 10, from: t1) { allUp($0) }
            print("DETECT recovery after CHANGE MASTER back to node1: \(ms(back))")
            await root.close()
        }
    }

    func testSingleWriterMovesOnlyToACaughtUpNodeWhenTheWriterDies() async throws {
        try await withRing { ring, monitor in
            let service = VirtualService(name: "mysql", vip: IPAddress("10.0.0.1")!, port: 3306, scheduler: .fo,
                                         members: [ServiceMember(vm: "node1", port: UInt16(ring.port(1)), weight: 100),
                                                   ServiceMember(vm: "node2", port: UInt16(ring.port(2)), weight: 50),
                                                   ServiceMember(vm: "node3", port: UInt16(ring.port(3)), weight: 40)],
                                         check: HealthCheckSpec(kind: .mariadb(user: "monitor", passwordFile: nil)))
            XCTAssertTrue(SingleWriterController.isSingleWriter(service))
            let sw = SingleWriterController(service: service, monitor: monitor)
            // Let a few of node1's heartbeats go round first: a kill -9 within a millisecond of the
            // very first commit (the monitor calls a fresh ring healthy after ~30 ms) can beat its
            // shipping, and then, by design, no node ever qualifies.
            try await waitFor(monitor, "node1's third heartbeat applied everywhere", within: 10) { r in
                ["node2", "node3"].allSatisfy { (r.node($0)?.appliedHeartbeats["node1"] ?? 0) >= 3 }
            }
            let first = sw.decide()
            XCTAssertEqual(first.writer, "node1", first.reason)
            XCTAssertEqual(first.weights, ["node1": 100, "node2": 0, "node3": 0])
            let t0 = ContinuousClock.now
            try ring.signal(1, SIGKILL)
            var d = sw.decide()
            let deadline = t0 + .seconds(5)
            while (d.writer == nil || d.writer == "node1") && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
                d = sw.decide()
            }
            // Both survivors had applied node1's heartbeats; which one the monitor saw caught up
            // first depends on when it last read each (node2 is preferred, node3 can be seen
            // first). Either is right; the writes must never go to a node that is behind.
            let r = monitor.report()
            let writer = try XCTUnwrap(d.writer, "the writes did not move within 5 s: \(d.reason)\n\(r.rendered())")
            XCTAssertTrue(["node2", "node3"].contains(writer), "\(d.reason)\n\(r.rendered())")
            XCTAssertEqual(d.weights, ["node1": 0, "node2": writer == "node2" ? 50 : 0, "node3": writer == "node3" ? 40 : 0])
            print("DETECT single writer moved node1→\(writer) after kill -9 node1: \(ms((ContinuousClock.now - t0).inSeconds)) (\(d.reason))")
            XCTAssertGreaterThanOrEqual(r.node(writer)!.appliedHeartbeats["node1"] ?? 0, r.node("node1")!.lastHeartbeatWritten ?? .max, r.rendered())
        }
    }

    /// A reload (`RingMonitor.reconfigure`, what tandemd's SIGHUP commits) that removes node3 stops
    /// its probes (its own heartbeat row stops advancing); one that adds it back starts them again and
    /// the ring is judged healthy on its three links. node1 keeps its heartbeat history throughout.
    func testReloadAddingAndRemovingANodeChangesWhatTheMonitorProbes() async throws {
        try await withRing { ring, monitor in
            let full = monitor.config
            let seqBefore = try XCTUnwrap(monitor.report().node("node1")?.lastHeartbeatWritten)
            let node3 = try await ring.monitor(3)
            defer { Task { await node3.close() } }
            func ownRow() async throws -> UInt64 {
                let rows = try await node3.execute("SELECT seq FROM tandem_monitor.heartbeat WHERE origin_server_id = 3 AND monitor = ?",
                                                   [.text(full.monitorName)]).rows
                return UInt64(clamping: rows.first?.int("seq") ?? 0)
            }

            var smaller = full
            smaller.members.removeAll { $0.name == "node3" }
            XCTAssertEqual(try monitor.reconfigure(smaller), "stopped probing node3 (removed)")
            XCTAssertEqual(monitor.report().nodes.map(\.name), ["node1", "node2"])
            // Let a probe that was already running finish, then node3's row must stand still.
            try await Task.sleep(for: policy.heartbeatInterval * 3)
            let frozen = try await ownRow()
            try await Task.sleep(for: policy.heartbeatInterval * 4)
            let stillFrozen = try await ownRow()
            XCTAssertEqual(stillFrozen, frozen, "node3 is no longer probed: its heartbeat row must not advance")
            let seqMid = try XCTUnwrap(monitor.report().node("node1")?.lastHeartbeatWritten)
            XCTAssertGreaterThan(seqMid, seqBefore, "node1's loop kept running through the reload")

            let t0 = ContinuousClock.now
            XCTAssertEqual(try monitor.reconfigure(full), "probing node3 (added)")
            let t = try await waitFor(monitor, "node3 probed again and the ring healthy", within: 10, from: t0) { r in
                allUp(r) && r.nodes.count == 3 && (r.node("node3")?.lastHeartbeatWritten ?? 0) > frozen
            }
            print("DETECT reload adding node3: probed and ring healthy after \(ms(t))")
            let advanced = try await ownRow()
            XCTAssertGreaterThan(advanced, frozen, "node3's heartbeat row advances again (its sequence continues)")
            let r = monitor.report()
            XCTAssertGreaterThan(r.node("node1")?.lastHeartbeatWritten ?? 0, seqMid, "node1's history was kept, not restarted")
            XCTAssertEqual(r.links.map(\.id.description), ["node3→node1", "node1→node2", "node2→node3"])
        }
    }

    func testDelayedLinkShowsItsLagAndDegrades() async throws {
        // staleAfter 3 s here, so a 1 s delay is "late", not "lost".
        let slow = RingHealthPolicy(heartbeatInterval: .milliseconds(250), staleAfter: .seconds(3))
        try await withRing(policy: slow) { ring, monitor in
            let root = try await ring.root(2)
            _ = try await root.query("STOP SLAVE")
            _ = try await root.query("CHANGE MASTER TO MASTER_DELAY=1, MASTER_HEARTBEAT_PERIOD=1")
            let t0 = ContinuousClock.now
            _ = try await root.query("START SLAVE")
            let t = try await waitFor(monitor, "node1→node2 degraded by lag", within: 5, from: t0) {
                $0.link(from: "node1", to: "node2")?.state == .degraded
            }
            print("DETECT MASTER_DELAY=1 on node2 (node1→node2 degraded): \(ms(t))")
            // Sample the lag for 3 s: it must reflect the delay and never reach staleAfter.
            // MASTER_DELAY works on whole-second event timestamps: measured here, the lag of the
            // oldest missing row had a median of 0.74-1.0 s and a max of 1.0-1.75 s per run.
            var lags: [Double] = []
            var e2e = 0.0
            for _ in 0..<30 {
                try await Task.sleep(for: .milliseconds(100))
                let r = monitor.report()
                e2e = max(e2e, r.endToEnd.lagSeconds ?? 0)
                if let l = r.link(from: "node1", to: "node2")?.lagSeconds { lags.append(l) }
                XCTAssertNotEqual(r.link(from: "node1", to: "node2")?.state, .down, r.rendered())
                XCTAssertTrue(r.endToEnd.complete, r.rendered())
            }
            let top = lags.max() ?? 0
            print("MEASURE node1→node2 lag with MASTER_DELAY=1: max \(ms(top)), samples \(lags.count), median \(ms(lags.sorted()[lags.count / 2]))")
            XCTAssertGreaterThan(top, 0.5, "a 1 s delay should show as lag above half a second: \(lags)")
            XCTAssertLessThan(top, 3.0, "\(lags)")
            XCTAssertGreaterThanOrEqual(e2e, top, "end-to-end lag is the largest pair lag")
            _ = try await root.query("STOP SLAVE")
            _ = try await root.query("CHANGE MASTER TO MASTER_DELAY=0, MASTER_HEARTBEAT_PERIOD=1")
            _ = try await root.query("START SLAVE")
            try await waitFor(monitor, "no lag after MASTER_DELAY=0", within: 10) { r in
                r.link(from: "node1", to: "node2")?.state == .up
            }
            await root.close()
        }
    }

    func eventuallyTrue(within seconds: Double, _ cond: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await cond() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await cond()
    }
}
