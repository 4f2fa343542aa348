import Topology

/// Everything `tandemctl plan` shows about a plan, as one `Codable` value: per-host tables, where
/// each group's members landed, and the N+1 report. Arrays are sorted by name so the JSON is stable.
public struct PlanReport: Sendable, Equatable, Codable {
    /// Site name.
    public var site: String
    /// Each host, by name, with the VMs it runs.
    public var hosts: [HostUsage]
    /// Each anti-affinity group with where its members landed.
    public var groups: [GroupPlacement]
    /// VM → host.
    public var assignment: [String: String]
    /// What losing each host costs; empty for a re-plan report.
    public var nPlusOne: [HostLossReport]

    /// Builds the report for `plan` of `topology`; pass `nPlusOne` to include the N+1 section.
    public init(topology: Topology, plan: PlacementPlan, nPlusOne: [HostLossReport] = []) {
        site = topology.site
        let vmsByName = Dictionary(topology.vms.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        hosts = topology.hosts.sorted { $0.name < $1.name }.map { h in
            let vms = plan.vms(on: h.name).compactMap { vmsByName[$0] }
            return HostUsage(host: h.name, labels: h.labels,
                             vms: vms.map { PlacedVM(name: $0.name, role: $0.role.rawValue, vcpus: $0.vcpus, memoryMiB: $0.memoryMiB, pinned: $0.pinnedHost != nil) },
                             usedVCPUs: vms.map(\.vcpus).reduce(0, +), vcpus: h.cpus,
                             usedMemoryMiB: vms.map(\.memoryMiB).reduce(0, +), memoryMiB: h.memoryMiB)
        }
        groups = topology.antiAffinityGroups.map { g in
            GroupPlacement(name: g.name, members: g.members.map { MemberPlacement(vm: $0, host: plan.assignment[$0]) })
        }
        assignment = plan.assignment
        self.nPlusOne = nPlusOne
    }

    /// The report as a person reads it: a table per host, the groups, then N+1.
    public func render() -> String {
        var out = ["Placement for site \(site): \(assignment.count) VMs on \(hosts.count) hosts", ""]
        out += renderHosts(hosts)
        out.append("Anti-affinity groups (every member on its own host):")
        let width = groups.map(\.name.count).max() ?? 0
        for g in groups {
            let where_ = g.members.map { "\($0.vm) → \($0.host ?? "(unplaced)")" }.joined(separator: ", ")
            out.append("  \(g.name.padding(width)) \(where_)")
        }
        if !nPlusOne.isEmpty {
            out.append("")
            out.append("N+1: what each host's failure costs")
            for r in nPlusOne { out += renderLoss(r) }
        }
        return out.joined(separator: "\n")
    }
}

/// One host's share of a plan.
public struct HostUsage: Sendable, Equatable, Codable {
    /// Host name.
    public var host: String
    /// Failure-domain labels.
    public var labels: [String: String]
    /// VMs on the host, by name.
    public var vms: [PlacedVM]
    /// vCPUs the VMs take.
    public var usedVCPUs: Int
    /// vCPUs the host has.
    public var vcpus: Int
    /// Memory the VMs take, in MiB.
    public var usedMemoryMiB: Int
    /// Memory the host has, in MiB.
    public var memoryMiB: Int
}

/// A VM as the host table shows it.
public struct PlacedVM: Sendable, Equatable, Codable {
    /// VM name.
    public var name: String
    /// Its role (director, voms, …).
    public var role: String
    /// Virtual CPUs.
    public var vcpus: Int
    /// Memory in MiB.
    public var memoryMiB: Int
    /// Whether the topology pins it to this host.
    public var pinned: Bool
}

/// Where an anti-affinity group's members landed.
public struct GroupPlacement: Sendable, Equatable, Codable {
    /// Group name ("service gums").
    public var name: String
    /// Each member and its host.
    public var members: [MemberPlacement]
}

/// One member of a group and its host.
public struct MemberPlacement: Sendable, Equatable, Codable {
    /// VM name.
    public var vm: String
    /// Host name; nil only if the plan misses the VM.
    public var host: String?
}

/// A re-plan after losing one host: what moves, and the resulting plan.
public struct ReplanReport: Sendable, Equatable, Codable {
    /// Site name.
    public var site: String
    /// The host taken out.
    public var without: String
    /// VMs that move, by name. Every other VM stays where it was.
    public var moves: [Move]
    /// The plan after the moves.
    public var plan: PlanReport

