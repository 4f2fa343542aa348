import IPVS
import Topology

/// A member of a service, named as the topology names it: the key of the weight overrides.
public struct MemberRef: Sendable, Hashable, CustomStringConvertible {
    /// `VirtualService.name`.
    public var service: String
    /// `ServiceMember.vm`.
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
        let vip = inetAddress(s.vip)
        switch s.proto {
        case .tcp: return .address(.tcp, vip, port: s.port)
        case .udp: return .address(.udp, vip, port: s.port)
        case .fwmark: return .fwmark(s.fwmark ?? 0, family: vip.family)
        }
    }

    /// A topology address as IPVS carries it.
    public static func inetAddress(_ a: IPAddress) -> InetAddress {
        // IPAddress guarantees 4 or 16 bytes, so this cannot fail.
        InetAddress(bytes: a.bytes)!
    }

    /// The IPVS forwarding method of a topology service.
    public static func forwarding(of s: VirtualService) -> IPVS.ForwardingMethod {
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
                           persistence: s.persistence.map { IPVS.Persistence(timeout: $0.timeoutSeconds, netmask: $0.netmask) })
    }
}

/// The IPVS table a topology asks for.
///
/// Pure. `weights` overrides a member's topology weight (health checks and `tandemctl drain`
/// feed it: 0 drains a member without removing it). A member whose address cannot be resolved is
/// left out (topology validation rejects such files before they get here).
public func desired(_ topology: Topology, weights: [MemberRef: Int] = [:]) -> IPVSState {
    var state = IPVSState()
    for s in topology.services {
        let svc = TopologyMapping.service(s)
        var dests: [DestinationKey: IPVSDestination] = [:]
        for m in s.members {
            guard let a = topology.address(of: m, in: s) else { continue }
            let w = weights[MemberRef(service: s.name, member: m.vm)] ?? m.weight
            let d = IPVSDestination(address: TopologyMapping.inetAddress(a), port: m.port,
                                    forwarding: TopologyMapping.forwarding(of: s),
                                    weight: Int32(clamping: w))
            dests[d.key] = d
        }
        state.services[svc.key] = ServiceState(service: svc, destinations: dests)
    }
    return state
}
