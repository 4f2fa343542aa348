import Foundation
import IPVS
import Logging
import ServiceLifecycle
import Synchronization
import Topology
import VRRP
import VRRPTransport
import DaemonAPI
import IPVSModel

/// The director pair's VRRP instance as a `Service`: it runs ``VRRPInstance`` on its own thread next to
/// the reconcile loop. Both directors keep their own IPVS table programmed all the time, so a
/// takeover only moves the VIPs. On graceful shutdown a master sends priority 0 and removes its VIPs,
/// and the peer takes over after Skew_Time.
public final class DirectorService: Service, Sendable {
    /// The pair as this node sees it (as of the last applied reload).
    public var setup: DirectorSetup { current.withLock { $0 } }
    private let current: Mutex<DirectorSetup>
    private let logger: Logger
    private let instance: VRRPInstance
    private let metrics: DaemonMetrics
    private let reported = Mutex<VRRPCounters>(.init())
    /// Whether this node is the pair's master, as the instance's transitions say (the host
    /// controller acts only on the master).
    public let mastership: PairMastership

    /// Opens the instance's sockets (root: raw sockets, rtnetlink, AF_PACKET). Transitions are logged
    /// at notice level with their reason and counted in `tandem_vrrp_transitions_total`.
    public init(setup: DirectorSetup, metrics: DaemonMetrics, logger: Logger) throws(DaemonStartError) {
        self.current = Mutex(setup)
        self.logger = logger
        self.metrics = metrics
        let vrid = setup.pair.vrid
        let pairName = setup.pair.name
        let mastership = PairMastership(describe: { $0 ? "master of pair \(pairName)" : "backup of pair \(pairName): watching" })
        self.mastership = mastership
        do {
            instance = try VRRPInstance(options: setup.options, logger: logger) { rec in
                mastership.set(rec.to == .master)
                logger.notice("vrrp transition", metadata: [
                    "vrid": "\(rec.vrid)", "from": "\(rec.from)", "to": "\(rec.to)", "reason": "\(rec.reason)"])
                metrics.vrrpTransition(vrid: vrid, to: "\(rec.to)", reason: VRRPInstance.code(rec.reason))
            }
        } catch {
            throw DaemonStartError(description: "cannot start VRRP for \(setup.node) on \(setup.options.interface): \(error) " +
                                   "(check the pair's `interface` or directors.nodes.\(setup.node).interface; tandemd needs CAP_NET_ADMIN and CAP_NET_RAW)",
                                   kind: .unavailable)
        }
    }

    /// Runs the VRRP loop until graceful shutdown or cancellation. The service group stops this
    /// service first on SIGTERM (it is last in start order), so a master resigns (priority-0 advert,
    /// VIPs off) while everything else still runs.
    ///
    /// (A second SIGTERM dispatch source here, beside the service group's, was tried to make the
    /// resignation independent of the group: in the UML drill tandemd then ignored SIGTERM entirely
    /// and kept the VIPs, so it was taken out. See docs/director.md.)
    public func run() async throws {
        let instance = self.instance
        await withGracefulShutdownHandler {
            await instance.runOnDedicatedThread()
        } onGracefulShutdown: {
            instance.shutdown()
        }
    }

