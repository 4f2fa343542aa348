import Topology
import XCTest
@testable import VRRP
import Net

/// A manual clock: tests move `now` by hand and deliver due timers themselves (shared by the VRRP tests).
struct Rig {
    var m: VRRPStateMachine
    var now: Duration = .zero
    init(_ c: VRRPConfiguration) { m = VRRPStateMachine(config: c) }
    mutating func on(_ e: (Duration) -> VRRPEvent) -> [VRRPAction] { m.on(e(now)) }
    /// Advances the clock to `t` and fires each timer that falls due on the way, in deadline order.
    mutating func advance(to t: Duration) -> [VRRPAction] {
        var out: [VRRPAction] = []
        var guardCount = 0
        while let (timer, d) = m.nextDeadline, d <= t, guardCount < 10_000 {
            guardCount += 1
            now = d
            out += m.on(.timerFired(timer, now: d))
        }
        now = t
        return out
    }
}

private let a1 = IPAddress("10.0.0.1")!
private let a2 = IPAddress("10.0.0.2")!
private let vip = IPAddress("10.0.0.100")!

func config(_ prio: UInt8, _ addr: IPAddress, preempt: Bool = true, delay: Duration = .zero,
                    interval: Duration = .seconds(1), split: SplitBrainPolicy = .none) -> VRRPConfiguration {
    VRRPConfiguration(vrid: 51, priority: prio, advertInterval: interval, preempt: preempt, preemptDelay: delay,
                      primaryAddress: addr, virtualAddresses: [vip], announceRepeatDelay: .seconds(2),
                      announceRepeatCount: 1, splitBrain: split)
}

func transitions(_ a: [VRRPAction]) -> [VRRPState] {
    a.compactMap { if case .transition(_, let to, _) = $0 { to } else { nil } }
}

final class StateMachineTests: XCTestCase {
    func testTimerFormulasMatchRFC5798Section6_1() {
        // Priority 100, 1 s: Skew = 156/256 s = 609.375 ms; MDI = 3 s + Skew.
        XCTAssertEqual(VRRPTimers.skewTime(priority: 100, masterAdverInterval: .seconds(1)), .microseconds(609_375))
        XCTAssertEqual(VRRPTimers.masterDownInterval(priority: 100, masterAdverInterval: .seconds(1)), .microseconds(3_609_375))
        // Priority 254 at 100 ms: skew 2/256 × 100 ms = 781.25 µs.
        XCTAssertEqual(VRRPTimers.skewTime(priority: 254, masterAdverInterval: .milliseconds(100)), .nanoseconds(781_250))
        XCTAssertEqual(VRRPTimers.centiseconds(.milliseconds(100)), 10)
        XCTAssertEqual(VRRPTimers.centiseconds(.seconds(1)), 100)
        XCTAssertEqual(VRRPTimers.centiseconds(.seconds(100)), 0x0FFF)
    }

    func testStartupWithPriority255BecomesMasterAtOnce() {
        var r = Rig(config(255, a1))
        let out = r.on { .startup(now: $0) }
        XCTAssertEqual(out, [
            .transition(from: .initialize, to: .master, reason: .startupAsOwner),
            .addVIPs([vip]), .sendAdvert(priority: 255), .announceVIPs([vip]),
            .setTimer(.advert, deadline: .seconds(1)), .setTimer(.announceRepeat, deadline: .seconds(2)),
        ])
    }

    func testStartupBelow255GoesBackupWithMasterDownTimer() {
        var r = Rig(config(100, a1))
        XCTAssertEqual(r.on { .startup(now: $0) }, [
            .transition(from: .initialize, to: .backup, reason: .startup),
            .removeVIPs([vip]),
            .setTimer(.masterDown, deadline: .microseconds(3_609_375)),
        ])
    }

    func testInitialElectionHigherPriorityWinsBecauseItsSkewIsShorter() {
        var hi = Rig(config(150, a1)), lo = Rig(config(100, a2))
        _ = hi.on { .startup(now: $0) }; _ = lo.on { .startup(now: $0) }
        // hi's MDI = 3 s + 106/256 s ≈ 3.414 s; lo's ≈ 3.609 s. hi fires first.
        let hiOut = hi.advance(to: .milliseconds(3500))
        XCTAssertEqual(transitions(hiOut), [.master])
        XCTAssertEqual(hi.m.state, .master)
        // lo hears hi's advert before its own timer: stays backup, timer reset.
        lo.now = .milliseconds(3415)
        let loOut = lo.on { .advertReceived(.init(from: a1, priority: 150, interval: .seconds(1)), now: $0) }
        XCTAssertEqual(loOut, [.setTimer(.masterDown, deadline: .milliseconds(3415) + .microseconds(3_609_375))])
        XCTAssertEqual(transitions(lo.advance(to: .seconds(4))), [])
        XCTAssertEqual(lo.m.state, .backup)
    }

