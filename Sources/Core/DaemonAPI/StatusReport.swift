import Foundation
import RingHealth

/// What `GET /status` returns and `tandemctl status` prints.
public struct StatusReport: Codable, Sendable, Equatable {
    /// One member of a service.
    public struct Member: Codable, Sendable, Equatable {
        /// VM name.
        public var member: String
        /// `address:port`.
        public var address: String
        /// Weight in the topology.
        public var topologyWeight: Int
        /// Weight the daemon wants now.
        public var weight: Int
        /// Weight the kernel held at the last reconcile, if present.
        public var kernelWeight: Int?
        /// `unknown`, `up` or `down`.
        public var state: String
        /// Drained by an operator (`POST /drain`).
        public var drained: Bool
        /// Checks run.
        public var checks: Int
        /// Last outcome (`success`, `timeout`, or the failure reason).
        public var lastResult: String?
        /// Last check's latency in milliseconds.
        public var lastLatencyMs: Double?
        /// Last transition: `from → to`.
        public var lastTransition: String?
        /// Why.
        public var lastReason: String?
        /// When (ISO 8601).
        public var lastTransitionAt: String?
        /// Creates a value.
        public init(member: String, address: String, topologyWeight: Int, weight: Int, kernelWeight: Int? = nil, state: String, drained: Bool, checks: Int, lastResult: String? = nil, lastLatencyMs: Double? = nil, lastTransition: String? = nil, lastReason: String? = nil, lastTransitionAt: String? = nil) {
            self.member = member; self.address = address; self.topologyWeight = topologyWeight; self.weight = weight; self.kernelWeight = kernelWeight; self.state = state; self.drained = drained; self.checks = checks; self.lastResult = lastResult; self.lastLatencyMs = lastLatencyMs; self.lastTransition = lastTransition; self.lastReason = lastReason; self.lastTransitionAt = lastTransitionAt
        }
    }

    /// One virtual service.
    public struct Service: Codable, Sendable, Equatable {
        /// Name.
        public var name: String
        /// `vip:port` (or `fwmark N`).
        public var address: String
        /// Scheduler.
        public var scheduler: String
        /// Check kind and timing, e.g. `http GET /healthz every 1000ms timeout 500ms rise 2 fall 2`.
        public var check: String
        /// `keep_last` or `sorry_server addr:port`.
        public var lastMemberPolicy: String
        /// Set when the last-member policy is in force: what it did.
        public var lastMemberAction: String?
        /// How long the service's last change took from the event (a health transition, a drain, a
        /// writer decision, a reload) to the kernel holding it, in milliseconds.
        public var lastEventToKernelMs: Double?
        /// Members.
        public var members: [Member]
        /// Creates a value.
        public init(name: String, address: String, scheduler: String, check: String, lastMemberPolicy: String, lastMemberAction: String? = nil, lastEventToKernelMs: Double? = nil, members: [Member]) {
            self.name = name; self.address = address; self.scheduler = scheduler; self.check = check; self.lastMemberPolicy = lastMemberPolicy; self.lastMemberAction = lastMemberAction; self.lastEventToKernelMs = lastEventToKernelMs; self.members = members
        }
    }

    /// Counts over every service of the site.
    public struct Summary: Codable, Sendable, Equatable {
        /// Services in the topology.
        public var services: Int
        /// Services listed in this report (fewer than `services` on a large site: see `omitted`).
        public var shown: Int
        /// Members by state: `up`, `down`, `unknown`, and `drained` (by an operator).
        public var members: [String: Int]
        /// Set when services were left out, with how to see them.
        public var omitted: String?
        /// Creates a value.
        public init(services: Int, shown: Int, members: [String: Int], omitted: String? = nil) {
            self.services = services; self.shown = shown; self.members = members; self.omitted = omitted
        }
    }

