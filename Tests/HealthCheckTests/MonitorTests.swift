import HealthCheck
import Synchronization
import Topology
import XCTest
import Health
import Net
import TestSupport

/// A scripted backend: the checker reads its mode and, when silent, burns the timeout on the
/// manual clock exactly like a real silent peer burns it on the real one.
final class ScriptedBackend: Sendable {
    enum Mode: Sendable { case alive, refusing, silent }
    private let mode = Mutex(Mode.alive)
    private let calls = Mutex(0)
    let clock: ManualClock
    init(clock: ManualClock) { self.clock = clock }
    func set(_ m: Mode) { mode.withLock { $0 = m } }
    var checks: Int { calls.withLock { $0 } }

    struct Checker: HealthChecker {
        let backend: ScriptedBackend
        func check(timeout: Duration) async -> CheckOutcome {
            backend.calls.withLock { $0 += 1 }
            switch backend.mode.withLock({ $0 }) {
            case .alive: return .success
            case .refusing: return .failure(reason: "connection refused", immediate: true)
            case .silent:
                try? await backend.clock.sleep(for: timeout)
                return .timedOut
            }
        }
    }
}

/// A scripted backend whose checker holds a "connection" after every success, like TCP and HTTP
/// checkers do; `dropConnection()` closes it (the member's kernel closing a dead process's socket).
final class WatchedBackend: Sendable {
    private struct State {
        var mode = ScriptedBackend.Mode.alive
        var held = false
        var waiter: CheckedContinuation<Bool, Never>?
        var calls = 0
    }
    private let state = Mutex(State())
    var checks: Int { state.withLock { $0.calls } }
    var watching: Bool { state.withLock { $0.waiter != nil } }

    func set(_ m: ScriptedBackend.Mode) { state.withLock { $0.mode = m } }

    /// Closes the held connection; returns whether a watch was waiting on it.
    @discardableResult
    func dropConnection() -> Bool {
        let w: CheckedContinuation<Bool, Never>? = state.withLock { s in
            s.held = false
            let w = s.waiter; s.waiter = nil; return w
        }
        w?.resume(returning: true)
        return w != nil
    }

    struct Checker: HealthChecker, ConnectionWatching {
        let backend: WatchedBackend
        func check(timeout: Duration) async -> CheckOutcome {
            backend.state.withLock { s in
                s.calls += 1
                s.held = s.mode == .alive
                return s.mode == .alive ? .success : .failure(reason: "connection refused", immediate: true)
            }
        }
        func waitForHeldConnectionLoss() async -> Bool {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                    let now: Bool? = backend.state.withLock { s in
                        guard s.held else { return false }
                        s.waiter = c; return nil
                    }
                    if let now { c.resume(returning: now) }
                }
            } onCancel: {
                let w = backend.state.withLock { s in let w = s.waiter; s.waiter = nil; return w }
                w?.resume(returning: false)
            }
        }
        /// The callback form (used by the monitor on the continuous clock): the test drives a
        /// manual clock, so it only has to work, not to be fast.
        func onHeldConnectionLoss(_ fire: @escaping @Sendable () -> Void) -> (@Sendable () -> Void)? {
            guard backend.state.withLock({ $0.held }) else { return nil }
            let t = Task { if await waitForHeldConnectionLoss() { fire() } }
            return { t.cancel() }
        }
        func shutdown() { backend.dropConnection() }
    }
}

/// Polls `condition` (bounded, yielding) without moving any clock.
func eventually(_ condition: () -> Bool) async -> Bool {
    for i in 0..<20_000 {
        if condition() { return true }
        if i < 2_000 { await Task.yield() } else { try? await Task.sleep(for: .microseconds(250)) }
    }
    return condition()
}

final class TransitionLog: Sendable {
    private let items = Mutex<[HealthTransition]>([])
    func append(_ t: HealthTransition) { items.withLock { $0.append(t) } }
    var all: [HealthTransition] { items.withLock { $0 } }
}

final class MonitorTests: XCTestCase {
    func target(_ member: String, interval: Int = 1000, timeout: Int = 500, rise: Int = 2, fall: Int = 3) -> CheckTarget {
        CheckTarget(service: "gums", member: member, address: IPAddress("10.10.5.12")!, port: 8443,
                    spec: HealthCheckSpec(kind: .tcp, intervalMs: interval, timeoutMs: timeout, rise: rise, fall: fall))
    }

