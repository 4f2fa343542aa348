import Topology

/// Decides where every VM runs: each anti-affinity group split across hosts (and across the
/// failure domains named in `placement.spread`), within host capacity, honouring pins.
///
/// Pure and deterministic: the same topology gives the same plan, whatever order the file lists
/// hosts, VMs or groups in (they are numbered by name). See docs/placement.md for the algorithm.
public enum Planner {
    /// Search limits. The defaults keep a failing 1,000-host site well under a second while
    /// still searching tiny sites exhaustively, so a failure there is a proof.
    public struct Limits: Sendable, Equatable {
        /// One-VM moves the greedy pass may try when a VM finds no host.
        public var repairTrials: Int
        /// Host checks the backtracking search may make after the greedy pass fails.
        public var searchSteps: Int
        /// Creates limits.
        public init(repairTrials: Int = 20_000, searchSteps: Int = 2_000_000) {
            self.repairTrials = repairTrials; self.searchSteps = searchSteps
        }
    }

    /// Why there is nothing to place in `topology`, or `nil` when it has VMs. A load-balancer-only
    /// site (machines and plain real servers, no hypervisor inventory) is valid and has no plan:
    /// saying so beats printing an empty one.
    public static func nothingToPlace(_ topology: Topology) -> NothingToPlace? {
        guard topology.vms.isEmpty else { return nil }
        let plain = topology.services.reduce(0) { $0 + $1.members.filter { $0.vmName == nil }.count }
        let what = topology.hosts.isEmpty ? "no hypervisor inventory (no hosts, no VMs)" : "\(topology.hosts.count) host\(topology.hosts.count == 1 ? "" : "s") but no VMs"
        return NothingToPlace(site: topology.site, reason: "site \(topology.site) has nothing to place: it declares \(what); "
            + "its \(topology.machines.count) machine\(topology.machines.count == 1 ? "" : "s") and \(plain) plain real server\(plain == 1 ? "" : "s") run where they are. "
            + "Placement and the N+1 report apply to VMs on Xen hosts (`hosts`, `vms`).")
    }

    /// Places every VM of `topology`, or explains the smallest reason it cannot.
    public static func plan(_ topology: Topology, limits: Limits = .init()) -> Result<PlacementPlan, PlacementFailure> {
        let site = IndexedSite(topology)
        if let f = invalid(site) { return .failure(f) }
        var base = PlacementState(site: site)
        // Pins first: they are facts, not choices, and every later reason builds on them.
        var pinnedByHost: [Int: [Int]] = [:]
        for v in 0..<site.vmCount where site.vmPinned[v] >= 0 {
            let h = Int(site.vmPinned[v])
            base.markConflicts(of: v)
            if base.isExcluded(h) {
                let why = base.verdict(for: v, on: h).reason
                return .failure(PlacementFailure(.pinConflict, vms: [site.vmNames[v]], hosts: [base.verdict(for: v, on: h)],
                                                 message: "\(base.describe(v)) is pinned to \(site.hostNames[h]), which \(why)",
                                                 hint: "pin one of them elsewhere, or remove a pin and let the planner split them"))
            }
            base.place(v, on: h)
            base.movable[v] = false
            pinnedByHost[h, default: []].append(v)
        }
        for h in 0..<site.hostCount where base.freeCPU[h] < 0 || base.freeMem[h] < 0 {
            let vms = (pinnedByHost[h] ?? []).map { site.vmNames[$0] }
            return .failure(PlacementFailure(.pinConflict, vms: vms,
                                             message: "host \(site.hostNames[h]) is over capacity with its pinned VMs (\(vms.joined(separator: ", "))): short by \(max(0, -base.freeCPU[h])) vCPU / \(max(0, -base.freeMem[h])) MiB",
                                             hint: "unpin some of them or give the host more capacity"))
        }
        let open = (0..<site.vmCount).filter { site.vmPinned[$0] < 0 }
        return search(base, open: open, limits: limits,
                      hint: "add a host or capacity, shrink VMs, or relax placement.spread").map { plan(of: $0) }
    }

