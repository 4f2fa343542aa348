import Drill
import XCTest

/// The drill's order as lines of event → expected actions, with no time passing.
final class DrillMachineTests: XCTestCase {
    private func plan(_ kind: DrillKind, heal: DrillKindSpec.Heal = .afterProbe, prepareHook: Bool = false, healHook: Bool = true) -> DrillMachine.Plan {
        .init(kind: kind, heal: heal, baseline: .seconds(3), observe: .seconds(5), hasPrepareHook: prepareHook, hasHealHook: healHook,
              prepareBound: .seconds(30), probeStartBound: .seconds(30), settleBound: .seconds(30), probeBound: .seconds(60))
    }

    private func run(_ m: inout DrillMachine, _ lines: [(DrillMachine.Event, [DrillMachine.Action])], file: StaticString = #filePath, line: UInt = #line) {
        for (i, (event, want)) in lines.enumerated() {
            // Progress lines are for people: the contract is every other action, in order.
            let got = m.on(event).filter { if case .say = $0 { return false }; return true }
            XCTAssertEqual(got, want, "step \(i): \(event)", file: file, line: line)
        }
    }

    func testDirectorKillRunsPrepareBaselineInjectObserveThenHealsAfterTheProbeAndWaitsForASteadySite() {
        var m = DrillMachine(plan: plan(.directorKill))
        run(&m, [
            (.start, [.startWatching, .setTimer(.prepareDeadline, after: .seconds(30))]),
            (.site(.unsteady("no reading of db yet")), []),
            (.site(.steady(holder: "da")), [.cancelTimer(.prepareDeadline), .startProbe(bound: .seconds(60)),
                                            .setTimer(.probeStartDeadline, after: .seconds(30))]),
            (.site(.steady(holder: "da")), []),                           // readings during the baseline change nothing
            (.probeStarted, [.cancelTimer(.probeStartDeadline), .mark(.probeStart, "probe running"), .setTimer(.baselineEnd, after: .seconds(3))]),
            (.timer(.baselineEnd), [.mark(.fault, "fault: director-kill"), .runHook(.inject)]),
            (.hookFinished(.inject, succeeded: true, outcome: "exit status 0"), [.mark(.faultDone, "fault in place"), .setTimer(.observeEnd, after: .seconds(5))]),
            (.site(.unsteady("da does not answer")), []),
            (.timer(.observeEnd), [.mark(.probeStop, "probe stop"), .stopProbe, .setTimer(.settleDeadline, after: .seconds(30)),
                                   .mark(.heal, "heal"), .runHook(.heal)]),
            (.site(.steady(holder: "db")), []),                           // not before the probe ended and the heal returned
            (.probeEnded(succeeded: true, detail: "ended"), []),
            (.hookFinished(.heal, succeeded: true, outcome: "exit status 0"), [.mark(.healDone, "healed")]),
            (.site(.unsteady("da does not answer")), []),
            (.site(.steady(holder: "da")), [.cancelTimer(.settleDeadline), .mark(.restored, "restored"), .stopWatching, .finish(aborted: nil)]),
        ])
        XCTAssertEqual(m.holderAtStart, "da")
        XCTAssertEqual(m.phase, .verdict)
        XCTAssertEqual(m.problems, [])
    }

