import Foundation
import Placement
import Topology
import XCTest
import Net
import Reconcile
import TopologyFiles

/// Repository root, found from this file's path, so tests read the shipped topology files.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Loads a shipped topology file; a missing or invalid file fails the test with the loader's words.
func shippedTopology(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> Topology {
    let path = repoRoot.appendingPathComponent("topology/\(name)").path
    do {
        return try TopologyLoader.load(path: path)
    } catch {
        XCTFail("cannot load \(path): \(error.description)", file: file, line: line)
        throw error
    }
}

/// A host with a made-up management address.
func host(_ name: String, cpus: Int, memoryMiB: Int, labels: [String: String] = [:]) -> XenHost {
    XenHost(name: name, address: IPAddress("192.0.2.1")!, cpus: cpus, memoryMiB: memoryMiB, labels: labels)
}

/// A VM with no addresses (placement does not look at them).
func vm(_ name: String, _ role: VMRole = .other, vcpus: Int, memoryMiB: Int, pinned: String? = nil) -> DomU {
    DomU(name: name, role: role, vcpus: vcpus, memoryMiB: memoryMiB, addresses: [], pinnedHost: pinned)
}

/// A service whose members are `vms`, so they form an implicit anti-affinity group.
func service(_ name: String, _ vms: [String]) -> VirtualService {
    VirtualService(name: name, vip: IPAddress("10.0.0.1")!, port: 80, members: vms.map { ServiceMember(vm: $0, port: 80) },
                   check: HealthCheckSpec(kind: .tcp))
}

/// The FermiGrid site in code: two 8-CPU/16 GiB hosts, six pairs (fg5xN, fg6xN). Used where a
/// test needs to vary it; the shipped file is tested separately.
func fermigridInCode() -> Topology {
    let sizes: [(VMRole, Int, Int)] = [(.director, 1, 1024), (.voms, 1, 2048), (.gums, 2, 2048), (.saz, 1, 2048), (.database, 2, 4096), (.saz, 1, 2048)]
    var vms: [DomU] = []
    for side in [5, 6] {
        for (i, s) in sizes.enumerated() { vms.append(vm("fg\(side)x\(i)", s.0, vcpus: s.1, memoryMiB: s.2)) }
    }
    let names = ["voms", "gums", "saz-gatekeeper", "mysql", "saz-cms"]
    let services = names.enumerated().map { i, n in service(n, ["fg5x\(i + 1)", "fg6x\(i + 1)"]) }
    return Topology(site: "fermigrid", hosts: [host("fermigrid5", cpus: 8, memoryMiB: 16384), host("fermigrid6", cpus: 8, memoryMiB: 16384)],
                    vms: vms, services: services,
                    directorPairs: [DirectorPair(members: ["fg5x0", "fg6x0"], vrid: 51, priorities: [:], advertIntervalMs: 1000, interface: "eth1")],
                    database: ReplicationRing(members: ["fg5x4", "fg6x4"]))
}

/// A random site for property tests: `hosts` hosts (with racks when `spread`), VMs of random
/// sizes, random pairs and triples as declared groups, and a few pins.
func randomSite(_ rng: inout SplitMix64, hosts hostCount: Int, vms vmCount: Int, spread: Bool, pins: Bool = true) -> Topology {
    let racks = max(1, Int.random(in: 1...hostCount, using: &rng))
    let hosts = (0..<hostCount).map { i in
        host("h\(i)", cpus: Int.random(in: 2...8, using: &rng), memoryMiB: 1024 * Int.random(in: 2...16, using: &rng),
             labels: spread ? ["rack": "r\(Int.random(in: 0..<racks, using: &rng))"] : [:])
    }
    var vms = (0..<vmCount).map { i in
        vm("v\(i)", vcpus: Int.random(in: 1...4, using: &rng), memoryMiB: 512 * Int.random(in: 1...8, using: &rng))
    }
    if pins {
        for i in vms.indices where Int.random(in: 0..<10, using: &rng) == 0 { vms[i].pinnedHost = hosts.randomElement(using: &rng)!.name }
    }
    var groups: [AntiAffinityGroup] = []
    var pool = vms.map(\.name).shuffled(using: &rng)
    var n = 0
    while pool.count >= 2 {
        let size = min(pool.count, Int.random(in: 2...3, using: &rng))
        if Int.random(in: 0..<4, using: &rng) > 0 { groups.append(AntiAffinityGroup(name: "g\(n)", members: Array(pool.prefix(size)))) }
        pool.removeFirst(size); n += 1
    }
    // Some VMs in two groups, as FermiGrid's voms / voms-v6 members are.
    if vmCount >= 4, Int.random(in: 0..<2, using: &rng) == 0 {
        groups.append(AntiAffinityGroup(name: "overlap", members: [vms[0].name, vms[vmCount - 1].name]))
    }
    return Topology(site: "random", placement: PlacementPolicy(spread: spread ? ["rack"] : []),
                    hosts: hosts, vms: vms, services: [], antiAffinity: groups)
}

/// Tries every assignment of VMs to hosts (hosts^VMs of them) and returns the first that honours
/// every rule, judged by `violations(in:)`. Only for tiny sites.
func bruteForcePlan(_ t: Topology) -> PlacementPlan? {
    let hosts = t.hosts.map(\.name), vms = t.vms.map(\.name)
    var choice = [Int](repeating: 0, count: vms.count)
    while true {
        var a: [String: String] = [:]
        for (i, v) in vms.enumerated() { a[v] = hosts[choice[i]] }
        let p = PlacementPlan(assignment: a)
        if p.violations(in: t).isEmpty { return p }
        var i = 0
        while i < choice.count {
            choice[i] += 1
            if choice[i] < hosts.count { break }
            choice[i] = 0; i += 1
        }
        if i == choice.count { return nil }
    }
}

/// Unwraps a plan or fails the test with the planner's explanation.
func planOrFail(_ t: Topology, file: StaticString = #filePath, line: UInt = #line) throws -> PlacementPlan {
    switch Planner.plan(t) {
    case .success(let p): return p
    case .failure(let f):
        XCTFail("expected a plan, got: \(f)", file: file, line: line)
        throw f
    }
}

/// Unwraps a failure or fails the test with the plan it got instead.
func failureOrFail<T>(_ r: Result<T, PlacementFailure>, file: StaticString = #filePath, line: UInt = #line) throws -> PlacementFailure {
    switch r {
    case .failure(let f): return f
    case .success(let p):
        XCTFail("expected a failure, got: \(p)", file: file, line: line)
        throw PlacementFailure(.noPlacement, vms: [], message: "unexpected success", hint: "")
    }
}