    /// Re-places the VMs of the host `lost` on the surviving hosts, leaving every other VM exactly
    /// where `current` has it. Fails, with the smallest reason, if the lost VMs cannot all be
    /// re-hosted without moving a survivor; VMs pinned to `lost` are reported, not moved.
    /// `notTargets` names surviving hosts that keep their VMs but may receive none of the lost
    /// ones (hosts the caller cannot start a VM on, such as hosts tandemd does not watch).
    public static func replan(_ topology: Topology, current: PlacementPlan, without lost: String, notTargets: Set<String> = [],
                              limits: Limits = .init()) -> Result<PlacementPlan, PlacementFailure> {
        let site = IndexedSite(topology)
        if let f = invalid(site) { return .failure(f) }
        guard let lostIndex = site.hostIndex[lost].map(Int.init) else {
            return .failure(PlacementFailure(.unknownHost, vms: [], message: "the site has no host named \(lost)",
                                             hint: "use one of: \(site.hostNames.joined(separator: ", "))"))
        }
        switch placedState(site, current) {
        case .failure(let f): return .failure(f)
        case .success(let full):
            let closed = notTargets.compactMap { site.hostIndex[$0].map(Int.init) }
            return rehost(full, lost: lostIndex, closed: closed, limits: limits).map { plan(of: $0) }
        }
    }

    /// For each host (by name): what losing it costs, and whether the survivors can re-host its
    /// VMs without moving any other VM. Empty if `plan` does not fit `topology` (see ``PlacementPlan/violations(in:)``).
    public static func nPlusOne(_ topology: Topology, _ plan: PlacementPlan, limits: Limits = .init()) -> [HostLossReport] {
        let site = IndexedSite(topology)
        guard invalid(site) == nil, case .success(let full) = placedState(site, plan) else { return [] }
        return (0..<site.hostCount).map { h in
            let lost = full.onHost[h].map { site.vmNames[Int($0)] }.sorted()
            let lostSet = Set(lost)
            var losses: [ServiceLoss] = []
            func loss(_ kind: ServiceLoss.Kind, _ name: String, _ members: [String]) {
                let gone = members.filter { lostSet.contains($0) }
                guard !gone.isEmpty else { return }
                losses.append(ServiceLoss(kind: kind, name: name, lostMembers: gone,
                                          survivingMembers: members.filter { !lostSet.contains($0) }))
            }
            if !lost.isEmpty {
                for d in topology.directorPairs { loss(.directorPair, d.name, d.members) }
                for s in topology.services { loss(.service, s.name, s.members.compactMap(\.vmName)) }
                if let r = topology.database { loss(.databaseRing, "database ring", r.members) }
            }
            var moves: [Move]? = nil, failure: PlacementFailure? = nil
            switch rehost(full, lost: h, limits: limits) {
            case .success(let after):
                moves = full.onHost[h].map(Int.init).sorted().map {
                    Move(vm: site.vmNames[$0], from: site.hostNames[h], to: site.hostNames[Int(after.hostOf[$0])])
                }
            case .failure(let f): failure = f
            }
            return HostLossReport(host: site.hostNames[h], lostVMs: lost, services: losses, moves: moves, failure: failure)
        }
    }

    // MARK: - Internals

    static func invalid(_ site: IndexedSite) -> PlacementFailure? {
        if !site.duplicateNames.isEmpty {
            return PlacementFailure(.invalidTopology, vms: [],
                                    message: "the topology declares \(list(site.duplicateNames)) more than once",
                                    hint: "give every host and VM a unique name (tandemctl validate reports where)")
        }
        let bad = (0..<site.vmCount).filter { site.vmPinned[$0] == -2 }
        if !bad.isEmpty {
            return PlacementFailure(.invalidTopology, vms: bad.map { site.vmNames[$0] },
                                    message: bad.map { "\(site.vmNames[$0]) is pinned to unknown host \(site.vmPinnedName[$0] ?? "")" }.joined(separator: "; "),
                                    hint: "pin to one of: \(site.hostNames.joined(separator: ", "))")
        }
        return nil
    }

