import HealthCheck
import IPVS
import Logging
import Reconcile
import ServiceLifecycle
import Synchronization
import Topology
import Health
import IPVSModel

/// Passive silence detection (docs/health-checks.md): polls what the director sees of each member
/// of every service with `passive:` on, feeds one ``PassiveSilence`` per member, and fails a member
/// the rule finds silent through ``HealthMonitor/injectFailure(_:reason:)``, so its weight, metrics
/// and `/status` follow exactly as for a refused check. Its active check brings it back.
///
/// Every pass re-reads which services have `passive:` from ``TandemDaemon/topology``, so a SIGHUP
/// reload turns it on, off or retunes it; a member whose settings changed starts afresh. It polls
/// every quarter of the smallest window (at least 20 ms), and not at all while no service has it.
public final class PassiveWatch<C: Clock>: Service, Sendable where C.Duration == Duration {
    private struct Watched {
        var config: PassiveSilence.Config
        var machine: PassiveSilence
    }

    private let daemon: TandemDaemon<C>
    private let source: any PassiveTrafficSource
    private let clock: C
    private let origin: C.Instant
    private let logger: Logger
    private let machines = Mutex<[MemberRef: Watched]>([:])

    /// Creates the watch over `daemon`'s topology, reading traffic from `source` (the daemon's kernel).
    public init(daemon: TandemDaemon<C>, source: any PassiveTrafficSource, clock: C, logger: Logger) {
        self.daemon = daemon; self.source = source; self.clock = clock; self.logger = logger
        origin = clock.now
    }

    /// Poll period for `topology`: a quarter of the smallest window, at least 20 ms; `nil` when no
    /// service has passive detection.
    public static func period(_ topology: Topology) -> Duration? {
        let windows = topology.services.compactMap { $0.passive?.windowMs }
        guard let w = windows.min() else { return nil }
        return .milliseconds(max(20, w / 4))
    }

    /// Runs until shutdown. While no service has `passive:` it only re-reads the topology every second.
    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let period = Self.period(daemon.topology)
            if period != nil { await pass() }
            let clock = self.clock
            do { try await cancelWhenGracefulShutdown { try await clock.sleep(for: period ?? .seconds(1)) } } catch { return }
        }
    }

    /// One poll: read the traffic of every passive service, feed the machines, fail the silent members.
    /// - Returns: the members failed in this pass with their reasons (for tests and logs).
    @discardableResult
    public func pass() async -> [(MemberRef, String)] {
        let t = daemon.topology
        var wanted: [MemberRef: (PassiveSilence.Config, ServiceKey, DestinationKey)] = [:]
        var keys: [ServiceKey] = []
        for s in t.services {
            guard let p = s.passive, s.forwarding == .nat else { continue }
            let sk = TopologyMapping.serviceKey(s)
            keys.append(sk)
            let config = PassiveSilence.Config(window: .milliseconds(p.windowMs), minConnections: p.minConnections)
            for m in s.members {
                guard let a = t.address(of: m, in: s) else { continue }
                wanted[MemberRef(service: s.name, member: m.name)] = (config, sk, DestinationKey(address: a, port: m.port))
            }
        }
        guard !keys.isEmpty else {
            machines.withLock { $0 = [:] }
            return []
        }
        let traffic: [ServiceKey: [DestinationKey: MemberTraffic]]
        do { traffic = try await source.traffic(of: keys) } catch {
            logger.warning("passive detection: cannot read the kernel's traffic; this pass is skipped", metadata: ["error": "\(error)"])
            return []
        }
        let now = origin.duration(to: clock.now)
        let states = daemon.memberStates()
        let events: [(MemberRef, String)] = machines.withLock { table in
            table = table.filter { wanted[$0.key]?.0 == $0.value.config }
            var out: [(MemberRef, String)] = []
            for (ref, (config, sk, dk)) in wanted.sorted(by: { $0.key.description < $1.key.description }) {
                // A member the kernel does not hold (yet) is not judged.
                guard let seen = traffic[sk]?[dk] else { continue }
                var w = table[ref] ?? Watched(config: config, machine: PassiveSilence(config: config))
                // Back up through its check after an event: the member answers again.
                if w.machine.phase == .reported && states[ref] == .up { w.machine.checkRecovered() }
                let counters = seen.stats.map {
                    PassiveSilence.Counters(connections: $0.connections, inPackets: $0.inPackets, outPackets: $0.outPackets)
                }
                for case .silent(let reason) in w.machine.observe(.init(time: now, waiting: seen.waiting, counters: counters)) {
                    out.append((ref, reason))
                }
                table[ref] = w
            }
            return out
        }
        // A member is silent relative to its peers. When every other member that is up looks silent
        // too, the likely cause is on the director's or the clients' side (a packet backlog in a busy
        // director, a client-side outage): drain nothing. The episode then ends at the next pass,
        // since the member is still up (`checkRecovered`).
        let aged: [MemberRef: Int] = machines.withLock { $0.mapValues { $0.machine.agedWaiting } }
        var failed: [(MemberRef, String)] = []
        for (ref, reason) in events {
            let peers = wanted.keys.filter { $0.service == ref.service && $0 != ref && states[$0] == .up }
            // A peer "looks silent" with even one connection waiting the window: a member that answers
            // never has one.
            if !peers.isEmpty, peers.allSatisfy({ (aged[$0] ?? 0) >= 1 }) {
                logger.warning("passive detection: every member of the service looks silent; draining none (director or client side?)",
                               metadata: ["service": "\(ref.service)", "backend": "\(ref.member)", "reason": "\(reason)"])
                continue
            }
            daemon.metrics.passiveSilence(service: ref.service, member: ref.member)
            let keys = daemon.monitor.health().keys.filter { $0.service == ref.service && $0.member == ref.member }
            var changed = false
            for k in keys where daemon.monitor.injectFailure(k, reason: reason) != nil { changed = true }
            logger.notice("passive detection: member silent", metadata: [
                "service": "\(ref.service)", "backend": "\(ref.member)", "reason": "\(reason)",
                "drained": "\(changed)",
            ])
            if changed { failed.append((ref, reason)) }
        }
        return failed
    }
}
