/// Hosts with free capacity, ordered for best-fit and roomiest-fit lookups.
///
/// Hosts are grouped by their exact free capacity (vCPUs, memory); each group is a bitset of host
/// indices, and the groups are kept in a sorted array. A lookup walks the groups in capacity order
/// and, inside one, hosts in index (name) order, and returns the first host the caller allows.
/// Moving a host between groups is O(1) plus, when a group appears or empties, one insertion in
/// the sorted array of groups; there are few distinct capacities, so this stays cheap at
/// 10,000 hosts, where sorted per-capacity arrays of hosts cost a memmove per placement.
struct FreeIndex {
    struct Capacity: Comparable, Hashable {
        var cpu: Int
        var mem: Int
        static func < (a: Capacity, b: Capacity) -> Bool { a.cpu != b.cpu ? a.cpu < b.cpu : a.mem < b.mem }
    }
    struct Group: Comparable {
        var capacity: Capacity
        var slot: Int
        static func < (a: Group, b: Group) -> Bool { a.capacity < b.capacity }
        static func == (a: Group, b: Group) -> Bool { a.capacity == b.capacity }
    }
    /// Non-empty groups in ascending capacity. Only this array is iterated, never the
    /// dictionary, so hashing order cannot leak into the plan.
    private var groups: [Group] = []
    private var slotOf: [Capacity: Int] = [:]
    private var bits: [[UInt64]] = []
    private var counts: [Int] = []
    private var spareSlots: [Int] = []
    private let words: Int

    init(hostCount: Int) { words = max(1, (hostCount + 63) / 64) }

    mutating func insert(host: Int32, cpu: Int, mem: Int) {
        let c = Capacity(cpu: cpu, mem: mem)
        let s: Int
        if let known = slotOf[c] {
            s = known
        } else {
            if let spare = spareSlots.popLast() { s = spare } else {
                bits.append([UInt64](repeating: 0, count: words)); counts.append(0); s = bits.count - 1
            }
            slotOf[c] = s
            groups.insert(Group(capacity: c, slot: s), at: lowerBound(groups, Group(capacity: c, slot: s)))
        }
        bits[s][Int(host) >> 6] |= 1 << UInt64(Int(host) & 63)
        counts[s] += 1
    }

    mutating func remove(host: Int32, cpu: Int, mem: Int) {
        let c = Capacity(cpu: cpu, mem: mem)
        guard let s = slotOf[c] else { preconditionFailure("FreeIndex out of sync for host \(host)") }
        bits[s][Int(host) >> 6] &= ~(1 << UInt64(Int(host) & 63))
        counts[s] -= 1
        if counts[s] == 0 {
            slotOf[c] = nil
            groups.remove(at: lowerBound(groups, Group(capacity: c, slot: s)))
            spareSlots.append(s) // its bits are all clear again, ready for reuse
        }
    }

    /// The first host (lowest index) of a group that `allowed` accepts.
    private func first(in slot: Int, allowed: (Int) -> Bool) -> Int? {
        for w in 0..<words {
            var word = bits[slot][w]
            while word != 0 {
                let h = w << 6 | word.trailingZeroBitCount
                if allowed(h) { return h }
                word &= word - 1
            }
        }
        return nil
    }

    /// The tightest-fitting host (least free vCPUs, then least free memory, then first by name)
    /// with at least `cpu` vCPUs and `mem` MiB free that `allowed` accepts.
    func best(cpu: Int, mem: Int, allowed: (Int) -> Bool) -> Int? {
        var i = lowerBound(groups, Group(capacity: Capacity(cpu: cpu, mem: mem), slot: 0))
        while i < groups.count {
            if groups[i].capacity.mem >= mem, let h = first(in: groups[i].slot, allowed: allowed) { return h }
            i += 1
        }
        return nil
    }

