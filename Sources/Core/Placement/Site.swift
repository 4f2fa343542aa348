import Topology

/// The topology reduced to integer indices, the form the planner searches over.
///
/// Hosts and VMs are numbered in name order, never file order, so the plan depends only on
/// what the site contains and not on how the file lists it (see docs/placement.md).
/// Anti-affinity is checked per *dimension*: dimension 0 is the host itself, and each key of
/// `placement.spread` adds one dimension whose domains are that label's values.
struct IndexedSite {
    let hostNames: [String]
    let hostCPU: [Int]
    let hostMem: [Int]
    /// Names of the dimensions: "host", then each spread label.
    let dimensionNames: [String]
    /// `domainOf[d][h]`: the domain of host `h` in dimension `d`.
    let domainOf: [[Int32]]
    /// `domainNames[d][id]`: the label value of a domain, for messages.
    let domainNames: [[String]]

    let vmNames: [String]
    let vmCPU: [Int]
    let vmMem: [Int]
    let vmRole: [VMRole]
    /// Pinned host index, or -1 for none, or -2 for a host the site does not declare.
    let vmPinned: [Int32]
    let vmPinnedName: [String?]

    let groupNames: [String]
    /// CSR: members of group `g` are `groupFlat[groupStart[g]..<groupStart[g+1]]`.
    let groupStart: [Int]
    let groupFlat: [Int32]
    /// CSR: groups of VM `v` are `vmGroupFlat[vmGroupStart[v]..<vmGroupStart[v+1]]`.
    let vmGroupStart: [Int]
    let vmGroupFlat: [Int32]

    let hostIndex: [String: Int32]
    let vmIndex: [String: Int32]
    /// Names declared twice; a plan keyed by name cannot represent them.
    let duplicateNames: [String]

    var hostCount: Int { hostNames.count }
    var vmCount: Int { vmNames.count }
    var dimensionCount: Int { domainOf.count }

    init(_ topology: Topology) {
        var dups: [String] = []
        let hosts = topology.hosts.sorted { $0.name < $1.name }
        var hostIndex: [String: Int32] = [:]
        hostIndex.reserveCapacity(hosts.count)
        for (i, h) in hosts.enumerated() where hostIndex.updateValue(Int32(i), forKey: h.name) != nil { dups.append("host \(h.name)") }
        let vms = topology.vms.sorted { $0.name < $1.name }
        var vmIndex: [String: Int32] = [:]
        vmIndex.reserveCapacity(vms.count)
        for (i, v) in vms.enumerated() where vmIndex.updateValue(Int32(i), forKey: v.name) != nil { dups.append("VM \(v.name)") }

        hostNames = hosts.map(\.name); hostCPU = hosts.map(\.cpus); hostMem = hosts.map(\.memoryMiB)
        vmNames = vms.map(\.name); vmCPU = vms.map(\.vcpus); vmMem = vms.map(\.memoryMiB); vmRole = vms.map(\.role)
        vmPinnedName = vms.map(\.pinnedHost)
        vmPinned = vms.map { v in v.pinnedHost.map { hostIndex[$0] ?? -2 } ?? -1 }

        // Dimensions: the host, then each distinct spread label in the order the file gives.
        var dimNames = ["host"], domainOf: [[Int32]] = [(0..<hosts.count).map(Int32.init)], domainNames = [hosts.map(\.name)]
        var seenLabels = Set<String>()
        for label in topology.placement.spread where seenLabels.insert(label).inserted {
            // A host without the label is a domain of its own: we do not know what it shares,
            // so we assume nothing, which keeps the constraint on labelled hosts exact.
            let values = hosts.map { $0.labels[label] ?? "\u{0}\($0.name)" }
            let distinct = Array(Set(values)).sorted()
            let id = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, Int32($0)) })
            dimNames.append(label)
            domainOf.append(values.map { id[$0]! })
            domainNames.append(distinct.map { $0.hasPrefix("\u{0}") ? "(no \(label): \($0.dropFirst()))" : $0 })
        }
        dimensionNames = dimNames; self.domainOf = domainOf; self.domainNames = domainNames

        // Groups in a canonical order (by name, then members) so file order cannot matter.
        struct G { var name: String; var members: [Int32]; var key: [String] }
        var groups: [G] = []
        for g in topology.antiAffinityGroups {
            var seen = Set<Int32>()
            let members = g.members.compactMap { vmIndex[$0] }.filter { seen.insert($0).inserted }
            guard members.count >= 2 else { continue }
            groups.append(G(name: g.name, members: members.sorted(), key: [g.name] + members.sorted().map { vms[Int($0)].name }))
        }
        groups.sort { $0.key.lexicographicallyPrecedes($1.key) }
        groupNames = groups.map(\.name)
        var gs = [0], gf: [Int32] = []
        var perVM = [Int](repeating: 0, count: vms.count)
        for g in groups {
            gf += g.members; gs.append(gf.count)
            for m in g.members { perVM[Int(m)] += 1 }
        }
        groupStart = gs; groupFlat = gf
        var vs = [0]; vs.reserveCapacity(vms.count + 1)
        for c in perVM { vs.append(vs.last! + c) }
        var fill = vs; var vf = [Int32](repeating: 0, count: vs.last!)
        for (gi, g) in groups.enumerated() {
            for m in g.members { vf[fill[Int(m)]] = Int32(gi); fill[Int(m)] += 1 }
        }
        vmGroupStart = vs; vmGroupFlat = vf
        self.hostIndex = hostIndex; self.vmIndex = vmIndex; duplicateNames = dups
    }

    @inline(__always) func members(of g: Int) -> ArraySlice<Int32> { groupFlat[groupStart[g]..<groupStart[g + 1]] }
    @inline(__always) func groups(of v: Int) -> ArraySlice<Int32> { vmGroupFlat[vmGroupStart[v]..<vmGroupStart[v + 1]] }

    /// "2 vCPU / 4096 MiB", the way every message states a size.
    func size(of v: Int) -> String { "\(vmCPU[v]) vCPU / \(vmMem[v]) MiB" }

    /// The groups of VM `v` by name, for messages.
    func groupNameList(of v: Int) -> [String] { groups(of: v).map { groupNames[Int($0)] } }
}
