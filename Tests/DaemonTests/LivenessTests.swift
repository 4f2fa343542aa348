import Daemon
import Foundation
import Topology
import XCTest

/// The watchdog's judgement (Systemd.swift): a ping only while the reconcile loop passes and the
/// health monitor reports; a loop or monitor that stops stops the pings.
final class LivenessTests: XCTestCase {
    let t0 = ContinuousClock.now

    func testAPassAndARecentCheckAreAlive() {
        let before = DaemonHeartbeat.Beats(passes: 3, lastCheck: t0)
        let now = DaemonHeartbeat.Beats(passes: 4, lastCheck: t0 + .seconds(1))
        XCTAssertNil(Liveness.problem(previous: before, now: now, at: t0 + .seconds(2), checkWindow: .seconds(4)))
    }

    func testAReconcileLoopWithoutAPassWithholdsThePing() {
        let b = DaemonHeartbeat.Beats(passes: 3, lastCheck: t0)
        XCTAssertEqual(Liveness.problem(previous: b, now: b, at: t0, checkWindow: nil),
                       "the reconcile loop finished no pass since the last watchdog period")
    }

    func testASilentHealthMonitorWithholdsThePing() {
        let before = DaemonHeartbeat.Beats(passes: 3, lastCheck: t0)
        let now = DaemonHeartbeat.Beats(passes: 5, lastCheck: t0)
        let problem = Liveness.problem(previous: before, now: now, at: t0 + .seconds(5), checkWindow: .seconds(4))
        XCTAssertNotNil(problem)
        XCTAssertTrue(problem?.contains("the health monitor reported no check") ?? false, problem ?? "")
        XCTAssertNil(Liveness.problem(previous: before, now: now, at: t0 + .seconds(5), checkWindow: nil), "nothing to check: no window")
    }

    func testTheCheckWindowIsTwiceTheSlowestCheck() {
        func svc(_ name: String, interval: Int, timeout: Int, members: Int) -> VirtualService {
            VirtualService(name: name, vip: .init("10.9.0.1")!, port: 80,
                           members: (0..<members).map { ServiceMember(vm: "v\($0)", port: 80) },
                           check: HealthCheckSpec(kind: .tcp, intervalMs: interval, timeoutMs: timeout))
        }
        let t = Topology(site: "s", hosts: [], vms: [], services: [svc("a", interval: 1000, timeout: 500, members: 1),
                                                                  svc("b", interval: 30_000, timeout: 2000, members: 2)])
        XCTAssertEqual(Liveness.checkWindow(t), .milliseconds(64_000))
        XCTAssertNil(Liveness.checkWindow(Topology(site: "s", hosts: [], vms: [], services: [])))
    }

    func testTheFirstPassIsAwaitedOnce() async {
        let h = DaemonHeartbeat()
        h.reconcilePassEnded()
        h.reconcilePassEnded()
        let first = await h.firstPass()
        XCTAssertTrue(first)
        XCTAssertEqual(h.reading.passes, 2)
    }
}
