/// Failure explanations. They run only after the search has failed, so they may be slower than
/// the search; each one reasons from what is *fixed* (pins, or survivors during a re-plan), which
/// makes the smaller reasons proofs rather than accidents of the order the greedy pass chose.
extension PlacementState {
    /// Why host `h` cannot take VM `v` right now: each group-mate in the way, then capacity.
    func verdict(for v: Int, on h: Int) -> HostVerdict {
        var reasons: [String] = []
        if !available[h] { reasons.append("is the host being removed") }
        // One reason per group-mate in the way, naming every group it shares with `v`.
        var blockers: [(vm: Int, via: Int, groups: [String])] = []
        for g in site.groups(of: v) {
            let gname = site.groupNames[Int(g)]
            for u32 in site.members(of: Int(g)) where Int(u32) != v {
                let u = Int(u32), uh = Int(hostOf[u])
                guard uh >= 0 else { continue }
                // via 0: same host; via d > 0: same value of spread label d.
                guard let via = (0..<site.dimensionCount).first(where: { site.domainOf[$0][uh] == site.domainOf[$0][h] }) else { continue }
                if let i = blockers.firstIndex(where: { $0.vm == u }) { blockers[i].groups.append(gname) }
                else { blockers.append((u, via, [gname])) }
            }
        }
        for b in blockers {
            let uh = Int(hostOf[b.vm]), groups = b.groups.joined(separator: ", ")
            reasons.append(b.via == 0
                ? "runs \(site.vmNames[b.vm]) (\(groups))"
                : "shares \(site.dimensionNames[b.via]) \(site.domainNames[b.via][Int(site.domainOf[b.via][h])]) with \(site.hostNames[uh]), which runs \(site.vmNames[b.vm]) (\(groups))")
        }
        if !fits(v, h) { reasons.append("has only \(freeCPU[h]) vCPU / \(freeMem[h]) MiB free") }
        return HostVerdict(host: site.hostNames[h], freeVCPUs: freeCPU[h], freeMemoryMiB: freeMem[h],
                           hasRoom: reasons.isEmpty, reason: reasons.joined(separator: "; "))
    }

    /// "VM fg5x2 (gums, 2 vCPU / 2048 MiB, in service gums)".
    func describe(_ v: Int) -> String {
        let groups = site.groupNameList(of: v)
        let inGroups = groups.isEmpty ? "" : ", in \(groups.joined(separator: ", "))"
        return "VM \(site.vmNames[v]) (\(site.vmRole[v].rawValue), \(site.size(of: v))\(inGroups))"
    }

    /// The smallest reason of all: VM `v` fits no host given only the fixed VMs.
    mutating func explainVM(_ v: Int, hint: String) -> PlacementFailure? {
        // Cheap index lookup first: on a large site the per-host verdicts (with their text) are
        // worth building only for the VM that really has nowhere to go.
        if bestHost(for: v) != nil { return nil }
        let verdicts = (0..<site.hostCount).map { verdict(for: v, on: $0) }
        guard !verdicts.contains(where: \.hasRoom) else { return nil }
        let blocked = summarize(verdicts.map { "\($0.host) \($0.reason)" }, noun: "hosts without room")
        return PlacementFailure(.noHostForVM, vms: [site.vmNames[v]], hosts: verdicts,
                                message: "\(describe(v)) fits no host: \(blocked.isEmpty ? "the site has no hosts" : blocked)",
                                hint: hint)
    }

