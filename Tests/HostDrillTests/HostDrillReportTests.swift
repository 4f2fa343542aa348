@testable import HostDrill
import XCTest

/// The host drills' verdicts and figures, on trials made by hand (the drills themselves need the
/// root lab: `scripts/bench-hosts`).
final class HostDrillReportTests: XCTestCase {
    func trial(_ drill: HostDrillKind, restored: Double? = 900, twice: [String] = [], live: Int = 10, wrong: String? = nil) -> HostDrillTrial {
        var t = HostDrillTrial(drill: drill, trial: 1, vms: 5)
        t.restoredMs = restored; t.runningTwice = twice; t.mostLiveSeen = live; t.wrongAction = wrong
        return t
    }

    func testARestoredCrashWithNothingTwicePasses() {
        XCTAssertTrue(HostDrillRunner.verdict(trial(.crash)).0)
    }

    func testAVMSeenOnTwoHostsFailsEvenWhenRestored() {
        let (pass, why) = HostDrillRunner.verdict(trial(.crash, twice: ["p2a"]))
        XCTAssertFalse(pass)
        XCTAssertTrue(why.contains("p2a"), why)
    }

    func testASamplerThatDidNotSeeEveryVMMakesTheTrialFail() {
        let (pass, why) = HostDrillRunner.verdict(trial(.hang, live: 0))
        XCTAssertFalse(pass)
        XCTAssertTrue(why.contains("blind"), why)
    }

    func testACrashThatWasNotRestoredFails() {
        XCTAssertFalse(HostDrillRunner.verdict(trial(.partition, restored: nil)).0)
    }

    func testFenceFailPassesOnlyWhenTheHostAwaitedAnOperatorAndNothingRestarted() {
        var t = trial(.fenceFail)
        XCTAssertFalse(HostDrillRunner.verdict(t).0, "never reported awaiting operator")
        t.reportedMs = 600
        XCTAssertTrue(HostDrillRunner.verdict(t).0)
        t.wrongAction = "restarted without a confirmed fence: [restoring] h1"
        XCTAssertFalse(HostDrillRunner.verdict(t).0)
    }

    func testFiguresTakeTheMedianOfTheTrialsThatReachedTheStep() {
        let odd = HostDrillFigure("x", [300, nil, 100, 200])
        XCTAssertEqual(odd.median, 200); XCTAssertEqual(odd.min, 100); XCTAssertEqual(odd.max, 300); XCTAssertEqual(odd.n, 3)
        XCTAssertEqual(HostDrillFigure("y", [4, 1, 3, 2]).median, 2.5)
        XCTAssertNil(HostDrillFigure("z", [nil]).median)
        XCTAssertEqual(HostDrillFigure("z", [nil]).text, "—")
    }

    func testTheTableSaysWhenTheCrashTargetIsMissedAndGivesTheRatioToEachPeer() {
        var slow = trial(.crash, restored: 1500)
        slow.pass = true
        let table = HostDrillReport(vms: 5, ratePerPair: 50, build: "debug", loadAverageAtEnd: "0", trials: [slow]).table
        let row = table.first { $0.hasPrefix("| crash") } ?? ""
        XCTAssertTrue(row.contains("< 1 s: NOT met"), row)
        XCTAssertTrue(row.contains("×100 faster"), row)  // 150 s / 1.5 s
        XCTAssertTrue(row.contains("×80 faster"), row)   // 120 s / 1.5 s
    }
}
