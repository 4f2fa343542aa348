import HealthCheck
import XCTest
import Health

/// Passive silence detection as event → action lines on an injected clock: each test feeds samples
/// (time, waiting connections, counters) and checks exactly which `silent` actions come out.
final class PassiveSilenceTests: XCTestCase {
    let config = PassiveSilence.Config(window: .milliseconds(300), minConnections: 3)

    func ms(_ n: Int) -> Duration { .milliseconds(n) }
    func c(_ conns: UInt64, _ inp: UInt64, _ outp: UInt64) -> PassiveSilence.Counters {
        .init(connections: conns, inPackets: inp, outPackets: outp)
    }

    /// Feeds `lines` in order and returns, per line, whether it produced a `silent` action.
    func run(_ m: inout PassiveSilence, _ lines: [PassiveSilence.Sample]) -> [Bool] {
        lines.map { s in
            let a = m.observe(s)
            XCTAssertLessThanOrEqual(a.count, 1)
            return !a.isEmpty
        }
    }

    func testNoTrafficMeansNoEvent() {
        var m = PassiveSilence(config: config)
        let fired = run(&m, (0..<100).map { .init(time: ms($0 * 75), waiting: [], counters: c(0, 0, 0)) })
        XCTAssertEqual(fired.filter { $0 }.count, 0)
        XCTAssertEqual(m.phase, .armed)
    }

    func testThreeConnectionsUnansweredForTheWindowFireOnceWithAReason() {
        var m = PassiveSilence(config: config)
        XCTAssertEqual(m.observe(.init(time: ms(-75), waiting: [], counters: c(10, 50, 40))), [])
        XCTAssertEqual(m.observe(.init(time: ms(0), waiting: [1], counters: c(10, 50, 40))), [])
        XCTAssertEqual(m.observe(.init(time: ms(75), waiting: [1, 2], counters: c(10, 50, 40))), [])
        XCTAssertEqual(m.observe(.init(time: ms(150), waiting: [1, 2, 3], counters: c(10, 50, 40))), [])
        // Connection 1 has waited 300 ms, but 2 and 3 not yet: below min_connections.
        XCTAssertEqual(m.observe(.init(time: ms(300), waiting: [1, 2, 3, 4], counters: c(10, 50, 40))), [])
        XCTAssertEqual(m.observe(.init(time: ms(375), waiting: [1, 2, 3, 4], counters: c(10, 50, 40))), [])
        let a = m.observe(.init(time: ms(450), waiting: [1, 2, 3, 4, 5], counters: c(10, 50, 40)))
        XCTAssertEqual(a, [.silent(reason: "passive: 3 new connections unanswered for 300 ms or more (longest 450 ms), no SYN-ACK back")])
        XCTAssertEqual(m.phase, .reported)
        // The same episode never fires again, however long it lasts.
        let later = run(&m, (7..<60).map { .init(time: ms($0 * 75), waiting: Set(1...UInt64($0)), counters: c(10, 50, 40)) })
        XCTAssertFalse(later.contains(true))
    }

    func testClosingConnectionsAloneNeverFire() {
        // A quiet phase where clients only close: their final ACKs need no answer, and their entries
        // are not SYN_RECV, so nothing waits even though inpkts grows and outpkts does not.
        var m = PassiveSilence(config: config)
        let fired = run(&m, (0..<40).map { i in
            .init(time: ms(i * 75), waiting: [], counters: c(100, 500 + UInt64(i / 27) * 40, 400))
        })
        XCTAssertFalse(fired.contains(true))
    }

    func testSlowButAnsweringMemberNeverFires() {
        // Every handshake is answered within a poll (the member's kernel sends the SYN-ACK even when
        // its application is slow): connections are waiting only once, never for the window.
        var m = PassiveSilence(config: config)
        let fired = run(&m, (0..<200).map { i in
            .init(time: ms(i * 75), waiting: [UInt64(1000 + i), UInt64(5000 + i)], counters: c(UInt64(i / 27) * 300, 0, 0))
        })
        XCTAssertFalse(fired.contains(true))
        XCTAssertEqual(m.judgedWaiting, 2)
    }

    func testConnectionsAlreadyWaitingWhenWatchingStartsAreNeverJudged() {
        // Their age is unknown and they may be leftovers of an episode that is over (a restarted
        // tandemd, a member just added): only connections that start waiting later count.
        var m = PassiveSilence(config: config)
        let leftovers: Set<UInt64> = [1, 2, 3, 4, 5]
        let fired = run(&m, (0..<40).map { .init(time: ms($0 * 75), waiting: leftovers, counters: c(9, 9, 9)) })
        XCTAssertFalse(fired.contains(true))
        XCTAssertEqual(m.judgedWaiting, 0)
        _ = m.observe(.init(time: ms(3000), waiting: leftovers.union([6, 7, 8]), counters: c(9, 9, 9)))
        _ = m.observe(.init(time: ms(3150), waiting: leftovers.union([6, 7, 8]), counters: c(9, 9, 9)))
        XCTAssertEqual(m.observe(.init(time: ms(3300), waiting: leftovers.union([6, 7, 8]), counters: c(9, 9, 9))).count, 1)
    }

