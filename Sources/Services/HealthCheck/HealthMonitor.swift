import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Health
import Topology

/// One state change of one member, as the monitor reports it.
public struct HealthTransition: Sendable, Equatable {
    /// Which check.
    public var key: CheckKey
    /// State before.
    public var from: RiseFall.State
    /// State after.
    public var to: RiseFall.State
    /// Why: the failure's reason when going down, "check passed" when coming up.
    public var reason: String
    /// Time since the monitor started, on its clock.
    public var elapsed: Duration
    /// Wall-clock time of the transition (for people and the status API).
    public var wallTime: Date
}

/// What the monitor knows about one member right now.
public struct MemberHealth: Sendable {
    /// The checked member.
    public var target: CheckTarget
    /// Rise/fall state.
    public var state: RiseFall.State
    /// Outcome of the last check, if any ran.
    public var lastOutcome: CheckOutcome?
    /// Duration of the last check.
    public var lastLatency: Duration?
    /// The last transition, if any.
    public var lastTransition: HealthTransition?
    /// Checks run so far.
    public var checks: Int
}

/// What ``HealthMonitor/update(targets:initial:)`` did.
public struct MonitorDiff: Sendable, Equatable {
    /// Checks that kept running with their state.
    public var kept: [CheckKey]
    /// Checks started.
    public var added: [CheckKey]
    /// Checks stopped.
    public var removed: [CheckKey]
    /// Creates a diff.
    public init(kept: [CheckKey], added: [CheckKey], removed: [CheckKey]) {
        self.kept = kept; self.added = added; self.removed = removed
    }
}

/// Runs every member's check on its own schedule and reports only state transitions.
///
/// Each check fires every `interval`, starting at a deterministic jittered offset (``Jitter``) so
/// checks do not fire in step. A check that overruns its slot starts the next one at once, so the
/// time from a member's death to its `markDown` is at most `fall × interval + timeout` (refused or
/// reset connections: at most `interval`). State is keyed by ``CheckKey``: on reload, unchanged
/// checks keep their checker, schedule and rise/fall state; only changed keys restart.
///
/// It is a swift-service-lifecycle `Service`: its `run()` owns every check loop as a child task and
/// ends them on graceful shutdown or cancellation. Time comes from the injected clock.
public final class HealthMonitor<C: Clock>: Service, Sendable where C.Duration == Duration {
    /// Builds checkers; injectable so tests can script outcomes.
    public typealias CheckerMaker = @Sendable (CheckTarget) -> any HealthChecker

    private struct Entry {
        var target: CheckTarget
        var generation: UInt64
        var machine: RiseFall
        var lastOutcome: CheckOutcome?
        var lastLatency: Duration?
        var lastTransition: HealthTransition?
        var checks = 0
        /// When the last external failure was injected (``injectFailure(_:reason:)``): a success from
        /// a check that started before it is stale and does not count toward `rise`.
        var injectedAt: C.Instant?
    }

    private struct Start: Sendable {
        var target: CheckTarget
        var generation: UInt64
    }

    private let clock: C
    private let seed: UInt64
    private let makeChecker: CheckerMaker
    private let onTransition: @Sendable (HealthTransition) -> Void
    private let onResult: @Sendable (CheckKey, CheckOutcome, Duration) -> Void
    private let logger: Logger
    private let startInstant: C.Instant
    private let table = Mutex<(entries: [CheckKey: Entry], generation: UInt64)>(([:], 0))
    private let starts: AsyncStream<Start>
    private let startsContinuation: AsyncStream<Start>.Continuation

    /// Creates a monitor.
    /// - Parameters:
    ///   - clock: time source for schedules (tests pass a ``ManualClock``).
    ///   - seed: jitter seed; the same seed gives the same start offsets.
    ///   - makeChecker: the checker for a target (default ``CheckerFactory/make(_:)``).
    ///   - logger: transitions are logged at notice with `service`, `backend` and `reason` metadata.
    ///   - onResult: every check's outcome and latency (for metrics).
    ///   - onTransition: every state change, in order per member.
    public init(clock: C, seed: UInt64 = 0, makeChecker: @escaping CheckerMaker = CheckerFactory.make,
                logger: Logger = Logger(label: "tandem.health"),
                onResult: @escaping @Sendable (CheckKey, CheckOutcome, Duration) -> Void = { _, _, _ in },
                onTransition: @escaping @Sendable (HealthTransition) -> Void) {
        self.clock = clock; self.seed = seed; self.makeChecker = makeChecker; self.logger = logger
        self.onResult = onResult; self.onTransition = onTransition
        self.startInstant = clock.now
        (starts, startsContinuation) = AsyncStream.makeStream(of: Start.self)
    }