    /// Every VM where `current` puts it, none movable; fails if `current` misses a VM or names an unknown host.
    static func placedState(_ site: IndexedSite, _ current: PlacementPlan) -> Result<PlacementState, PlacementFailure> {
        var state = PlacementState(site: site)
        var missing: [String] = []
        for v in 0..<site.vmCount {
            guard let hn = current.assignment[site.vmNames[v]], let h = site.hostIndex[hn] else {
                missing.append(site.vmNames[v]); continue
            }
            state.place(v, on: Int(h))
            state.movable[v] = false
        }
        if !missing.isEmpty {
            return .failure(PlacementFailure(.invalidPlan, vms: missing,
                                             message: "the current plan does not place \(list(missing)) on a host of the site",
                                             hint: "re-plan from a plan made for this topology"))
        }
        return .success(state)
    }

    /// Takes host `lost` out of `full` and searches homes for its VMs only; survivors stay fixed.
    static func rehost(_ full: PlacementState, lost: Int, closed: [Int] = [], limits: Limits) -> Result<PlacementState, PlacementFailure> {
        let site = full.site
        var base = full
        base.makeUnavailable(lost)
        // A closed host keeps what it runs (its VMs still count for anti-affinity) but takes no newcomer.
        for h in closed { base.makeUnavailable(h) }
        let moving = base.onHost[lost].map(Int.init).sorted()
        let lostName = site.hostNames[lost]
        let pinned = moving.filter { site.vmPinned[$0] == Int32(lost) }
        if !pinned.isEmpty {
            let names = pinned.map { site.vmNames[$0] }
            let one = names.count == 1
            return .failure(PlacementFailure(.pinnedToLostHost, vms: names,
                                             message: "\(list(names)) \(one ? "is" : "are") pinned to \(lostName), so \(one ? "it" : "they") cannot move when \(lostName) is lost",
                                             hint: "remove the pin (host:) from \(one ? "that VM" : "those VMs") if \(one ? "it" : "they") may run elsewhere, or bring \(lostName) back"))
        }
        for v in moving { base.unplace(v); base.movable[v] = true }
        return search(base, open: moving, limits: limits,
                      hint: "free room on a surviving host that runs no member of the VM's groups, or add a host")
    }

    /// Greedy with repair; then bounded backtracking; then the smallest explanation.
    static func search(_ base: PlacementState, open: [Int], limits: Limits, hint: String) -> Result<PlacementState, PlacementFailure> {
        let order = base.order(open)
        // Spread first: a balanced plan leaves every host headroom for a neighbour's VMs (N+1).
        // Only when spreading fails, pack tightly, which fits more into a nearly full site.
        var balanced = base
        var trials = limits.repairTrials
        if balanced.greedy(order, fit: .roomiest, repairBudget: &trials) == nil { return .success(balanced) }
        var greedy = base
        trials = limits.repairTrials
        guard let stuck = greedy.greedy(order, fit: .tightest, repairBudget: &trials) else { return .success(greedy) }
        var backtrack = base
        let (solved, complete) = backtrack.exhaustive(order, budget: limits.searchSteps)
        if solved { return .success(backtrack) }
        // Smallest reason first: one VM, then the smallest group, then the whole site.
        var base = base
        for v in open.sorted() { if let f = base.explainVM(v, hint: hint) { return .failure(f) } }
        var best: PlacementFailure?, bestSize = Int.max
        for g in 0..<base.site.groupNames.count {
            let size = base.site.groupStart[g + 1] - base.site.groupStart[g]
            guard size < bestSize, let f = base.explainGroup(g) else { continue }
            best = f; bestSize = size
        }
        if let best { return .failure(best) }
        if let f = base.explainTotals(open, hint: hint) { return .failure(f) }
        return .failure(greedy.explainStuck(stuck, open: open, proven: complete, hint: hint))
    }

    static func plan(of state: PlacementState) -> PlacementPlan {
        var a: [String: String] = [:]
        a.reserveCapacity(state.site.vmCount)
        for v in 0..<state.site.vmCount where state.hostOf[v] >= 0 {
            a[state.site.vmNames[v]] = state.site.hostNames[Int(state.hostOf[v])]
        }
        return PlacementPlan(assignment: a)
    }
}
