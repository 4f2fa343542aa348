import Net

/// Thresholds of the ring judgement. Everything derives from the heartbeat interval by default.
public struct RingHealthPolicy: Sendable, Hashable, Codable {
    /// How often the monitor writes a heartbeat on every node and reads every node.
    public var heartbeatInterval: Duration
    /// A link is down when its source's oldest unapplied heartbeat at the target is older than this,
    /// and a node misses an origin's writes (drain) past the same bound.
    public var staleAfter: Duration
    /// A node that has not answered a probe for this long is silent (hung), without waiting for
    /// the probe's own timeout.
    public var silentAfter: Duration
    /// A link is degraded when its lag exceeds this (but not `staleAfter`).
    public var degradedLag: Duration
    /// A link is degraded when the target reports `Seconds_Behind_Master` above this.
    public var maxSecondsBehindMaster: Int
    /// Heartbeat writes kept per node for lag computation.
    public var historyLimit: Int

    /// Creates a policy. Defaults: stale and silent after 4 intervals, degraded past 1 interval.
    public init(heartbeatInterval: Duration = .milliseconds(250), staleAfter: Duration? = nil, silentAfter: Duration? = nil,
                degradedLag: Duration? = nil, maxSecondsBehindMaster: Int = 5, historyLimit: Int = 4096) {
        self.heartbeatInterval = heartbeatInterval
        self.staleAfter = staleAfter ?? heartbeatInterval * 4
        self.silentAfter = silentAfter ?? heartbeatInterval * 4
        self.degradedLag = degradedLag ?? heartbeatInterval
        self.maxSecondsBehindMaster = maxSecondsBehindMaster
        self.historyLimit = max(2, historyLimit)
    }
}

/// The pure ring judgement: fed with ``RingEvent``s, asked for a ``RingReport`` at an instant.
///
/// No I/O and no clock: every event carries its monitor time, and ``report(at:)`` takes "now".
///
/// Heartbeat semantics. The monitor writes, on every node X, the row of origin `@@server_id` of X
/// with an increasing sequence number, and records when each write committed. Replication carries
/// X's row to X's successor over link X→next, and further round the ring by relay
/// (`log_slave_updates`). A node Y's latest read shows the newest sequence of X it has. The lag of
/// X at Y is the age, at Y's read, of the oldest heartbeat of X committed before that read and not
/// yet present on Y (0 when Y has them all). So the lag is measured, not quantised to the interval,
/// and it grows in real time while X's writes do not arrive: a link A→B is judged by the lag of A's
/// own heartbeats at B, whatever both nodes' `SHOW SLAVE STATUS` claims.
public struct RingHealthModel: Sendable {
    /// The ring.
    public private(set) var ring: Ring
    /// Thresholds.
    public private(set) var policy: RingHealthPolicy
    /// This monitor run's id (heartbeat rows of other runs are ignored).
    public let runID: UInt64
    /// Monitor time at start: a node never answered is silent from here.
    public let start: Duration

    private struct Write: Sendable { var seq: UInt64; var at: Duration }
    private struct NodeState: Sendable {
        /// Since when the node is watched: a node never answered is silent from here.
        var since: Duration
        var lastAnswer: Duration?
        var last: NodeObservation?
        var failure: (at: Duration, failure: ProbeFailure)?
        var writes: [Write] = []
        var writeError: (at: Duration, error: String)?
    }
    private var state: [String: NodeState]

    /// Creates a model with no observations.
    public init(ring: Ring, policy: RingHealthPolicy = .init(), runID: UInt64, start: Duration = .zero) {
        self.ring = ring; self.policy = policy; self.runID = runID; self.start = start
        state = Dictionary(uniqueKeysWithValues: ring.nodes.map { ($0.name, NodeState(since: start)) })
    }

    /// Changes the ring or the thresholds in place (a reload), for the same monitor run. A node that
    /// keeps its name keeps its observations and heartbeat history, even if its endpoint changed (its
    /// next probe replaces the observation); a new node is watched from `now` (silent only after
    /// `silentAfter` from then); a removed node is forgotten.
    public mutating func reconfigure(ring: Ring, policy: RingHealthPolicy, at now: Duration) {
        var next: [String: NodeState] = [:]
        for n in ring.nodes {
            var s = state[n.name] ?? NodeState(since: now)
            if s.writes.count > policy.historyLimit { s.writes.removeFirst(s.writes.count - policy.historyLimit) }
            next[n.name] = s
        }
        state = next
        self.ring = ring
        self.policy = policy
    }