    func testBackupTakesOverAfterMasterDownIntervalOfSilence() {
        var r = Rig(config(100, a1))
        _ = r.on { .startup(now: $0) }
        r.now = .seconds(1)
        _ = r.on { .advertReceived(.init(from: a2, priority: 200, interval: .seconds(1)), now: $0) }
        // Silence. Just before 1 s + MDI nothing happens; at it, takeover.
        XCTAssertEqual(r.advance(to: .seconds(1) + .microseconds(3_609_374)), [])
        let out = r.advance(to: .seconds(5))
        XCTAssertEqual(out.first, .transition(from: .backup, to: .master, reason: .masterDown(interval: .microseconds(3_609_375))))
        XCTAssertEqual(transitions(out), [.master])
        XCTAssertTrue(out.contains(.addVIPs([vip])))
        XCTAssertTrue(out.contains(.announceVIPs([vip])))
        XCTAssertEqual(r.m.lastReason, .masterDown(interval: .microseconds(3_609_375)))
    }

    func testBackupLearnsMasterAdverIntervalFromAdverts() {
        var r = Rig(config(100, a1))
        _ = r.on { .startup(now: $0) }
        let out = r.on { .advertReceived(.init(from: a2, priority: 200, interval: .milliseconds(200)), now: $0) }
        XCTAssertEqual(r.m.masterAdverInterval, .milliseconds(200))
        // MDI = 600 ms + 156/256 × 200 ms = 600 + 121.875 ms.
        XCTAssertEqual(out, [.setTimer(.masterDown, deadline: .microseconds(721_875))])
    }

    func testPreemptionHigherPriorityBackupIgnoresLowerMasterAndTakesOver() {
        var r = Rig(config(200, a1))
        _ = r.on { .startup(now: $0) }
        r.now = .milliseconds(500)
        // Lower-priority master: discarded (no timer reset).
        XCTAssertEqual(r.on { .advertReceived(.init(from: a2, priority: 100, interval: .seconds(1)), now: $0) }, [])
        let mdi = VRRPTimers.masterDownInterval(priority: 200, masterAdverInterval: .seconds(1))
        let out = r.advance(to: mdi)
        XCTAssertEqual(transitions(out), [.master])
        // The old master, hearing us, steps down.
        var old = Rig(config(100, a2))
        _ = old.on { .startup(now: $0) }
        _ = old.advance(to: .seconds(10))
        XCTAssertEqual(old.m.state, .master)
        let down = old.on { .advertReceived(.init(from: a1, priority: 200, interval: .seconds(1)), now: $0) }
        XCTAssertEqual(transitions(down), [.backup])
        XCTAssertTrue(down.contains(.removeVIPs([vip])))
        XCTAssertEqual(old.m.lastReason, .higherPriority(from: a1, priority: 200))
    }

    func testNoPreemptionWhenDisabled() {
        var r = Rig(config(200, a1, preempt: false))
        _ = r.on { .startup(now: $0) }
        for t in 1...20 {
            r.now = .seconds(t)
            let out = r.on { .advertReceived(.init(from: a2, priority: 100, interval: .seconds(1)), now: $0) }
            XCTAssertEqual(out, [.setTimer(.masterDown, deadline: .seconds(t) + r.m.masterDownInterval)])
        }
        XCTAssertEqual(transitions(r.advance(to: .milliseconds(20_500))), [])
        XCTAssertEqual(r.m.state, .backup)
    }