    /// The next smallest reason: the unplaced members of group `g` cannot be given separate hosts
    /// (and separate spread domains) that each have room for them, given only the fixed VMs.
    /// Returns nil when such hosts exist, or when the small search that decides it runs out of budget.
    mutating func explainGroup(_ g: Int) -> PlacementFailure? {
        let members = site.members(of: g).map(Int.init)
        let open = members.filter { hostOf[$0] < 0 }
        guard open.count >= 2 else { return nil } // one open member: explainVM covers it
        // Quick sufficient test first: place the members one by one through the index (each
        // then excludes the next from its host and domains). If that works the group splits, and
        // the exact search, which looks at every host, is not needed. The state is restored.
        var trial: [Int] = []
        for v in open {
            guard let h = bestHost(for: v, .roomiest) else { break }
            place(v, on: h); trial.append(v)
        }
        let splits = trial.count == open.count
        for v in trial.reversed() { unplace(v) }
        if splits { return nil }
        var cands: [[Int]] = []
        for v in open {
            markConflicts(of: v)
            cands.append((0..<site.hostCount).filter { available[$0] && fits(v, $0) && !isExcluded($0) })
        }
        if groupSplits(open: open, candidates: cands) != false { return nil }
        let verdicts = open.map { v in (0..<site.hostCount).map { verdict(for: v, on: $0) } }

        let gname = site.groupNames[g]
        let spread = Array(site.dimensionNames.dropFirst())
        var need = "\(list(open.map { site.vmNames[$0] })) need \(open.count) separate hosts"
        if !spread.isEmpty { need += ", each in a different \(spread.joined(separator: " and "))," }
        let sizes = Set(open.map { site.size(of: $0) })
        need += sizes.count == 1 ? " with \(sizes.first!) free"
                                 : " with room for \(list(open.map { "\(site.vmNames[$0]) (\(site.size(of: $0)))" }))"
        let fixed = members.filter { hostOf[$0] >= 0 }
        if !fixed.isEmpty {
            need += ", apart from \(list(fixed.map { "\(site.vmNames[$0]) on \(site.hostNames[Int(hostOf[$0])])" }))"
        }
        let roomy = (0..<site.hostCount).filter { h in cands.contains { $0.contains(h) } }
        func label(_ h: Int) -> String {
            guard !spread.isEmpty else { return site.hostNames[h] }
            let doms = (1..<site.dimensionCount).map { "\(site.dimensionNames[$0]) \(site.domainNames[$0][Int(site.domainOf[$0][h])])" }
            return "\(site.hostNames[h]) (\(doms.joined(separator: ", ")))"
        }
        let room = roomy.isEmpty ? "no host has room"
                                 : "only \(list(roomy.map(label))) \(roomy.count == 1 ? "has" : "have") room"
        // Explain the other hosts from the point of view of the smallest open member.
        let smallest = open.indices.min { (site.vmCPU[open[$0]], site.vmMem[open[$0]], $0) < (site.vmCPU[open[$1]], site.vmMem[open[$1]], $1) }!
        let others = (0..<site.hostCount).filter { !roomy.contains($0) }.map { verdicts[smallest][$0] }
        let why = others.isEmpty ? "" : " (\(summarize(others.map { "\($0.host) \($0.reason)" }, noun: "other hosts without room")))"
        let hostVerdicts = (0..<site.hostCount).map { h in
            roomy.contains(h) ? verdicts[cands.firstIndex { $0.contains(h) }!][h] : verdicts[smallest][h]
        }
        return PlacementFailure(.groupCannotSplit, group: gname, vms: open.map { site.vmNames[$0] }, hosts: hostVerdicts,
                                message: "\(gname): \(need); \(room)\(why)",
                                hint: "free room on \(open.count - min(open.count, roomy.count) > 0 ? "\(open.count - roomy.count) more host(s)" : "hosts in other failure domains") (unpin or shrink VMs there), add a host, or shrink the group")
    }