    /// Applies one event. Events for unknown nodes are ignored; events may arrive out of order
    /// between nodes (each node's probe runs on its own).
    public mutating func on(_ event: RingEvent) {
        switch event {
        case .heartbeatWritten(let node, let seq, let at):
            guard var s = state[node] else { return }
            if let last = s.writes.last, last.seq >= seq { return }
            s.writes.append(Write(seq: seq, at: at))
            if s.writes.count > policy.historyLimit { s.writes.removeFirst(s.writes.count - policy.historyLimit) }
            if let e = s.writeError, e.at <= at { s.writeError = nil }
            state[node] = s
        case .heartbeatWriteFailed(let node, let at, let error):
            state[node]?.writeError = (at, error)
        case .observed(let o):
            guard var s = state[o.node] else { return }
            if let l = s.last, l.at > o.at { return }
            s.last = o
            s.lastAnswer = o.at
            if let f = s.failure, f.at <= o.at { s.failure = nil }
            state[o.node] = s
        case .probeFailed(let node, let at, let failure):
            guard var s = state[node] else { return }
            if let a = s.lastAnswer, a > at { return }
            s.failure = (at, failure)
            state[node] = s
        }
    }

    // MARK: Judgement

    private func reachability(_ name: String, at now: Duration) -> Reachability {
        guard let s = state[name] else { return .notYetProbed }
        if let f = s.failure { return .failed(f.failure) }
        if let a = s.lastAnswer {
            let quiet = now - a
            return quiet > policy.silentAfter ? .silent(forSeconds: quiet.inSeconds) : .answering
        }
        let quiet = now - s.since
        return quiet > policy.silentAfter ? .silent(forSeconds: quiet.inSeconds) : .notYetProbed
    }

    private func serverID(_ name: String) -> UInt32? { state[name]?.last?.serverID }

    private func name(ofServerID id: UInt32) -> String? {
        ring.nodes.first { serverID($0.name) == id }?.name
    }

    /// Newest heartbeat sequence of `origin` present on `target` at its last read (0: none).
    private func appliedSeq(origin: String, at target: String) -> UInt64? {
        guard let obs = state[target]?.last, let sid = serverID(origin) else { return nil }
        return obs.heartbeats.first { $0.originServerID == sid && $0.runID == runID }?.seq ?? 0
    }

    /// Lag of `origin`'s heartbeats at `target`, as of the target's last read; nil if unmeasurable.
    private func lag(origin: String, at target: String) -> Duration? {
        guard let obs = state[target]?.last, let seen = appliedSeq(origin: origin, at: target),
              let writes = state[origin]?.writes, !writes.isEmpty else { return nil }
        guard let firstUnseen = writes.first(where: { $0.seq > seen }), firstUnseen.at <= obs.at else { return .zero }
        return obs.at - firstUnseen.at
    }

    /// The target's slave connection whose master is `source` (by server id, else by endpoint).
    private func slave(of target: String, from source: String) -> SlaveLinkStatus? {
        guard let slaves = state[target]?.last?.slaves, let src = ring.node(source) else { return nil }
        if let sid = serverID(source), let s = slaves.first(where: { $0.masterServerID == sid }) { return s }
        return slaves.first { $0.masterServerID == 0 && $0.masterEndpoint == src.endpoint }
    }

    private func describeMaster(_ s: SlaveLinkStatus) -> String {
        if s.masterServerID != 0, let n = name(ofServerID: s.masterServerID) { return "\(n) (server id \(s.masterServerID))" }
        if let n = ring.nodes.first(where: { $0.endpoint == s.masterEndpoint }) { return "\(n.name) (\(s.masterEndpoint))" }
        return s.masterServerID != 0 ? "\(s.masterEndpoint) (server id \(s.masterServerID), not a ring node)" : s.masterEndpoint
    }

    private struct LinkJudgement { var report: LinkReport; var targetsFault: Bool }

