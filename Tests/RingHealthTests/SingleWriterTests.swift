import RingHealth
import XCTest

/// Single-writer decisions, as report → writer lines.
final class SingleWriterTests: XCTestCase {
    let members = [SingleWriter.Member(name: "A", weight: 100), SingleWriter.Member(name: "B", weight: 50),
                   SingleWriter.Member(name: "C", weight: 50)]

    func testFirstReportGivesTheWritesToTheHighestWeightTrustedMember() throws {
        var sim = try RingSim(["A", "B", "C"])
        sim.ticks(2)
        var w = SingleWriter(members: members)
        let d = w.on(sim.report())
        XCTAssertEqual(d.writer, "A")
        XCTAssertEqual(d.weights, ["A": 100, "B": 0, "C": 0])
        XCTAssertTrue(d.changed)
        XCTAssertEqual(Set(d.candidates), ["A"])
        let again = w.on(sim.report())
        XCTAssertFalse(again.changed)
        XCTAssertEqual(Set(again.candidates), ["B", "C"], "both applied A's last heartbeat: \(again.reason)")
    }

    func testKilledWriterMovesAtOnceToACaughtUpMemberAndStaysThereWhenItReturns() throws {
        var sim = try RingSim(["A", "B", "C"])
        var w = SingleWriter(members: members)
        sim.ticks(2)
        _ = w.on(sim.report())
        sim.refused.insert("A")
        sim.tick()
        let d = w.on(sim.report())
        // B and C hold A's heartbeat 2, the last one A committed.
        XCTAssertEqual(d.writer, "B", d.reason)
        XCTAssertEqual(d.weights, ["A": 0, "B": 50, "C": 0])
        XCTAssertTrue(d.reason.contains("applied A's heartbeat 2"), d.reason)
        sim.refused = []
        sim.ticks(3)
        let back = w.on(sim.report())
        XCTAssertEqual(back.writer, "B", "writes do not bounce back to A: \(back.reason)")
        XCTAssertFalse(back.changed)
    }

    func testWritesWaitUntilANodeHasCaughtUpThenMove() throws {
        var sim = try RingSim(["A", "B", "C"])
        var w = SingleWriter(members: members)
        sim.ticks(3)
        XCTAssertEqual(w.on(sim.report()).writer, "A")
        // A→B is slow: B (and C behind it) see A's rows 3 periods late. Then A is killed with its
        // heartbeats 4..6 still in flight.
        sim.delayTicks[RingLinkID(from: "A", to: "B")] = 3
        sim.ticks(3)
        XCTAssertEqual(sim.report().node("A")?.lastHeartbeatWritten, 6)
        sim.refused.insert("A")
        // Table: periods since the kill → writer, and what B has of A.
        let table: [(Int, String?, UInt64)] = [(1, nil, 4), (2, nil, 5), (3, "B", 6), (5, "B", 6)]
        var done = 0
        for (k, writer, bHas) in table {
            sim.ticks(k - done); done = k
            let d = w.on(sim.report())
            XCTAssertEqual(d.writer, writer, "after \(k) periods: \(d.reason)\n\(sim.report().rendered())")
            XCTAssertEqual(sim.report().node("B")?.appliedHeartbeats["A"], bHas)
            if writer == nil {
                XCTAssertEqual(d.weights, ["A": 0, "B": 0, "C": 0])
                XCTAssertTrue(d.reason.contains("waiting for an answering member to apply its heartbeat 6"), d.reason)
            } else {
                XCTAssertEqual(d.weights, ["A": 0, "B": 50, "C": 0])
            }
        }
    }

    func testWriterThatAnswersKeepsTheWritesEvenWhenTheRingDrainsIt() throws {
        var sim = try RingSim(["A", "B", "C"])
        var w = SingleWriter(members: members)
        sim.ticks(2)
        _ = w.on(sim.report())
        // C→A stops: A misses B's and C's (heartbeat-only) writes and the ring drains it, but with
        // one writer A's data is the reference: the writes stay.
        sim.slave["A"]!.io = .no; sim.slave["A"]!.sql = .no
        sim.blocked.insert(RingLinkID(from: "C", to: "A"))
        sim.ticks(6)
        XCTAssertFalse(sim.report().node("A")!.verdict.isTrusted)
        let d = w.on(sim.report())
        XCTAssertEqual(d.writer, "A", d.reason)
        XCTAssertFalse(d.changed)
    }

    func testOperatorCanForceAMove() throws {
        var sim = try RingSim(["A", "B"])
        var w = SingleWriter(members: [.init(name: "A", weight: 100), .init(name: "B", weight: 50)], writer: "A")
        sim.tick()
        w.force("B")
        let d = w.on(sim.report())
        XCTAssertEqual(d.writer, "B")
        XCTAssertEqual(d.weights, ["A": 0, "B": 50])
        XCTAssertTrue(d.changed)
    }

    func testNoTrustedMemberMeansNoWriter() throws {
        var sim = try RingSim(["A", "B"])
        sim.refused = ["A", "B"]
        sim.tick()
        var w = SingleWriter(members: [.init(name: "A", weight: 100), .init(name: "B", weight: 50)])
        let d = w.on(sim.report())
        XCTAssertNil(d.writer)
        XCTAssertEqual(d.weights, ["A": 0, "B": 0])
    }

    func testDrainedWriterHandsTheWritesToACaughtUpMemberAndDrainedMembersNeverTakeThem() throws {
        var sim = try RingSim(["A", "B", "C"])
        var w = SingleWriter(members: members)
        sim.ticks(2)
        XCTAssertEqual(w.on(sim.report()).writer, "A")
        // The operator drains A: it still answers, so B and C hold its heartbeat 2 and B (first in
        // ring order among equal weights) takes the writes at once.
        let d = w.on(sim.report(), drained: ["A"])
        XCTAssertEqual(d.writer, "B", d.reason)
        XCTAssertEqual(d.weights, ["A": 0, "B": 50, "C": 0])
        XCTAssertTrue(d.changed)
        XCTAssertTrue(d.reason.contains("from A to B"), d.reason)
        // Undraining A does not bounce the writes back.
        sim.tick()
        let back = w.on(sim.report())
        XCTAssertEqual(back.writer, "B", back.reason)
        XCTAssertFalse(back.changed)
        // B is killed while C is drained: nobody may take the writes but A.
        sim.refused.insert("B")
        sim.tick()
        let next = w.on(sim.report(), drained: ["C"])
        XCTAssertEqual(next.writer, "A", next.reason)
        XCTAssertEqual(next.weights, ["A": 100, "B": 0, "C": 0])
    }

    func testDrainedWriterWithNoCaughtUpCandidateLeavesTheWritesWaiting() throws {
        var sim = try RingSim(["A", "B", "C"])
        var w = SingleWriter(members: members)
        sim.ticks(2)
        XCTAssertEqual(w.on(sim.report()).writer, "A")
        // Nothing of A's reaches B (and C behind it) any more: neither has A's heartbeat 3.
        sim.blocked.insert(RingLinkID(from: "A", to: "B"))
        sim.tick()
        let d = w.on(sim.report(), drained: ["A"])
        XCTAssertNil(d.writer, d.reason)
        XCTAssertEqual(d.weights, ["A": 0, "B": 0, "C": 0])
        XCTAssertTrue(d.reason.contains("A was drained by the operator; waiting"), d.reason)
        XCTAssertTrue(d.reason.contains("B at heartbeat 2"), d.reason)
        // The link delivers again: B catches up and takes the writes.
        sim.blocked = []
        sim.tick()
        XCTAssertEqual(w.on(sim.report(), drained: ["A"]).writer, "B")
    }
}
