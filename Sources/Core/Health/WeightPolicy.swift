import IPVSModel
import Net
import Reconcile
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
            decide(s, state: { states[$0] }, drained: drained, writer: writers[s.name], into: &d)
        }
        return d
    }

    /// The same decision for one service, added to `d` (the daemon decides per health event, for
    /// the one service the event touched). `state` answers a member's health (`nil`: unknown).
    public static func decide(_ s: VirtualService, state: (MemberRef) -> RiseFall.State?, drained: Set<MemberRef>,
                              writer: WriterDecision?, into d: inout WeightDecision) {
        d.sorry[s.name] = nil
        d.keptByLastMemberPolicy.remove(s.name)
        d.writers[s.name] = nil
        let refs = s.members.map { MemberRef(service: s.name, member: $0.name) }
        if let w = writer {
            for r in refs { d.weights[r] = drained.contains(r) ? 0 : (w.weights[r.member] ?? 0) }
            d.writers[s.name] = .some(w.writer)
            return
        }
        let states = refs.map { state($0) ?? .unknown }
        let undrained = s.members.indices.filter { !drained.contains(refs[$0]) }
        let anyUp = undrained.contains { states[$0] == .up }
        for i in s.members.indices {
            d.weights[refs[i]] = (!drained.contains(refs[i]) && states[i] == .up) ? s.members[i].weight : 0
        }
        guard !anyUp, !undrained.isEmpty else { return }
        let unknown = undrained.filter { states[$0] == .unknown }
        if !unknown.isEmpty {
            for i in unknown { d.weights[refs[i]] = s.members[i].weight }
            return
        }
        switch s.lastMember {
        case .keepLast:
            for i in undrained { d.weights[refs[i]] = s.members[i].weight }
            d.keptByLastMemberPolicy.insert(s.name)
        case .sorryServer(let a, let port):
            d.sorry[s.name] = SorryServer(address: a, port: port)
        }
    }

    /// The IPVS table for a decision: the reconciler's `desired` plus any sorry servers. Pure.
    public static func table(_ topology: Topology, _ decision: WeightDecision) -> IPVSState {
        var state = IPVSState()
        state.services.reserveCapacity(topology.services.count)
        for s in topology.services {
            let one = service(s, in: topology, decision)
            state.services[one.service.key] = one
        }
        return state
    }

    /// One service of ``table(_:_:)``: what the daemon hands the reconcile engine per event. Pure.
    public static func service(_ s: VirtualService, in topology: Topology, _ decision: WeightDecision) -> ServiceState {
        var one = desired(s, in: topology) { decision.weights[$0] }
        if let sorry = decision.sorry[s.name] {
            let dest = IPVSDestination(address: sorry.address, port: sorry.port,
                                       forwarding: TopologyMapping.forwarding(of: s), weight: 1)
            if one.destinations[dest.key] == nil { one.destinations[dest.key] = dest }
        }
        return one
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
                let ref = MemberRef(service: s.name, member: m.name)
                guard let a = topology.address(of: m, in: s) else { continue }
                let k = DestinationKey(address: a, port: m.port)
                if let d = dests[k], d.weight > 0, Int(d.weight) == m.weight { out[ref] = .up } else { out[ref] = .unknown }
            }
        }
        return out
    }
}