    private func judge(_ id: RingLinkID, at now: Duration) -> LinkJudgement {
        let src = reachability(id.from, at: now), dst = reachability(id.to, at: now)
        let slave = self.slave(of: id.to, from: id.from)
        let lag = self.lag(origin: id.from, at: id.to)
        func result(_ st: LinkState, _ why: String, local: Bool = false, measured: Bool = true) -> LinkJudgement {
            LinkJudgement(report: LinkReport(id: id, state: st, reason: why, lagSeconds: measured ? lag?.inSeconds : nil, slave: slave),
                          targetsFault: local)
        }
        // Across a node that does not answer there is no current lag figure to give.
        guard dst.isAnswering else { return result(.down, "target \(id.to): \(dst)", measured: false) }
        guard src.isAnswering else { return result(.down, "source \(id.from): \(src)", measured: false) }
        guard let slave else {
            let slaves = state[id.to]?.last?.slaves ?? []
            if slaves.isEmpty { return result(.down, "\(id.to) has no replication connection", local: true) }
            let masters = slaves.map(describeMaster).joined(separator: ", ")
            return result(.down, "\(id.to) replicates from \(masters), not from \(id.from)", local: true)
        }
        if slave.io != .yes || slave.sql != .yes {
            var why = "IO thread \(slave.io), SQL thread \(slave.sql)"
            if slave.lastIOErrno != 0 { why += "; IO error \(slave.lastIOErrno): \(slave.lastIOError)" }
            if slave.lastSQLErrno != 0 { why += "; SQL error \(slave.lastSQLErrno): \(slave.lastSQLError)" }
            return result(.down, why, local: true)
        }
        guard let lag else {
            let err = state[id.from]?.writeError.map { ": \($0.error)" } ?? ""
            return result(.degraded, "cannot judge: no heartbeat committed on \(id.from) yet\(err)")
        }
        if lag > policy.staleAfter {
            var why = "threads say Yes/Yes, but \(id.from)'s heartbeats have not reached \(id.to) for \(formatSeconds(lag.inSeconds))"
            if !slave.filters.isEmpty { why += "; replication filter on \(id.to): \(slave.filters.joined(separator: ", "))" }
            return result(.down, why, local: true)
        }
        if lag > policy.degradedLag { return result(.degraded, "lag \(formatSeconds(lag.inSeconds))") }
        if let sbm = slave.secondsBehindMaster, sbm > policy.maxSecondsBehindMaster {
            return result(.degraded, "Seconds_Behind_Master \(sbm)")
        }
        if let e = state[id.from]?.writeError {
            return result(.degraded, "heartbeat write on \(id.from) failing: \(e.error)")
        }
        return result(.up, "")
    }

    /// The ring as of `now`: every link, every node's verdict, the end-to-end lag.
    public func report(at now: Duration) -> RingReport {
        let judgements = ring.links.map { judge($0, at: now) }
        let answering = Set(ring.nodes.map(\.name).filter { reachability($0, at: now).isAnswering })
        var problems: [String] = []
        var byID: [UInt32: [String]] = [:]
        for n in ring.nodes { if let id = serverID(n.name) { byID[id, default: []].append(n.name) } }
        var shared = Set<String>()
        for (id, names) in byID.sorted(by: { $0.key < $1.key }) where names.count > 1 {
            problems.append("nodes \(names.joined(separator: ", ")) share server id \(id): each silently ignores the others' writes")
            shared.formUnion(names)
        }

        var worst: (Duration, RingLinkID)?
        var nodes: [NodeReport] = []
        for n in ring.nodes {
            let reach = reachability(n.name, at: now)
            var reasons: [String] = []
            if !reach.isAnswering { reasons.append(reach.description) }
            if shared.contains(n.name) { reasons.append("server id \(serverID(n.name)!) is not unique in the ring") }
            if reach.isAnswering, let j = judgements.first(where: { $0.report.id.to == n.name }), j.targetsFault {
                reasons.append("replication from \(j.report.id.from) broken: \(j.report.reason)")
            }
            var applied: [String: UInt64] = [:]
            var lags: [String: Double] = [:]
            var missing: [String] = []
            for o in ring.nodes where o.name != n.name {
                if let seq = appliedSeq(origin: o.name, at: n.name) { applied[o.name] = seq }
                guard answering.contains(o.name), reach.isAnswering, let l = lag(origin: o.name, at: n.name) else { continue }
                lags[o.name] = l.inSeconds
                if worst == nil || l > worst!.0 { worst = (l, RingLinkID(from: o.name, to: n.name)) }
                if l > policy.staleAfter { missing.append("\(o.name)'s for \(formatSeconds(l.inSeconds))") }
            }
            if !missing.isEmpty && reasons.isEmpty { reasons.append("misses writes: \(missing.joined(separator: ", "))") }
            let s = state[n.name]
            nodes.append(NodeReport(
                name: n.name, endpoint: n.endpoint, serverID: s?.last?.serverID, gtidDomainID: s?.last?.gtidDomainID,
                reachability: reach, verdict: reasons.isEmpty ? .trusted : .drain(reason: reasons.joined(separator: "; ")),
                lastHeartbeatWritten: s?.writes.last?.seq, heartbeatWriteError: s?.writeError?.error,
                appliedHeartbeats: applied, gtidBinlogPos: s?.last?.gtidBinlogPos ?? [:],
                gtidCurrentPos: s?.last?.gtidCurrentPos ?? [:], lagSeconds: lags))
        }
        let links = judgements.map(\.report)
        return RingReport(
            atSeconds: now.inSeconds, nodes: nodes, links: links,
            endToEnd: EndToEndReport(complete: links.allSatisfy { $0.state != .down } && problems.isEmpty,
                                     lagSeconds: worst?.0.inSeconds, worst: worst?.1),
            problems: problems)
    }
}