    func testAConnectionAbsentForAWindowThatComesBackStartsOver() {
        var m = PassiveSilence(config: PassiveSilence.Config(window: ms(300), minConnections: 1))
        XCTAssertEqual(m.observe(.init(time: ms(-50), waiting: [])), [])
        XCTAssertEqual(m.observe(.init(time: ms(0), waiting: [7])), [])
        XCTAssertEqual(m.observe(.init(time: ms(100), waiting: [])), [])
        XCTAssertEqual(m.observe(.init(time: ms(250), waiting: [])), [])
        XCTAssertEqual(m.observe(.init(time: ms(400), waiting: [])), [], "absent for 300 ms: forgotten")
        XCTAssertEqual(m.observe(.init(time: ms(450), waiting: [7])), [])
        XCTAssertEqual(m.observe(.init(time: ms(600), waiting: [7])), [])
        XCTAssertEqual(m.observe(.init(time: ms(700), waiting: [7])), [], "waited 250 ms since it came back")
        XCTAssertEqual(m.observe(.init(time: ms(750), waiting: [7])).count, 1)
    }

    func testAConnectionMissingFromOneReadKeepsItsAge() {
        // /proc/net/ip_vs_conn is produced a page at a time; entries expiring between two pages shift
        // the rest, so one read can skip a live entry. Missing once is not "answered".
        var m = PassiveSilence(config: PassiveSilence.Config(window: ms(300), minConnections: 1))
        XCTAssertEqual(m.observe(.init(time: ms(-75), waiting: [])), [])
        XCTAssertEqual(m.observe(.init(time: ms(0), waiting: [7])), [])
        XCTAssertEqual(m.observe(.init(time: ms(75), waiting: [7])), [])
        XCTAssertEqual(m.observe(.init(time: ms(150), waiting: [])), [], "a torn read")
        XCTAssertEqual(m.observe(.init(time: ms(225), waiting: [7])), [])
        XCTAssertEqual(m.observe(.init(time: ms(300), waiting: [7])).count, 1, "waiting 300 ms since first seen")
    }

    /// The bench-health false drains (be2 drained within a second of coming back from linkdown or
    /// silent, before the next event): dozens of excused SYN_RECV leftovers of the episode stay in
    /// the table for up to 60 s, and reads of the table that skip some of them made those come back
    /// as new connections, unanswered a window later.
    func testExcusedLeftoversSkippedByATornReadAreNotJudgedAgain() {
        var m = PassiveSilence(config: config)
        let leftovers = Set<UInt64>(1...40)
        _ = m.observe(.init(time: ms(-75), waiting: [], counters: c(5, 5, 5)))
        _ = m.observe(.init(time: ms(0), waiting: leftovers, counters: c(5, 5, 5)))
        _ = m.observe(.init(time: ms(150), waiting: leftovers, counters: c(5, 5, 5)))
        XCTAssertEqual(m.observe(.init(time: ms(300), waiting: leftovers, counters: c(5, 5, 5))).count, 1)
        // Drained; the active check brings the member back, the leftovers are excused.
        _ = m.observe(.init(time: ms(1000), waiting: leftovers, counters: c(5, 5, 5)))
        m.checkRecovered()
        XCTAssertEqual(m.phase, .armed)
        // Torn reads: a few leftovers missing from one sample each, back in the next.
        let fired = run(&m, (0..<20).map { i in
            let skipped: Set<UInt64> = i % 3 == 0 ? [UInt64(i + 1), UInt64(i + 2), UInt64(i + 3)] : []
            return .init(time: ms(1075 + i * 75), waiting: leftovers.subtracting(skipped), counters: c(5, 5, 5))
        })
        XCTAssertEqual(fired.filter { $0 }.count, 0, "excused leftovers missed by a read are still excused")
        XCTAssertEqual(m.judgedWaiting, 0)
        // A real new silence still fires.
        _ = m.observe(.init(time: ms(2700), waiting: leftovers.union([100, 101, 102]), counters: c(5, 5, 5)))
        _ = m.observe(.init(time: ms(2850), waiting: leftovers.union([100, 101, 102]), counters: c(5, 5, 5)))
        XCTAssertEqual(m.observe(.init(time: ms(3000), waiting: leftovers.union([100, 101, 102]), counters: c(5, 5, 5))).count, 1)
    }