    /// The roomiest host (most free vCPUs, then most free memory, then first by name) with at
    /// least `cpu` vCPUs and `mem` MiB free that `allowed` accepts.
    func roomiest(cpu: Int, mem: Int, allowed: (Int) -> Bool) -> Int? {
        var i = groups.count - 1
        while i >= 0 && groups[i].capacity.cpu >= cpu {
            if groups[i].capacity.mem >= mem, let h = first(in: groups[i].slot, allowed: allowed) { return h }
            i -= 1
        }
        return nil
    }
}

/// First index whose element is not less than `x` in a sorted array.
@inline(__always)
func lowerBound<T: Comparable>(_ a: [T], _ x: T) -> Int {
    var lo = 0, hi = a.count
    while lo < hi {
        let mid = (lo + hi) >> 1
        if a[mid] < x { lo = mid + 1 } else { hi = mid }
    }
    return lo
}


/// Where every VM is at one moment of the search, and what each host has left.
struct PlacementState {
    let site: IndexedSite
    /// Host of each VM, or -1 while unplaced.
    var hostOf: [Int32]
    var freeCPU: [Int]
    var freeMem: [Int]
    /// Hosts that may receive VMs (false for a host being removed).
    var available: [Bool]
    /// VMs the search may move. Pinned VMs, and survivors during a re-plan, are fixed.
    var movable: [Bool]
    /// VMs on each host, in the order they arrived (deterministic: the search is).
    var onHost: [[Int32]]
    var index: FreeIndex
    /// Per dimension, the stamp of the last query that marked each domain as taken.
    private var marks: [[UInt32]]
    private var stamp: UInt32 = 0

    init(site: IndexedSite, unavailable: Int? = nil) {
        self.site = site
        hostOf = [Int32](repeating: -1, count: site.vmCount)
        freeCPU = site.hostCPU
        freeMem = site.hostMem
        available = [Bool](repeating: true, count: site.hostCount)
        if let u = unavailable { available[u] = false }
        movable = [Bool](repeating: true, count: site.vmCount)
        onHost = [[Int32]](repeating: [], count: site.hostCount)
        marks = site.domainNames.map { [UInt32](repeating: 0, count: $0.count) }
        index = FreeIndex(hostCount: site.hostCount)
        for h in 0..<site.hostCount where available[h] {
            index.insert(host: Int32(h), cpu: freeCPU[h], mem: freeMem[h])
        }
    }

    mutating func place(_ v: Int, on h: Int) {
        if available[h] { index.remove(host: Int32(h), cpu: freeCPU[h], mem: freeMem[h]) }
        freeCPU[h] -= site.vmCPU[v]
        freeMem[h] -= site.vmMem[v]
        if available[h] { index.insert(host: Int32(h), cpu: freeCPU[h], mem: freeMem[h]) }
        hostOf[v] = Int32(h)
        onHost[h].append(Int32(v))
    }

    mutating func unplace(_ v: Int) {
        let h = Int(hostOf[v])
        precondition(h >= 0, "unplacing a VM that is not placed")
        if available[h] { index.remove(host: Int32(h), cpu: freeCPU[h], mem: freeMem[h]) }
        freeCPU[h] += site.vmCPU[v]
        freeMem[h] += site.vmMem[v]
        if available[h] { index.insert(host: Int32(h), cpu: freeCPU[h], mem: freeMem[h]) }
        hostOf[v] = -1
        if let i = onHost[h].lastIndex(of: Int32(v)) { onHost[h].remove(at: i) }
    }

    /// Marks every domain (host, and each spread label value) that a placed group-mate of `v`
    /// occupies; ``isExcluded(_:)`` then answers for `v` until the next call.
    mutating func markConflicts(of v: Int) {
        stamp &+= 1
        if stamp == 0 { // wrapped: clear so old marks cannot match
            for d in marks.indices { for i in marks[d].indices { marks[d][i] = 0 } }
            stamp = 1
        }
        for g in site.groups(of: v) {
            for u in site.members(of: Int(g)) where Int(u) != v {
                let h = hostOf[Int(u)]
                guard h >= 0 else { continue }
                for d in 0..<site.dimensionCount { marks[d][Int(site.domainOf[d][Int(h)])] = stamp }
            }
        }
    }

