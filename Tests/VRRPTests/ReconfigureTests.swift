import Topology
import XCTest
@testable import VRRP
import Net

private let a1 = IPAddress("10.0.0.1")!
private let a2 = IPAddress("10.0.0.2")!
private let vip = IPAddress("10.0.0.100")!
private let vip2 = IPAddress("10.0.0.101")!

private func config(_ prio: UInt8, vips: [IPAddress] = [vip], interval: Duration = .seconds(1), preempt: Bool = true,
                    split: SplitBrainPolicy = .none, vrid: UInt8 = 51, primary: IPAddress = a1) -> VRRPConfiguration {
    VRRPConfiguration(vrid: vrid, priority: prio, advertInterval: interval, preempt: preempt, primaryAddress: primary,
                      virtualAddresses: vips, announceRepeatDelay: nil, announceRepeatCount: 0, splitBrain: split)
}

/// A master at t = 10 s (started as backup, nobody heard, took over at its Master_Down_Interval).
private func master(_ c: VRRPConfiguration) -> VRRPStateMachine {
    var m = VRRPStateMachine(config: c)
    _ = m.on(.startup(now: .zero))
    _ = m.on(.timerFired(.masterDown, now: .seconds(5)))
    precondition(m.state == .master)
    return m
}

/// `VRRPEvent.reconfigure`: a SIGHUP reload, as event -> actions.
final class ReconfigureTests: XCTestCase {
    func testMasterAddsAnnouncesAndAdvertisesANewVIPAndRemovesADroppedOne() {
        var m = master(config(150, vips: [vip]))
        let out = m.on(.reconfigure(config(150, vips: [vip2]), now: .seconds(10)))
        XCTAssertEqual(out, [
            .removeVIPs([vip]), .addVIPs([vip2]), .sendAdvert(priority: 150), .announceVIPs([vip2]),
            .setTimer(.advert, deadline: .seconds(11)),
        ])
        XCTAssertEqual(m.state, .master)
        XCTAssertEqual(m.config.virtualAddresses, [vip2])
        // A later shutdown removes the VIPs now configured, not the old ones.
        XCTAssertTrue(m.on(.shutdown(now: .seconds(12))).contains(.removeVIPs([vip2])))
    }

    func testMasterWithAnAddedVIPKeepsTheOldOneOnTheInterface() {
        var m = master(config(150, vips: [vip]))
        let out = m.on(.reconfigure(config(150, vips: [vip, vip2]), now: .seconds(10)))
        XCTAssertEqual(out, [.addVIPs([vip2]), .sendAdvert(priority: 150), .announceVIPs([vip2]), .setTimer(.advert, deadline: .seconds(11))])
    }

    func testBackupChangingVIPsDoesNothingUntilItTakesOverWithTheNewList() {
        var m = VRRPStateMachine(config: config(100, vips: [vip]))
        _ = m.on(.startup(now: .zero))
        XCTAssertEqual(m.on(.reconfigure(config(100, vips: [vip2]), now: .seconds(1))), [])
        let takeover = m.on(.timerFired(.masterDown, now: .seconds(4)))
        XCTAssertTrue(takeover.contains(.addVIPs([vip2])))
        XCTAssertFalse(takeover.contains(.addVIPs([vip])))
    }

    func testMasterWhosePriorityDropsKeepsTheVIPsUntilTheBetterPeerAdvertises() {
        var m = master(config(150))
        // The new priority goes out at once; the state does not change.
        XCTAssertEqual(m.on(.reconfigure(config(50), now: .seconds(10))),
                       [.sendAdvert(priority: 50), .setTimer(.advert, deadline: .seconds(11))])
        XCTAssertEqual(m.state, .master)
        // The preempting peer (priority 100) discards our 50, its timer fires, its advert arrives:
        // the RFC's comparison makes us step down then.
        let out = m.on(.advertReceived(.init(from: a2, priority: 100, interval: .seconds(1)), now: .seconds(13)))
        XCTAssertEqual(out.first(where: { if case .transition = $0 { true } else { false } }),
                       .transition(from: .master, to: .backup, reason: .higherPriority(from: a2, priority: 100)))
        XCTAssertTrue(out.contains(.removeVIPs([vip])))
    }

