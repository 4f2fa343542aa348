import Hosts
import XCTest

/// `tandemctl place`'s steps as lines: plan + what each host lists → steps and notes.
final class PlaceStepsTests: XCTestCase {
    static let plan = ["a1": "h1", "a2": "h2", "b1": "h1", "b2": "h3"]
    static let order = ["h1", "h2", "h3"]

    func steps(_ observed: [String: HostObservation], definable: Set<String> = ["a1", "a2", "b1", "b2"], move: Bool = false) -> PlaceSteps {
        let inventory = HostInventory.compare(plan: Self.plan, hostOrder: Self.order, observed: observed)
        return PlaceSteps.plan(inventory: inventory, plan: Self.plan, definable: definable, move: move)
    }

    func lines(_ s: PlaceSteps) -> [String] { s.render().split(separator: "\n").map(String.init) }

    func testAnEmptySiteIsDefinedAndStartedWhereThePlanSays() {
        let s = steps(["h1": .domains([]), "h2": .domains([]), "h3": .domains([])])
        XCTAssertEqual(lines(s), [
            "define a1 on h1: a1: runs nowhere; the plan puts it on h1",
            "start a1 on h1: a1: runs nowhere; the plan puts it on h1",
            "define a2 on h2: a2: runs nowhere; the plan puts it on h2",
            "start a2 on h2: a2: runs nowhere; the plan puts it on h2",
            "define b1 on h1: b1: runs nowhere; the plan puts it on h1",
            "start b1 on h1: b1: runs nowhere; the plan puts it on h1",
            "define b2 on h3: b2: runs nowhere; the plan puts it on h3",
            "start b2 on h3: b2: runs nowhere; the plan puts it on h3",
            "8 steps",
        ])
        XCTAssertFalse(s.blocked)
        XCTAssertEqual(s.byVM.map(\.vm), ["a1", "a2", "b1", "b2"])
        XCTAssertEqual(s.byVM[0].steps.map(\.action), [.define, .start])
    }

    func testASiteThatRunsThePlanGetsNoStepsWhateverItsDefinitions() {
        // Adopted as it is: running (or paused, or blocked) on the planned host is left alone, even
        // for a VM the topology could not define.
        let s = steps(["h1": .domains([.init(name: "a1", state: .running), .init(name: "b1", state: .paused)]),
                       "h2": .domains([.init(name: "a2", state: .blocked)]),
                       "h3": .domains([.init(name: "b2", state: .running), .init(name: "unrelated", state: .running)])],
                      definable: [])
        XCTAssertEqual(lines(s), ["0 steps"])
    }

    func testAStoppedDomainIsStartedNotRedefined() {
        let s = steps(["h1": .domains([.init(name: "a1", state: .shutOff), .init(name: "b1", state: .crashed), .init(name: "a2", state: .shutOff)]),
                       "h2": .domains([.init(name: "a2", state: .running)]),
                       "h3": .domains([.init(name: "b2", state: .running)])], definable: [])
        XCTAssertEqual(lines(s), [
            "start a1 on h1: a1: defined on h1 but shut off",
            "start b1 on h1: b1: defined on h1 but crashed",
            "2 steps",
        ])
    }

    func testAVMWithoutADomainCannotBeDefinedAndSaysSo() {
        let s = steps(["h1": .domains([.init(name: "a1", state: .running), .init(name: "b1", state: .running)]),
                       "h2": .domains([]), "h3": .domains([.init(name: "b2", state: .running)])], definable: ["b2"])
        XCTAssertEqual(lines(s), [
            "note: a2: cannot be defined on h2: the topology gives no `domain:` for it (add vms[].domain, or define it there yourself)",
            "0 steps",
        ])
        XCTAssertTrue(s.blocked)
    }

