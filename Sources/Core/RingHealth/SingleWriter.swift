/// Single-writer policy for a database service: writes go to one ring node at a time, and move
/// only to a node that has caught up with the old writer.
///
/// A pure state machine: ``on(_:)`` takes each new ``RingReport`` and returns the weights to apply
/// (the writer keeps its topology weight, every other member gets 0).
///
/// With one writer, the writer's data is the reference: other nodes only ever receive. So the
/// writer keeps the writes while it answers the monitor, even if the ring verdict drains it for
/// missing other nodes' (heartbeat-only) writes, and even when a higher-weight node comes back:
/// writes never bounce. When it stops answering (refused, timed out, silent), the machine
/// remembers its last committed heartbeat (and GTID position in its own domain) and gives the
/// writes to the best answering member that has applied both; until one has, no member gets
/// writes (weights all 0): clients see errors rather than a node that lacks acknowledged writes.
/// An operator can force a move with ``force(_:)``, or drain the writer: a drained member is
/// never a candidate, and a drained writer hands the writes over like a lost one, to the best
/// undrained answering member that has applied its last heartbeat (the drained node still answers,
/// so the hand-over waits at most for replication of that one heartbeat, not for a timeout).
///
/// For such a service the daemon uses these weights instead of the per-member ring verdicts.
public struct SingleWriter: Sendable, Hashable {
    /// One member of the service, by ring node name, with its topology weight (the preference).
    public struct Member: Sendable, Hashable, Codable {
        /// Ring node name.
        public var name: String
        /// Topology weight: highest wins among candidates; ties go to ring order.
        public var weight: Int
        /// Creates a member.
        public init(name: String, weight: Int) { self.name = name; self.weight = weight }
    }

    /// What a new writer must have applied before it takes the writes.
    public struct CatchUp: Sendable, Hashable, Codable {
        /// The writer that was lost.
        public var from: String
        /// Its last committed heartbeat sequence.
        public var seq: UInt64
        /// Its GTID domain, if known.
        public var domain: UInt32?
        /// Its last known `gtid_binlog_pos` sequence in that domain.
        public var gtidSeq: UInt64?
    }

    /// Members in preference order of the topology.
    public let members: [Member]
    /// Current writer, nil while waiting for a candidate to catch up.
    public private(set) var writer: String?
    /// Set while the writes wait for a node to catch up.
    public private(set) var waiting: CatchUp?
    private var forced: String?

    /// Starts with `writer` (e.g. the member the kernel already gives weight), or none: then the
    /// first report picks the highest-weight answering member.
    public init(members: [Member], writer: String? = nil) {
        self.members = members; self.writer = writer
    }

    /// Operator override: move the writes to `name` at the next report even if it has not caught
    /// up (accepting that writes the old writer acknowledged may be missing there).
    public mutating func force(_ name: String) { forced = name }

    /// Decides the writer for this report. `drained` names members an operator drained: they
    /// cannot take the writes, and a drained writer gives them up (see the type's documentation).
    public mutating func on(_ report: RingReport, drained: Set<String> = []) -> WriterDecision {
        let answering = members.filter { report.node($0.name)?.reachability.isAnswering == true && !drained.contains($0.name) }
        func best(_ ms: [Member]) -> Member? {
            ms.enumerated().max { a, b in (a.element.weight, -a.offset) < (b.element.weight, -b.offset) }?.element
        }
        func decision(_ reason: String, changed: Bool, candidates: [String]) -> WriterDecision {
            var weights: [String: Int] = [:]
            for m in members { weights[m.name] = m.name == writer ? max(1, m.weight) : 0 }
            return WriterDecision(writer: writer, weights: weights, candidates: candidates, reason: reason, changed: changed)
        }
        if let f = forced, members.contains(where: { $0.name == f }) {
            forced = nil
            let changed = writer != f
            writer = f; waiting = nil
            return decision("operator forced the writes to \(f)", changed: changed, candidates: [f])
        }
        if let w = writer, answering.contains(where: { $0.name == w }) {
            let target = catchUp(of: w, in: report)
            let ready = answering.filter { $0.name != w && caughtUp($0.name, target, report) }.map(\.name)
            return decision("\(w) answers and keeps the writes", changed: false, candidates: ready)
        }
        if writer == nil && waiting == nil {
            guard let b = best(answering) else { return decision("no member answers the monitor", changed: false, candidates: []) }
            writer = b.name
            return decision("\(b.name) takes the writes (highest-weight answering member)", changed: true, candidates: [b.name])
        }
        var changed = false
        var why = "lost the writes"
        if let w = writer {
            waiting = catchUp(of: w, in: report)
            writer = nil
            changed = true
            if drained.contains(w) { why = "was drained by the operator" }
        } else if let t = waiting, drained.contains(t.from) {
            why = "was drained by the operator"
        }
        let target = waiting!
        let ready = answering.filter { caughtUp($0.name, target, report) }
        if let b = best(ready) {
            writer = b.name; waiting = nil
            if b.name == target.from {
                return decision("\(b.name) takes the writes back (no other member had caught up)", changed: true, candidates: ready.map(\.name))
            }
            return decision("writes move from \(target.from) to \(b.name): it applied \(target.from)'s heartbeat \(target.seq)"
                            + (target.gtidSeq.map { " and GTID \(target.domain!)-…-\($0)" } ?? ""),
                            changed: true, candidates: ready.map(\.name))
        }
        let behind = members.filter { $0.name != target.from }.map { m -> String in
            guard let n = report.node(m.name) else { return "\(m.name) unknown" }
            if drained.contains(m.name) { return "\(m.name) drained" }
            if !n.reachability.isAnswering { return "\(m.name) \(n.reachability)" }
            return "\(m.name) at heartbeat \(n.appliedHeartbeats[target.from] ?? 0)"
        }
        return decision("\(target.from) \(why); waiting for an answering member to apply its heartbeat \(target.seq) ("
                        + behind.joined(separator: ", ") + ")", changed: changed, candidates: [])
    }

    private func catchUp(of w: String, in report: RingReport) -> CatchUp {
        let n = report.node(w)
        let domain = n?.gtidDomainID
        return CatchUp(from: w, seq: n?.lastHeartbeatWritten ?? 0, domain: domain,
                       gtidSeq: domain.flatMap { n?.gtidBinlogPos[$0] })
    }

    private func caughtUp(_ name: String, _ t: CatchUp, _ report: RingReport) -> Bool {
        report.hasApplied(node: name, origin: t.from, seq: t.seq, domain: t.domain, gtidSeq: t.gtidSeq)
    }
}

/// What ``SingleWriter/on(_:)`` decided.
public struct WriterDecision: Sendable, Hashable, Codable {
    /// The member that gets the writes, nil while waiting.
    public var writer: String?
    /// Member name → IPVS weight (writer: its topology weight, at least 1; others 0).
    public var weights: [String: Int]
    /// Answering members that have caught up with the writer (could take over now).
    public var candidates: [String]
    /// Why, for logs and the status API.
    public var reason: String
    /// The writer changed with this decision.
    public var changed: Bool

    /// Creates a decision.
    public init(writer: String?, weights: [String: Int], candidates: [String], reason: String, changed: Bool) {
        self.writer = writer; self.weights = weights; self.candidates = candidates; self.reason = reason; self.changed = changed
    }
}