    func testBackupWithARaisedPriorityPreemptsAtItsArmedTimer() {
        var m = VRRPStateMachine(config: config(100))
        _ = m.on(.startup(now: .zero))
        _ = m.on(.advertReceived(.init(from: a2, priority: 120, interval: .seconds(1)), now: .seconds(1)))
        let armed = m.deadline(of: .masterDown)
        XCTAssertEqual(m.on(.reconfigure(config(200), now: .seconds(2))), [])
        XCTAssertEqual(m.deadline(of: .masterDown), armed, "the armed Master_Down_Timer stays")
        // The next advert of the (now lower) master is discarded: no timer reset...
        XCTAssertEqual(m.on(.advertReceived(.init(from: a2, priority: 120, interval: .seconds(1)), now: .seconds(2))), [])
        // ...so the armed timer fires and we take over.
        let out = m.on(.timerFired(.masterDown, now: armed!))
        XCTAssertEqual(m.state, .master)
        XCTAssertTrue(out.contains(.addVIPs([vip])))
        // Skew_Time now follows the new priority: (256 - 200) / 256 × 1 s.
        XCTAssertEqual(m.skewTime, .microseconds(218_750))
    }

    func testMasterAdvertIntervalChangeAdvertisesAtOnceAndRearmsTheAdverTimer() {
        var m = master(config(150, interval: .seconds(1)))
        let out = m.on(.reconfigure(config(150, interval: .milliseconds(100)), now: .seconds(10)))
        XCTAssertEqual(out, [.sendAdvert(priority: 150), .setTimer(.advert, deadline: .seconds(10) + .milliseconds(100))])
        XCTAssertEqual(m.masterAdverInterval, .milliseconds(100))
        XCTAssertEqual(m.on(.timerFired(.advert, now: .milliseconds(10_100))),
                       [.sendAdvert(priority: 150), .setTimer(.advert, deadline: .milliseconds(10_200))])
    }

    func testPreemptOffTakesEffectAtTheNextAdvert() {
        var m = VRRPStateMachine(config: config(200))
        _ = m.on(.startup(now: .zero))
        // Preempting: a lower-priority master's advert is discarded.
        XCTAssertEqual(m.on(.advertReceived(.init(from: a2, priority: 100, interval: .seconds(1)), now: .seconds(1))), [])
        XCTAssertEqual(m.on(.reconfigure(config(200, preempt: false), now: .seconds(2))), [])
        // Not preempting any more: the same advert now resets Master_Down_Timer.
        XCTAssertEqual(m.on(.advertReceived(.init(from: a2, priority: 100, interval: .seconds(1)), now: .seconds(3))),
                       [.setTimer(.masterDown, deadline: .seconds(3) + m.masterDownInterval)])
    }

    func testMasterArmsAndCancelsTheWitnessCheckWhenTheWitnessComesAndGoes() {
        var m = master(config(150))
        XCTAssertEqual(m.on(.reconfigure(config(150, split: .witness(checkInterval: .seconds(1))), now: .seconds(10))),
                       [.setTimer(.witnessCheck, deadline: .seconds(11))])
        XCTAssertEqual(m.on(.reconfigure(config(150), now: .seconds(10))), [.cancelTimer(.witnessCheck)])
        XCTAssertNil(m.deadline(of: .witnessCheck))
    }

    func testNothingChangedMeansNoActions() {
        var m = master(config(150))
        XCTAssertEqual(m.on(.reconfigure(config(150), now: .seconds(10))), [])
    }

    func testVRIDOrPrimaryAddressChangesAreIgnored() {
        var m = master(config(150))
        XCTAssertEqual(m.on(.reconfigure(config(120, vrid: 52), now: .seconds(10))), [])
        XCTAssertEqual(m.on(.reconfigure(config(120, primary: a2), now: .seconds(10))), [])
        XCTAssertEqual(m.config.priority, 150)
        XCTAssertEqual(m.config.vrid, 51)
    }

    func testInitializeTakesTheNewConfigurationAtStartup() {
        var m = VRRPStateMachine(config: config(100))
        XCTAssertEqual(m.on(.reconfigure(config(255), now: .zero)), [])
        XCTAssertEqual(m.on(.startup(now: .zero)).first, .transition(from: .initialize, to: .master, reason: .startupAsOwner))
    }
}