    /// Makes the running set of checks equal `targets`: unchanged keys keep running untouched, new
    /// keys start in the state `initial` gives them, vanished keys stop (at their next wake-up).
    @discardableResult
    public func update(targets: [CheckTarget], initial: (CheckKey) -> RiseFall.State = { _ in .unknown }) -> MonitorDiff {
        let (diff, starting): (MonitorDiff, [Start]) = table.withLock { t in
            var wanted: [CheckKey: CheckTarget] = [:]
            for x in targets { wanted[x.key] = x }
            var diff = MonitorDiff(kept: [], added: [], removed: [])
            var starting: [Start] = []
            for k in t.entries.keys.sorted() where wanted[k] == nil {
                t.entries[k] = nil
                diff.removed.append(k)
            }
            for k in wanted.keys.sorted() {
                if t.entries[k] != nil { diff.kept.append(k); continue }
                let x = wanted[k]!
                t.generation += 1
                t.entries[k] = Entry(target: x, generation: t.generation,
                                     machine: RiseFall(rise: x.spec.rise, fall: x.spec.fall, initial: initial(k)))
                starting.append(Start(target: x, generation: t.generation))
                diff.added.append(k)
            }
            return (diff, starting)
        }
        for s in starting { startsContinuation.yield(s) }
        return diff
    }

    /// Current health of every member.
    public func health() -> [CheckKey: MemberHealth] {
        table.withLock { t in
            t.entries.mapValues {
                MemberHealth(target: $0.target, state: $0.machine.state, lastOutcome: $0.lastOutcome,
                             lastLatency: $0.lastLatency, lastTransition: $0.lastTransition, checks: $0.checks)
            }
        }
    }

    /// The rise/fall state of `keys` (absent: not monitored), under one lock: what a per-event
    /// weight decision needs, without copying every member's health.
    public func states(of keys: [CheckKey]) -> [CheckKey: RiseFall.State] {
        table.withLock { t in
            var out: [CheckKey: RiseFall.State] = [:]
            for k in keys { if let e = t.entries[k] { out[k] = e.machine.state } }
            return out
        }
    }

    /// Fails `key` now on evidence from outside its check (passive silence detection, see
    /// ``PassiveSilence``), exactly as a refused connection would: the failure counts at once, an
    /// up or unknown member goes down, and the transition (with `reason`) goes through the same
    /// logging and `onTransition` path as a check's. Recovery stays with the check: `rise`
    /// consecutive successes, counting only checks that started after this call.
    ///
    /// - Returns: the transition, or `nil` when `key` is not monitored or already down.
    @discardableResult
    public func injectFailure(_ key: CheckKey, reason: String) -> HealthTransition? {
        let now = clock.now
        let elapsed = startInstant.duration(to: now)
        let transition: HealthTransition? = table.withLock { t in
            guard var e = t.entries[key] else { return nil }
            let before = e.machine.state
            let actions = e.machine.on(.checkFailed(reason: reason, immediate: true))
            e.injectedAt = now
            var out: HealthTransition?
            for case .markDown(let r) in actions {
                let tr = HealthTransition(key: key, from: before, to: e.machine.state, reason: r, elapsed: elapsed, wallTime: Date())
                e.lastTransition = tr
                e.lastOutcome = .failure(reason: reason, immediate: true)
                out = tr
            }
            t.entries[key] = e
            return out
        }
        if let tr = transition { report(tr) }
        return transition
    }

    private func report(_ tr: HealthTransition) {
        let key = tr.key
        logger.notice("health transition", metadata: [
            "service": "\(key.service)", "backend": "\(key.member)", "address": "\(key.address):\(key.port)",
            "from": "\(tr.from)", "to": "\(tr.to)", "reason": "\(tr.reason)",
        ])
        onTransition(tr)
    }

    /// Runs check loops until graceful shutdown or cancellation.
    ///
    /// With the continuous clock (production), each member's loop runs on one SwiftNIO event loop
    /// (``EventLoopTaskExecutor``), chosen by its start order, and waits with that loop's timer: its
    /// sleep, connect and answer never leave that thread. Other clocks (tests) use the clock's sleep.
    public func run() async throws {
        let pinned = C.self == ContinuousClock.self
        await withDiscardingTaskGroup { group in
            var n = 0
            for await s in starts.cancelOnGracefulShutdown() {
                if pinned {
                    group.addTask(executorPreference: CheckExecutors.executor(n)) { await self.loop(s.target, generation: s.generation) }
                } else {
                    group.addTask { await self.loop(s.target, generation: s.generation) }
                }
                n &+= 1
            }
            group.cancelAll()
        }
    }

    private func isCurrent(_ k: CheckKey, _ g: UInt64) -> Bool {
        table.withLock { $0.entries[k]?.generation == g }
    }

