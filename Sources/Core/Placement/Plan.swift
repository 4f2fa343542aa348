import Topology

/// Where every VM runs. Produced only by ``Planner``; every plan it returns satisfies the
/// topology's anti-affinity groups, pins and host capacities (``violations(in:)`` checks that
/// independently).
public struct PlacementPlan: Sendable, Equatable, Codable {
    /// VM name → host name, for every VM of the topology.
    public var assignment: [String: String]
    /// Wraps an assignment; use ``Planner/plan(_:limits:)`` to make one that honours the topology.
    public init(assignment: [String: String]) { self.assignment = assignment }

    /// VMs on `host`, sorted by name.
    public func vms(on host: String) -> [String] {
        assignment.filter { $0.value == host }.map(\.key).sorted()
    }

    /// The VMs whose host differs in `other`, sorted by VM name: what a re-plan asks the operator to move.
    public func moves(to other: PlacementPlan) -> [Move] {
        other.assignment.keys.sorted().compactMap { vm in
            let to = other.assignment[vm]!
            let from = assignment[vm]
            return from == to ? nil : Move(vm: vm, from: from, to: to)
        }
    }
}

/// One VM changing host in a re-plan.
public struct Move: Sendable, Equatable, Codable, CustomStringConvertible {
    /// VM name.
    public var vm: String
    /// Host it ran on (nil if it had none).
    public var from: String?
    /// Host it moves to.
    public var to: String
    /// Creates a move.
    public init(vm: String, from: String?, to: String) { self.vm = vm; self.from = from; self.to = to }
    /// `fg5x2: fermigrid5 → fermigrid6`.
    public var description: String { "\(vm): \(from ?? "(none)") → \(to)" }
}

/// What one host's failure costs, and whether the survivors can absorb it.
public struct HostLossReport: Sendable, Equatable, Codable {
    /// The host that fails.
    public var host: String
    /// VMs that go down with it, by name.
    public var lostVMs: [String]
    /// Services, director pairs and the ring that lose members.
    public var services: [ServiceLoss]
    /// How the lost VMs would be re-hosted (survivors stay put); nil when they cannot be.
    public var moves: [Move]?
    /// Why the lost VMs cannot be re-hosted, when they cannot.
    public var failure: PlacementFailure?

    /// Creates a report; ``Planner/nPlusOne(_:_:limits:)`` is the usual source.
    public init(host: String, lostVMs: [String], services: [ServiceLoss], moves: [Move]?, failure: PlacementFailure?) {
        self.host = host; self.lostVMs = lostVMs; self.services = services; self.moves = moves; self.failure = failure
    }

    /// Every service (and director pair, and the ring) keeps at least one live member.
    public var everyServiceKeepsAMember: Bool { services.allSatisfy(\.keepsLiveMember) }
    /// The survivors can run every lost VM without moving any other VM.
    public var canRehost: Bool { moves != nil }
}

/// A service, director pair or ring that loses members when a host fails.
public struct ServiceLoss: Sendable, Equatable, Codable {
    /// What kind of thing loses members.
    public enum Kind: String, Sendable, Equatable, Codable {
        /// A load-balanced service.
        case service
        /// The active/standby LVS director pair.
        case directorPair = "director-pair"
        /// The MariaDB replication ring.
        case databaseRing = "database-ring"
    }
    /// Kind of thing.
    public var kind: Kind
    /// Its name.
    public var name: String
    /// Members that went down with the host.
    public var lostMembers: [String]
    /// Members still running.
    public var survivingMembers: [String]
    /// Whether at least one member is still running; anti-affinity is what guarantees it.
    public var keepsLiveMember: Bool { !survivingMembers.isEmpty }

    /// Creates a loss record.
    public init(kind: Kind, name: String, lostMembers: [String], survivingMembers: [String]) {
        self.kind = kind; self.name = name; self.lostMembers = lostMembers; self.survivingMembers = survivingMembers
    }
}

extension PlacementPlan {
    /// Every way this plan breaks `topology`'s rules, in words; empty when it honours them all.
    ///
    /// Written straight from the rules, sharing no code with ``Planner``, so tests can use it to
    /// judge the planner's output: every VM placed exactly once on a declared host, pins honoured,
    /// host vCPU and memory not exceeded, no two members of an anti-affinity group on one host,
    /// and none in the same value of a `placement.spread` label (a host without the label shares
    /// a domain with no other host).
    public func violations(in topology: Topology) -> [String] {
        var out: [String] = []
        var hosts: [String: XenHost] = [:]
        for h in topology.hosts { hosts[h.name] = h }
        let vmNames = Set(topology.vms.map(\.name))
        for vm in assignment.keys.sorted() where !vmNames.contains(vm) { out.append("plan places unknown VM \(vm)") }
        var usedCPU: [String: Int] = [:], usedMem: [String: Int] = [:]
        for vm in topology.vms {
            guard let h = assignment[vm.name] else { out.append("VM \(vm.name) is not placed"); continue }
            guard hosts[h] != nil else { out.append("VM \(vm.name) is on unknown host \(h)"); continue }
            if let p = vm.pinnedHost, p != h { out.append("VM \(vm.name) is pinned to \(p) but placed on \(h)") }
            usedCPU[h, default: 0] += vm.vcpus
            usedMem[h, default: 0] += vm.memoryMiB
        }
        for h in topology.hosts {
            if let c = usedCPU[h.name], c > h.cpus { out.append("host \(h.name) has \(c) vCPU placed on \(h.cpus)") }
            if let m = usedMem[h.name], m > h.memoryMiB { out.append("host \(h.name) has \(m) MiB placed on \(h.memoryMiB)") }
        }
        for g in topology.antiAffinityGroups {
            let ms = g.members
            for i in ms.indices {
                for j in ms.indices where j > i {
                    guard let a = assignment[ms[i]], let b = assignment[ms[j]] else { continue }
                    if a == b { out.append("\(g.name): \(ms[i]) and \(ms[j]) share host \(a)"); continue }
                    for label in topology.placement.spread {
                        if let la = hosts[a]?.labels[label], let lb = hosts[b]?.labels[label], la == lb {
                            out.append("\(g.name): \(ms[i]) on \(a) and \(ms[j]) on \(b) share \(label) \(la)")
                        }
                    }
                }
            }
        }
        return out
    }
}
