import Net
import Placement
import Topology

/// A lab site of `pairs` anti-affinity pairs pNa/pNb: every pNa on h1, the pNb alternately on h2
/// and h3, so losing h1 leaves every pair on one leg. Each VM has its own address (10.79.0.12…)
/// and MAC on the lab's switch; the pair's members serve the same thing (an active-active pair).
public struct LabSite: Sendable {
    /// The site: three hosts, 2 × `pairs` VMs, one anti-affinity group per pair.
    public let topology: Topology
    /// Where every VM runs at the start.
    public let plan: PlacementPlan
    /// Each VM's address on the lab switch (its gridsvc listens on port 8080).
    public let addresses: [String: String]
    /// Each VM's MAC (kept when it restarts elsewhere, so clients' neighbour entries stay valid).
    public let macs: [String: String]
    /// The database VMs (db1 on h1, db2 on h2, an anti-affinity pair running mariadbd), when asked for.
    public let databases: [String]

    /// Builds the site of `pairs` pairs (1…40: addresses stay under .100), and with `databases` a
    /// pair of database VMs (db1 10.79.0.90 on h1, db2 10.79.0.91 on h2) beside them.
    public init(pairs: Int, databases: Bool = false) {
        precondition((1...40).contains(pairs), "a lab site holds 1…40 pairs, not \(pairs)")
        var assignment: [String: String] = [:], addresses: [String: String] = [:], macs: [String: String] = [:]
        var vms: [DomU] = [], groups: [AntiAffinityGroup] = []
        for p in 1...pairs {
            let a = Self.member(p, "a"), b = Self.member(p, "b")
            assignment[a] = "h1"
            assignment[b] = p % 2 == 1 ? "h2" : "h3"
            for (i, vm) in [a, b].enumerated() {
                let octet = 10 + p * 2 + i
                addresses[vm] = "10.79.0.\(octet)"
                let hex = String(octet, radix: 16)
                macs[vm] = "52:54:00:79:01:" + (hex.count == 1 ? "0" + hex : hex)
                vms.append(DomU(name: vm, role: .other, vcpus: 1, memoryMiB: 64, addresses: []))
            }
            groups.append(AntiAffinityGroup(name: "pair\(p)", members: [a, b]))
        }
        self.databases = databases ? ["db1", "db2"] : []
        for (i, db) in self.databases.enumerated() {
            assignment[db] = i == 0 ? "h1" : "h2"
            addresses[db] = "10.79.0.\(90 + i)"
            macs[db] = "52:54:00:79:02:\(90 + i)"
            vms.append(DomU(name: db, role: .other, vcpus: 1, memoryMiB: 512, addresses: []))
        }
        if databases { groups.append(AntiAffinityGroup(name: "databases", members: self.databases)) }
        let hosts = ["h1", "h2", "h3"].map { XenHost(name: $0, address: IPAddress("10.79.0.200")!, cpus: 16, memoryMiB: 4096) }
        topology = Topology(site: "lab", hosts: hosts, vms: vms, services: [], antiAffinity: groups)
        plan = PlacementPlan(assignment: assignment)
        self.addresses = addresses
        self.macs = macs
    }

    /// The name of pair `pair`'s member `side` ("a" or "b").
    public static func member(_ pair: Int, _ side: String) -> String { "p\(pair)\(side)" }

    /// The other member of `vm`'s pair (p3a ↔ p3b).
    public static func partner(of vm: String) -> String {
        vm.hasSuffix("a") ? String(vm.dropLast()) + "b" : String(vm.dropLast()) + "a"
    }

    /// The VMs the plan puts on `host`, sorted.
    public func vms(on host: String) -> [String] {
        plan.assignment.filter { $0.value == host }.map(\.key).sorted()
    }
}