    /// Whether host `h` shares a domain with a group-mate marked by the last ``markConflicts(of:)``.
    @inline(__always) func isExcluded(_ h: Int) -> Bool {
        for d in 0..<site.dimensionCount where marks[d][Int(site.domainOf[d][h])] == stamp { return true }
        return false
    }

    @inline(__always) func fits(_ v: Int, _ h: Int) -> Bool {
        freeCPU[h] >= site.vmCPU[v] && freeMem[h] >= site.vmMem[v]
    }

    /// The host `v` should go on under `fit`, honouring its groups; nil if none.
    mutating func bestHost(for v: Int, _ fit: Fit = .tightest) -> Int? {
        markConflicts(of: v)
        switch fit {
        case .tightest: return index.best(cpu: site.vmCPU[v], mem: site.vmMem[v]) { !isExcluded($0) }
        case .roomiest: return index.roomiest(cpu: site.vmCPU[v], mem: site.vmMem[v]) { !isExcluded($0) }
        }
    }

    /// How the greedy pass picks among hosts that can take a VM.
    enum Fit {
        /// Least room left afterwards: packs tightly, so big VMs still find room late.
        case tightest
        /// Most room: spreads load so that any one host's VMs can be re-hosted on the others (N+1).
        case roomiest
    }

    /// Places `order` one VM at a time on its host under `fit`, repairing with one-VM moves when a
    /// VM finds no host. Returns the first VM that could be neither placed nor repaired.
    mutating func greedy(_ order: [Int], fit: Fit, repairBudget: inout Int) -> Int? {
        for v in order {
            if let h = bestHost(for: v, fit) { place(v, on: h); continue }
            if repair(v, budget: &repairBudget) { continue }
            return v
        }
        return nil
    }

    /// Tries to make room for `v` by moving one movable VM: either one that takes capacity on a
    /// host, or a group-mate whose host or failure domain blocks it. Bounded by `budget` trials.
    mutating func repair(_ v: Int, budget: inout Int) -> Bool {
        for h in 0..<site.hostCount where available[h] {
            var blockers = onHost[h].filter { movable[Int($0)] }
            for g in site.groups(of: v) {
                for u in site.members(of: Int(g)) where Int(u) != v && movable[Int(u)] {
                    let uh = Int(hostOf[Int(u)])
                    guard uh >= 0, uh != h else { continue }
                    if (1..<site.dimensionCount).contains(where: { site.domainOf[$0][uh] == site.domainOf[$0][h] }) {
                        blockers.append(u)
                    }
                }
            }
            for u32 in blockers {
                budget -= 1
                if budget < 0 { return false }
                let u = Int(u32), from = Int(hostOf[u])
                unplace(u)
                markConflicts(of: v)
                if fits(v, h) && !isExcluded(h) {
                    place(v, on: h)
                    if let to = bestHost(for: u) {
                        place(u, on: to)
                        return true
                    }
                    unplace(v)
                }
                place(u, on: from)
            }
        }
        return false
    }

    /// Hosts `v` may go on now, tightest fit first.
    mutating func candidates(for v: Int) -> [Int32] {
        markConflicts(of: v)
        var out: [Int32] = []
        for h in 0..<site.hostCount where available[h] && fits(v, h) && !isExcluded(h) { out.append(Int32(h)) }
        let c = site.vmCPU[v], m = site.vmMem[v]
        out.sort { a, b in
            let ka = (freeCPU[Int(a)] - c, freeMem[Int(a)] - m, a), kb = (freeCPU[Int(b)] - c, freeMem[Int(b)] - m, b)
            return ka < kb
        }
        return out
    }