    func testAReadThatMissesEveryLeftoverDoesNotUnExcuseThem() {
        // While reported, an empty read re-arms ("nothing waits any more"); if it was a read that
        // skipped every leftover, they must still be excused when they show up again.
        var m = PassiveSilence(config: config)
        let leftovers: Set<UInt64> = [1, 2, 3, 4]
        _ = m.observe(.init(time: ms(-75), waiting: []))
        _ = m.observe(.init(time: ms(0), waiting: leftovers))
        _ = m.observe(.init(time: ms(150), waiting: leftovers))
        XCTAssertEqual(m.observe(.init(time: ms(300), waiting: leftovers)).count, 1)
        XCTAssertEqual(m.observe(.init(time: ms(375), waiting: [])), [])
        XCTAssertEqual(m.phase, .armed)
        let fired = run(&m, (6..<30).map { .init(time: ms($0 * 75), waiting: leftovers) })
        XCTAssertFalse(fired.contains(true))
    }

    func testRearmsOnlyOnceOutPacketsMoveAcrossTwoRefreshesAndIgnoresLeftovers() {
        var m = PassiveSilence(config: config)
        _ = m.observe(.init(time: ms(-75), waiting: [], counters: c(10, 50, 40)))
        _ = m.observe(.init(time: ms(0), waiting: [1, 2, 3], counters: c(10, 50, 40)))
        _ = m.observe(.init(time: ms(150), waiting: [1, 2, 3], counters: c(10, 50, 40)))
        XCTAssertEqual(m.observe(.init(time: ms(300), waiting: [1, 2, 3], counters: c(10, 50, 40))).count, 1)
        // First kernel refresh after the event: it still counts replies from before the silence.
        XCTAssertEqual(m.observe(.init(time: ms(900), waiting: [1, 2, 3, 4], counters: c(20, 70, 48))), [])
        XCTAssertEqual(m.phase, .reported, "a refresh that may predate the event does not re-arm")
        // Next refresh: no packet back (only client retransmissions in): still reported.
        XCTAssertEqual(m.observe(.init(time: ms(2900), waiting: [1, 2, 3, 4], counters: c(20, 80, 48))), [])
        XCTAssertEqual(m.phase, .reported)
        // The member answers again: outpkts grows after the first refresh.
        XCTAssertEqual(m.observe(.init(time: ms(4900), waiting: [1, 2, 3, 4], counters: c(40, 120, 60))), [])
        XCTAssertEqual(m.phase, .armed)
        // Leftover SYN_RECV entries from the silent period are never judged again.
        let leftovers = run(&m, (66..<100).map { .init(time: ms($0 * 75), waiting: [1, 2, 3, 4], counters: c(40, 120, 60)) })
        XCTAssertFalse(leftovers.contains(true))
        // A new silence after re-arming is a new episode.
        _ = m.observe(.init(time: ms(7600), waiting: [1, 2, 3, 4, 10, 11, 12], counters: c(50, 130, 60)))
        _ = m.observe(.init(time: ms(7750), waiting: [1, 2, 3, 4, 10, 11, 12], counters: c(50, 130, 60)))
        XCTAssertEqual(m.observe(.init(time: ms(7900), waiting: [1, 2, 3, 4, 10, 11, 12], counters: c(50, 130, 60))).count, 1)
    }

    func testRearmsWhenTheCheckBringsTheMemberBack() {
        var m = PassiveSilence(config: config)
        _ = m.observe(.init(time: ms(-75), waiting: [], counters: c(5, 5, 5)))
        _ = m.observe(.init(time: ms(0), waiting: [1, 2, 3], counters: c(5, 5, 5)))
        _ = m.observe(.init(time: ms(150), waiting: [1, 2, 3], counters: c(5, 5, 5)))
        XCTAssertEqual(m.observe(.init(time: ms(300), waiting: [1, 2, 3], counters: c(5, 5, 5))).count, 1)
        m.checkRecovered()
        XCTAssertEqual(m.phase, .armed, "the check saw the member answer: the episode is over")
        m.checkRecovered()
        XCTAssertEqual(m.phase, .armed, "idempotent")
        // Leftovers from the episode stay excused; a new silence is a new event.
        XCTAssertEqual(m.observe(.init(time: ms(1000), waiting: [1, 2, 3], counters: c(5, 5, 5))), [])
        _ = m.observe(.init(time: ms(1100), waiting: [1, 2, 3, 7, 8, 9], counters: c(5, 5, 5)))
        _ = m.observe(.init(time: ms(1250), waiting: [1, 2, 3, 7, 8, 9], counters: c(5, 5, 5)))
        XCTAssertEqual(m.observe(.init(time: ms(1400), waiting: [1, 2, 3, 7, 8, 9], counters: c(5, 5, 5))).count, 1)
    }

