// tandem-bench-placement: plans a synthetic site and prints time and peak memory.
//
//   tandem-bench-placement [--hosts N] [--runs R] [--nplus1] [--failure]
//
// The site: N hosts (64 vCPU, 256 GiB) in racks of 50, 20 VMs per host in anti-affinity pairs
// (N × 10 pairs), VM sizes cycling through 1/2/4 vCPU and 2/4/8 GiB, and placement.spread: [rack],
// so every pair must land in different racks as well as on different hosts. Default N = 1,000:
// 20,000 VMs in 10,000 pairs, the issue's target (< 1 s, < 200 MB). Run one size per process
// (scripts/bench-placement does) so the peak memory belongs to that size alone.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Placement
import Topology
import Net
import Reconcile

func argument(_ name: String, default value: Int) -> Int {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let n = Int(args[i + 1]) else { return value }
    return n
}

/// Peak resident set size of this process, in KiB, from /proc/self/status (VmHWM).
func peakMemoryKiB() -> Int? {
    #if canImport(Glibc)
    guard let f = fopen("/proc/self/status", "r") else { return nil }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), f) != nil {
        let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if s.hasPrefix("VmHWM:") { return Int(s.dropFirst(6).filter(\.isNumber)) }
    }
    #endif
    return nil
}

func syntheticSite(hosts hostCount: Int, cpus: Int = 64) -> Topology {
    let rackSize = 50
    let racks = max(2, (hostCount + rackSize - 1) / rackSize)
    let address = IPAddress("192.0.2.1")!
    let hosts = (0..<hostCount).map { i in
        XenHost(name: "xen\(i)", address: address, cpus: cpus, memoryMiB: 256 * 1024, labels: ["rack": "r\(i % racks)"])
    }
    let pairs = hostCount * 10
    let cpu = [1, 2, 4], mem = [2048, 4096, 8192]
    var vms: [DomU] = [], groups: [AntiAffinityGroup] = []
    vms.reserveCapacity(pairs * 2); groups.reserveCapacity(pairs)
    for p in 0..<pairs {
        let a = "vm\(p)a", b = "vm\(p)b"
        for n in [a, b] {
            vms.append(DomU(name: n, role: .other, vcpus: cpu[p % 3], memoryMiB: mem[(p / 3) % 3], addresses: []))
        }
        groups.append(AntiAffinityGroup(name: "pair \(p)", members: [a, b]))
    }
    return Topology(site: "synthetic-\(hostCount)", placement: PlacementPolicy(spread: ["rack"]),
                    hosts: hosts, vms: vms, services: [], antiAffinity: groups)
}

let hostCount = argument("--hosts", default: 1000)
let runs = argument("--runs", default: 5)
let withNPlusOne = CommandLine.arguments.contains("--nplus1")
let withFailure = CommandLine.arguments.contains("--failure")
let site = syntheticSite(hosts: hostCount)
let clock = ContinuousClock()
var times: [Duration] = []
var plan: PlacementPlan?
for _ in 0..<runs {
    let start = clock.now
    let result = Planner.plan(site)
    times.append(clock.now - start)
    switch result {
    case .success(let p): plan = p
    case .failure(let f):
        print("FAILED: \(f)")
        exit(1)
    }
}
times.sort()
let median = times[times.count / 2]
let violations = plan!.violations(in: site)
let peak = peakMemoryKiB()
let peakMB = peak.map { Double($0) / 1024 } ?? -1
print("hosts=\(hostCount) vms=\(site.vms.count) pairs=\(site.antiAffinity.count) spread=rack runs=\(runs)")
print(String(format: "  plan time: median %.1f ms (min %.1f, max %.1f)", median.inMilliseconds, times.first!.inMilliseconds, times.last!.inMilliseconds))
print(String(format: "  peak memory (VmHWM, whole process incl. the synthetic topology): %.1f MB", peakMB))
print("  plan valid: \(violations.isEmpty ? "yes" : "NO — \(violations.prefix(3))")")
if withNPlusOne {
    let start = clock.now
    let reports = Planner.nPlusOne(site, plan!)
    let t = clock.now - start
    let ok = reports.filter(\.canRehost).count
    print(String(format: "  N+1 report: %.1f ms for %d hosts; %d can be re-hosted without moving others",
                 t.inMilliseconds, reports.count, ok))
}
if withFailure {
    // The failure path: hosts with 44 vCPUs cannot hold 20 VMs averaging 2.33 vCPUs each, so
    // every pass fails and the planner must explain why. Timed once; it must stay bounded too.
    let short = syntheticSite(hosts: hostCount, cpus: 44)
    let start = clock.now
    let result = Planner.plan(short)
    let t = clock.now - start
    if case .failure(let f) = result {
        print(String(format: "  failure path (44-vCPU hosts, overcommitted): %.1f ms", t.inMilliseconds) + " → [\(f.code.rawValue)]")
        print("    \(f.message.prefix(400))…")
    } else {
        print("  failure path: unexpectedly found a plan")
    }
}
if hostCount == 1000 {
    let timeOK = median.inMilliseconds < 1000, memOK = peakMB >= 0 && peakMB < 200
    print("  targets: time < 1 s: \(timeOK ? "met" : "NOT met"); memory < 200 MB: \(memOK ? "met" : "NOT met")")
}