    /// Backtracking search over the unplaced VMs of `order`, starting from the current state:
    /// at each step it branches on the VM with the fewest hosts left (fail-first), prunes when
    /// the VMs left need more vCPUs or memory than all hosts have free, and tries only one of
    /// several empty hosts that are interchangeable. Stops after about `budget` host checks.
    /// Returns whether every VM was placed, and whether the search was complete (so that a
    /// failure proves no placement exists).
    mutating func exhaustive(_ order: [Int], budget: Int) -> (solved: Bool, complete: Bool) {
        var open = order
        var steps = 0
        switch backtrack(&open, steps: &steps, budget: budget) {
        case .some(true): return (true, true)
        case .some(false): return (false, true)
        case .none: return (false, false)
        }
    }

    /// One level of ``exhaustive(_:budget:)``: true = solved, false = no placement below this
    /// node, nil = out of budget.
    private mutating func backtrack(_ open: inout [Int], steps: inout Int, budget: Int) -> Bool? {
        if open.isEmpty { return true }
        steps += open.count * max(1, site.hostCount)
        if steps > budget { return nil }
        var needCPU = 0, needMem = 0, haveCPU = 0, haveMem = 0
        for v in open { needCPU += site.vmCPU[v]; needMem += site.vmMem[v] }
        for h in 0..<site.hostCount where available[h] { haveCPU += max(0, freeCPU[h]); haveMem += max(0, freeMem[h]) }
        if needCPU > haveCPU || needMem > haveMem { return false }
        var pick = -1, pickCands: [Int32] = []
        for (i, v) in open.enumerated() {
            let c = candidates(for: v)
            if c.isEmpty { return false }
            if pick < 0 || c.count < pickCands.count { pick = i; pickCands = c }
            if c.count == 1 { break }
        }
        let v = open.remove(at: pick)
        defer { open.insert(v, at: pick) }
        // Empty hosts with the same free capacity and the same spread domains are interchangeable.
        var triedEmpty: [[Int]] = []
        for h32 in pickCands {
            let h = Int(h32)
            if onHost[h].isEmpty {
                let signature = [freeCPU[h], freeMem[h]] + (1..<site.dimensionCount).map { Int(site.domainOf[$0][h]) }
                if triedEmpty.contains(signature) { continue }
                triedEmpty.append(signature)
            }
            place(v, on: h)
            let r = backtrack(&open, steps: &steps, budget: budget)
            if r == true { return true } // keep the placement: the caller reads the state
            unplace(v)
            if r == nil { return nil }
        }
        return false
    }

    /// Most constrained first: VMs in the biggest anti-affinity groups, then in the most groups,
    /// then the biggest (vCPU and memory relative to the largest host), then group by group (so
    /// a pair's members are placed one after the other), then by name.
    func order(_ vms: [Int]) -> [Int] {
        let maxCPU = Double(max(1, site.hostCPU.max() ?? 1)), maxMem = Double(max(1, site.hostMem.max() ?? 1))
        struct Key { var group: Int; var count: Int; var size: Double; var first: Int32; var vm: Int }
        let keys = vms.map { v -> Key in
            var biggest = 0
            for g in site.groups(of: v) { biggest = Swift.max(biggest, site.groupStart[Int(g) + 1] - site.groupStart[Int(g)]) }
            return Key(group: biggest, count: site.vmGroupStart[v + 1] - site.vmGroupStart[v],
                       size: Double(site.vmCPU[v]) / maxCPU + Double(site.vmMem[v]) / maxMem,
                       first: site.groups(of: v).first ?? -1, vm: v)
        }
        return keys.sorted { a, b in
            if a.group != b.group { return a.group > b.group }
            if a.count != b.count { return a.count > b.count }
            if a.size != b.size { return a.size > b.size }
            if a.first != b.first { return a.first < b.first }
            return a.vm < b.vm
        }.map(\.vm)
    }
}

extension PlacementState {
    /// Takes host `h` out of service: it keeps its VMs (until they are unplaced) but receives none.
    mutating func makeUnavailable(_ h: Int) {
        guard available[h] else { return }
        index.remove(host: Int32(h), cpu: freeCPU[h], mem: freeMem[h])
        available[h] = false
    }
}
