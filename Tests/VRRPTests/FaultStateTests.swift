// The Fault state (keepalived's FAULT): a director whose tracked interface is down holds no VIP,
// sends nothing, runs no timer and takes nothing over; it comes back through Backup as at startup.
import XCTest
@testable import VRRP
import Net

private let a1 = IPAddress("10.0.0.1")!
private let a2 = IPAddress("10.0.0.2")!
private let vip = IPAddress("10.0.0.100")!

/// `a0` down for lack of carrier; `carriesAdverts`: the adverts run on it too (one link, no heartbeat).
private func a0Down(_ cause: LinkDownCause = .noCarrier, adverts: Bool = true) -> LinkFault {
    LinkFault(interface: "a0", cause: cause, carriesAdverts: adverts)
}

final class FaultStateTests: XCTestCase {
    /// A master at 100 after Master_Down_Interval, 1 s adverts, announce repeat armed at 5.609375 s.
    private func master() -> Rig {
        var r = Rig(config(100, a1))
        _ = r.on { .startup(now: $0) }
        _ = r.advance(to: .seconds(4))
        XCTAssertEqual(r.m.state, .master)
        return r
    }

    func testMasterWhoseVIPLinkLosesCarrierDropsTheVIPsAndFallsSilent() {
        var r = master()
        XCTAssertEqual(r.on { .interfaceDown(a0Down(), now: $0) }, [
            .cancelTimer(.advert), .cancelTimer(.announceRepeat),
            .removeVIPs([vip]),
            .transition(from: .master, to: .fault, reason: .interfaceDown(interface: "a0", cause: .noCarrier)),
        ])
        XCTAssertEqual(r.m.lastReason?.description, "interface a0 down (no carrier)")
        XCTAssertNil(r.m.nextDeadline)
        // Silent for good while down: no timer, no advert.
        XCTAssertEqual(r.advance(to: .seconds(60)), [])
    }

    func testMasterWithALiveHeartbeatLinkResignsThroughItWithPriorityZero() {
        var r = master()
        // VIP link a0 down, adverts on a separate heartbeat link that still works: tell the peer.
        XCTAssertEqual(r.on { .interfaceDown(a0Down(.administrativelyDown, adverts: false), now: $0) }, [
            .cancelTimer(.advert), .cancelTimer(.announceRepeat),
            .removeVIPs([vip]), .sendAdvert(priority: 0),
            .transition(from: .master, to: .fault, reason: .interfaceDown(interface: "a0", cause: .administrativelyDown)),
        ])
    }

    func testWitnessMasterStopsItsWitnessChecksInFault() {
        var r = Rig(config(255, a1, split: .witness(checkInterval: .seconds(1))))
        _ = r.on { .startup(now: $0) }
        let out = r.on { .interfaceDown(a0Down(), now: $0) }
        XCTAssertTrue(out.contains(.cancelTimer(.witnessCheck)))
        XCTAssertEqual(r.m.state, .fault)
        // Answers to a check that was in flight change nothing; no new check is asked.
        XCTAssertEqual(r.on { .witnessResult(.init(witnessReachable: false), now: $0) }, [])
        XCTAssertFalse(r.advance(to: .seconds(30)).contains(.checkWitness))
    }

    func testBackupInFaultCancelsMasterDownAndNeverTakesOver() {
        var r = Rig(config(100, a1))
        _ = r.on { .startup(now: $0) }
        XCTAssertEqual(r.on { .interfaceDown(a0Down(), now: $0) }, [
            .cancelTimer(.masterDown),
            .transition(from: .backup, to: .fault, reason: .interfaceDown(interface: "a0", cause: .noCarrier)),
        ])
        // Nothing in Fault leads to a takeover: adverts (even priority 0), the fast detector, timers.
        XCTAssertEqual(r.on { .advertReceived(.init(from: a2, priority: 0, interval: .seconds(1)), now: $0) }, [])
        XCTAssertEqual(r.on { .advertReceived(.init(from: a2, priority: 50, interval: .seconds(1)), now: $0) }, [])
        XCTAssertEqual(r.on { .peerDownDetected(now: $0) }, [])
        XCTAssertEqual(r.m.on(.timerFired(.masterDown, now: .seconds(10))), [])
        XCTAssertEqual(r.advance(to: .seconds(60)), [])
        XCTAssertEqual(r.m.state, .fault)
    }

    func testBackupAwaitingTheWitnessDropsTheAnswerWhenItsLinkGoes() {
        var r = Rig(config(100, a1, split: .witness(checkInterval: .seconds(1))))
        _ = r.on { .startup(now: $0) }
        _ = r.on { .advertReceived(.init(from: a2, priority: 200, interval: .seconds(1)), now: $0) }
        XCTAssertTrue(r.advance(to: .seconds(4)).contains(.checkWitness))
        _ = r.on { .interfaceDown(a0Down(), now: $0) }
        // The witness would have allowed the takeover; in Fault the answer is dropped.
        XCTAssertEqual(r.on { .witnessResult(.init(witnessReachable: true, peerReachable: false), now: $0) }, [])
        XCTAssertEqual(r.m.state, .fault)
    }