    func testRearmsWhenNothingWaitsAnyMore() {
        var m = PassiveSilence(config: PassiveSilence.Config(window: ms(300), minConnections: 2))
        _ = m.observe(.init(time: ms(-75), waiting: []))
        _ = m.observe(.init(time: ms(0), waiting: [1, 2]))
        _ = m.observe(.init(time: ms(150), waiting: [1, 2]))
        XCTAssertEqual(m.observe(.init(time: ms(300), waiting: [1, 2])).count, 1)
        XCTAssertEqual(m.observe(.init(time: ms(400), waiting: [1])), [])
        XCTAssertEqual(m.phase, .reported)
        XCTAssertEqual(m.observe(.init(time: ms(500), waiting: [])), [])
        XCTAssertEqual(m.phase, .armed)
        _ = m.observe(.init(time: ms(600), waiting: [3, 4]))
        _ = m.observe(.init(time: ms(750), waiting: [3, 4]))
        XCTAssertEqual(m.observe(.init(time: ms(900), waiting: [3, 4])).count, 1)
    }

    func testCounterResetIsARestartNotAnEvent() {
        var m = PassiveSilence(config: config)
        _ = m.observe(.init(time: ms(-75), waiting: [], counters: c(500, 2000, 1800)))
        _ = m.observe(.init(time: ms(0), waiting: [1, 2, 3], counters: c(500, 2000, 1800)))
        XCTAssertEqual(m.observe(.init(time: ms(200), waiting: [1, 2, 3], counters: c(500, 2000, 1800))), [])
        // The destination was removed and added again: its counters start from zero. What waits now
        // belongs to the old destination and is excused; nothing fires although 1-3 pass 300 ms.
        XCTAssertEqual(m.observe(.init(time: ms(300), waiting: [1, 2, 3], counters: c(0, 0, 0))), [])
        XCTAssertEqual(m.observe(.init(time: ms(450), waiting: [1, 2, 3, 4, 5, 6], counters: c(2, 4, 0))), [])
        XCTAssertEqual(m.observe(.init(time: ms(600), waiting: [1, 2, 3, 4, 5, 6], counters: c(2, 4, 0))), [])
        XCTAssertEqual(m.observe(.init(time: ms(750), waiting: [1, 2, 3, 4, 5, 6], counters: c(2, 4, 0))),
                       [.silent(reason: "passive: 3 new connections unanswered for 300 ms or more (longest 300 ms), no SYN-ACK back")])
        // A reset while reported is a new destination: armed again, the waiting ones excused.
        XCTAssertEqual(m.phase, .reported)
        XCTAssertEqual(m.observe(.init(time: ms(800), waiting: [4, 5, 6], counters: c(0, 0, 0))), [])
        XCTAssertEqual(m.phase, .armed)
        XCTAssertEqual(m.observe(.init(time: ms(1500), waiting: [4, 5, 6], counters: c(0, 0, 0))), [])
        _ = m.observe(.init(time: ms(1600), waiting: [4, 5, 6, 7, 8, 9], counters: c(3, 3, 0)))
        _ = m.observe(.init(time: ms(1750), waiting: [4, 5, 6, 7, 8, 9], counters: c(3, 3, 0)))
        XCTAssertEqual(m.observe(.init(time: ms(1900), waiting: [4, 5, 6, 7, 8, 9], counters: c(3, 3, 0))).count, 1)
    }

    func testAStallOfTheWatcherIsNotTakenForTheMembersSilence() {
        // The director was busy for a second between two samples: the connections it saw waiting
        // before the gap may have been answered in a backlog it has not processed yet. A gap counts
        // for at most half a window, so judging needs samples on both sides of the window.
        var m = PassiveSilence(config: config)
        _ = m.observe(.init(time: ms(0), waiting: []))
        _ = m.observe(.init(time: ms(75), waiting: [1, 2, 3]))
        XCTAssertEqual(m.observe(.init(time: ms(1075), waiting: [1, 2, 3])), [], "one long gap is 150 ms on the machine's time line")
        XCTAssertEqual(m.observe(.init(time: ms(1150), waiting: [1, 2, 3])), [], "225 ms so far")
        XCTAssertEqual(m.observe(.init(time: ms(1225), waiting: [1, 2, 3])).count, 1, "300 ms, seen waiting in five samples")
    }

    func testMinConnectionsBelowOneIsOne() {
        XCTAssertEqual(PassiveSilence.Config(window: ms(100), minConnections: 0).minConnections, 1)
    }
}