    /// Why a check loop woke up.
    private enum Wake: Sendable { case slot, watch, nothingHeld, cancelled }

    /// Sleeps until `next`, or less when the checker's held connection closes first (the watch);
    /// the watch is raced only when `watching` is true.
    private func wait(until next: C.Instant, watcher: (any ConnectionWatching)?, watching: Bool) async -> Wake {
        if let deadline = next as? ContinuousClock.Instant {
            return await Self.loopWait(until: deadline, watcher: watching ? watcher : nil)
        }
        guard let watcher, watching else {
            do { try await clock.sleep(until: next, tolerance: nil); return .slot } catch { return .cancelled }
        }
        let clock = self.clock
        return await withTaskGroup(of: Wake.self) { group in
            group.addTask {
                do { try await clock.sleep(until: next, tolerance: nil); return .slot } catch { return .cancelled }
            }
            group.addTask { await watcher.waitForHeldConnectionLoss() ? .watch : .nothingHeld }
            var woke = Wake.cancelled
            for await w in group where w != .nothingHeld {
                woke = w
                break
            }
            group.cancelAll()
            return woke
        }
    }

    /// ``wait(until:watcher:watching:)`` on the continuous clock, without a task: the current event
    /// loop's timer and the held connection's close callback race to resume one continuation.
    private static func loopWait(until deadline: ContinuousClock.Instant, watcher: (any ConnectionWatching)?) async -> Wake {
        let first = FirstOf<Wake>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Wake, Never>) in
                first.park(c)
                let delay = ContinuousClock.now.duration(to: deadline)
                let timer = CheckExecutors.currentLoop.scheduleTask(in: .nanoseconds(max(0, delay.wholeNanoseconds))) { first.fire(.slot) }
                first.onEnd { timer.cancel() }
                if let watcher, let withdraw = watcher.onHeldConnectionLoss({ first.fire(.watch) }) { first.onEnd(withdraw) }
            }
        } onCancel: {
            first.fire(.cancelled)
        }
    }

    /// One member's schedule: sleep to the next slot, check, feed rise/fall, report transitions.
    /// Ends when cancelled or when a reload replaced or removed the key.
    ///
    /// Connection watch: for a checker that holds a connection between checks (``ConnectionWatching``),
    /// the closing of that connection wakes the loop for an immediate, extra check (its outcome feeds
    /// rise/fall like any other). The regular schedule is unchanged, and the watch is re-armed only an
    /// `interval` after it fired, so it adds at most one check per interval.
    private func loop(_ target: CheckTarget, generation: UInt64) async {
        let key = target.key
        let interval = Duration.milliseconds(max(1, target.spec.intervalMs))
        let timeout = Duration.milliseconds(max(1, target.spec.timeoutMs))
        let checker = makeChecker(target)
        let watcher = checker as? any ConnectionWatching
        defer { watcher?.shutdown() }
        var next = clock.now.advanced(by: Jitter.offset(seed: seed, key: key, interval: interval))
        var watchArmedAt = clock.now
        while !Task.isCancelled {
            let woke = await wait(until: next, watcher: watcher, watching: clock.now >= watchArmedAt)
            switch woke {
            case .cancelled: return
            case .watch: watchArmedAt = clock.now.advanced(by: interval)
            case .slot, .nothingHeld: break
            }
            guard isCurrent(key, generation) else { return }
            let started = clock.now
            let outcome = await checker.check(timeout: timeout)
            let now = clock.now
            let latency = started.duration(to: now)
            onResult(key, outcome, latency)
            let elapsed = startInstant.duration(to: now)
            let transitions: [HealthTransition]? = table.withLock { t in
                guard var e = t.entries[key], e.generation == generation else { return nil }
                let before = e.machine.state
                // A success from a check that began before an injected failure saw the member
                // before the evidence: it must not count toward `rise`.
                let stale = outcome.isSuccess && e.injectedAt.map { started < $0 } == true
                let actions = stale ? [] : e.machine.on(outcome.event)
                e.checks += 1
                e.lastOutcome = outcome
                e.lastLatency = latency
                var out: [HealthTransition] = []
                for a in actions {
                    let reason: String
                    switch a {
                    case .markUp: reason = "check passed"
                    case .markDown(let r): reason = r
                    }
                    let tr = HealthTransition(key: key, from: before, to: e.machine.state, reason: reason,
                                              elapsed: elapsed, wallTime: Date())
                    e.lastTransition = tr
                    out.append(tr)
                }
                t.entries[key] = e
                return out
            }
            guard let transitions else { return }
            for tr in transitions { report(tr) }
            if woke == .slot { next = next.advanced(by: interval) }
            if next < now { next = now }
        }
    }
}
