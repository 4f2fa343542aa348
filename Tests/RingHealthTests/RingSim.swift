import RingHealth

/// A deterministic paper ring for the tests: each `tick` writes one heartbeat per answering node,
/// carries rows along every link that delivers (relay included), then reads every answering node.
/// The faults are what the tests switch on; the model only ever sees the events the edge would.
struct RingSim {
    var ring: Ring
    var model: RingHealthModel
    var now: Duration = .zero
    let interval: Duration
    /// Node name → server id (default 1, 2, 3, ...).
    var serverID: [String: UInt32] = [:]
    /// Node name → its slave connection, as `SHOW ALL SLAVES STATUS` would show it.
    var slave: [String: SlaveLinkStatus] = [:]
    /// Links whose rows do not arrive (a stopped or filtered link), whatever the threads say.
    var blocked: Set<RingLinkID> = []
    /// Links that deliver only rows at least this many ticks old (a slow link).
    var delayTicks: [RingLinkID: Int] = [:]
    /// Nodes that refuse connections (killed).
    var refused: Set<String> = []
    /// Nodes that accept but never answer (SIGSTOP): no write, no read, no event at all.
    var hung: Set<String> = []
    /// What each node holds: node → origin → seq.
    var holds: [String: [String: UInt64]] = [:]
    /// History of `holds` per tick, for delayed links.
    var history: [[String: [String: UInt64]]] = []
    var seq: [String: UInt64] = [:]
    /// Every event fed to the model, for failure messages.
    var log: [RingEvent] = []

    init(_ names: [String], interval: Duration = .milliseconds(250), policy: RingHealthPolicy? = nil) throws {
        ring = try Ring(nodes: names.enumerated().map { RingNode(name: $0.element, endpoint: "127.0.0.1:\(13306 + $0.offset)") })
        self.interval = interval
        model = RingHealthModel(ring: ring, policy: policy ?? RingHealthPolicy(heartbeatInterval: interval), runID: 7)
        for (i, n) in ring.nodes.enumerated() {
            serverID[n.name] = UInt32(i + 1)
            let pred = ring.predecessor(of: n.name)!
            slave[n.name] = SlaveLinkStatus(masterServerID: UInt32(ring.nodes.firstIndex(of: pred)! + 1), masterEndpoint: pred.endpoint)
            holds[n.name] = [:]
        }
    }

    mutating func feed(_ e: RingEvent) { log.append(e); model.on(e) }

    private func answers(_ n: String) -> Bool { !refused.contains(n) && !hung.contains(n) }

    /// One heartbeat period.
    mutating func tick() {
        now += interval
        for n in ring.nodes.map(\.name) where answers(n) {
            let s = (seq[n] ?? 0) + 1
            seq[n] = s
            holds[n]![n] = s
            feed(.heartbeatWritten(node: n, seq: s, at: now + .milliseconds(1)))
        }
        history.append(holds)
        // Replication: repeat N times so rows relay round the whole ring within the tick.
        for _ in ring.nodes {
            for link in ring.links {
                // A delayed link still delivers what its source wrote before it stopped (in flight).
                guard answers(link.to), answers(link.from) || delayTicks[link] != nil, !blocked.contains(link) else { continue }
                let src: [String: UInt64]
                if let d = delayTicks[link] {
                    let i = history.count - 1 - d
                    guard i >= 0 else { continue }
                    src = history[i][link.from]!
                } else {
                    src = holds[link.from]!
                }
                for (origin, s) in src where origin != link.to && s > (holds[link.to]![origin] ?? 0) {
                    holds[link.to]![origin] = s
                }
            }
        }
        history[history.count - 1] = holds
        for (i, n) in ring.nodes.map(\.name).enumerated() {
            let at = now + .milliseconds(5 + Int64(i))
            if refused.contains(n) {
                feed(.probeFailed(node: n, at: at, failure: .refused("2003 connection refused")))
                continue
            }
            if hung.contains(n) { continue }
            let rows = holds[n]!.compactMap { origin, s -> HeartbeatRow? in
                guard let sid = serverID[origin] else { return nil }
                return HeartbeatRow(originServerID: sid, runID: 7, seq: s)
            }.sorted { $0.originServerID < $1.originServerID }
            feed(.observed(NodeObservation(node: n, at: at, serverID: serverID[n]!, gtidDomainID: serverID[n]!,
                                           slaves: slave[n].map { [$0] } ?? [], heartbeats: rows)))
        }
    }

    mutating func ticks(_ k: Int) { for _ in 0..<k { tick() } }

    /// Report a little after the last reads.
    func report() -> RingReport { model.report(at: now + .milliseconds(20)) }
}
