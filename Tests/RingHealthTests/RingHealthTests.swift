import Foundation
import RingHealth
import XCTest

/// Event → verdict tables for the ring judgement. Each row: what happened, how many heartbeat
/// periods (250 ms) pass, and what the report must say. No sleeps, no real time.
final class RingHealthTests: XCTestCase {
    struct Expect {
        var up: [String] = []
        var degraded: [String] = []
        var down: [String] = []
        var drain: [String] = []
        var complete: Bool? = nil
        var reason: [String: String] = [:]   // "A→B" or node name → substring of its reason
    }

    func check(_ sim: RingSim, _ e: Expect, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let r = sim.report()
        let ctx = "\(label) at t=\(sim.now):\n\(r.rendered())"
        func state(_ l: String) -> LinkState? { r.links.first { $0.id.description == l }?.state }
        for l in e.up { XCTAssertEqual(state(l), .up, "\(l) should be up — \(ctx)", file: file, line: line) }
        for l in e.degraded { XCTAssertEqual(state(l), .degraded, "\(l) should be degraded — \(ctx)", file: file, line: line) }
        for l in e.down { XCTAssertEqual(state(l), .down, "\(l) should be down — \(ctx)", file: file, line: line) }
        XCTAssertEqual(Set(r.nodesToDrain), Set(e.drain), "nodes to drain — \(ctx)", file: file, line: line)
        if let c = e.complete { XCTAssertEqual(r.endToEnd.complete, c, "end-to-end complete — \(ctx)", file: file, line: line) }
        for (k, sub) in e.reason {
            let text = r.links.first { $0.id.description == k }?.reason ?? r.node(k).map { "\($0.verdict)" } ?? "<no \(k)>"
            XCTAssertTrue(text.contains(sub), "\(k): '\(text)' should mention '\(sub)' — \(ctx)", file: file, line: line)
        }
    }

    let all = ["C→A", "A→B", "B→C"]

    func testHealthyRingHasEveryLinkUpNoDrainAndZeroLag() throws {
        var sim = try RingSim(["A", "B", "C"])
        sim.ticks(8)
        check(sim, Expect(up: all, drain: [], complete: true), "healthy")
        let r = sim.report()
        XCTAssertEqual(r.endToEnd.lagSeconds, 0)
        XCTAssertEqual(r.node("C")?.appliedHeartbeats, ["A": 8, "B": 8])
        XCTAssertEqual(r.metrics.filter { $0.name == "tandem_ring_link_up" }.map(\.value), [1, 1, 1])
        XCTAssertTrue(r.rendered().hasPrefix("RING OK"), r.rendered())
    }

    func testNotYetProbedNodesAreNotTrustedAndLinksCannotBeJudged() throws {
        let sim = try RingSim(["A", "B"])
        let r = sim.report()
        XCTAssertEqual(r.node("A")?.reachability, .notYetProbed)
        XCTAssertEqual(Set(r.nodesToDrain), ["A", "B"])
    }

    func testStopSlaveOnOneNodeTakesThatLinkDownAndLaterDrainsTheNodeDownstream() throws {
        var sim = try RingSim(["A", "B", "C"])
        sim.ticks(4)
        check(sim, Expect(up: all, drain: []), "before")
        // STOP SLAVE on B: B's status says No/No; A and C keep saying Yes/Yes.
        sim.slave["B"]!.io = .no; sim.slave["B"]!.sql = .no; sim.slave["B"]!.secondsBehindMaster = nil
        sim.blocked.insert(RingLinkID(from: "A", to: "B"))
        let rows: [(ticks: Int, Expect)] = [
            (1, Expect(up: ["B→C", "C→A"], down: ["A→B"], drain: ["B"], complete: false,
                       reason: ["A→B": "IO thread No, SQL thread No", "B": "replication from A broken"])),
            // C gets A's writes only through B: after staleAfter (1 s) C misses them too. A has all.
            (4, Expect(up: ["B→C", "C→A"], down: ["A→B"], drain: ["B", "C"], complete: false,
                       reason: ["C": "misses writes: A's"])),
        ]
        for (i, row) in rows.enumerated() { sim.ticks(row.ticks); check(sim, row.1, "row \(i)") }
        // START SLAVE: all caught up in one period.
        sim.slave["B"]!.io = .yes; sim.slave["B"]!.sql = .yes; sim.slave["B"]!.secondsBehindMaster = 0
        sim.blocked = []
        sim.tick()
        check(sim, Expect(up: all, drain: [], complete: true), "after START SLAVE")
    }