    func testJitterIsDeterministicAndSpreadsChecksOverTheInterval() {
        let keys = (0..<200).map { target("vm\($0)").key }
        let a = keys.map { Jitter.offset(seed: 42, key: $0, interval: .seconds(1)) }
        let b = keys.map { Jitter.offset(seed: 42, key: $0, interval: .seconds(1)) }
        let c = keys.map { Jitter.offset(seed: 43, key: $0, interval: .seconds(1)) }
        XCTAssertEqual(a, b, "same seed, same offsets")
        XCTAssertNotEqual(a, c, "another seed, other offsets")
        XCTAssertTrue(a.allSatisfy { $0 >= .zero && $0 < .seconds(1) })
        // 200 offsets over 10 buckets of 100 ms: every bucket used, none holding a third of them.
        var buckets = [Int](repeating: 0, count: 10)
        for o in a { buckets[Int(o.wholeMilliseconds / 100)] += 1 }
        XCTAssertTrue(buckets.allSatisfy { $0 > 0 && $0 < 67 }, "buckets \(buckets)")
        // Pinned: offsets must not move between releases (a replayed run needs the same ones). The value
        // is what the hash gave before it drew from Net's SplitMix64.
        XCTAssertEqual(Jitter.hash(seed: 42, "web\u{0}be1"), 0xF832_483A_EAFD_0A34)
    }