    func testPreemptDelayDefersToLowerMasterUntilDelayElapses() {
        var r = Rig(config(200, a1, delay: .seconds(10)))
        _ = r.on { .startup(now: $0) }
        // For 10 s the lower master's adverts keep resetting our timer.
        var t = 1
        while t < 10 {
            r.now = .seconds(t)
            XCTAssertEqual(transitions(r.advance(to: .seconds(t))), [])
            XCTAssertFalse(r.on { .advertReceived(.init(from: a2, priority: 100, interval: .seconds(1)), now: $0) }.isEmpty)
            t += 1
        }
        XCTAssertEqual(r.m.state, .backup)
        // From 10 s on they are discarded; the timer set at 9 s fires at 9 s + MDI.
        r.now = .seconds(10)
        XCTAssertEqual(r.on { .advertReceived(.init(from: a2, priority: 100, interval: .seconds(1)), now: $0) }, [])
        r.now = .seconds(11)
        XCTAssertEqual(r.on { .advertReceived(.init(from: a2, priority: 100, interval: .seconds(1)), now: $0) }, [])
        let out = r.advance(to: .seconds(9) + r.m.masterDownInterval)
        XCTAssertEqual(transitions(out), [.master])
    }

    func testPriorityZeroShutdownLetsBackupTakeOverAfterSkewTime() {
        var master = Rig(config(150, a2))
        _ = master.on { .startup(now: $0) }
        _ = master.advance(to: .seconds(5))
        XCTAssertEqual(master.m.state, .master)
        let bye = master.on { .shutdown(now: $0) }
        XCTAssertTrue(bye.contains(.sendAdvert(priority: 0)))
        XCTAssertTrue(bye.contains(.removeVIPs([vip])))
        XCTAssertEqual(transitions(bye), [.initialize])
        XCTAssertNil(master.m.nextDeadline)

        var backup = Rig(config(100, a1))
        _ = backup.on { .startup(now: $0) }
        backup.now = .seconds(5)
        _ = backup.on { .advertReceived(.init(from: a2, priority: 150, interval: .seconds(1)), now: $0) }
        backup.now = .milliseconds(5200)
        let out = backup.on { .advertReceived(.init(from: a2, priority: 0, interval: .seconds(1)), now: $0) }
        let skew = VRRPTimers.skewTime(priority: 100, masterAdverInterval: .seconds(1))
        XCTAssertEqual(out, [.setTimer(.masterDown, deadline: .milliseconds(5200) + skew)])
        XCTAssertEqual(transitions(backup.advance(to: .milliseconds(5200) + skew - .nanoseconds(1))), [])
        XCTAssertEqual(transitions(backup.advance(to: .milliseconds(5200) + skew)), [.master])
        XCTAssertEqual(backup.m.lastReason, .masterResigned(from: a2))
    }

    func testEqualPriorityTieBreakByHigherPrimaryAddress() {
        // Both master at once (e.g. after a partition heals), same priority.
        var low = Rig(config(100, a1)), high = Rig(config(100, a2))
        _ = low.on { .startup(now: $0) }; _ = low.advance(to: .seconds(4))
        _ = high.on { .startup(now: $0) }; _ = high.advance(to: .seconds(4))
        XCTAssertEqual(low.m.state, .master); XCTAssertEqual(high.m.state, .master)
        // The lower address yields to the higher one...
        let lowOut = low.on { .advertReceived(.init(from: a2, priority: 100, interval: .seconds(1)), now: $0) }
        XCTAssertEqual(transitions(lowOut), [.backup])
        XCTAssertEqual(low.m.lastReason, .equalPriorityHigherAddress(from: a2))
        // ...and the higher one stays master, advertising at once and re-announcing the VIPs (partition heal).
        XCTAssertEqual(high.on { .advertReceived(.init(from: a1, priority: 100, interval: .seconds(1)), now: $0) },
                       [.sendAdvert(priority: 100), .announceVIPs([vip]), .setTimer(.advert, deadline: .seconds(5))])
        XCTAssertEqual(high.m.state, .master)
        XCTAssertTrue(VRRPStateMachine.isHigher(IPAddress("10.0.0.10")!, than: IPAddress("10.0.0.9")!))
        XCTAssertFalse(VRRPStateMachine.isHigher(IPAddress("9.255.255.255")!, than: IPAddress("10.0.0.0")!))
    }

    func testMasterAnswersPriorityZeroWithAnImmediateAdvert() {
        var r = Rig(config(100, a1))
        _ = r.on { .startup(now: $0) }; _ = r.advance(to: .seconds(4))
        XCTAssertEqual(r.on { .advertReceived(.init(from: a2, priority: 0, interval: .seconds(1)), now: $0) },
                       [.sendAdvert(priority: 100), .announceVIPs([vip]), .setTimer(.advert, deadline: .seconds(5))])
    }

