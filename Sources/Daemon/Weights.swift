import HealthCheck
import IPVS
import Reconciler
import RingHealth
import Topology

/// A sorry server a service falls back to when every member failed.
public struct SorryServer: Sendable, Hashable, Codable {
    /// Address.
    public var address: IPAddress
    /// Port.
    public var port: UInt16
    /// Creates one.
    public init(address: IPAddress, port: UInt16) { self.address = address; self.port = port }
}

/// The weights the daemon wants in the kernel, and why. Pure data.
public struct WeightDecision: Sendable, Equatable {
    /// Weight per member of every service (0 = drained, kept in the table).
    public var weights: [MemberRef: Int] = [:]
    /// Services sending clients to their sorry server.
    public var sorry: [String: SorryServer] = [:]
    /// Services where every member failed and `keep_last` keeps them in at their weight.
    public var keptByLastMemberPolicy: Set<String> = []
    /// Single-writer services: who has the writes, or nil while the writes wait for a node to catch up.
    public var writers: [String: String?] = [:]
    /// Creates an empty decision.
    public init() {}
}

/// Health states and operator drains → weights, with the last-member policy. Pure.
public enum WeightPolicy {
    /// Decides every member's weight.
    ///
    /// Per service:
    /// - an `up` member that the operator has not drained gets its topology weight;
    /// - a `down` member, or one the operator drained, gets 0 (graceful drain: its existing
    ///   connections finish; it stays in the table);
    /// - an `unknown` member (not checked yet) gets 0 while some other member is up;
    /// - when no member is up, the service is never emptied by accident: members still `unknown`
    ///   keep their weight until their first check decides (at most one interval); if every member
    ///   is `down`, the service's ``LastMemberPolicy`` decides: `keep_last` keeps the failed members
    ///   at their weight (a degraded answer beats none), `sorry_server` sets them to 0 and adds the
    ///   sorry server at weight 1.
    /// - a service the operator drained completely stays empty: that is a decision, not an accident.
    ///
    /// A **single-writer** database service (one with an entry in `writers`, see
    /// `SingleWriterController`) takes its weights from the writer decision instead: the writer at
    /// its weight, every other member 0, and an operator drain still wins. While the writes wait for
    /// a node to catch up every member is 0 and no last-member policy applies: clients get errors
    /// rather than a node that lacks acknowledged writes — a decision, not an accident.
    public static func decide(_ topology: Topology, states: [MemberRef: RiseFall.State],
                              drained: Set<MemberRef>, writers: [String: WriterDecision] = [:]) -> WeightDecision {
        var d = WeightDecision()
        for s in topology.services {
            let refs = s.members.map { MemberRef(service: s.name, member: $0.vm) }
            if let w = writers[s.name] {
                for r in refs { d.weights[r] = drained.contains(r) ? 0 : (w.weights[r.member] ?? 0) }
                d.writers[s.name] = .some(w.writer)
                continue
            }
            let undrained = zip(s.members, refs).filter { !drained.contains($0.1) }
            let anyUp = undrained.contains { states[$0.1] == .up }
            for (m, r) in zip(s.members, refs) {
                d.weights[r] = (!drained.contains(r) && states[r] == .up) ? m.weight : 0
            }
            guard !anyUp, !undrained.isEmpty else { continue }
            let unknown = undrained.filter { (states[$0.1] ?? .unknown) == .unknown }
            if !unknown.isEmpty {
                for (m, r) in unknown { d.weights[r] = m.weight }
                continue
            }
            switch s.lastMember {
            case .keepLast:
                for (m, r) in undrained { d.weights[r] = m.weight }
                d.keptByLastMemberPolicy.insert(s.name)
            case .sorryServer(let a, let port):
                d.sorry[s.name] = SorryServer(address: a, port: port)
            }
        }
        return d
    }

    /// The IPVS table for a decision: the reconciler's `desired` plus any sorry servers. Pure.
    public static func table(_ topology: Topology, _ decision: WeightDecision) -> IPVSState {
        var state = desired(topology, weights: decision.weights)
        for s in topology.services {
            guard let sorry = decision.sorry[s.name] else { continue }
            let key = TopologyMapping.serviceKey(s)
            let dest = IPVSDestination(address: TopologyMapping.inetAddress(sorry.address), port: sorry.port,
                                       forwarding: TopologyMapping.forwarding(of: s), weight: 1)
            if state.services[key]?.destinations[dest.key] == nil {
                state.services[key]?.destinations[dest.key] = dest
            }
        }
        return state
    }

    /// The state each member's checks start in, from what the kernel already holds (see
    /// ``RiseFall``): `up` if the kernel serves the member at its topology weight (a restart then
    /// disturbs nothing), `unknown` otherwise, so the first check decides and a weight 0 left by an
    /// earlier run lasts at most one interval. Pure.
    public static func initialStates(_ topology: Topology, observed: IPVSState) -> [MemberRef: RiseFall.State] {
        var out: [MemberRef: RiseFall.State] = [:]
        for s in topology.services {
            let dests = observed.services[TopologyMapping.serviceKey(s)]?.destinations ?? [:]
            for m in s.members {
                let ref = MemberRef(service: s.name, member: m.vm)
                guard let a = topology.address(of: m, in: s) else { continue }
                let k = DestinationKey(address: TopologyMapping.inetAddress(a), port: m.port)
                if let d = dests[k], d.weight > 0, Int(d.weight) == m.weight { out[ref] = .up } else { out[ref] = .unknown }
            }
        }
        return out
    }
}