    /// Runs `body` with the monitor's `run()` as a child task, cancelled afterwards.
    func withMonitor(_ monitor: HealthMonitor<ManualClock>, _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await monitor.run() }
            defer { group.cancelAll() }
            try await body()
        }
    }

    /// Silent death costs at most `fall × interval + timeout`; a refusal at most `interval`.
    func testDetectionTimeIsBoundedByFallTimesIntervalPlusTimeout() async throws {
        let interval = 1000, timeout = 500, fall = 3, rise = 2
        let bound = Duration.milliseconds(fall * interval + timeout)
        for (mode, limit) in [(ScriptedBackend.Mode.silent, bound), (.refusing, Duration.milliseconds(interval))] {
            for deathOffset in [0, 1, 250, 500, 999] {
                let clock = ManualClock()
                let backend = ScriptedBackend(clock: clock)
                let log = TransitionLog()
                let monitor = HealthMonitor(clock: clock, seed: 7, makeChecker: { _ in ScriptedBackend.Checker(backend: backend) },
                                            onTransition: { log.append($0) })
                let t = target("fg5x2", interval: interval, timeout: timeout, rise: rise, fall: fall)
                monitor.update(targets: [t]) { _ in .up }
                try await withMonitor(monitor) {
                    let jitter = Jitter.offset(seed: 7, key: t.key, interval: .milliseconds(interval))
                    guard await clock.waitForSleepers(1) else { return XCTFail("monitor never parked") }
                    // Run 5 healthy checks, then die `deathOffset` ms after a check fired.
                    let death = ManualClock.Instant(offset: jitter + .milliseconds(4 * interval + deathOffset))
                    guard await clock.advance(to: death, expectSleepers: 1) else { return XCTFail("did not settle") }
                    XCTAssertEqual(backend.checks, 5)
                    backend.set(mode)
                    guard await clock.advance(to: death.advanced(by: .seconds(10)), expectSleepers: 1) else { return XCTFail("did not settle") }
                    let down = try XCTUnwrap(log.all.first, "\(mode) backend never drained")
                    XCTAssertEqual(down.to, .down)
                    let detection = down.elapsed - death.offset
                    XCTAssertLessThanOrEqual(detection, limit, "\(mode), death at +\(deathOffset) ms: drained after \(detection)")
                    XCTAssertGreaterThan(detection, .zero)
                    // Recovery: `rise` good checks bring it back, and nothing else is reported.
                    backend.set(.alive)
                    let back = clock.now
                    guard await clock.advance(to: back.advanced(by: .milliseconds(rise * interval)), expectSleepers: 1) else { return XCTFail("did not settle") }
                    XCTAssertEqual(log.all.map(\.to), [.down, .up], "only transitions are reported")
                    XCTAssertEqual(log.all.first?.reason, mode == .silent ? "check timed out" : "connection refused")
                }
            }
        }
    }

    func testReloadKeepsUnchangedCheckersAndTheirState() async throws {
        let clock = ManualClock()
        let backend = ScriptedBackend(clock: clock)
        let log = TransitionLog()
        let made = Mutex<[String]>([])
        let monitor = HealthMonitor(clock: clock, makeChecker: { t in made.withLock { $0.append(t.member) }; return ScriptedBackend.Checker(backend: backend) },
                                    onTransition: { log.append($0) })
        let a = target("fg5x2"), b = target("fg6x2")
        XCTAssertEqual(monitor.update(targets: [a, b]), MonitorDiff(kept: [], added: [a.key, b.key].sorted(), removed: []))
        try await withMonitor(monitor) {
            guard await clock.waitForSleepers(2) else { return XCTFail("monitor never parked") }
            backend.set(.refusing)
            guard await clock.advance(to: .init(offset: .seconds(3)), expectSleepers: 2) else { return XCTFail("did not settle") }
            XCTAssertEqual(monitor.health()[a.key]?.state, .down)
            // Same a, changed b (timeout), new c.
            var b2 = b; b2.spec.timeoutMs = 700
            let c = target("fg7x2")
            let diff = monitor.update(targets: [a, b2, c])
            XCTAssertEqual(diff.kept, [a.key])
            XCTAssertEqual(Set(diff.added), [b2.key, c.key])
            XCTAssertEqual(diff.removed, [b.key])
            XCTAssertEqual(monitor.health()[a.key]?.state, .down, "kept checker keeps its state")
            XCTAssertEqual(monitor.health()[b2.key]?.state, .unknown)
            // b's old loop exits at its next wake-up; a, b2 and c keep running.
            guard await clock.waitForSleepers(4) else { return XCTFail("a, old b, b2 and c never all parked") }
            guard await clock.advance(to: .init(offset: .seconds(5)), expectSleepers: 3...4) else { return XCTFail("did not settle") }
            guard await clock.waitForSleepers(3) else { return XCTFail("the replaced check of b did not stop") }
            XCTAssertEqual(made.withLock { $0 }.sorted(), ["fg5x2", "fg6x2", "fg6x2", "fg7x2"], "a's checker was not rebuilt")
            XCTAssertEqual(monitor.health().count, 3)
        }
    }
    /// Connection watch: a crash seen on the held connection is confirmed by a check at once — no
    /// manual time passes between the death and the drain — and the watch adds at most one check per
    /// interval when a live member merely closes idle connections.
    func testConnectionWatchConfirmsACrashAtOnceAndAddsAtMostOneCheckPerInterval() async throws {
        let interval = 1000
        let clock = ManualClock()
        let backend = WatchedBackend()
        let log = TransitionLog()
        let monitor = HealthMonitor(clock: clock, seed: 7, makeChecker: { _ in WatchedBackend.Checker(backend: backend) },
                                    onTransition: { log.append($0) })
        let t = target("fg5x2", interval: interval, timeout: 500, rise: 2, fall: 3)
        monitor.update(targets: [t]) { _ in .up }
        try await withMonitor(monitor) {
            let jitter = Jitter.offset(seed: 7, key: t.key, interval: .milliseconds(interval))
            guard await clock.waitForSleepers(1) else { return XCTFail("monitor never parked") }
            // Three healthy checks; then a live member closes the idle connection (say an idle timeout).
            let quiet = ManualClock.Instant(offset: jitter + .milliseconds(2 * interval + 100))
            guard await clock.advance(to: quiet, expectSleepers: 1) else { return XCTFail("did not settle") }
            XCTAssertEqual(backend.checks, 3)
            guard await eventually({ backend.watching }) else { return XCTFail("the watch never armed") }
            XCTAssertTrue(backend.dropConnection())
            guard await eventually({ backend.checks == 4 }) else { return XCTFail("the watch did not trigger a check") }
            XCTAssertEqual(log.all, [], "a confirming check that passes reports nothing")
            // Within the same interval the watch stays disarmed: a second drop triggers nothing.
            guard await clock.waitForSleepers(1) else { return XCTFail("monitor never parked again") }
            for _ in 0..<200 { await Task.yield() }
            XCTAssertFalse(backend.watching, "the watch re-armed within one interval")
            XCTAssertEqual(backend.checks, 4)
            // The regular schedule went on: the next two slots fire (the watch re-arms at the first
            // wait that starts an interval after it fired).
            let later = ManualClock.Instant(offset: jitter + .milliseconds(4 * interval + 500))
            guard await clock.advance(to: later, expectSleepers: 1) else { return XCTFail("did not settle") }
            XCTAssertEqual(backend.checks, 6)
            // The process dies: its kernel closes the connection; the confirming check is refused and
            // drains with zero manual time elapsed (fall 3 would otherwise need the next slot).
            guard await eventually({ backend.watching }) else { return XCTFail("the watch never re-armed") }
            backend.set(.refusing)
            let death = clock.now
            XCTAssertTrue(backend.dropConnection())
            guard await eventually({ !log.all.isEmpty }) else { return XCTFail("the crash was not confirmed") }
            let down = log.all[0]
            XCTAssertEqual(down.to, .down)
            XCTAssertEqual(down.reason, "connection refused")
            XCTAssertEqual(down.elapsed, death.offset, "drained at the instant of death")
            XCTAssertEqual(backend.checks, 7)
        }
    }
}