    /// This node's side of the director pair: VRRP and IPVS connection sync.
    public struct Director: Codable, Sendable, Equatable {
        /// One VRRP transition.
        public struct Transition: Codable, Sendable, Equatable {
            /// When (ISO 8601).
            public var at: String
            /// Previous state.
            public var from: String
            /// New state.
            public var to: String
            /// Why.
            public var reason: String
            /// Creates a value.
            public init(at: String, from: String, to: String, reason: String) {
                self.at = at; self.from = from; self.to = to; self.reason = reason
            }
        }
        /// The last advert heard from the peer.
        public struct PeerSeen: Codable, Sendable, Equatable {
            /// Its source address.
            public var address: String
            /// Its advertised priority.
            public var priority: Int
            /// When (ISO 8601).
            public var at: String
            /// Seconds before the report was made.
            public var secondsAgo: Double
            /// Creates a value.
            public init(address: String, priority: Int, at: String, secondsAgo: Double) {
                self.address = address; self.priority = priority; self.at = at; self.secondsAgo = secondsAgo
            }
        }
        /// One IPVS sync daemon.
        public struct SyncDaemonRow: Codable, Sendable, Equatable {
            /// `master` or `backup`.
            public var role: String
            /// Multicast interface.
            public var interface: String
            /// Sync ID.
            public var syncID: Int
            /// Creates a value.
            public init(role: String, interface: String, syncID: Int) {
                self.role = role; self.interface = interface; self.syncID = syncID
            }
        }
        /// Pair name.
        public var pair: String
        /// VRID.
        public var vrid: Int
        /// `initialize`, `backup`, `master` or `fault` (a tracked interface is down; ``lastTransition`` says which).
        public var state: String
        /// Our priority.
        public var priority: Int
        /// The peer director's name.
        public var peer: String
        /// The VIPs the pair moves.
        public var vips: [String]
        /// Whether this node holds them now.
        public var vipsHeld: Bool
        /// Transitions since start.
        public var transitions: Int
        /// The last transition and its reason.
        public var lastTransition: Transition?
        /// The last few transitions, oldest first.
        public var recentTransitions: [Transition]
        /// The peer as last heard (`nil`: never).
        public var peerLastSeen: PeerSeen?
        /// Adverts sent.
        public var advertsSent: Int
        /// Adverts accepted.
        public var advertsReceived: Int
        /// Dropped packets by reason.
        public var drops: [String: Int]
        /// Fast detector settings, if on.
        public var fastDetector: String?
        /// The split-brain witness, if any.
        public var witness: String?
        /// The sync daemons the policy wants (empty: connection sync off).
        public var connectionSync: [SyncDaemonRow]
        /// The sync daemons the kernel runs, as last read (`nil`: not read).
        public var connectionSyncRunning: [SyncDaemonRow]?
        /// The last error setting them, if any.
        public var connectionSyncError: String?
        /// Creates a value.
        public init(pair: String, vrid: Int, state: String, priority: Int, peer: String, vips: [String], vipsHeld: Bool, transitions: Int, lastTransition: Transition? = nil, recentTransitions: [Transition], peerLastSeen: PeerSeen? = nil, advertsSent: Int, advertsReceived: Int, drops: [String: Int], fastDetector: String? = nil, witness: String? = nil, connectionSync: [SyncDaemonRow], connectionSyncRunning: [SyncDaemonRow]? = nil, connectionSyncError: String? = nil) {
            self.pair = pair; self.vrid = vrid; self.state = state; self.priority = priority; self.peer = peer; self.vips = vips; self.vipsHeld = vipsHeld; self.transitions = transitions; self.lastTransition = lastTransition; self.recentTransitions = recentTransitions; self.peerLastSeen = peerLastSeen; self.advertsSent = advertsSent; self.advertsReceived = advertsReceived; self.drops = drops; self.fastDetector = fastDetector; self.witness = witness; self.connectionSync = connectionSync; self.connectionSyncRunning = connectionSyncRunning; self.connectionSyncError = connectionSyncError
        }
    }