    func testLinkBackLeavesFaultThroughBackupWithMasterDownAsAtStartup() {
        var r = master()
        r.now = .seconds(5)
        _ = r.on { .interfaceDown(a0Down(), now: $0) }
        r.now = .seconds(6)
        XCTAssertEqual(r.on { .interfaceUp("a0", now: $0) }, [
            .transition(from: .fault, to: .backup, reason: .interfaceUp(interface: "a0")),
            .removeVIPs([vip]),
            .setTimer(.masterDown, deadline: .seconds(6) + .microseconds(3_609_375)),
        ])
        // The current master's adverts keep it backup (it was the higher priority, but a lower one
        // that speaks first is only preempted when Master_Down_Timer fires, as at startup).
        r.now = .seconds(7)
        XCTAssertEqual(r.on { .advertReceived(.init(from: a2, priority: 150, interval: .seconds(1)), now: $0) }, [
            .setTimer(.masterDown, deadline: .seconds(7) + .microseconds(3_609_375)),
        ])
        XCTAssertEqual(r.m.state, .backup)
    }

    func testAloneAfterTheLinkReturnsItBecomesMasterAfterMasterDownInterval() {
        var r = master()
        _ = r.on { .interfaceDown(a0Down(), now: $0) }
        _ = r.on { .interfaceUp("a0", now: $0) }
        XCTAssertEqual(transitions(r.advance(to: r.now + .seconds(3))), [])
        XCTAssertEqual(transitions(r.advance(to: r.now + .seconds(1))), [.master])
        XCTAssertEqual(r.m.lastReason, .masterDown(interval: .microseconds(3_609_375)))
    }

    func testAddressOwnerGoesMasterAtOnceWhenItsLinkReturns() {
        var r = Rig(config(255, a1))
        _ = r.on { .startup(now: $0) }
        _ = r.on { .interfaceDown(a0Down(), now: $0) }
        let out = r.on { .interfaceUp("a0", now: $0) }
        XCTAssertEqual(Array(out.prefix(3)), [
            .transition(from: .fault, to: .master, reason: .interfaceUp(interface: "a0")),
            .addVIPs([vip]), .sendAdvert(priority: 255),
        ])
    }

    func testFaultLastsUntilEveryDownInterfaceIsUp() {
        var r = master()
        _ = r.on { .interfaceDown(a0Down(), now: $0) }
        XCTAssertEqual(r.on { .interfaceDown(LinkFault(interface: "a1", cause: .removed, carriesAdverts: false), now: $0) }, [])
        XCTAssertEqual(r.on { .interfaceDown(a0Down(.administrativelyDown), now: $0) }, [])  // already down
        XCTAssertEqual(r.on { .interfaceUp("a0", now: $0) }, [])
        XCTAssertEqual(r.m.state, .fault)
        XCTAssertEqual(r.m.linksDown.map(\.interface), ["a1"])
        XCTAssertEqual(transitions(r.on { .interfaceUp("a1", now: $0) }), [.backup])
        // An "up" for an interface that was never down changes nothing.
        XCTAssertEqual(r.on { .interfaceUp("a0", now: $0) }, [])
    }

    func testInterfaceDownAtStartStartsInFaultEvenAsOwner() {
        var r = Rig(config(255, a1))
        XCTAssertEqual(r.on { .interfaceDown(a0Down(.administrativelyDown), now: $0) }, [])
        XCTAssertEqual(r.on { .startup(now: $0) }, [
            .transition(from: .initialize, to: .fault, reason: .interfaceDown(interface: "a0", cause: .administrativelyDown)),
        ])
        XCTAssertNil(r.m.nextDeadline)
        XCTAssertEqual(transitions(r.on { .interfaceUp("a0", now: $0) }), [.master])
    }

    func testShutdownInFaultSendsNothing() {
        var r = master()
        _ = r.on { .interfaceDown(a0Down(), now: $0) }
        XCTAssertEqual(r.on { .shutdown(now: $0) }, [.transition(from: .fault, to: .initialize, reason: .shutdown)])
    }

    func testReloadInFaultTakesEffectWhenTheLinkReturns() {
        var r = master()
        _ = r.on { .interfaceDown(a0Down(), now: $0) }
        let other = IPAddress("10.0.0.101")!
        var c = config(255, a1)
        c.virtualAddresses = [other]
        XCTAssertEqual(r.on { .reconfigure(c, now: $0) }, [])  // no VIP added while down
        let out = r.on { .interfaceUp("a0", now: $0) }
        XCTAssertTrue(out.contains(.addVIPs([other])))
    }
}
