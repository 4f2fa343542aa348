import Net

/// How one node answers the monitor right now.
public enum Reachability: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Not probed yet (monitor just started).
    case notYetProbed
    /// Answered within `silentAfter`.
    case answering
    /// The last probe failed.
    case failed(ProbeFailure)
    /// No answer for longer than `silentAfter` (a probe is stuck: hung node).
    case silent(forSeconds: Double)

    /// True for ``answering``.
    public var isAnswering: Bool { self == .answering }

    /// A phrase for reports.
    public var description: String {
        switch self {
        case .notYetProbed: return "not probed yet"
        case .answering: return "answering"
        case .failed(let f): return f.description
        case .silent(let s): return "no answer for \(formatSeconds(s)) (hung?)"
        }
    }
}

/// Whether a node's data can be trusted.
public enum NodeVerdict: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Up to date with every answering node's writes.
    case trusted
    /// Take it out of service: unreachable, its replication is broken, or it misses writes.
    case drain(reason: String)

    /// True for ``trusted``.
    public var isTrusted: Bool { self == .trusted }

    /// "trusted" or "drain: <reason>".
    public var description: String {
        switch self {
        case .trusted: return "trusted"
        case .drain(let r): return "drain: \(r)"
        }
    }
}

/// One node in a ``RingReport``.
public struct NodeReport: Sendable, Hashable, Codable {
    /// Node name.
    public var name: String
    /// "host:port".
    public var endpoint: String
    /// `@@server_id`, once known.
    public var serverID: UInt32?
    /// `@@gtid_domain_id`, once known.
    public var gtidDomainID: UInt32?
    /// How it answers.
    public var reachability: Reachability
    /// Trusted or drain.
    public var verdict: NodeVerdict
    /// Sequence of the last heartbeat committed on it (this run), if any.
    public var lastHeartbeatWritten: UInt64?
    /// Last heartbeat write error, while writes fail.
    public var heartbeatWriteError: String?
    /// Origin node name → newest heartbeat sequence of that origin found on this node.
    public var appliedHeartbeats: [String: UInt64]
    /// `@@gtid_binlog_pos` per domain (last observation).
    public var gtidBinlogPos: [UInt32: UInt64]
    /// `@@gtid_current_pos` per domain (last observation).
    public var gtidCurrentPos: [UInt32: UInt64]
    /// Origin node name → lag of that origin's heartbeats here, in seconds (answering origins).
    public var lagSeconds: [String: Double]
}

/// State of one replication link.
public enum LinkState: String, Sendable, Hashable, Codable {
    /// Heartbeats of the source arrive at the target in time, threads run.
    case up
    /// Data flows but late, or the link cannot be fully judged.
    case degraded
    /// Data from the source does not reach the target.
    case down
}

/// One link in a ``RingReport``.
public struct LinkReport: Sendable, Hashable, Codable {
    /// Source → target.
    public var id: RingLinkID
    /// Up, degraded or down.
    public var state: LinkState
    /// Why (empty when up with nothing to say).
    public var reason: String
    /// Lag of the source's own heartbeats at the target, in seconds, when measurable.
    public var lagSeconds: Double?
    /// The target's slave connection for this link, as last read.
    public var slave: SlaveLinkStatus?
}

/// The ring as a whole.
public struct EndToEndReport: Sendable, Hashable, Codable {
    /// Every link is up or degraded: a write on any node reaches every other node.
    public var complete: Bool
    /// The largest heartbeat lag between any two answering nodes, in seconds: how long the slowest
    /// write takes (or has been waiting) to reach the last node. Nil before any measurement.
    public var lagSeconds: Double?
    /// Which origin → target pair has that lag.
    public var worst: RingLinkID?
}

/// The monitor's verdict on the whole ring at one instant. Built by ``RingHealthModel/report(at:)``.
public struct RingReport: Sendable, Hashable, Codable {
    /// Monitor time of the report, seconds.
    public var atSeconds: Double
    /// Nodes in ring order.
    public var nodes: [NodeReport]
    /// Links in ring order of their targets.
    public var links: [LinkReport]
    /// End-to-end view.
    public var endToEnd: EndToEndReport
    /// Ring-wide problems no single link shows (e.g. two nodes with one server id).
    public var problems: [String]

    /// The node named `name`.
    public func node(_ name: String) -> NodeReport? { nodes.first { $0.name == name } }
    /// The link `from`→`to`.
    public func link(from: String, to: String) -> LinkReport? { links.first { $0.id == RingLinkID(from: from, to: to) } }
    /// Names of nodes judged `drain`, in ring order.
    public var nodesToDrain: [String] { nodes.filter { !$0.verdict.isTrusted }.map(\.name) }

    /// True when `node` has applied `origin`'s heartbeat `seq` and, if given, reached sequence
    /// `gtidSeq` in GTID domain `domain` (the origin's writes up to its last observation).
    public func hasApplied(node: String, origin: String, seq: UInt64, domain: UInt32?, gtidSeq: UInt64?) -> Bool {
        if node == origin { return true }
        guard let n = self.node(node) else { return false }
        guard (n.appliedHeartbeats[origin] ?? 0) >= seq else { return false }
        if let domain, let gtidSeq, (n.gtidCurrentPos[domain] ?? 0) < gtidSeq { return false }
        return true
    }
}