    /// Partition heal where the loser hears the winner first: the loser sends priority 0 before it
    /// goes to Backup, and the winner answers with an advert and a re-announcement of the VIPs, so
    /// neighbours that learned the loser's MAC during the partition learn the winner's again.
    func testMasterSteppingDownForABetterMasterSendsPriorityZeroAndTheWinnerReannounces() {
        var loser = Rig(config(100, a2))
        _ = loser.on { .startup(now: $0) }; _ = loser.advance(to: .seconds(4))
        XCTAssertEqual(loser.m.state, .master)
        let out = loser.on { .advertReceived(.init(from: a1, priority: 200, interval: .seconds(1)), now: $0) }
        let zero = out.firstIndex(of: .sendAdvert(priority: 0))
        let toBackup = out.firstIndex { if case .transition(.master, .backup, _) = $0 { return true } else { return false } }
        XCTAssertNotNil(zero, "the loser must send priority 0: \(out)")
        XCTAssertNotNil(toBackup)
        if let zero, let toBackup { XCTAssertLessThan(zero, toBackup) }
        XCTAssertTrue(out.contains(.removeVIPs([vip])))
        XCTAssertFalse(out.contains(.sendAdvert(priority: 100)), "a backup sends no advert of its own")

        var winner = Rig(config(200, a1))
        _ = winner.on { .startup(now: $0) }; _ = winner.advance(to: .seconds(4))
        XCTAssertEqual(winner.m.state, .master)
        XCTAssertEqual(winner.on { .advertReceived(.init(from: a2, priority: 0, interval: .seconds(1)), now: $0) },
                       [.sendAdvert(priority: 200), .announceVIPs([vip]), .setTimer(.advert, deadline: .seconds(5))])
        XCTAssertEqual(winner.m.state, .master)
    }

    /// Losing the witness is not a better master: the self-fencing master goes to Backup without a
    /// priority-0 advert (the unchanged RFC path).
    func testSelfFencingSendsNoPriorityZero() {
        var r = Rig(config(100, a1, split: .witness(checkInterval: .seconds(1))))
        _ = r.on { .startup(now: $0) }; _ = r.advance(to: .seconds(4))
        XCTAssertEqual(r.m.state, .master)
        var out: [VRRPAction] = []
        for _ in 0..<SplitBrainRule.masterWitnessLossLimit {
            out = r.on { .witnessResult(.init(witnessReachable: false, peerReachable: false), now: $0) }
        }
        XCTAssertEqual(r.m.state, .backup)
        XCTAssertFalse(out.contains(.sendAdvert(priority: 0)))
    }

    func testMasterAdvertisesEveryIntervalAndRepeatsAnnouncementOnce() {
        var r = Rig(config(255, a1))
        _ = r.on { .startup(now: $0) }
        let out = r.advance(to: .milliseconds(3500))
        let adverts = out.filter { $0 == .sendAdvert(priority: 255) }.count
        XCTAssertEqual(adverts, 3)
        XCTAssertEqual(out.filter { $0 == .announceVIPs([vip]) }.count, 1)
    }

    func testStaleTimerEventIsIgnored() {
        var r = Rig(config(100, a1))
        _ = r.on { .startup(now: $0) }
        r.now = .seconds(1)
        XCTAssertEqual(r.on { .timerFired(.masterDown, now: $0) }, [])   // not due yet
        XCTAssertEqual(r.on { .timerFired(.advert, now: $0) }, [])       // not armed
        XCTAssertEqual(r.m.state, .backup)
    }

    func testFastDetectorTriggersTakeoverOnlyInBackup() {
        var r = Rig(config(100, a1))
        _ = r.on { .startup(now: $0) }
        r.now = .milliseconds(150)
        let out = r.on { .peerDownDetected(now: $0) }
        XCTAssertEqual(transitions(out), [.master])
        XCTAssertEqual(r.m.lastReason, .fastDetector)
        XCTAssertEqual(r.on { .peerDownDetected(now: $0) }, [])
    }