    /// Node name (`--node`).
    public var node: String
    /// Site name.
    public var site: String
    /// Topology file.
    public var topologyFile: String
    /// Daemon start time (ISO 8601).
    public var startedAt: String
    /// `real` or `dry-run` kernel.
    public var kernel: String
    /// Last reconcile: time, operation count and errors.
    public var lastReconcile: String?
    /// Last reload outcome.
    public var lastReload: String?
    /// Services.
    public var services: [Service]
    /// Counts over the whole site, whatever ``services`` shows.
    public var summary: Summary?
    /// The director pair (VRRP state, peer, connection sync); `nil` when this node runs no VRRP.
    public var director: Director?
    /// The database ring as this node's ring monitor sees it; `nil` when the topology has no ring.
    public var ring: RingReport?
    /// The hypervisor hosts as this director's host controller sees them; `nil` when no host of the
    /// topology has a `libvirt:` key.
    public var hosts: HostsReport?

    /// Creates a report.
    public init(node: String, site: String, topologyFile: String, startedAt: String, kernel: String,
                lastReconcile: String?, lastReload: String?, services: [Service], director: Director? = nil) {
        self.node = node; self.site = site; self.topologyFile = topologyFile; self.startedAt = startedAt
        self.kernel = kernel; self.lastReconcile = lastReconcile; self.lastReload = lastReload
        self.services = services; self.director = director
    }

    /// A page for people: one line per member, failures first in each service.
    public func rendered() -> String {
        var out = "tandemd on \(node) (site \(site)), topology \(topologyFile), kernel \(kernel), up since \(startedAt)\n"
        if let r = lastReconcile { out += "last reconcile: \(r)\n" }
        if let r = lastReload { out += "last reload:    \(r)\n" }
        if let d = director {
            out += "director pair \(d.pair): \(d.state.uppercased()) vrid \(d.vrid) priority \(d.priority), VIPs \(d.vipsHeld ? "held" : "not held") (\(d.vips.joined(separator: ", ")))\n"
            if let t = d.lastTransition { out += "  since \(t.at): \(t.from) → \(t.to) (\(t.reason))\n" }
            if let p = d.peerLastSeen {
                out += String(format: "  peer %@ (%@) last heard %.1f s ago, priority %d\n", d.peer, p.address, p.secondsAgo, p.priority)
            } else {
                out += "  peer \(d.peer) never heard\n"
            }
            if !d.connectionSync.isEmpty {
                out += "  connection sync: " + d.connectionSync.map { "\($0.role) syncid \($0.syncID) on \($0.interface)" }.joined(separator: ", ") + "\n"
            }
            if let e = d.connectionSyncError { out += "  !! connection sync: \(e)\n" }
        }
        if let r = ring { out += "\n" + r.rendered() + (r.rendered().hasSuffix("\n") ? "" : "\n") }
        if let h = hosts { out += "\n" + h.rendered() }
        if let s = summary {
            out += "\n\(s.services) services; members: " + s.members.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + "\n"
            if let o = s.omitted { out += "(\(o))\n" }
        }
        for s in services {
            let up = s.members.filter { $0.state == "up" && !$0.drained }.count
            out += "\n\(s.name)  \(s.address)  \(s.scheduler)  \(up)/\(s.members.count) serving   check: \(s.check)\n"
            if let a = s.lastMemberAction { out += "  !! \(a)\n" }
            let rows = s.members.sorted { ($0.state == "up" ? 1 : 0, $0.member) < ($1.state == "up" ? 1 : 0, $1.member) }
            for m in rows {
                let state = m.drained ? "DRAINED" : m.state.uppercased()
                let kw = m.kernelWeight.map { $0 == m.weight ? "" : " (kernel \($0))" } ?? " (not in kernel)"
                var line = "  \(pad(state, 8)) \(pad(m.member, 12)) \(pad(m.address, 22)) weight \(m.weight)/\(m.topologyWeight)\(kw)"
                if let ms = m.lastLatencyMs { line += String(format: "  %.1f ms", ms) }
                if let t = m.lastTransition, let at = m.lastTransitionAt {
                    line += "  since \(at): \(t)"
                    if let r = m.lastReason { line += " (\(r))" }
                }
                out += line + "\n"
            }
        }
        return out
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
}