    func testAVMElsewhereOrTwiceIsReportedAndLeftAloneWithoutMove() {
        let observed: [String: HostObservation] = [
            "h1": .domains([.init(name: "a1", state: .running), .init(name: "b1", state: .running), .init(name: "a2", state: .running)]),
            "h2": .domains([]),
            "h3": .domains([.init(name: "b2", state: .running), .init(name: "b1", state: .running)])]
        let s = steps(observed)
        XCTAssertEqual(lines(s), [
            "note: a2: runs on h1; the plan puts it on h2 (left alone: `--move` stops the stray copy and starts it on h2)",
            "note: b1: runs on 2 hosts at once (h1, h3) (left alone: `--move` stops the stray copy and starts it on h1)",
            "0 steps",
        ])
        XCTAssertFalse(s.blocked, "left alone on purpose is not a failure")
        XCTAssertFalse(s.steps.contains { $0.action == .destroy }, "without --move nothing is ever destroyed")
    }

    func testMoveDestroysTheStrayCopyBeforeStartingThePlannedOne() {
        let s = steps(["h1": .domains([.init(name: "a1", state: .running), .init(name: "b1", state: .running), .init(name: "a2", state: .running)]),
                       "h2": .domains([]),
                       "h3": .domains([.init(name: "b2", state: .running), .init(name: "b1", state: .running)])], move: true)
        XCTAssertEqual(lines(s), [
            "destroy a2 on h1: a2: runs on h1; the plan puts it on h2; --move",
            "define a2 on h2: a2: runs on h1; the plan puts it on h2; --move",
            "start a2 on h2: a2: runs on h1; the plan puts it on h2; --move",
            "destroy b1 on h3: b1: runs on 2 hosts at once (h1, h3); --move",
            "4 steps",
        ])
    }

    func testMoveNeverDestroysACopyThatCannotBeStartedWherePlanned() {
        // a2 runs on h1; h2 cannot be reached, or a2 has no domain to define there: a2 keeps running.
        let running: [String: HostObservation] = ["h1": .domains([.init(name: "a1", state: .running), .init(name: "b1", state: .running),
                                                                  .init(name: "a2", state: .running)]),
                                                  "h3": .domains([.init(name: "b2", state: .running)])]
        var observed = running
        observed["h2"] = .unreachable("connection refused")
        var s = steps(observed, move: true)
        XCTAssertEqual(s.steps, [])
        XCTAssertTrue(s.blocked)
        XCTAssertTrue(lines(s).contains("note: a2: runs on h1; the plan puts it on h2; not moved: it cannot be started on h2 (not looked at)"), "\(lines(s))")
        observed["h2"] = .domains([])
        s = steps(observed, definable: [], move: true)
        XCTAssertEqual(s.steps, [])
        XCTAssertTrue(lines(s).contains("note: a2: runs on h1; the plan puts it on h2; not moved: it cannot be started on h2 (no `domain:` in the topology and not defined there)"), "\(lines(s))")
        // Defined (stopped) there: it can be moved without a definition.
        observed["h2"] = .domains([.init(name: "a2", state: .shutOff)])
        s = steps(observed, definable: [], move: true)
        XCTAssertEqual(lines(s), ["destroy a2 on h1: a2: runs on h1; the plan puts it on h2; --move",
                                  "start a2 on h2: a2: runs on h1; the plan puts it on h2; --move", "2 steps"])
    }

    func testAHostThatCannotBeLookedAtGetsNoStepsAndBlocks() {
        let s = steps(["h1": .domains([]), "h2": .unreachable("timed out"),
                       "h3": .domains([.init(name: "b2", state: .running)])])
        XCTAssertEqual(lines(s), [
            "define a1 on h1: a1: runs nowhere; the plan puts it on h1",
            "start a1 on h1: a1: runs nowhere; the plan puts it on h1",
            "define b1 on h1: b1: runs nowhere; the plan puts it on h1",
            "start b1 on h1: b1: runs nowhere; the plan puts it on h1",
            "note: h2: not looked at (unreachable: timed out); unknown whether a2 runs there",
            "4 steps",
        ])
        XCTAssertTrue(s.blocked)
    }
}