    func testHeartbeatCutHealsUnderLoadAfterItsHoldThenObservesAgain() {
        var m = DrillMachine(plan: plan(.heartbeatCut, heal: .after(.seconds(5))))
        run(&m, [
            (.start, [.startWatching, .setTimer(.prepareDeadline, after: .seconds(30))]),
            (.site(.steady(holder: "da")), [.cancelTimer(.prepareDeadline), .startProbe(bound: .seconds(60)), .setTimer(.probeStartDeadline, after: .seconds(30))]),
            (.probeStarted, [.cancelTimer(.probeStartDeadline), .mark(.probeStart, "probe running"), .setTimer(.baselineEnd, after: .seconds(3))]),
            (.timer(.baselineEnd), [.mark(.fault, "fault: heartbeat-cut"), .runHook(.inject)]),
            (.hookFinished(.inject, succeeded: true, outcome: "exit status 0"), [.mark(.faultDone, "fault in place"), .setTimer(.healDue, after: .seconds(5))]),
            (.timer(.healDue), [.mark(.heal, "heal"), .runHook(.heal)]),
            (.hookFinished(.heal, succeeded: true, outcome: "exit status 0"), [.mark(.healDone, "healed"), .setTimer(.observeEnd, after: .seconds(5))]),
            (.timer(.observeEnd), [.mark(.probeStop, "probe stop"), .stopProbe, .setTimer(.settleDeadline, after: .seconds(30))]),
            (.probeEnded(succeeded: true, detail: "ended"), []),
            (.site(.steady(holder: "da")), [.cancelTimer(.settleDeadline), .mark(.restored, "restored"), .stopWatching, .finish(aborted: nil)]),
        ])
    }

    func testAFailedInjectStillHealsThenStopsWithTheReason() {
        var m = DrillMachine(plan: plan(.backendKill))
        run(&m, [
            (.start, [.startWatching, .setTimer(.prepareDeadline, after: .seconds(30))]),
            (.site(.steady(holder: nil)), [.cancelTimer(.prepareDeadline), .startProbe(bound: .seconds(60)), .setTimer(.probeStartDeadline, after: .seconds(30))]),
            (.probeStarted, [.cancelTimer(.probeStartDeadline), .mark(.probeStart, "probe running"), .setTimer(.baselineEnd, after: .seconds(3))]),
            (.timer(.baselineEnd), [.mark(.fault, "fault: backend-kill"), .runHook(.inject)]),
            (.hookFinished(.inject, succeeded: false, outcome: "exit status 1"), [.stopProbe, .mark(.heal, "heal"), .runHook(.heal)]),
            (.probeEnded(succeeded: true, detail: "ended"), []),
            (.hookFinished(.heal, succeeded: true, outcome: "exit status 0"),
             [.mark(.healDone, "healed"), .stopWatching, .finish(aborted: "the inject hook failed (exit status 1)")]),
        ])
        XCTAssertEqual(m.problems, [], "the early end is the abort reason, not a separate problem")
    }

    func testASiteNeverSteadyStopsAtThePrepareBoundNamingWhy() {
        var m = DrillMachine(plan: plan(.directorGraceful))
        run(&m, [
            (.start, [.startWatching, .setTimer(.prepareDeadline, after: .seconds(30))]),
            (.site(.unsteady("da and db hold the VIP at once")), []),
            (.timer(.prepareDeadline), [.stopWatching, .finish(aborted: "the site was not steady within 30.00 s: da and db hold the VIP at once")]),
        ])
    }

    func testAPrepareHookMustSucceedBeforeTheBaseline() {
        var m = DrillMachine(plan: plan(.plannedDrain, prepareHook: true))
        run(&m, [
            (.start, [.startWatching, .setTimer(.prepareDeadline, after: .seconds(30)), .runHook(.prepare)]),
            (.site(.steady(holder: nil)), []),
            (.hookFinished(.prepare, succeeded: true, outcome: "exit status 0"),
             [.cancelTimer(.prepareDeadline), .startProbe(bound: .seconds(60)), .setTimer(.probeStartDeadline, after: .seconds(30))]),
        ])
        var failing = DrillMachine(plan: plan(.plannedDrain, prepareHook: true))
        run(&failing, [
            (.start, [.startWatching, .setTimer(.prepareDeadline, after: .seconds(30)), .runHook(.prepare)]),
            (.hookFinished(.prepare, succeeded: false, outcome: "timed out after 30.00 s"),
             [.stopWatching, .finish(aborted: "the prepare hook failed (timed out after 30.00 s)")]),
        ])
    }