    /// The VRRP part of a SIGHUP reload (``ReloadFollower``), for `Run.swift`'s `followers`.
    ///
    /// `prepare` rebuilds the pair with ``DirectorSetup/make(topology:node:overrides:authKey:)`` from the
    /// new topology (its `directors` and `directors.nodes`, the key read afresh from its `key_file`)
    /// and the same `overrides`, and refuses (throws, naming the key and saying a restart is needed)
    /// what the running instance cannot change: leaving the pair, VRID, interfaces, the primary
    /// address and its family, unicast peers, the key file or its content. The commit
    /// applies the rest live (priority, preempt and its delay, advert interval, VIPs, witness, fast
    /// detector; see ``VRRPStateMachine``, "Reconfiguration") and returns a one-line summary, or `nil`
    /// when the pair did not change.
    public func reloadFollower(overrides: DirectorOverrides) -> ReloadFollower {
        ReloadFollower(name: "vrrp") { [self] _, new in
            let running = setup
            let next: DirectorSetup
            let changes: [String]
            do {
                let key = DirectorSetup.pair(of: running.node, in: new) == nil ? running.options.authKey
                    : try DirectorSetup.loadKey(topology: new, node: running.node, overrides: overrides)
                next = try DirectorSetup.make(topology: new, node: running.node, overrides: overrides, authKey: key)
                changes = try DirectorSetup.liveChanges(from: running, to: next)
            } catch {
                if DirectorSetup.pair(of: running.node, in: new) == nil {
                    throw DirectorSetupError(description: "\(running.node) is no longer a member of a director pair: leaving the pair needs a " +
                                             "restart of tandemd (after the peer took over)")
                }
                throw error
            }
            return { [self] in
                guard !changes.isEmpty else { return nil }
                current.withLock { $0 = next }
                instance.reconfigure(next.options)
                let line = "vrrp: " + changes.joined(separator: ", ")
                logger.notice("vrrp reload", metadata: ["changes": "\(changes.joined(separator: "; "))"])
                return line
            }
        }
    }

    /// The instance's latest snapshot.
    public var status: VRRPStatus { instance.status }

    /// Brings the VRRP gauges and counters of `/metrics` up to date with the latest snapshot.
    public func refreshMetrics(now: Date = Date()) {
        let s = instance.status
        let delta = reported.withLock { last in
            let d = VRRPCounters(sent: s.advertsSent - last.sent, received: s.advertsReceived - last.received,
                                 drops: s.drops.merging(last.drops.mapValues { -$0 }, uniquingKeysWith: +))
            last = VRRPCounters(sent: s.advertsSent, received: s.advertsReceived, drops: s.drops)
            return d
        }
        metrics.vrrp(status: s, delta: delta, peerAge: s.peer.map { now.timeIntervalSince1970 - $0.lastSeenUnix })
    }
}

/// Advert and drop counts already pushed to the metrics registry.
struct VRRPCounters: Sendable {
    var sent = 0
    var received = 0
    var drops: [String: Int] = [:]
}

/// Keeps the kernel's IPVS connection-sync daemons as ``ConnectionSyncPolicy`` wants them: on start and
/// then every `period` (so a daemon stopped behind tandemd's back comes back). The daemons are left
/// running on shutdown, like the IPVS table: a restarting tandemd must not drop the peer's connections.
public final class ConnectionSyncService: Service, Sendable {
    /// What the daemons should be.
    public let desired: [SyncDaemon]
    private let kernel: IPVSKernel
    private let period: Duration
    private let logger: Logger
    private let state = Mutex<(running: [SyncDaemon], error: String?)>(([], nil))

    /// Creates the service for `desired` (from ``ConnectionSyncPolicy/daemons(pair:node:interface:)``).
    public init(kernel: IPVSKernel, desired: [SyncDaemon], period: Duration, logger: Logger) {
        self.kernel = kernel; self.desired = desired; self.period = period; self.logger = logger
    }

    /// One pass: read, change what differs, read back. Errors are logged and shown in `/status`.
    public func syncOnce() async {
        do {
            let (changes, running) = try await kernel.syncDaemons(desired)
            for c in changes { logger.notice("ipvs sync daemon", metadata: ["change": "\(c)"]) }
            state.withLock { $0 = (running, nil) }
        } catch {
            logger.error("ipvs sync daemons could not be set", metadata: ["error": "\(error)"])
            state.withLock { $0.error = "\(error)" }
        }
    }

    /// Runs until graceful shutdown.
    public func run() async throws {
        await syncOnce()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: self.period) } } catch { return }
            await syncOnce()
        }
    }

    /// The daemons as last read from the kernel, and the last error (cleared by a good pass).
    public var observed: (running: [SyncDaemon], error: String?) { state.withLock { $0 } }
}

