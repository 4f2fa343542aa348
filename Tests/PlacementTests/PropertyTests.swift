import Placement
import Topology
import XCTest
import Net
import Reconcile

/// Random sites from a seeded generator: every failure message below names its seed, so a
/// failing case can be rebuilt with `randomSite(&SplitMix64(seed: …), …)`.
final class PropertyTests: XCTestCase {
    func testEveryPlanOnRandomSitesHonoursEveryRule() {
        var plans = 0, failures = 0
        for seed in UInt64(1)...400 {
            var rng = SplitMix64(seed: seed)
            let hosts = Int.random(in: 2...10, using: &rng)
            let t = randomSite(&rng, hosts: hosts, vms: Int.random(in: 2...(hosts * 4), using: &rng), spread: seed % 3 == 0)
            // A smaller search budget than the default keeps the failing cases quick in a debug build;
            // it is still ample for the tiny sites whose failures must be proofs.
            switch Planner.plan(t, limits: .init(searchSteps: 300_000)) {
            case .success(let p):
                plans += 1
                XCTAssertEqual(p.violations(in: t), [], "seed \(seed)")
            case .failure(let f):
                failures += 1
                XCTAssertFalse(f.message.isEmpty, "seed \(seed)")
                XCTAssertFalse(f.vms.isEmpty && f.group == nil, "seed \(seed): a failure must name what is at fault")
                if hosts <= 4 && t.vms.count <= 10 {
                    XCTAssertNotEqual(f.code, .searchGaveUp, "seed \(seed): small sites must be searched exhaustively")
                }
            }
        }
        // Both branches must be exercised, or the property says nothing.
        XCTAssertGreaterThan(plans, 100)
        XCTAssertGreaterThan(failures, 10)
    }

    /// On sites small enough to try every assignment, the planner fails exactly when no
    /// assignment honours the rules.
    func testPlannerFailsOnlyWhenBruteForceFindsNoPlacement() {
        var agreedPlans = 0, agreedFailures = 0
        for seed in UInt64(1000)...1250 {
            var rng = SplitMix64(seed: seed)
            let hosts = Int.random(in: 2...3, using: &rng)
            let t = randomSite(&rng, hosts: hosts, vms: Int.random(in: 3...6, using: &rng), spread: seed % 2 == 0)
            let exists = bruteForcePlan(t) != nil
            switch Planner.plan(t) {
            case .success(let p):
                XCTAssertEqual(p.violations(in: t), [], "seed \(seed)")
                agreedPlans += 1
            case .failure(let f):
                XCTAssertFalse(exists, "seed \(seed): planner said \(f) but a placement exists")
                if !exists { agreedFailures += 1 }
            }
        }
        XCTAssertGreaterThan(agreedPlans, 50)
        XCTAssertGreaterThan(agreedFailures, 20)
    }

    /// Re-plans keep every survivor in place, leave the lost host empty and honour every rule;
    /// when they fail on a tiny site, no placement of the lost VMs alone exists.
    func testReplanOnRandomSitesMovesOnlyTheLostVMs() {
        var replans = 0, refusals = 0
        for seed in UInt64(2000)...2200 {
            var rng = SplitMix64(seed: seed)
            let hosts = Int.random(in: 3...4, using: &rng)
            let t = randomSite(&rng, hosts: hosts, vms: Int.random(in: 3...6, using: &rng), spread: seed % 4 == 0, pins: false)
            guard case .success(let plan) = Planner.plan(t) else { continue }
            for lost in t.hosts.map(\.name) {
                switch Planner.replan(t, current: plan, without: lost) {
                case .success(let after):
                    replans += 1
                    XCTAssertEqual(after.violations(in: t), [], "seed \(seed) without \(lost)")
                    XCTAssertEqual(after.vms(on: lost), [], "seed \(seed) without \(lost)")
                    for (vm, h) in plan.assignment where h != lost {
                        XCTAssertEqual(after.assignment[vm], h, "seed \(seed) without \(lost): \(vm) moved")
                    }
                case .failure(let f):
                    refusals += 1
                    XCTAssertFalse(rehostExists(t, plan, without: lost), "seed \(seed) without \(lost): \(f)")
                }
            }
        }
        XCTAssertGreaterThan(replans, 100)
        XCTAssertGreaterThan(refusals, 20)
    }

    /// Anti-affinity is what makes N+1 hold: with every service a split group, no single host
    /// failure takes a service's last member.
    func testNPlusOneNeverLeavesAServiceWithoutMembers() {
        var checked = 0
        for seed in UInt64(3000)...3100 {
            var rng = SplitMix64(seed: seed)
            var t = randomSite(&rng, hosts: Int.random(in: 3...8, using: &rng), vms: 12, spread: false)
            t.services = t.antiAffinity.map { service($0.name, $0.members) }
            t.antiAffinity = []
            guard case .success(let plan) = Planner.plan(t) else { continue }
            let reports = Planner.nPlusOne(t, plan)
            XCTAssertEqual(reports.count, t.hosts.count)
            XCTAssertEqual(reports.flatMap(\.lostVMs).sorted(), t.vms.map(\.name).sorted(), "seed \(seed)")
            for r in reports {
                XCTAssertTrue(r.everyServiceKeepsAMember, "seed \(seed): \(r)")
                XCTAssertTrue((r.moves == nil) != (r.failure == nil), "seed \(seed)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 200)
    }

    /// Whether the lost host's VMs can go somewhere with every other VM fixed, by trying all ways.
    private func rehostExists(_ t: Topology, _ plan: PlacementPlan, without lost: String) -> Bool {
        let moving = plan.vms(on: lost)
        let survivors = t.hosts.map(\.name).filter { $0 != lost }
        var choice = [Int](repeating: 0, count: moving.count)
        while true {
            var a = plan.assignment
            for (i, v) in moving.enumerated() { a[v] = survivors[choice[i]] }
            if PlacementPlan(assignment: a).violations(in: t).isEmpty { return true }
            var i = 0
            while i < choice.count {
                choice[i] += 1
                if choice[i] < survivors.count { break }
                choice[i] = 0; i += 1
            }
            if i == choice.count { return false }
        }
    }
}
