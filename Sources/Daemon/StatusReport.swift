import Foundation

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
        /// Members.
        public var members: [Member]
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

    /// A page for people: one line per member, failures first in each service.
    public func rendered() -> String {
        var out = "tandemd on \(node) (site \(site)), topology \(topologyFile), kernel \(kernel), up since \(startedAt)\n"
        if let r = lastReconcile { out += "last reconcile: \(r)\n" }
        if let r = lastReload { out += "last reload:    \(r)\n" }
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