    func testWitnessPolicyAsksBeforeTakingOverAndObeysTheRule() {
        var r = Rig(config(100, a1, split: .witness(checkInterval: .seconds(1))))
        _ = r.on { .startup(now: $0) }
        _ = r.on { .advertReceived(.init(from: a2, priority: 200, interval: .seconds(1)), now: $0) }
        let out = r.advance(to: .seconds(4))
        XCTAssertTrue(out.contains(.checkWitness))
        XCTAssertEqual(r.m.state, .backup)
        // Heartbeat cut but the peer answers pings: stay backup.
        let stay = r.on { .witnessResult(.init(witnessReachable: true, peerReachable: true), now: $0) }
        XCTAssertEqual(transitions(stay), [])
        XCTAssertEqual(r.m.state, .backup)
        // Next round: peer gone, witness there: take over.
        _ = r.advance(to: .seconds(8))
        let go = r.on { .witnessResult(.init(witnessReachable: true, peerReachable: false), now: $0) }
        XCTAssertEqual(transitions(go), [.master])
        XCTAssertEqual(r.m.lastReason, .splitBrainRule("witness reachable, peer unreachable"))
    }

    func testStartupElectionIgnoresTheWitnessUntilAMasterWasHeard() {
        var r = Rig(config(100, a1, split: .witness(checkInterval: .seconds(1))))
        _ = r.on { .startup(now: $0) }
        let out = r.advance(to: .seconds(4))
        XCTAssertFalse(out.contains(.checkWitness))
        XCTAssertEqual(transitions(out), [.master])
        XCTAssertEqual(r.m.lastReason, .masterDown(interval: .microseconds(3_609_375)))
    }

    func testWitnessAnswerAfterAnAdvertIsIgnored() {
        var r = Rig(config(100, a1, split: .witness(checkInterval: .seconds(1))))
        _ = r.on { .startup(now: $0) }
        _ = r.on { .advertReceived(.init(from: a2, priority: 200, interval: .seconds(1)), now: $0) }
        _ = r.advance(to: .seconds(4))
        _ = r.on { .advertReceived(.init(from: a2, priority: 200, interval: .seconds(1)), now: $0) }
        XCTAssertEqual(r.on { .witnessResult(.init(witnessReachable: true, peerReachable: false), now: $0) }, [])
        XCTAssertEqual(r.m.state, .backup)
    }

    func testMasterSelfFencesAfterLosingWitnessThreeTimes() {
        var r = Rig(config(255, a1, split: .witness(checkInterval: .seconds(1))))
        _ = r.on { .startup(now: $0) }
        let checks = r.advance(to: .seconds(3)).filter { $0 == .checkWitness }.count
        XCTAssertEqual(checks, 3)
        XCTAssertEqual(r.on { .witnessResult(.init(witnessReachable: false), now: $0) }, [])
        XCTAssertEqual(r.on { .witnessResult(.init(witnessReachable: false), now: $0) }, [])
        let out = r.on { .witnessResult(.init(witnessReachable: false), now: $0) }
        XCTAssertEqual(transitions(out), [.backup])
        XCTAssertTrue(out.contains(.removeVIPs([vip])))
    }

    func testPriorityZeroTakeoverNeedsNoWitness() {
        var r = Rig(config(100, a1, split: .witness(checkInterval: .seconds(1))))
        _ = r.on { .startup(now: $0) }
        _ = r.on { .advertReceived(.init(from: a2, priority: 0, interval: .seconds(1)), now: $0) }
        XCTAssertEqual(transitions(r.advance(to: .seconds(1))), [.master])
    }

    func testSplitBrainRuleTable() {
        XCTAssertEqual(SplitBrainRule.mayTakeOver(.init(witnessReachable: false, peerReachable: false, peerFenced: true)),
                       .stayBackup("witness unreachable: this side may be the isolated one"))
        XCTAssertEqual(SplitBrainRule.mayTakeOver(.init(witnessReachable: true, peerReachable: true, peerFenced: true)),
                       .takeOver("witness reachable and peer fenced"))
        XCTAssertEqual(SplitBrainRule.mayTakeOver(.init(witnessReachable: true, peerReachable: false, peerFenced: false)),
                       .stayBackup("fence command failed: peer may still hold the VIPs"))
        XCTAssertEqual(SplitBrainRule.mayTakeOver(.init(witnessReachable: true, peerReachable: false)),
                       .takeOver("witness reachable, peer unreachable"))
        if case .takeOver = SplitBrainRule.mayTakeOver(.init(witnessReachable: true)) { XCTFail("unknown peer must not take over") }
    }
}