    func testAProbeThatEndsInsideTheWindowIsAProblemTheVerdictNames() {
        var m = DrillMachine(plan: plan(.backendSilent, healHook: false))
        run(&m, [
            (.start, [.startWatching, .setTimer(.prepareDeadline, after: .seconds(30))]),
            (.site(.steady(holder: nil)), [.cancelTimer(.prepareDeadline), .startProbe(bound: .seconds(60)), .setTimer(.probeStartDeadline, after: .seconds(30))]),
            (.probeStarted, [.cancelTimer(.probeStartDeadline), .mark(.probeStart, "probe running"), .setTimer(.baselineEnd, after: .seconds(3))]),
            (.timer(.baselineEnd), [.mark(.fault, "fault: backend-silent"), .runHook(.inject)]),
            (.hookFinished(.inject, succeeded: true, outcome: "exit status 0"), [.mark(.faultDone, "fault in place"), .setTimer(.observeEnd, after: .seconds(5))]),
            (.probeEnded(succeeded: true, detail: "ended"), []),
            (.timer(.observeEnd), [.mark(.probeStop, "probe stop"), .stopProbe, .setTimer(.settleDeadline, after: .seconds(30))]),
            (.site(.steady(holder: nil)), [.cancelTimer(.settleDeadline), .mark(.restored, "restored"), .stopWatching, .finish(aborted: nil)]),
        ])
        XCTAssertEqual(m.problems, ["the probe ended before the window did (the load did not cover the fault and its aftermath)"])
    }

    func testAProbeThatNeverStartsStopsTheDrillBeforeAnyFault() {
        var m = DrillMachine(plan: plan(.linkFlap, heal: .after(.zero)))
        run(&m, [
            (.start, [.startWatching, .setTimer(.prepareDeadline, after: .seconds(30))]),
            (.site(.steady(holder: "da")), [.cancelTimer(.prepareDeadline), .startProbe(bound: .seconds(60)), .setTimer(.probeStartDeadline, after: .seconds(30))]),
            (.probeEnded(succeeded: false, detail: "exit status 1: connect refused"),
             [.stopWatching, .finish(aborted: "the probe ended before the fault: exit status 1: connect refused")]),
            (.timer(.baselineEnd), []),
        ])
    }

    func testSiteStateNeedsEveryDirectorOneHolderAndTheMemberServing() {
        func s(_ d: String, _ holds: Bool?, reachable: Bool = true, members: [MemberSample] = []) -> DirectorSample {
            DirectorSample(at: 0, director: d, reachable: reachable, holdsVIP: holds, members: members)
        }
        let up = MemberSample(service: "gums", member: "g1", state: "up", drained: false, weight: 100, topologyWeight: 100, kernelWeight: 100)
        var down = up
        down.state = "down"; down.weight = 0; down.kernelWeight = 0
        XCTAssertEqual(SiteState.assess(latest: ["da": s("da", true)], directors: ["da", "db"]), .unsteady("no reading of db yet"))
        XCTAssertEqual(SiteState.assess(latest: ["da": s("da", true), "db": s("db", false, reachable: false)], directors: ["da", "db"]),
                       .unsteady("db does not answer"))
        XCTAssertEqual(SiteState.assess(latest: ["da": s("da", true), "db": s("db", true)], directors: ["da", "db"]),
                       .unsteady("da and db hold the VIP at once"))
        XCTAssertEqual(SiteState.assess(latest: ["da": s("da", false), "db": s("db", false)], directors: ["da", "db"]),
                       .unsteady("no director holds the VIP"))
        XCTAssertEqual(SiteState.assess(latest: ["da": s("da", false), "db": s("db", true)], directors: ["da", "db"]), .steady(holder: "db"))
        XCTAssertEqual(SiteState.assess(latest: ["d1": s("d1", nil, members: [down])], directors: ["d1"]),
                       .unsteady("g1 is down on d1, kernel weight 0 of 100"))
        XCTAssertEqual(SiteState.assess(latest: ["d1": s("d1", nil, members: [up])], directors: ["d1"]), .steady(holder: nil))
        // The backup's table counts too: it takes over with what it holds.
        XCTAssertEqual(SiteState.assess(latest: ["da": s("da", true, members: [up]), "db": s("db", false, members: [down])], directors: ["da", "db"]),
                       .unsteady("g1 is down on db, kernel weight 0 of 100"))
    }
}