/// One Prometheus sample, ready to export: `name{labels} value`.
public struct RingMetricSample: Sendable, Hashable {
    /// Metric name, e.g. `tandem_ring_link_up`.
    public var name: String
    /// Label pairs in order.
    public var labels: [(String, String)]
    /// Value.
    public var value: Double

    /// Creates a sample.
    public init(name: String, labels: [(String, String)], value: Double) {
        self.name = name; self.labels = labels; self.value = value
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.value == b.value && a.labels.elementsEqual(b.labels, by: { $0 == $1 })
    }

    public func hash(into h: inout Hasher) {
        h.combine(name); h.combine(value)
        for (k, v) in labels { h.combine(k); h.combine(v) }
    }

    /// Prometheus text form.
    public var text: String {
        let l = labels.map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ",")
        return labels.isEmpty ? "\(name) \(value)" : "\(name){\(l)} \(value)"
    }
}

extension RingReport {
    /// Gauges for the daemon's `/metrics`:
    /// - `tandem_ring_link_up{from,to}`: 1 when up or degraded, 0 when down;
    /// - `tandem_ring_link_lag_seconds{from,to}`: the source's heartbeat lag at the target (omitted
    ///   while not measurable);
    /// - `tandem_ring_end_to_end_lag_seconds`: the largest lag between any two answering nodes;
    /// - `tandem_ring_node_trusted{node}`: 1 trusted, 0 drain.
    public var metrics: [RingMetricSample] {
        var out: [RingMetricSample] = []
        for l in links {
            out.append(.init(name: "tandem_ring_link_up", labels: [("from", l.id.from), ("to", l.id.to)],
                             value: l.state == .down ? 0 : 1))
        }
        for l in links {
            if let lag = l.lagSeconds {
                out.append(.init(name: "tandem_ring_link_lag_seconds", labels: [("from", l.id.from), ("to", l.id.to)], value: lag))
            }
        }
        if let lag = endToEnd.lagSeconds {
            out.append(.init(name: "tandem_ring_end_to_end_lag_seconds", labels: [], value: lag))
        }
        for n in nodes {
            out.append(.init(name: "tandem_ring_node_trusted", labels: [("node", n.name)], value: n.verdict.isTrusted ? 1 : 0))
        }
        return out
    }

    /// The report for an operator, one screen: links, then nodes, then the verdict.
    public func rendered() -> String {
        var s = ""
        let ok = endToEnd.complete && nodesToDrain.isEmpty && problems.isEmpty
        s += "RING \(ok ? "OK" : "BROKEN"): \(nodes.count) nodes, "
        s += endToEnd.complete ? "writes reach every node" : "writes do NOT reach every node"
        if let lag = endToEnd.lagSeconds {
            s += ", end-to-end lag \(formatSeconds(lag))"
            if let w = endToEnd.worst { s += " (\(w.from)'s writes at \(w.to))" }
        }
        s += "\n\nLINK\n"
        let width = max(12, links.map { $0.id.description.count }.max() ?? 0)
        for l in links {
            var line = "  " + l.id.description.padded(width + 2)
            line += l.state.rawValue.uppercased().padded(10)
            line += (l.lagSeconds.map { "lag " + formatSeconds($0) } ?? "lag -").padded(14)
            if let sl = l.slave { line += "IO \(sl.io) SQL \(sl.sql)".padded(22) }
            else { line += "".padded(22) }
            line += l.reason
            s += line + "\n"
        }
        s += "\nNODE\n"
        let nw = max(8, nodes.map { $0.name.count }.max() ?? 0)
        for n in nodes {
            var line = "  " + n.name.padded(nw + 2)
            if n.endpoint != n.name { line += n.endpoint.padded(22) }
            line += (n.serverID.map { "id \($0)" } ?? "id ?").padded(7)
            line += (n.lastHeartbeatWritten.map { "hb \($0)" } ?? "hb -").padded(10)
            line += n.verdict.isTrusted ? "TRUSTED" : "DRAIN"
            if case .drain(let r) = n.verdict { line += "  " + r }
            s += line + "\n"
        }
        for p in problems { s += "\nPROBLEM: \(p)\n" }
        let drain = nodesToDrain
        s += drain.isEmpty ? "\nno node to drain\n" : "\ndrain: \(drain.joined(separator: ", "))\n"
        return s
    }
}

/// "12 ms" below a second, "1.2 s" from there: whole milliseconds are what a ring's lag is read in.
func formatSeconds(_ s: Double) -> String {
    if s < 1 { return formatFixed(Duration.seconds(s).inMilliseconds, 0) + " ms" }
    return formatFixed(s, 1) + " s"
}

extension String {
    /// Pads with spaces to `width` characters (never truncates).
    func padded(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
