import IPVSModel
import Net
import Topology

/// A member of a service, named as the topology names it: the key of the weight overrides.
public struct MemberRef: Sendable, Hashable, CustomStringConvertible {
    /// `VirtualService.name`.
    public var service: String
    /// `ServiceMember.name`.
    public var member: String
    /// Creates a reference.
    public init(service: String, member: String) { self.service = service; self.member = member }
    /// `service/member`.
    public var description: String { "\(service)/\(member)" }
}

/// Translations from the topology's vocabulary to the kernel's. Pure.
public enum TopologyMapping {
    /// The kernel identity of a topology service.
    public static func serviceKey(_ s: VirtualService) -> ServiceKey {
        let vip = s.vip
        switch s.proto {
        case .tcp: return .address(.tcp, vip, port: s.port)
        case .udp: return .address(.udp, vip, port: s.port)
        case .fwmark: return .fwmark(s.fwmark ?? 0, family: vip.family)
        }
    }

    /// The IPVS forwarding method of a topology service.
    public static func forwarding(of s: VirtualService) -> IPVSModel.ForwardingMethod {
        switch s.forwarding {
        case .nat: return .masquerade
        case .dr: return .directRoute
        case .tun: return .tunnel
        }
    }

    /// The kernel service a topology service asks for (no destinations).
    public static func service(_ s: VirtualService) -> IPVSService {
        var flags: ServiceFlags = []
        for f in s.schedulerFlags { flags.formUnion(ServiceFlags(schedulerFlagName: f.rawValue) ?? []) }
        return IPVSService(key: serviceKey(s), scheduler: s.scheduler.rawValue, flags: flags,
                           persistence: s.persistence.map { IPVSModel.Persistence(timeout: $0.timeoutSeconds, netmask: $0.netmask) })
    }
}

/// The IPVS table a topology asks for.
///
/// Pure. `weights` overrides a member's topology weight (health checks and operator drains feed
/// it: 0 drains a member without removing it). A member whose address cannot be resolved is left
/// out (topology validation rejects such files before they get here).
public func desired(_ topology: Topology, weights: [MemberRef: Int] = [:]) -> IPVSState {
    var state = IPVSState()
    state.services.reserveCapacity(topology.services.count)
    for s in topology.services {
        let one = desired(s, in: topology) { weights[$0] }
        state.services[one.service.key] = one
    }
    return state
}

/// The kernel service one topology service asks for, with `weight(member)` overriding the
/// topology's weight where it answers. The unit the daemon changes per health event.
public func desired(_ s: VirtualService, in topology: Topology, weight: (MemberRef) -> Int?) -> ServiceState {
    let forwarding = TopologyMapping.forwarding(of: s)
    var dests: [DestinationKey: IPVSDestination] = [:]
    dests.reserveCapacity(s.members.count)
    for m in s.members {
        guard let a = topology.address(of: m, in: s) else { continue }
        let w = weight(MemberRef(service: s.name, member: m.name)) ?? m.weight
        let d = IPVSDestination(address: a, port: m.port, forwarding: forwarding, weight: Int32(clamping: w))
        dests[d.key] = d
    }
    return ServiceState(service: TopologyMapping.service(s), destinations: dests)
}
