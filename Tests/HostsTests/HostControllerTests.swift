import Hosts
import Net
import Placement
import Topology
import XCTest

/// The host controller as lines of event → actions, on a manual time line (`t` below is the
/// `now` of each event). The site: three hosts, three pairs split across them; the real planner
/// re-places a lost host's VMs.
final class HostControllerTests: XCTestCase {
    // a1 a2 | b1 b2 | c1 c2: each pair must sit on two hosts.
    static let initialPlan = PlacementPlan(assignment: ["a1": "h1", "a2": "h2", "b1": "h1", "b2": "h3", "c1": "h2", "c2": "h3"])

    static func site(hosts: [String] = ["h1", "h2", "h3"]) -> Topology {
        let hosts = hosts.map { XenHost(name: $0, address: IPAddress("192.0.2.1")!, cpus: 8, memoryMiB: 8192) }
        let vms = initialPlan.assignment.keys.sorted().map {
            DomU(name: $0, role: .other, vcpus: 1, memoryMiB: 512, addresses: [])
        }
        return Topology(site: "lab", hosts: hosts, vms: vms, services: [],
                        antiAffinity: [AntiAffinityGroup(name: "a", members: ["a1", "a2"]),
                                       AntiAffinityGroup(name: "b", members: ["b1", "b2"]),
                                       AntiAffinityGroup(name: "c", members: ["c1", "c2"])])
    }

    static func controller(fenceDevices: Set<String> = ["h1", "h2", "h3"], served: Set<String> = [],
                           hosts: [String] = ["h1", "h2", "h3"], plan: PlacementPlan = initialPlan, master: Bool = true) -> Machine {
        let topology = site(hosts: hosts)
        let config = HostController.Configuration(
            hosts: hosts, fenceDevices: fenceDevices, servedVMs: served,
            crossCheckWindow: .seconds(3), fenceAttempts: 2, fenceRetryDelay: .seconds(1), restoreDeadline: .seconds(10),
            replan: { plan, lost in Planner.replan(topology, current: plan, without: lost) })
        var m = Machine(HostController(configuration: config, plan: plan))
        if master { _ = m.controller.on(.mastership(isMaster: true, now: .zero)) }
        for h in hosts {
            let domains = plan.vms(on: h).map { DomainStatus(name: $0, state: .running) }
            _ = m.controller.on(.connected(host: h, domains: domains, now: .zero))
        }
        return m
    }

    /// Drives the controller and renders its actions as short lines.
    struct Machine {
        var controller: HostController
        var all: [String] = []
        init(_ c: HostController) { controller = c }

        mutating func on(_ event: HostController.Event) -> [String] {
            let lines = controller.on(event).map(Self.render)
            all += lines
            return lines
        }

        static func render(_ a: HostController.Action) -> String {
            switch a {
            case .probe(let h, let vms): "probe \(h) \(vms.joined(separator: ","))"
            case .fence(let h, let action): "fence \(h) \(action.rawValue)"
            case .startVM(let vm, let h): "start \(vm) on \(h)"
            case .destroyVM(let vm, let h): "destroy \(vm) on \(h)"
            case .undefineVM(let vm, let h): "undefine \(vm) on \(h)"
            case .adoptPlan(let p): "plan " + p.assignment.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(separator: " ")
            case .setTimer(let t, let d): "timer \(t) at \(d.humanReadable)"
            case .cancelTimer(let t): "cancel \(t)"
            case .note(let n): "note \(n.kind.rawValue) \(n.host)"
            case .restored(let r): "restored \(r.host)"
            }
        }
    }

    static func t(_ ms: Int) -> Duration { .milliseconds(ms) }

    /// h1 drops and both its VMs fail their probes: condemned.
    static func loseH1(_ m: inout Machine) {
        XCTAssertEqual(m.on(.connectionLost(host: "h1", reason: "end of file", now: t(1000))),
                       ["note suspect h1", "probe h1 a1,b1", "timer crossCheck h1 at 4.00 s"])
        XCTAssertEqual(m.on(.vmHealth(vm: "a1", passing: false, now: t(1100))), [])
    }

