import IPVSModel
import Net
import Topology

/// Why a member's weight could not be changed.
public struct MemberWeightError: Error, Sendable, CustomStringConvertible {
    /// Stable reason.
    public enum Code: String, Sendable { case unknownService, unknownMember, unresolvedAddress, notInKernel }
    /// Reason.
    public var code: Code
    /// What was wrong and what to do.
    public var description: String
}

/// The single `editDestination` that drains (weight 0) or undrains (topology weight) `member` of
/// `service`, keeping every other field as the kernel has it; `nil` when already so.
///
/// Pure apart from `observe`, which reads the current state of one service (injected so tests need no kernel).
public func memberWeightOperation(topology: Topology, service: String, member: String, drain: Bool,
                                  observe: (ServiceKey) throws -> IPVSState) throws -> IPVSOperation? {
    guard let s = topology.service(named: service) else {
        throw MemberWeightError(code: .unknownService, description: "no service '\(service)' in the topology; known: \(topology.services.map(\.name).joined(separator: ", "))")
    }
    guard let m = s.members.first(where: { $0.name == member }) else {
        throw MemberWeightError(code: .unknownMember, description: "service '\(service)' has no member '\(member)'; members: \(s.members.map(\.name).joined(separator: ", "))")
    }
    guard let addr = topology.address(of: m, in: s) else {
        throw MemberWeightError(code: .unresolvedAddress, description: "member '\(member)' of '\(service)' has no address of the VIP's family")
    }
    let key = TopologyMapping.serviceKey(s)
    let dkey = DestinationKey(address: addr, port: m.port)
    guard var dest = try observe(key).services[key]?.destinations[dkey] else {
        throw MemberWeightError(code: .notInKernel, description: "\(key) -> \(dkey) is not in the kernel: run `tandemctl apply` first")
    }
    let weight = Int32(clamping: drain ? 0 : m.weight)
    if dest.weight == weight { return nil }
    dest.weight = weight
    return .editDestination(key, dest)
}