/// Builds the `director` part of `/status` from the instance's snapshot. Pure.
public enum DirectorReport {
    /// The report; `now` is the wall clock, used for "peer last seen N s ago".
    public static func make(status s: VRRPStatus, setup: DirectorSetup, syncDesired: [SyncDaemon],
                            syncRunning: [SyncDaemon]?, syncError: String?, now: Date) -> StatusReport.Director {
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let peer = s.peer.map { p in
            StatusReport.Director.PeerSeen(address: p.address, priority: p.priority,
                                           at: iso.string(from: Date(timeIntervalSince1970: p.lastSeenUnix)),
                                           secondsAgo: (max(0, now.timeIntervalSince1970 - p.lastSeenUnix) * 1000).rounded() / 1000)
        }
        let transitions = s.recent.map { StatusReport.Director.Transition(at: $0.at, from: $0.from, to: $0.to, reason: $0.reason) }
        func row(_ d: SyncDaemon) -> StatusReport.Director.SyncDaemonRow {
            .init(role: d.role.rawValue, interface: d.interface, syncID: Int(d.syncID))
        }
        return StatusReport.Director(
            pair: setup.pair.name, vrid: s.vrid, state: s.state, priority: s.priority, peer: setup.peer,
            vips: s.vips, vipsHeld: s.vipsHeld, transitions: s.transitions, lastTransition: transitions.last,
            recentTransitions: transitions, peerLastSeen: peer, advertsSent: s.advertsSent,
            advertsReceived: s.advertsReceived, drops: s.drops, fastDetector: s.fastDetector, witness: s.witness,
            connectionSync: syncDesired.map(row), connectionSyncRunning: syncRunning.map { $0.map(row) },
            connectionSyncError: syncError)
    }
}

/// The director half of a running `tandemd` (VRRP plus connection sync), as the status API sees it.
public struct DirectorRuntime: Sendable {
    /// The VRRP service.
    public var vrrp: DirectorService
    /// The sync-daemon service, when connection sync is on.
    public var sync: ConnectionSyncService?

    /// Creates the view.
    public init(vrrp: DirectorService, sync: ConnectionSyncService?) { self.vrrp = vrrp; self.sync = sync }

    /// The `director` part of `/status`.
    public func report(now: Date = Date()) -> StatusReport.Director {
        let observed = sync?.observed
        return DirectorReport.make(status: vrrp.status, setup: vrrp.setup, syncDesired: sync?.desired ?? [],
                                   syncRunning: observed?.running, syncError: observed?.error, now: now)
    }

    /// Brings the VRRP and sync metrics up to date (called before `/metrics` renders).
    public func refreshMetrics(_ metrics: DaemonMetrics) {
        vrrp.refreshMetrics()
        if let sync { metrics.syncDaemons(sync.observed.running) }
    }
}

/// Whether this director is its pair's master, as a value that can be read and followed: the VRRP
/// instance sets it on every transition (``DirectorService/mastership``); the host controller
/// follows it (only the master acts). A director without a VRRP instance never becomes master.
public final class PairMastership: Sendable {
    private struct State {
        var isMaster = false
        var followers: [Int: AsyncStream<Bool>.Continuation] = [:]
        var nextID = 0
    }
    private let state = Mutex(State())
    private let describe: @Sendable (Bool) -> String

    /// Starts as not master; `describe` words the state for `/status` (`master of pair dir`).
    public init(describe: @escaping @Sendable (Bool) -> String) { self.describe = describe }

    /// For a director that runs no VRRP instance (not in a pair, `--no-vrrp`, `--dry-run-kernel`):
    /// never master, so its host controller only watches. Acting without an election could fence
    /// and start VMs from two directors at once.
    public static func withoutVRRP() -> PairMastership {
        PairMastership(describe: { _ in "no VRRP instance: watching only" })
    }

    /// Whether this director is the master now.
    public var isMaster: Bool { state.withLock { $0.isMaster } }

    /// The state in words, for `/status`.
    public var summary: String { describe(isMaster) }

    /// Records the election's outcome; followers see it when it changed.
    public func set(_ master: Bool) {
        state.withLock { s in
            guard s.isMaster != master else { return }
            s.isMaster = master
            for c in s.followers.values { c.yield(master) }
        }
    }

    /// The current state at once, then every change, until the consuming task is cancelled.
    public func updates() -> AsyncStream<Bool> {
        let (stream, continuation) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingNewest(8))
        let id = state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.followers[id] = continuation
            continuation.yield(s.isMaster)
            return id
        }
        continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.followers.removeValue(forKey: id) } }
        return stream
    }
}