    /// Exact check that the open members of one group can take distinct hosts and distinct spread
    /// domains among `candidates`. Members of one group never share a host, so their capacity needs
    /// are independent and the check is a small matching search. nil means "budget ran out".
    private func groupSplits(open: [Int], candidates: [[Int]]) -> Bool? {
        let order = open.indices.sorted { (candidates[$0].count, $0) < (candidates[$1].count, $1) }
        var chosen: [Int] = []
        var budget = 200_000
        func clash(_ h: Int) -> Bool {
            chosen.contains { c in (0..<site.dimensionCount).contains { site.domainOf[$0][c] == site.domainOf[$0][h] } }
        }
        func go(_ i: Int) -> Bool? {
            if i == order.count { return true }
            for h in candidates[order[i]] where !clash(h) {
                budget -= 1
                if budget < 0 { return nil }
                chosen.append(h)
                let r = go(i + 1)
                chosen.removeLast()
                if r != false { return r }
            }
            return false
        }
        return go(0)
    }

    /// The site as a whole: the VMs in `open` need more vCPUs or memory than the available hosts
    /// have free together (counting only fixed VMs), whatever the groups.
    func explainTotals(_ open: [Int], hint: String) -> PlacementFailure? {
        let needCPU = open.map { site.vmCPU[$0] }.reduce(0, +), needMem = open.map { site.vmMem[$0] }.reduce(0, +)
        let hosts = (0..<site.hostCount).filter { available[$0] }
        let haveCPU = hosts.map { max(0, freeCPU[$0]) }.reduce(0, +), haveMem = hosts.map { max(0, freeMem[$0]) }.reduce(0, +)
        guard needCPU > haveCPU || needMem > haveMem else { return nil }
        return PlacementFailure(.capacityShort, vms: open.map { site.vmNames[$0] },
                                message: "the \(open.count) VMs to place need \(needCPU) vCPU / \(needMem) MiB but the \(hosts.count) hosts have only \(haveCPU) vCPU / \(haveMem) MiB free in total: short by \(max(0, needCPU - haveCPU)) vCPU / \(max(0, needMem - haveMem)) MiB",
                                hint: hint)
    }

    /// The last resort: the search stopped at VM `v` with the state it had reached.
    func explainStuck(_ v: Int, open: [Int], proven: Bool, hint: String) -> PlacementFailure {
        let verdicts = (0..<site.hostCount).map { verdict(for: v, on: $0) }
        let blocked = summarize(verdicts.filter { !$0.hasRoom }.map { "\($0.host) \($0.reason)" }, noun: "hosts without room")
        let unplaced = open.filter { hostOf[$0] < 0 }
        let needCPU = unplaced.map { site.vmCPU[$0] }.reduce(0, +), needMem = unplaced.map { site.vmMem[$0] }.reduce(0, +)
        let haveCPU = (0..<site.hostCount).filter { available[$0] }.map { max(0, freeCPU[$0]) }.reduce(0, +)
        let haveMem = (0..<site.hostCount).filter { available[$0] }.map { max(0, freeMem[$0]) }.reduce(0, +)
        let finding = proven
            ? "every VM and every group fits on its own, but an exhaustive search found no way to fit them all together"
            : "every VM and every group fits on its own, but the planner's bounded search gave up; a placement may still exist"
        return PlacementFailure(proven ? .noPlacement : .searchGaveUp, vms: [site.vmNames[v]], hosts: verdicts,
                                message: "\(finding). It got stuck after placing \(open.count - unplaced.count) of \(open.count) VMs: \(describe(v)) fits no host (\(blocked)); the \(unplaced.count) unplaced VMs need \(needCPU) vCPU / \(needMem) MiB and the hosts have \(haveCPU) / \(haveMem) free in total, split into pieces",
                                hint: hint)
    }
}

/// "a", "a and b", "a, b and c".
func list(_ items: [String]) -> String {
    switch items.count {
    case 0: return ""
    case 1: return items[0]
    default: return items.dropLast().joined(separator: ", ") + " and " + items.last!
    }
}

/// At most six items, then "and N more …", so a 1,000-host site gives a readable message.
func summarize(_ items: [String], noun: String) -> String {
    let shown = items.prefix(6).joined(separator: "; ")
    return items.count > 6 ? "\(shown); and \(items.count - 6) more \(noun)" : shown
}