    func testSQLThreadErrorIsReportedWithItsErrnoAndDrainsThatNode() throws {
        var sim = try RingSim(["A", "B", "C"])
        sim.ticks(3)
        sim.slave["C"]!.sql = .no
        sim.slave["C"]!.lastSQLErrno = 1062
        sim.slave["C"]!.lastSQLError = "Duplicate entry '7' for key 'PRIMARY'"
        sim.blocked.insert(RingLinkID(from: "B", to: "C"))
        sim.tick()
        check(sim, Expect(up: ["C→A", "A→B"], down: ["B→C"], drain: ["C"], complete: false,
                          reason: ["B→C": "SQL error 1062: Duplicate entry", "C": "SQL thread No"]), "1062")
    }

    func testKilledNodeIsDrainedAtOnceAndOnlyNodesMissingLiveWritesFollow() throws {
        var sim = try RingSim(["A", "B", "C"])
        sim.ticks(3)
        sim.refused.insert("B")
        sim.slave["C"]!.io = .connecting
        sim.slave["C"]!.lastIOErrno = 2003
        let rows: [(ticks: Int, Expect)] = [
            (1, Expect(up: ["C→A"], down: ["A→B", "B→C"], drain: ["B"], complete: false,
                       reason: ["B": "connection refused", "A→B": "target B", "B→C": "source B"])),
            // A's writes reached C only through B: after 1 s C misses them. A misses nothing
            // (B's last writes had left it), so A stays trusted.
            (4, Expect(up: ["C→A"], down: ["A→B", "B→C"], drain: ["B", "C"], complete: false)),
        ]
        for (i, row) in rows.enumerated() { sim.ticks(row.ticks); check(sim, row.1, "row \(i)") }
    }

    func testTwoNodeRingKeepsTheSurvivorTrustedWhenThePeerDies() throws {
        var sim = try RingSim(["A", "B"])
        sim.ticks(3)
        sim.refused.insert("B")
        sim.ticks(10)
        check(sim, Expect(down: ["A→B", "B→A"], drain: ["B"], complete: false), "B dead for 2.5 s")
    }

    func testHungNodeIsSilentAfterFourPeriodsWhileItsSlaveStillSaysYes() throws {
        var sim = try RingSim(["A", "B", "C"])
        sim.ticks(3)
        sim.hung.insert("B")   // SIGSTOP: no answer, no error; C's IO thread says Yes for slave_net_timeout
        // Table: periods since the hang → nodes to drain. silentAfter = 4 periods = 1 s.
        let table: [(Int, Set<String>)] = [(1, []), (2, []), (3, []), (4, ["B"]), (5, ["B", "C"]), (20, ["B", "C"])]
        var done = 0
        for (k, drain) in table {
            sim.ticks(k - done); done = k
            XCTAssertEqual(Set(sim.report().nodesToDrain), drain, "after \(k) periods:\n\(sim.report().rendered())")
        }
        XCTAssertEqual(sim.slave["C"]?.io, .yes, "the point of the test: C's own status still calls the link healthy")
        check(sim, Expect(up: ["C→A"], down: ["A→B", "B→C"], drain: ["B", "C"], reason: ["B": "no answer for"]), "hung 5 s")
        XCTAssertNil(sim.report().link(from: "A", to: "B")?.lagSeconds, "no lag figure across a silent node")
        sim.hung = []   // kill -CONT
        sim.tick()
        check(sim, Expect(up: all, drain: [], complete: true), "after SIGCONT")
    }

    func testBrokenRingWithWrongMasterEveryNodeSaysYesYes() throws {
        var sim = try RingSim(["A", "B", "C"])
        sim.ticks(3)
        // CHANGE MASTER on B to C: B and C replicate from each other, A's writes reach nobody.
        sim.slave["B"] = SlaveLinkStatus(masterServerID: 3, masterEndpoint: "127.0.0.1:13308")
        sim.blocked.insert(RingLinkID(from: "A", to: "B"))
        sim.tick()
        XCTAssertTrue(sim.slave.values.allSatisfy { $0.io == .yes && $0.sql == .yes })
        check(sim, Expect(up: ["B→C", "C→A"], down: ["A→B"], drain: ["B"], complete: false,
                          reason: ["A→B": "B replicates from C (server id 3), not from A"]), "wrong master")
        sim.ticks(4)
        check(sim, Expect(down: ["A→B"], drain: ["B", "C"]), "wrong master, 1 s later")
    }

    func testReplicationFilterOnTheHeartbeatIsCaughtByHeartbeatAgeAlone() throws {
        var sim = try RingSim(["A", "B", "C"])
        sim.ticks(3)
        sim.slave["B"]!.filters = ["Replicate_Ignore_DB=tandem_monitor"]
        sim.blocked.insert(RingLinkID(from: "A", to: "B"))   // every thread Yes/Yes, no error anywhere
        // periods → state of A→B: lag 5 ms, 255 ms (degraded past one period), ..., 1005 ms (down).
        let table: [(Int, LinkState)] = [(1, .up), (2, .degraded), (4, .degraded), (5, .down)]
        var done = 0
        for (k, st) in table {
            sim.ticks(k - done); done = k
            XCTAssertEqual(sim.report().link(from: "A", to: "B")?.state, st, "after \(k) periods:\n\(sim.report().rendered())")
        }
        check(sim, Expect(up: ["B→C", "C→A"], down: ["A→B"], drain: ["B", "C"],
                          reason: ["A→B": "threads say Yes/Yes, but A's heartbeats have not reached B for 1.0 s; replication filter on B: Replicate_Ignore_DB=tandem_monitor"]),
              "filter")
    }