    /// Builds the report from the plan before and after.
    public init(topology: Topology, without: String, before: PlacementPlan, after: PlacementPlan) {
        site = topology.site
        self.without = without
        moves = before.moves(to: after)
        plan = PlanReport(topology: topology, plan: after)
    }

    /// The moves, then the host tables after them.
    public func render() -> String {
        let stay = plan.assignment.count - moves.count
        var out = ["Re-plan for site \(site) without \(without): \(moves.count) VM\(moves.count == 1 ? "" : "s") move, \(stay) stay where they are", ""]
        out.append("Moves:")
        out += moves.isEmpty ? ["  (none: \(without) ran no VMs)"] : moves.map { "  \($0)" }
        out.append("")
        out += renderHosts(plan.hosts.filter { $0.host != without })
        return out.joined(separator: "\n")
    }
}

private func renderHosts(_ hosts: [HostUsage]) -> [String] {
    var out: [String] = []
    for h in hosts {
        let labels = h.labels.keys.sorted().map { "\($0)=\(h.labels[$0]!)" }.joined(separator: ", ")
        out.append("\(h.host)\(labels.isEmpty ? "" : "  [\(labels)]")  vCPU \(h.usedVCPUs)/\(h.vcpus)  memory \(h.usedMemoryMiB)/\(h.memoryMiB) MiB")
        if h.vms.isEmpty { out.append("  (no VMs)") }
        let w = h.vms.map(\.name.count).max() ?? 0
        for v in h.vms {
            out.append("  \(v.name.padding(w))  \(v.role.padding(8))  \(String(v.vcpus).leftPadding(3)) vCPU  \(String(v.memoryMiB).leftPadding(6)) MiB\(v.pinned ? "  (pinned)" : "")")
        }
        out.append("")
    }
    return out
}

private func renderLoss(_ r: HostLossReport) -> [String] {
    var out = ["  \(r.host) fails: \(r.lostVMs.isEmpty ? "no VMs lost" : "loses \(r.lostVMs.joined(separator: ", "))")"]
    for s in r.services {
        let kind = s.kind == .service ? "service" : s.kind == .directorPair ? "director pair" : ""
        let name = kind.isEmpty ? s.name : "\(kind) \(s.name)"
        out.append(s.keepsLiveMember
                   ? "    \(name): keeps \(s.survivingMembers.joined(separator: ", ")) (lost \(s.lostMembers.joined(separator: ", ")))"
                   : "    \(name): NO LIVE MEMBER (lost \(s.lostMembers.joined(separator: ", ")))")
    }
    if let moves = r.moves {
        out.append(moves.isEmpty ? "    re-host: nothing to move"
                                 : "    re-host: yes — \(moves.map { "\($0.vm) → \($0.to)" }.joined(separator: ", "))")
    } else if let f = r.failure {
        out.append("    re-host: NO — \(f.message)")
    }
    return out
}

extension String {
    fileprivate func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
    fileprivate func leftPadding(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

/// The answer of `tandemctl plan` for a site without VMs: there is no plan to make, and why.
public struct NothingToPlace: Sendable, Equatable, Codable {
    /// The site's name.
    public var site: String
    /// One sentence: what the site declares and what placement applies to.
    public var reason: String
    /// Creates the answer.
    public init(site: String, reason: String) { self.site = site; self.reason = reason }
}