    /// h1 lost and confirmed off by its fence agent at 1.25 s: its VMs are being restarted.
    static func fenceH1(_ m: inout Machine) {
        loseH1(&m)
        _ = m.on(.vmHealth(vm: "b1", passing: false, now: t(1150)))
        _ = m.on(.fenceFinished(host: "h1", action: .off, outcome: .succeeded, now: t(1200)))
        _ = m.on(.fenceFinished(host: "h1", action: .status, outcome: .power(.off), now: t(1250)))
        XCTAssertEqual(m.controller.phase(of: "h1"), .restoring)
    }

    func testCrashedHostIsFencedThenItsVMsRestartOnSurvivorsInParallel() {
        var m = Self.controller(served: ["a1", "a2"])
        Self.loseH1(&m)
        XCTAssertEqual(m.on(.vmHealth(vm: "b1", passing: false, now: Self.t(1150))),
                       ["cancel crossCheck h1", "note condemned h1", "note fencing h1", "fence h1 off"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .fencing)
        XCTAssertEqual(m.on(.fenceFinished(host: "h1", action: .off, outcome: .succeeded, now: Self.t(1250))),
                       ["note fencing h1", "fence h1 status"])
        // The re-plan moves only h1's VMs: a1 away from a2 (h2), b1 away from b2 (h3).
        XCTAssertEqual(m.on(.fenceFinished(host: "h1", action: .status, outcome: .power(.off), now: Self.t(1280))),
                       ["note fenced h1", "plan a1@h3 a2@h2 b1@h2 b2@h3 c1@h2 c2@h3", "note restoring h1",
                        "start a1 on h3", "start b1 on h2", "timer restoreDeadline h1 at 11.28 s"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .restoring)
        XCTAssertEqual(m.on(.vmStarted(vm: "b1", host: "h2", now: Self.t(1380))), [])
        XCTAssertEqual(m.on(.vmStarted(vm: "a1", host: "h3", now: Self.t(1400))), [])
        XCTAssertEqual(m.on(.vmHealth(vm: "b1", passing: true, now: Self.t(1450))), [])
        XCTAssertEqual(m.on(.vmHealth(vm: "a1", passing: true, now: Self.t(1500))), [],
                       "a1 serves a virtual service: healthy is not enough, it must be back in IPVS")
        XCTAssertEqual(m.on(.vmInIPVS(vm: "a1", inService: true, now: Self.t(1520))),
                       ["cancel restoreDeadline h1", "note restored h1", "restored h1"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .restored)
        let r = m.controller.recovery(of: "h1")
        XCTAssertEqual(r?.firstSignalAt, Self.t(1000))
        XCTAssertEqual(r?.condemnedAt, Self.t(1150))
        XCTAssertEqual(r?.fencedAt, Self.t(1280))
        XCTAssertEqual(r?.confirmedBy, .fenceAgent)
        XCTAssertEqual(r?.restartsIssuedAt, Self.t(1280))
        XCTAssertEqual(r?.startedAt, Self.t(1400))
        XCTAssertEqual(r?.healthyAt, Self.t(1500))
        XCTAssertEqual(r?.inIPVSAt, Self.t(1520))
        XCTAssertEqual(r?.restoredAt, Self.t(1520))
        XCTAssertEqual(r?.moves, [Move(vm: "a1", from: "h1", to: "h3"), Move(vm: "b1", from: "h1", to: "h2")])
        XCTAssertEqual(m.controller.plan.vms(on: "h1"), [])
    }

    func testFailedFenceIsRetriedThenWaitsForAnOperatorAndNothingRestarts() {
        var m = Self.controller()
        Self.loseH1(&m)
        XCTAssertEqual(m.on(.vmHealth(vm: "b1", passing: false, now: Self.t(1150))).last, "fence h1 off")
        XCTAssertEqual(m.on(.fenceFinished(host: "h1", action: .off, outcome: .failed(reason: "exit status 1: device unreachable"), now: Self.t(1300))),
                       ["note fence-failed h1", "timer fenceRetry h1 at 2.30 s"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .fenceRetryWait)
        XCTAssertEqual(m.on(.timerFired(.fenceRetry(host: "h1"), now: Self.t(2300))), ["note fencing h1", "fence h1 off"])
        XCTAssertEqual(m.on(.fenceFinished(host: "h1", action: .off, outcome: .failed(reason: "exit status 1"), now: Self.t(2400))),
                       ["note fence-failed h1", "note awaiting-operator h1"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .awaitingOperator)
        // Time passes, the VMs stay down: still nothing restarts.
        XCTAssertEqual(m.on(.timerFired(.crossCheck(host: "h1"), now: Self.t(4000))), [])
        XCTAssertEqual(m.on(.vmHealth(vm: "a1", passing: false, now: Self.t(9000))), [])
        XCTAssertFalse(m.all.contains { $0.hasPrefix("start ") }, "a VM of a host not confirmed off was restarted: \(m.all)")
        // The operator checked the host by hand.
        XCTAssertEqual(m.on(.operatorConfirmedOff(host: "h1", now: Self.t(60_000))),
                       ["cancel crossCheck h1", "cancel fenceRetry h1", "note operator-confirmed h1", "note fenced h1",
                        "plan a1@h3 a2@h2 b1@h2 b2@h3 c1@h2 c2@h3", "note restoring h1", "start a1 on h3", "start b1 on h2",
                        "timer restoreDeadline h1 at 70.00 s"])
        XCTAssertEqual(m.controller.recovery(of: "h1")?.confirmedBy, .operatorConfirmed)
    }

    func testAHostsOwnFenceAttemptsWinOverTheSitesDefault() {
        let topology = Self.site(hosts: ["h1", "h2", "h3"])
        var config = HostController.Configuration(
            hosts: ["h1", "h2", "h3"], fenceDevices: ["h1", "h2", "h3"], fenceAttempts: 2, fenceRetryDelay: .seconds(1),
            replan: { plan, lost in Planner.replan(topology, current: plan, without: lost) })
        config.fenceAttemptsByHost = ["h1": 1]
        XCTAssertEqual([config.fenceAttempts(for: "h1"), config.fenceAttempts(for: "h2")], [1, 2])
        var m = Machine(HostController(configuration: config, plan: Self.initialPlan))
        _ = m.on(.mastership(isMaster: true, now: .zero))
        for h in ["h1", "h2", "h3"] {
            _ = m.on(.connected(host: h, domains: Self.initialPlan.vms(on: h).map { DomainStatus(name: $0, state: .running) }, now: .zero))
        }
        Self.loseH1(&m)
        XCTAssertEqual(m.on(.vmHealth(vm: "b1", passing: false, now: Self.t(1150))).last, "fence h1 off")
        XCTAssertEqual(m.on(.fenceFinished(host: "h1", action: .off, outcome: .failed(reason: "exit status 1"), now: Self.t(1300))),
                       ["note fence-failed h1", "note awaiting-operator h1"], "one attempt for h1: no retry")
    }

    func testFenceThatTimesOutOrCannotConfirmOffIsAFailure() {
        var m = Self.controller()
        Self.loseH1(&m)
        _ = m.on(.vmHealth(vm: "b1", passing: false, now: Self.t(1150)))
        XCTAssertEqual(m.on(.fenceFinished(host: "h1", action: .off, outcome: .timedOut(after: .seconds(20)), now: Self.t(21_150))),
                       ["note fence-failed h1", "timer fenceRetry h1 at 22.15 s"], "a timeout is a failure, not success")
        XCTAssertEqual(m.on(.timerFired(.fenceRetry(host: "h1"), now: Self.t(22_150))), ["note fencing h1", "fence h1 off"])
        XCTAssertEqual(m.on(.fenceFinished(host: "h1", action: .off, outcome: .succeeded, now: Self.t(22_200))),
                       ["note fencing h1", "fence h1 status"])
        // off said yes, status says the power is still on: not off.
        XCTAssertEqual(m.on(.fenceFinished(host: "h1", action: .status, outcome: .power(.on), now: Self.t(22_250))),
                       ["note fence-failed h1", "note awaiting-operator h1"])
        XCTAssertFalse(m.all.contains { $0.hasPrefix("start ") })
        // A late answer from an earlier attempt changes nothing.
        XCTAssertEqual(m.on(.fenceFinished(host: "h1", action: .status, outcome: .power(.off), now: Self.t(22_300))), [])
        XCTAssertEqual(m.controller.phase(of: "h1"), .awaitingOperator)
    }

    func testStatusThatTimesOutDoesNotConfirmOff() {
        var m = Self.controller()
        Self.loseH1(&m)
        _ = m.on(.vmHealth(vm: "b1", passing: false, now: Self.t(1150)))
        _ = m.on(.fenceFinished(host: "h1", action: .off, outcome: .succeeded, now: Self.t(1200)))
        XCTAssertEqual(m.on(.fenceFinished(host: "h1", action: .status, outcome: .timedOut(after: .seconds(5)), now: Self.t(6200))),
                       ["note fence-failed h1", "timer fenceRetry h1 at 7.20 s"])
    }

    func testReturningHostHasItsStaleDomainsDestroyedAndUndefinedSoNoneStartsTwice() {
        var m = Self.controller()
        Self.fenceH1(&m)
        _ = m.on(.vmStarted(vm: "a1", host: "h3", now: Self.t(1400)))
        _ = m.on(.vmStarted(vm: "b1", host: "h2", now: Self.t(1400)))
        _ = m.on(.vmHealth(vm: "a1", passing: true, now: Self.t(1500)))
        XCTAssertEqual(m.on(.vmHealth(vm: "b1", passing: true, now: Self.t(1500))),
                       ["cancel restoreDeadline h1", "note restored h1", "restored h1"])
        // h1 boots. Its libvirtd lists the old domains: a1 was set to autostart and runs again
        // (a second copy!), b1 is shut off and could be started by anyone.
        XCTAssertEqual(m.on(.connected(host: "h1", domains: [DomainStatus(name: "a1", state: .running, autostart: true),
                                                             DomainStatus(name: "b1", state: .shutOff)], now: Self.t(90_000))),
                       ["note running-twice h1,h3", "note host-back h1", "note stale-copy h1", "destroy a1 on h1",
                        "undefine a1 on h1", "undefine b1 on h1"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .up)
        XCTAssertEqual(m.controller.hostsRunning("a1"), ["h3"])
        // The plan keeps the VMs where they run now: nothing moves back.
        XCTAssertEqual(m.controller.plan.assignment["a1"], "h3")
        XCTAssertFalse(m.all.contains { $0.hasPrefix("start a1 on h1") || $0.hasPrefix("start b1 on h1") })
    }

    func testADomainThatAutostartsAfterTheCleanUpIsDestroyedOnSight() {
        var m = Self.controller()
        Self.fenceH1(&m)
        _ = m.on(.vmStarted(vm: "a1", host: "h3", now: Self.t(1400)))
        // h1 answers before its libvirtd autostarted a1: the list shows it shut off.
        XCTAssertEqual(m.on(.connected(host: "h1", domains: [DomainStatus(name: "a1", state: .shutOff)], now: Self.t(90_000))),
                       ["note host-back h1", "undefine a1 on h1"])
        // Then the autostart happens anyway.
        XCTAssertEqual(m.on(.domainChanged(host: "h1", domain: "a1", state: .running, now: Self.t(90_050))),
                       ["note running-twice h1,h3", "note stale-copy h1", "destroy a1 on h1", "undefine a1 on h1"])
        // b1 was not listed at all but moved away too: the same holds for it.
        XCTAssertEqual(m.on(.domainChanged(host: "h1", domain: "b1", state: .running, now: Self.t(90_060))),
                       ["note stale-copy h1", "destroy b1 on h1", "undefine b1 on h1"])
        // A copy that stops needs nothing more.
        XCTAssertEqual(m.on(.domainChanged(host: "h1", domain: "a1", state: .shutOff, now: Self.t(90_100))), [])
    }

    func testManagementPartitionWithVMsPassingIsReportedButNotFenced() {
        var m = Self.controller()
        XCTAssertEqual(m.on(.connectionLost(host: "h1", reason: "keepalive timeout", now: Self.t(3000))),
                       ["note suspect h1", "probe h1 a1,b1", "timer crossCheck h1 at 6.00 s"])
        XCTAssertEqual(m.on(.vmHealth(vm: "a1", passing: true, now: Self.t(3050))), [])
        XCTAssertEqual(m.on(.vmHealth(vm: "b1", passing: true, now: Self.t(3060))), [])
        XCTAssertEqual(m.on(.timerFired(.crossCheck(host: "h1"), now: Self.t(6000))), ["note partition h1"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .suspect)
        XCTAssertEqual(m.on(.operatorConfirmedOff(host: "h1", now: Self.t(6500))).first, "cancel crossCheck h1",
                       "an operator may still overrule a suspect host")
    }

    func testPartitionHealsWithoutAnyAction() {
        var m = Self.controller()
        _ = m.on(.connectionLost(host: "h1", reason: "keepalive timeout", now: Self.t(3000)))
        _ = m.on(.vmHealth(vm: "a1", passing: true, now: Self.t(3050)))
        XCTAssertEqual(m.on(.connected(host: "h1", domains: [DomainStatus(name: "a1", state: .running), DomainStatus(name: "b1", state: .running)], now: Self.t(5000))),
                       ["cancel crossCheck h1", "note host-back h1"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .up)
        XCTAssertFalse(m.all.contains { $0.hasPrefix("fence") || $0.hasPrefix("start") })
    }

    func testFailingVMsAloneDoNotCondemnAHostWhoseHypervisorAnswers() {
        var m = Self.controller()
        XCTAssertEqual(m.on(.vmHealth(vm: "a1", passing: false, now: Self.t(100))), [])
        XCTAssertEqual(m.on(.vmHealth(vm: "b1", passing: false, now: Self.t(200))), ["note vms-failing h1"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .up)
        // When the connection then drops too, both signals agree: condemned at once, no probe.
        XCTAssertEqual(m.on(.connectionLost(host: "h1", reason: "end of file", now: Self.t(900))),
                       ["note suspect h1", "cancel crossCheck h1", "note condemned h1", "note fencing h1", "fence h1 off"])
        XCTAssertEqual(m.controller.recovery(of: "h1"), nil, "not confirmed off yet")
        _ = m.on(.fenceFinished(host: "h1", action: .off, outcome: .succeeded, now: Self.t(950)))
        _ = m.on(.fenceFinished(host: "h1", action: .status, outcome: .power(.off), now: Self.t(960)))
        XCTAssertEqual(m.controller.recovery(of: "h1")?.firstSignalAt, Self.t(200), "the first signal was the VMs failing")
    }

    func testWithoutAFenceDeviceTheControllerWaitsForConfirmOff() {
        var m = Self.controller(fenceDevices: ["h2", "h3"])
        Self.loseH1(&m)
        XCTAssertEqual(m.on(.vmHealth(vm: "b1", passing: false, now: Self.t(1150))),
                       ["cancel crossCheck h1", "note condemned h1", "note awaiting-operator h1"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .awaitingOperator)
        XCTAssertFalse(m.all.contains { $0.hasPrefix("fence") || $0.hasPrefix("start") })
        XCTAssertEqual(m.on(.operatorConfirmedOff(host: "h1", now: Self.t(30_000))).filter { $0.hasPrefix("start") },
                       ["start a1 on h3", "start b1 on h2"])
    }

    func testConfirmOffIsRefusedForAHostWhoseHypervisorAnswers() {
        var m = Self.controller(fenceDevices: [])
        XCTAssertEqual(m.on(.operatorConfirmedOff(host: "h2", now: Self.t(10))), ["note confirm-refused h2"])
        XCTAssertEqual(m.controller.phase(of: "h2"), .up)
    }

    func testOnlyTheMasterFencesAndRestores() {
        var m = Self.controller(master: false)
        Self.loseH1(&m)
        XCTAssertEqual(m.on(.vmHealth(vm: "b1", passing: false, now: Self.t(1150))),
                       ["cancel crossCheck h1", "note condemned h1", "note standby h1"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .condemned)
        XCTAssertEqual(m.on(.mastership(isMaster: true, now: Self.t(2000))),
                       ["note master *", "note fencing h1", "fence h1 off"])
        _ = m.on(.fenceFinished(host: "h1", action: .off, outcome: .succeeded, now: Self.t(2100)))
        // Mastership moves away between off and status: the answer is still taken, nothing restarts here.
        XCTAssertEqual(m.on(.mastership(isMaster: false, now: Self.t(2150))), ["note standby *"])
        XCTAssertEqual(m.on(.fenceFinished(host: "h1", action: .status, outcome: .power(.off), now: Self.t(2200))),
                       ["note fenced h1"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .down)
        XCTAssertEqual(m.on(.mastership(isMaster: true, now: Self.t(3000))).filter { $0.hasPrefix("start") },
                       ["start a1 on h3", "start b1 on h2"])
    }

    func testAVMAlreadyRunningElsewhereIsNotStartedAgain() {
        var m = Self.controller()
        // Someone started a1 on h3 by hand while h1 was failing.
        _ = m.on(.domainChanged(host: "h3", domain: "a1", state: .running, now: Self.t(500)))
        Self.loseH1(&m)
        _ = m.on(.vmHealth(vm: "b1", passing: false, now: Self.t(1150)))
        _ = m.on(.fenceFinished(host: "h1", action: .off, outcome: .succeeded, now: Self.t(1200)))
        XCTAssertEqual(m.on(.fenceFinished(host: "h1", action: .status, outcome: .power(.off), now: Self.t(1250))),
                       ["note fenced h1", "plan a1@h3 a2@h2 b1@h2 b2@h3 c1@h2 c2@h3", "note restoring h1",
                        "note already-running h1", "start b1 on h2", "timer restoreDeadline h1 at 11.25 s"])
        XCTAssertTrue(m.all.contains("note running-twice h1,h3"), "a1 on h1 and h3 at once is reported: \(m.all)")
    }

    func testRestoreThatMissesItsDeadlineSaysWhatIsMissing() {
        var m = Self.controller()
        Self.fenceH1(&m)
        XCTAssertEqual(m.on(.vmStartFailed(vm: "a1", host: "h3", reason: "Requested operation is not valid", now: Self.t(1300))),
                       ["note start-failed h1"])
        _ = m.on(.vmStarted(vm: "b1", host: "h2", now: Self.t(1300)))
        var notes: [HostNote] = []
        for a in m.controller.on(.timerFired(.restoreDeadline(host: "h1"), now: Self.t(11_250))) {
            if case .note(let n) = a { notes.append(n) }
        }
        XCTAssertEqual(notes.map(\.kind), [.restoreLate])
        XCTAssertEqual(notes.first?.message,
                       "restore not finished after 10.00 s: a1 on h3: start failed (Requested operation is not valid); b1 on h2: not healthy")
    }

    func testVMsThatCannotMoveStartAgainWhenTheirHostReturns() {
        // Two hosts: once one is gone, no pair can be split, so the re-plan finds no home.
        let plan = PlacementPlan(assignment: ["a1": "h1", "a2": "h2", "b1": "h1", "b2": "h2", "c1": "h2", "c2": "h1"])
        var m = Self.controller(hosts: ["h1", "h2"], plan: plan)
        _ = m.on(.connectionLost(host: "h1", reason: "end of file", now: Self.t(100)))
        _ = m.on(.vmHealth(vm: "a1", passing: false, now: Self.t(150)))
        _ = m.on(.vmHealth(vm: "b1", passing: false, now: Self.t(150)))
        XCTAssertEqual(m.on(.vmHealth(vm: "c2", passing: false, now: Self.t(160))).last, "fence h1 off")
        _ = m.on(.fenceFinished(host: "h1", action: .off, outcome: .succeeded, now: Self.t(200)))
        XCTAssertEqual(m.on(.fenceFinished(host: "h1", action: .status, outcome: .power(.off), now: Self.t(210))),
                       ["note fenced h1", "note cannot-rehost h1"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .down)
        XCTAssertEqual(m.on(.connected(host: "h1", domains: [DomainStatus(name: "a1", state: .shutOff), DomainStatus(name: "b1", state: .shutOff),
                                                              DomainStatus(name: "c2", state: .shutOff)], now: Self.t(60_000))),
                       ["note host-back h1", "start a1 on h1", "start b1 on h1", "start c2 on h1", "note restoring h1",
                        "timer restoreDeadline h1 at 70.00 s"])
        XCTAssertFalse(m.all.contains { $0.hasPrefix("undefine") }, "domains still planned on h1 must stay defined")
        _ = m.on(.vmStarted(vm: "a1", host: "h1", now: Self.t(60_100)))
        _ = m.on(.vmStarted(vm: "b1", host: "h1", now: Self.t(60_100)))
        _ = m.on(.vmStarted(vm: "c2", host: "h1", now: Self.t(60_100)))
        _ = m.on(.vmHealth(vm: "a1", passing: true, now: Self.t(60_200)))
        _ = m.on(.vmHealth(vm: "b1", passing: true, now: Self.t(60_200)))
        XCTAssertEqual(m.on(.vmHealth(vm: "c2", passing: true, now: Self.t(60_200))),
                       ["cancel restoreDeadline h1", "note restored h1", "restored h1"])
        XCTAssertEqual(m.controller.phase(of: "h1"), .up)
    }
}