    func testLagGrowthDegradesThenTakesTheLinkDown() throws {
        var sim = try RingSim(["A", "B", "C"])
        sim.ticks(3)
        // B sees A's rows 3 periods late: the oldest row it lacks was written 2 periods (+5 ms) ago.
        // The measured lag is a lower bound, at most one period short of the true delay.
        sim.delayTicks[RingLinkID(from: "A", to: "B")] = 3
        sim.ticks(5)
        check(sim, Expect(up: ["B→C", "C→A"], degraded: ["A→B"], drain: [], complete: true, reason: ["A→B": "lag 505 ms"]), "3 periods late")
        let lag = try XCTUnwrap(sim.report().link(from: "A", to: "B")?.lagSeconds)
        XCTAssertEqual(lag, 0.505, accuracy: 0.0001)
        XCTAssertEqual(sim.report().endToEnd.worst, RingLinkID(from: "A", to: "C"))
        XCTAssertTrue(sim.report().metrics.contains(RingMetricSample(name: "tandem_ring_link_lag_seconds", labels: [("from", "A"), ("to", "B")], value: lag)))
        sim.delayTicks[RingLinkID(from: "A", to: "B")] = 6
        sim.ticks(8)
        check(sim, Expect(down: ["A→B"], drain: ["B", "C"], complete: false), "6 periods late")
    }

    func testTwoNodesSharingAServerIDAreARingProblem() throws {
        var sim = try RingSim(["A", "B", "C"])
        sim.serverID["C"] = 2
        sim.ticks(2)
        let r = sim.report()
        XCTAssertEqual(r.problems.count, 1, r.rendered())
        XCTAssertTrue(r.problems.first?.contains("share server id 2") == true, r.rendered())
        XCTAssertFalse(r.endToEnd.complete)
        XCTAssertTrue(Set(r.nodesToDrain).isSuperset(of: ["B", "C"]), r.rendered())
    }

    func testRingDefinitionErrorsSayWhatToDo() {
        XCTAssertThrowsError(try Ring(nodes: [RingNode(name: "A", endpoint: "x:1")])) {
            XCTAssertTrue("\($0)".contains("at least 2 nodes"))
        }
        XCTAssertThrowsError(try Ring(nodes: [RingNode(name: "A", endpoint: "x:1"), RingNode(name: "A", endpoint: "x:2")])) {
            XCTAssertTrue("\($0)".contains("'A' appears twice"))
        }
    }

    func testReportSurvivesAJSONRoundTripWithReadableThreadStates() throws {
        var sim = try RingSim(["A", "B"])
        sim.ticks(2)
        sim.slave["B"]!.io = .connecting
        sim.tick()
        let r = sim.report()
        let data = try JSONEncoder().encode(r)
        XCTAssertEqual(try JSONDecoder().decode(RingReport.self, from: data), r)
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains("\"io\":\"Connecting\""), text)
    }

    func testOldRunsRowsAreIgnored() throws {
        let ring = try Ring(nodes: [RingNode(name: "A", endpoint: "a:1"), RingNode(name: "B", endpoint: "b:1")])
        var m = RingHealthModel(ring: ring, runID: 2)
        m.on(.heartbeatWritten(node: "A", seq: 1, at: .milliseconds(10)))
        m.on(.observed(NodeObservation(node: "A", at: .milliseconds(11), serverID: 1, slaves: [SlaveLinkStatus(masterServerID: 2, masterEndpoint: "b:1")], heartbeats: [])))
        // B holds seq 900 of A from run 1: that is not this run's heartbeat 1.
        m.on(.observed(NodeObservation(node: "B", at: .milliseconds(600), serverID: 2, slaves: [SlaveLinkStatus(masterServerID: 1, masterEndpoint: "a:1")],
                                       heartbeats: [HeartbeatRow(originServerID: 1, runID: 1, seq: 900)])))
        let r = m.report(at: .milliseconds(610))
        XCTAssertEqual(r.node("B")?.appliedHeartbeats["A"], 0)
        XCTAssertEqual(r.link(from: "A", to: "B")?.lagSeconds ?? -1, 0.590, accuracy: 0.0001)
        XCTAssertEqual(r.link(from: "A", to: "B")?.state, .degraded)
    }
}
