import Foundation
import Logging
import Net
import ServiceLifecycle
import Synchronization
import Syscall
import Topology
import UnixSignals

/// What the reconcile loop and the health monitor did last, for readiness and the watchdog.
///
/// The reconcile loop beats once per pass it finishes (`TandemDaemon.reconcileOnce`, an empty pass
/// included); the health monitor beats once per check result (``DaemonMetrics/checkFinished(_:_:_:)``).
/// Nothing here runs on a timer of its own: a loop that stops stops beating.
public final class DaemonHeartbeat: Sendable {
    /// A reading of the beats.
    public struct Beats: Sendable, Equatable {
        /// Reconcile passes finished since start.
        public var passes = 0
        /// When the last check result came in (start, before the first).
        public var lastCheck: ContinuousClock.Instant
        /// A reading.
        public init(passes: Int = 0, lastCheck: ContinuousClock.Instant) { self.passes = passes; self.lastCheck = lastCheck }
    }

    private let beats = Mutex(Beats(lastCheck: .now))
    private let first: AsyncStream<Void>
    private let firstContinuation: AsyncStream<Void>.Continuation

    /// A heartbeat with no beats yet.
    public init() { (first, firstContinuation) = AsyncStream.makeStream(of: Void.self) }

    /// The reconcile loop finished a pass (the first one is the full pass that programs the table).
    public func reconcilePassEnded() {
        let n = beats.withLock { b in b.passes += 1; return b.passes }
        if n == 1 { firstContinuation.yield(); firstContinuation.finish() }
    }

    /// A health check finished.
    public func checkFinished() { beats.withLock { $0.lastCheck = .now } }

    /// The beats so far.
    public var reading: Beats { beats.withLock { $0 } }

    /// Returns once the first reconcile pass has finished (true), or when the task is cancelled first
    /// (false). For one waiter: ``SystemdService``.
    public func firstPass() async -> Bool {
        for await _ in first { return true }
        return reading.passes > 0
    }
}

/// The watchdog's judgement of one period: alive, or why not. Pure.
public enum Liveness {
    /// `nil` when both loops showed life since `previous`, else what is wrong. The reconcile loop must
    /// have finished a pass (the watchdog asks for one each period); the health monitor must have
    /// reported a check within `checkWindow`, unless it has nothing to check (`checkWindow` nil).
    public static func problem(previous: DaemonHeartbeat.Beats, now: DaemonHeartbeat.Beats, at: ContinuousClock.Instant,
                               checkWindow: Duration?) -> String? {
        if now.passes == previous.passes {
            return "the reconcile loop finished no pass since the last watchdog period"
        }
        if let checkWindow, now.lastCheck.duration(to: at) > checkWindow {
            return "the health monitor reported no check for \(now.lastCheck.duration(to: at).humanReadable) (more than \(checkWindow.humanReadable))"
        }
        return nil
    }

    /// How long the health monitor may stay silent: twice the slowest check's interval plus timeout
    /// (the first check of a member may wait up to one interval of start jitter); `nil` when no
    /// service has members to check.
    public static func checkWindow(_ topology: Topology) -> Duration? {
        let slowest = topology.services.filter { !$0.members.isEmpty }.map { $0.check.intervalMs + $0.check.timeoutMs }.max()
        return slowest.map { .milliseconds(2 * $0) }
    }
}

/// `tandemd`'s side of systemd (`Type=notify`), and its SIGHUP handling.
///
/// - `READY=1` once the first reconcile pass has finished: the kernel table is programmed.
/// - SIGHUP: `RELOADING=1` (with `MONOTONIC_USEC`), the reload (``TandemDaemon/reload(path:followers:)``,
///   with its followers), then `READY=1` with the outcome as `STATUS=`. Without systemd only the
///   reload runs.
/// - With `WatchdogSec=`: `WATCHDOG=1` every half period, but only when ``Liveness`` finds both the
///   reconcile loop and the health monitor alive; each period it asks the loop for a pass, so an idle
///   but healthy loop answers and a stuck one does not, and systemd restarts the daemon.
/// - `STOPPING=1` at graceful shutdown; it is the group's last service, so it goes first.
public struct SystemdService<C: Clock>: Service where C.Duration == Duration {
    let daemon: TandemDaemon<C>
    let topologyPath: String
    let followers: [ReloadFollower]
    let notifier: SystemdNotifier?
    let watchdog: Duration?
    let logger: Logger

    /// Creates the service. `notifier` nil: not run by systemd (reload only); `watchdog` nil: no pings.
    public init(daemon: TandemDaemon<C>, topologyPath: String, followers: [ReloadFollower], notifier: SystemdNotifier?,
                watchdog: Duration?, logger: Logger) {
        self.daemon = daemon; self.topologyPath = topologyPath; self.followers = followers
        self.notifier = notifier; self.watchdog = watchdog; self.logger = logger
    }

    /// Runs until graceful shutdown, then says STOPPING=1.
    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await withDiscardingTaskGroup { group in
            group.addTask { await self.readyThenWatch() }
            for await _ in signals.cancelOnGracefulShutdown() {
                send("RELOADING=1") { try $0.reloading(status: "reloading \(topologyPath)") }
                let outcome: String
                switch await daemon.reload(path: topologyPath, followers: followers) {
                case .applied(let diff): outcome = "reload applied: \(diff.kept.count) checks kept, \(diff.added.count) started, \(diff.removed.count) stopped"
                case .refused: outcome = "reload refused, running configuration unchanged (see the log or /status lastReload)"
                }
                send("READY=1") { try $0.ready(status: outcome) }
            }
            group.cancelAll()
        }
        send("STOPPING=1") { try $0.stopping(status: "stopping; the IPVS table is left as it is") }
    }

    private func readyThenWatch() async {
        guard await daemon.metrics.heartbeat.firstPass() else { return }
        let n = daemon.topology.services.count
        send("READY=1") { try $0.ready(status: "running: first reconcile done, \(n) service\(n == 1 ? "" : "s")") }
        guard let watchdog, notifier != nil else { return }
        let clock = ContinuousClock()
        var previous = daemon.metrics.heartbeat.reading
        var failing = false
        while !Task.isCancelled {
            daemon.requestReconcile()  // an idle loop answers with an empty pass; a stuck one does not
            do { try await Task.sleep(for: watchdog / 2) } catch { return }
            let now = daemon.metrics.heartbeat.reading
            if let problem = Liveness.problem(previous: previous, now: now, at: clock.now, checkWindow: Liveness.checkWindow(daemon.topology)) {
                if !failing { logger.error("watchdog ping withheld: systemd restarts tandemd if this lasts", metadata: ["reason": "\(problem)"]) }
                failing = true
            } else {
                if failing { logger.notice("watchdog pings resumed") }
                failing = false
                send("WATCHDOG=1") { try $0.watchdog() }
            }
            previous = now
        }
    }

    /// Sends one notice; a failure is logged (systemd's socket gone is no reason to stop serving).
    private func send(_ what: String, _ body: (SystemdNotifier) throws -> Void) {
        guard let notifier else { return }
        do { try body(notifier) } catch {
            logger.warning("cannot notify systemd", metadata: ["notice": "\(what)", "error": "\(error)"])
        }
    }
}
