import Topology

/// Where every VM runs. Produced only by ``Planner``; every plan it returns satisfies the
/// topology's anti-affinity groups, pins and host capacities.
public struct PlacementPlan: Sendable, Equatable, Codable {
    /// VM name → host name, for every VM of the topology.
    public var assignment: [String: String]
    public init(assignment: [String: String]) { self.assignment = assignment }

    /// VMs on `host`, sorted by name.
    public func vms(on host: String) -> [String] {
        assignment.filter { $0.value == host }.map(\.key).sorted()
    }
}
