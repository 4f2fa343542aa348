import HealthCheck
import Synchronization
import Topology
import XCTest
import Health
import Net
import TestSupport

/// ``HealthMonitor/injectFailure(_:reason:)``: evidence from outside the check (passive silence
/// detection) fails a member exactly like a refused connection, and only the check brings it back.
final class InjectedFailureTests: XCTestCase {
    func target(rise: Int, fall: Int) -> CheckTarget {
        CheckTarget(service: "gums", member: "fg5x2", address: IPAddress("10.10.5.12")!, port: 8443,
                    spec: HealthCheckSpec(kind: .tcp, intervalMs: 1000, timeoutMs: 500, rise: rise, fall: fall))
    }

    /// Counts calls across checker copies.
    final class Calls: Sendable {
        private let n = Mutex(0)
        func add() { n.withLock { $0 += 1 } }
        var count: Int { n.withLock { $0 } }
    }

    /// A member that answers every check, each after `latency` on the manual clock.
    struct SlowAlive: HealthChecker {
        let clock: ManualClock
        let latency: Duration
        let calls: Calls
        func check(timeout: Duration) async -> CheckOutcome {
            calls.add()
            try? await clock.sleep(for: latency)
            return .success
        }
    }

    func withMonitor(_ monitor: HealthMonitor<ManualClock>, _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await monitor.run() }
            defer { group.cancelAll() }
            try await body()
        }
    }

    func testInjectedFailureDrainsAtOnceDespiteFallAndTheCheckBringsItBack() async throws {
        let clock = ManualClock()
        let backend = ScriptedBackend(clock: clock)
        let log = TransitionLog()
        let monitor = HealthMonitor(clock: clock, seed: 3, makeChecker: { _ in ScriptedBackend.Checker(backend: backend) },
                                    onTransition: { log.append($0) })
        let t = target(rise: 2, fall: 3)
        monitor.update(targets: [t]) { _ in .up }
        try await withMonitor(monitor) {
            let jitter = Jitter.offset(seed: 3, key: t.key, interval: .seconds(1))
            guard await clock.waitForSleepers(1) else { return XCTFail("monitor never parked") }
            guard await clock.advance(to: .init(offset: jitter + .milliseconds(2100)), expectSleepers: 1) else { return XCTFail("did not settle") }
            XCTAssertEqual(backend.checks, 3)
            XCTAssertEqual(log.all, [], "healthy checks report nothing")
            // Passive evidence: down at once although fall is 3, with the evidence's reason.
            let reason = "passive: 3 new connections unanswered for 300 ms or more (longest 310 ms), no SYN-ACK back"
            let tr = try XCTUnwrap(monitor.injectFailure(t.key, reason: reason))
            XCTAssertEqual(tr.from, .up)
            XCTAssertEqual(tr.to, .down)
            XCTAssertEqual(tr.reason, reason)
            XCTAssertEqual(log.all.map(\.to), [.down], "the transition went through onTransition")
            let h = try XCTUnwrap(monitor.health()[t.key])
            XCTAssertEqual(h.state, .down)
            XCTAssertEqual(h.lastTransition?.reason, reason)
            XCTAssertEqual(h.lastOutcome, .failure(reason: reason, immediate: true))
            XCTAssertEqual(h.checks, 3, "an injected failure is not a check")
            // Already down: nothing more to report.
            XCTAssertNil(monitor.injectFailure(t.key, reason: reason))
            XCTAssertEqual(log.all.count, 1)
            // The member answers its checks: one success is not enough (rise 2), two bring it back.
            guard await clock.advance(to: .init(offset: jitter + .milliseconds(3100)), expectSleepers: 1) else { return XCTFail("did not settle") }
            XCTAssertEqual(monitor.health()[t.key]?.state, .down, "rise 2 needs a second success")
            guard await clock.advance(to: .init(offset: jitter + .milliseconds(4100)), expectSleepers: 1) else { return XCTFail("did not settle") }
            XCTAssertEqual(log.all.map(\.to), [.down, .up])
            XCTAssertEqual(log.all.last?.reason, "check passed")
        }
    }

    func testUnknownMemberIsIgnored() {
        let monitor = HealthMonitor(clock: ManualClock(), onTransition: { _ in XCTFail("no transition expected") })
        XCTAssertNil(monitor.injectFailure(target(rise: 1, fall: 1).key, reason: "passive"))
        XCTAssertTrue(monitor.health().isEmpty)
    }

    /// A check that was already running when the evidence came saw the member before it: its
    /// success must not undo the drain, even with rise 1. The next check decides.
    func testASuccessFromACheckStartedBeforeTheInjectionDoesNotCount() async throws {
        let clock = ManualClock()
        let calls = Calls()
        let log = TransitionLog()
        let monitor = HealthMonitor(clock: clock, seed: 3,
                                    makeChecker: { _ in SlowAlive(clock: clock, latency: .milliseconds(250), calls: calls) },
                                    onTransition: { log.append($0) })
        let t = target(rise: 1, fall: 1)
        monitor.update(targets: [t]) { _ in .up }
        try await withMonitor(monitor) {
            let jitter = Jitter.offset(seed: 3, key: t.key, interval: .seconds(1))
            guard await clock.waitForSleepers(1) else { return XCTFail("monitor never parked") }
            // The first check is in flight (it answers 250 ms after it starts).
            guard await clock.advance(to: .init(offset: jitter + .milliseconds(100)), expectSleepers: 1) else { return XCTFail("did not settle") }
            XCTAssertEqual(calls.count, 1)
            XCTAssertNotNil(monitor.injectFailure(t.key, reason: "passive: silent"))
            guard await clock.advance(to: .init(offset: jitter + .milliseconds(900)), expectSleepers: 1) else { return XCTFail("did not settle") }
            XCTAssertEqual(monitor.health()[t.key]?.state, .down, "the stale success did not count")
            XCTAssertEqual(monitor.health()[t.key]?.checks, 1)
            // The next check started after the evidence: it counts.
            guard await clock.advance(to: .init(offset: jitter + .milliseconds(1300)), expectSleepers: 1) else { return XCTFail("did not settle") }
            XCTAssertEqual(log.all.map(\.to), [.down, .up])
        }
    }
}
