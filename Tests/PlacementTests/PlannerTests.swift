import Foundation
import Placement
import Topology
import XCTest
import Net
import Reconcile

final class PlannerTests: XCTestCase {
    // MARK: - The FermiGrid site

    func testFermiGridFileSplitsEveryPairAcrossFermigrid5And6() throws {
        let t = try shippedTopology("fermigrid-ha.yaml")
        let plan = try planOrFail(t)
        XCTAssertEqual(plan.violations(in: t), [])
        XCTAssertEqual(Set(plan.assignment.keys), Set(t.vms.map(\.name)))
        XCTAssertFalse(t.antiAffinityGroups.isEmpty)
        for g in t.antiAffinityGroups {
            XCTAssertEqual(Set(g.members.compactMap { plan.assignment[$0] }), ["fermigrid5", "fermigrid6"], g.name)
        }
        // Each fg5xN / fg6xN pair is split, whatever groups the file declares for it.
        for n in 0...5 { XCTAssertNotEqual(plan.assignment["fg5x\(n)"], plan.assignment["fg6x\(n)"], "pair \(n)") }
        // Balanced: each host carries half the vCPUs (8 of 8 here), so neither is left idle.
        let cpu = Dictionary(grouping: t.vms, by: { plan.assignment[$0.name]! }).mapValues { $0.map(\.vcpus).reduce(0, +) }
        XCTAssertEqual(cpu, ["fermigrid5": 8, "fermigrid6": 8])
    }

    func testFermiGridFileAndItsInCodeTwinGetTheSamePlan() throws {
        let file = try shippedTopology("fermigrid-ha.yaml")
        let code = fermigridInCode()
        let a = try planOrFail(file), b = try planOrFail(code)
        XCTAssertEqual(a, b)
        XCTAssertEqual(b.violations(in: code), [])
        // As in the FermiGrid report: the fg5x VMs on fermigrid5, the fg6x VMs on fermigrid6.
        for n in 0...5 {
            XCTAssertEqual(b.assignment["fg5x\(n)"], "fermigrid5")
            XCTAssertEqual(b.assignment["fg6x\(n)"], "fermigrid6")
        }
    }

    func testLargerSiteSpreadsEveryGroupAcrossRacks() throws {
        let t = try shippedTopology("multi-community.yaml")
        XCTAssertFalse(t.placement.spread.isEmpty, "the larger example is meant to exercise placement.spread")
        let plan = try planOrFail(t)
        XCTAssertEqual(plan.violations(in: t), [])
        let hosts = Dictionary(uniqueKeysWithValues: t.hosts.map { ($0.name, $0) })
        for g in t.antiAffinityGroups {
            for label in t.placement.spread {
                let values = g.members.compactMap { plan.assignment[$0] }.compactMap { hosts[$0]?.labels[label] }
                XCTAssertEqual(Set(values).count, values.count, "\(g.name) shares a \(label)")
            }
        }
        for vm in t.vms where vm.pinnedHost != nil { XCTAssertEqual(plan.assignment[vm.name], vm.pinnedHost) }
    }

    // MARK: - Impossible sites and their explanations

    /// FermiGrid with fermigrid6 already full of a pinned VM: the gums pair cannot be split.
    func testGroupThatCannotBeSplitIsExplainedWithTheShortHost() throws {
        let t = Topology(site: "short", hosts: [host("fermigrid5", cpus: 8, memoryMiB: 16384), host("fermigrid6", cpus: 8, memoryMiB: 16384)],
                         vms: [vm("fg5x2", .gums, vcpus: 2, memoryMiB: 4096), vm("fg6x2", .gums, vcpus: 2, memoryMiB: 4096),
                               vm("batch", vcpus: 8, memoryMiB: 8192, pinned: "fermigrid6")],
                         services: [service("gums", ["fg5x2", "fg6x2"])])
        let f = try failureOrFail(Planner.plan(t))
        XCTAssertEqual(f.code, .groupCannotSplit)
        XCTAssertEqual(f.group, "service gums")
        XCTAssertEqual(f.vms, ["fg5x2", "fg6x2"])
        let f6 = try XCTUnwrap(f.hosts.first { $0.host == "fermigrid6" })
        XCTAssertFalse(f6.hasRoom)
        XCTAssertEqual(f6.freeVCPUs, 0)
        XCTAssertEqual(f.hosts.first { $0.host == "fermigrid5" }?.hasRoom, true)
        XCTAssertTrue(f.message.contains("need 2 separate hosts with 2 vCPU / 4096 MiB free"), f.message)
        XCTAssertTrue(f.message.contains("only fermigrid5 has room"), f.message)
        XCTAssertTrue(f.message.contains("fermigrid6 has only 0 vCPU / 8192 MiB free"), f.message)
        XCTAssertTrue(f.description.hasPrefix("placement error [group-cannot-split]: service gums:"), f.description)
    }

    func testVMThatFitsNoHostIsTheSmallestReason() throws {
        let t = Topology(site: "big", hosts: [host("a", cpus: 4, memoryMiB: 8192), host("b", cpus: 4, memoryMiB: 8192)],
                         vms: [vm("huge", vcpus: 2, memoryMiB: 6000), vm("p", vcpus: 1, memoryMiB: 4096, pinned: "a"),
                               vm("q", vcpus: 1, memoryMiB: 4096, pinned: "b"), vm("x", vcpus: 1, memoryMiB: 512), vm("y", vcpus: 1, memoryMiB: 512)],
                         services: [service("s", ["x", "y"])])
        let f = try failureOrFail(Planner.plan(t))
        XCTAssertEqual(f.code, .noHostForVM)
        XCTAssertEqual(f.vms, ["huge"])
        XCTAssertEqual(f.hosts.map(\.host), ["a", "b"])
        XCTAssertEqual(f.hosts.map(\.freeMemoryMiB), [4096, 4096])
        XCTAssertTrue(f.message.contains("a has only 3 vCPU / 4096 MiB free"), f.message)
    }

    func testGroupWiderThanTheRacksIsExplainedByRack() throws {
        let t = Topology(site: "racks", placement: PlacementPolicy(spread: ["rack"]),
                         hosts: [host("a1", cpus: 8, memoryMiB: 8192, labels: ["rack": "a"]), host("a2", cpus: 8, memoryMiB: 8192, labels: ["rack": "a"]),
                                 host("b1", cpus: 8, memoryMiB: 8192, labels: ["rack": "b"])],
                         vms: [vm("db1", vcpus: 1, memoryMiB: 1024), vm("db2", vcpus: 1, memoryMiB: 1024), vm("db3", vcpus: 1, memoryMiB: 1024)],
                         services: [], database: ReplicationRing(members: ["db1", "db2", "db3"]))
        let f = try failureOrFail(Planner.plan(t))
        XCTAssertEqual(f.code, .groupCannotSplit)
        XCTAssertEqual(f.group, "database ring")
        XCTAssertTrue(f.message.contains("each in a different rack"), f.message)
        XCTAssertTrue(f.message.contains("a1 (rack a), a2 (rack a) and b1 (rack b) have room"), f.message)
    }

    func testSiteShortOfCapacityOverallSaysByHowMuch() throws {
        let t = Topology(site: "small", hosts: [host("a", cpus: 4, memoryMiB: 8192), host("b", cpus: 4, memoryMiB: 8192)],
                         vms: (1...5).map { vm("v\($0)", vcpus: 2, memoryMiB: 1024) }, services: [])
        let f = try failureOrFail(Planner.plan(t))
        XCTAssertEqual(f.code, .capacityShort)
        XCTAssertEqual(f.vms.count, 5)
        XCTAssertTrue(f.message.contains("need 10 vCPU / 5120 MiB but the 2 hosts have only 8 vCPU / 16384 MiB free in total: short by 2 vCPU / 0 MiB"), f.message)
    }

    func testPinnedPairOnOneHostIsAPinConflict() throws {
        let t = Topology(site: "pins", hosts: [host("a", cpus: 8, memoryMiB: 8192), host("b", cpus: 8, memoryMiB: 8192)],
                         vms: [vm("x", vcpus: 1, memoryMiB: 512, pinned: "a"), vm("y", vcpus: 1, memoryMiB: 512, pinned: "a")],
                         services: [service("s", ["x", "y"])])
        let f = try failureOrFail(Planner.plan(t))
        XCTAssertEqual(f.code, .pinConflict)
        XCTAssertTrue(f.message.contains("pinned to a, which runs x (service s)"), f.message)
    }

    func testTightSiteIsPackedWhenSpreadingCannotFitIt() throws {
        // Spreading puts one 3-vCPU VM on each host and then strands the third 2-vCPU VM;
        // packing both 3s onto one host fits everything.
        let t = Topology(site: "tight", hosts: [host("a", cpus: 6, memoryMiB: 8192), host("b", cpus: 6, memoryMiB: 8192)],
                         vms: [vm("l1", vcpus: 3, memoryMiB: 512), vm("l2", vcpus: 3, memoryMiB: 512),
                               vm("m1", vcpus: 2, memoryMiB: 512), vm("m2", vcpus: 2, memoryMiB: 512), vm("m3", vcpus: 2, memoryMiB: 512)],
                         services: [])
        let plan = try planOrFail(t)
        XCTAssertEqual(plan.violations(in: t), [])
        XCTAssertEqual(plan.assignment["l1"], plan.assignment["l2"])
    }

    // MARK: - N+1

    func testNPlusOneOnTwoHostsKeepsEveryServiceButCannotRehost() throws {
        let t = try shippedTopology("fermigrid-ha.yaml")
        let plan = try planOrFail(t)
        let reports = Planner.nPlusOne(t, plan)
        XCTAssertEqual(reports.map(\.host), ["fermigrid5", "fermigrid6"])
        for r in reports {
            let other = r.host == "fermigrid5" ? "fermigrid6" : "fermigrid5"
            XCTAssertEqual(r.lostVMs, plan.vms(on: r.host))
            XCTAssertEqual(r.lostVMs.count, 6)
            XCTAssertTrue(r.everyServiceKeepsAMember, "\(r.host)")
            // Every service, the director pair and the ring lose exactly one member.
            XCTAssertEqual(r.services.count, t.services.count + 2)
            XCTAssertTrue(r.services.allSatisfy { $0.lostMembers.count == 1 && $0.survivingMembers.count == 1 })
            XCTAssertFalse(r.canRehost)
            let f = try XCTUnwrap(r.failure)
            XCTAssertEqual(f.code, .noHostForVM)
            // The partner of the lost VM already runs on the only survivor.
            let lost = try XCTUnwrap(f.vms.first)
            XCTAssertTrue(r.lostVMs.contains(lost))
            XCTAssertTrue(f.message.contains("\(other) runs"), f.message)
            XCTAssertTrue(f.message.contains("\(r.host) is the host being removed"), f.message)
        }
    }

    func testNPlusOneOnThreeHostsRehostsOnTheSurvivors() throws {
        let t = Topology(site: "three", hosts: ["x1", "x2", "x3"].map { host($0, cpus: 8, memoryMiB: 16384) },
                         vms: (1...3).flatMap { i in [vm("a\(i)", vcpus: 2, memoryMiB: 2048), vm("b\(i)", vcpus: 2, memoryMiB: 2048)] },
                         services: (1...3).map { service("s\($0)", ["a\($0)", "b\($0)"]) })
        let plan = try planOrFail(t)
        let reports = Planner.nPlusOne(t, plan)
        XCTAssertEqual(reports.map(\.host), ["x1", "x2", "x3"])
        XCTAssertEqual(reports.map(\.lostVMs.count).reduce(0, +), 6)
        for r in reports {
            XCTAssertTrue(r.everyServiceKeepsAMember)
            let moves = try XCTUnwrap(r.moves, "\(r.host): \(r.failure?.description ?? "")")
            XCTAssertEqual(moves.map(\.vm), r.lostVMs)
            XCTAssertTrue(moves.allSatisfy { $0.from == r.host && $0.to != r.host })
            var after = plan
            for m in moves { after.assignment[m.vm] = m.to }
            XCTAssertEqual(after.violations(in: t), [], r.host)
        }
    }

    func testNPlusOneOnThreeFullHostsSaysCapacityIsShort() throws {
        let t = Topology(site: "full", hosts: ["x1", "x2", "x3"].map { host($0, cpus: 4, memoryMiB: 16384) },
                         vms: (1...3).flatMap { i in [vm("a\(i)", vcpus: 2, memoryMiB: 1024), vm("b\(i)", vcpus: 2, memoryMiB: 1024)] },
                         services: (1...3).map { service("s\($0)", ["a\($0)", "b\($0)"]) })
        let plan = try planOrFail(t)
        for r in Planner.nPlusOne(t, plan) {
            XCTAssertTrue(r.everyServiceKeepsAMember)
            XCTAssertEqual(r.lostVMs.count, 2)
            let f = try XCTUnwrap(r.failure, r.host)
            XCTAssertTrue([.noHostForVM, .groupCannotSplit, .noPlacement].contains(f.code), f.description)
            XCTAssertTrue(f.message.contains("has only 0 vCPU"), f.message)
        }
    }

    // MARK: - Re-plan after a host loss

    func testReplanMovesOnlyTheLostHostsVMs() throws {
        let t = Topology(site: "four", hosts: ["x1", "x2", "x3", "x4"].map { host($0, cpus: 8, memoryMiB: 16384) },
                         vms: (1...5).flatMap { i in [vm("a\(i)", vcpus: 1, memoryMiB: 1024), vm("b\(i)", vcpus: 2, memoryMiB: 2048)] },
                         services: (1...5).map { service("s\($0)", ["a\($0)", "b\($0)"]) })
        let before = try planOrFail(t)
        for lost in t.hosts.map(\.name) {
            let after: PlacementPlan
            switch Planner.replan(t, current: before, without: lost) {
            case .success(let p): after = p
            case .failure(let f): return XCTFail("\(lost): \(f)")
            }
            XCTAssertEqual(after.violations(in: t), [])
            XCTAssertEqual(after.vms(on: lost), [])
            for (vm, h) in before.assignment where h != lost { XCTAssertEqual(after.assignment[vm], h, "\(vm) moved") }
            XCTAssertEqual(Set(before.moves(to: after).map(\.vm)), Set(before.vms(on: lost)))
        }
    }

    /// A host the caller cannot start VMs on (tandemd does not watch it) keeps its VMs but gets
    /// none of the lost host's; when only such hosts could take them, the re-plan fails.
    func testReplanNeverMovesALostVMToAClosedHost() throws {
        let t = Topology(site: "four", hosts: ["x1", "x2", "x3", "x4"].map { host($0, cpus: 8, memoryMiB: 16384) },
                         vms: (1...5).flatMap { i in [vm("a\(i)", vcpus: 1, memoryMiB: 1024), vm("b\(i)", vcpus: 2, memoryMiB: 2048)] },
                         services: (1...5).map { service("s\($0)", ["a\($0)", "b\($0)"]) })
        let before = try planOrFail(t)
        for lost in t.hosts.map(\.name) {
            let closed = t.hosts.map(\.name).first { $0 != lost && !before.vms(on: $0).isEmpty }!
            let after: PlacementPlan
            switch Planner.replan(t, current: before, without: lost, notTargets: [closed]) {
            case .success(let p): after = p
            case .failure(let f): return XCTFail("\(lost) without \(closed): \(f)")
            }
            XCTAssertEqual(after.violations(in: t), [])
            XCTAssertEqual(Set(after.vms(on: closed)), Set(before.vms(on: closed)), "\(closed) took a lost VM or lost its own")
            XCTAssertEqual(after.vms(on: lost), [])
        }
        // Everything closed but the lost host itself: nowhere to go.
        let lost = "x1"
        if case .success(let p) = Planner.replan(t, current: before, without: lost, notTargets: ["x2", "x3", "x4"]), !before.vms(on: lost).isEmpty {
            XCTFail("re-planned onto closed hosts: \(p.assignment)")
        }
    }

    func testReplanOfTheLargerSiteReportsVMsPinnedToTheLostHost() throws {
        let t = try shippedTopology("multi-community.yaml")
        let plan = try planOrFail(t)
        let pinned = try XCTUnwrap(t.vms.first { $0.pinnedHost != nil })
        let f = try failureOrFail(Planner.replan(t, current: plan, without: pinned.pinnedHost!))
        XCTAssertEqual(f.code, .pinnedToLostHost)
        XCTAssertEqual(f.vms, t.vms.filter { $0.pinnedHost == pinned.pinnedHost }.map(\.name).sorted())
        XCTAssertTrue(f.message.contains("pinned to \(pinned.pinnedHost!)"), f.message)
    }

    func testReplanOfFermiGridWithoutOneHostNamesThePartner() throws {
        let t = try shippedTopology("fermigrid-ha.yaml")
        let plan = try planOrFail(t)
        let f = try failureOrFail(Planner.replan(t, current: plan, without: "fermigrid5"))
        XCTAssertEqual(f.code, .noHostForVM)
        let lost = try XCTUnwrap(f.vms.first)
        XCTAssertEqual(plan.assignment[lost], "fermigrid5")
        XCTAssertEqual(f.hosts.first { $0.host == "fermigrid6" }?.hasRoom, false)
    }

    func testReplanWithoutAnUnknownHostSaysWhichHostsExist() throws {
        let t = fermigridInCode()
        let f = try failureOrFail(Planner.replan(t, current: try planOrFail(t), without: "fermigrid7"))
        XCTAssertEqual(f.code, .unknownHost)
        XCTAssertTrue(f.hint.contains("fermigrid5, fermigrid6"), f.hint)
    }

    func testReplanRejectsAPlanThatMissesVMs() throws {
        let t = fermigridInCode()
        var plan = try planOrFail(t)
        plan.assignment["fg5x3"] = nil
        let f = try failureOrFail(Planner.replan(t, current: plan, without: "fermigrid5"))
        XCTAssertEqual(f.code, .invalidPlan)
        XCTAssertEqual(f.vms, ["fg5x3"])
    }

    // MARK: - Determinism

    func testSameInputGivesTheSamePlan() throws {
        let t = try shippedTopology("multi-community.yaml")
        XCTAssertEqual(try planOrFail(t), try planOrFail(t))
        var rng = SplitMix64(seed: 7)
        let big = randomSite(&rng, hosts: 40, vms: 300, spread: true, pins: false)
        XCTAssertEqual(try? Planner.plan(big).get(), try? Planner.plan(big).get())
    }

    /// We define the order hosts, VMs, services and groups are listed in as meaningless: the
    /// planner numbers everything by name, so any shuffle must give the identical plan.
    func testShuffledListsGiveTheSamePlan() throws {
        var rng = SplitMix64(seed: 42)
        for t in [try shippedTopology("multi-community.yaml"), try shippedTopology("fermigrid-ha.yaml"),
                  randomSite(&rng, hosts: 30, vms: 200, spread: true, pins: true)] {
            let reference = Planner.plan(t)
            for _ in 0..<5 {
                var s = t
                s.hosts.shuffle(using: &rng); s.vms.shuffle(using: &rng)
                s.services.shuffle(using: &rng); s.antiAffinity.shuffle(using: &rng)
                switch (reference, Planner.plan(s)) {
                case (.success(let a), .success(let b)): XCTAssertEqual(a, b, t.site)
                case (.failure(let a), .failure(let b)): XCTAssertEqual(a, b, t.site)
                default: XCTFail("\(t.site): shuffling changed success into failure or back")
                }
            }
        }
    }

    // MARK: - The checker and the report

    func testCheckerCatchesSharedHostsCapacityAndPins() throws {
        var t = fermigridInCode()
        var plan = try planOrFail(t)
        let host5 = plan.assignment["fg5x2"]!
        plan.assignment["fg6x2"] = host5
        let v = plan.violations(in: t)
        XCTAssertTrue(v.contains("service gums: fg5x2 and fg6x2 share host \(host5)"), "\(v)")
        XCTAssertTrue(v.contains { $0.hasPrefix("host \(host5) has 10 vCPU placed on 8") }, "\(v)")
        t.vms[0].pinnedHost = "fermigrid6"
        plan.assignment[t.vms[0].name] = "fermigrid5"
        XCTAssertTrue(plan.violations(in: t).contains("VM \(t.vms[0].name) is pinned to fermigrid6 but placed on fermigrid5"))
        plan.assignment["ghost"] = "fermigrid5"
        XCTAssertTrue(plan.violations(in: t).contains("plan places unknown VM ghost"))
    }

    func testCheckerCatchesSharedSpreadLabel() {
        let t = Topology(site: "r", placement: PlacementPolicy(spread: ["rack"]),
                         hosts: [host("a1", cpus: 4, memoryMiB: 4096, labels: ["rack": "a"]), host("a2", cpus: 4, memoryMiB: 4096, labels: ["rack": "a"])],
                         vms: [vm("x", vcpus: 1, memoryMiB: 512), vm("y", vcpus: 1, memoryMiB: 512)], services: [service("s", ["x", "y"])])
        XCTAssertEqual(PlacementPlan(assignment: ["x": "a1", "y": "a2"]).violations(in: t), ["service s: x on a1 and y on a2 share rack a"])
    }

    func testReportRendersTablesAndRoundTripsAsJSON() throws {
        let t = try shippedTopology("fermigrid-ha.yaml")
        let plan = try planOrFail(t)
        let report = PlanReport(topology: t, plan: plan, nPlusOne: Planner.nPlusOne(t, plan))
        let text = report.render()
        XCTAssertTrue(text.contains("fermigrid5  [power=feed-1, rack=fcc2-a]  vCPU 8/8  memory 13312/16384 MiB"), text)
        XCTAssertTrue(text.contains("service gums"), text)
        XCTAssertTrue(text.contains("fermigrid5 fails: loses"), text)
        XCTAssertTrue(text.contains("re-host: NO"), text)
        let data = try JSONEncoder().encode(report)
        XCTAssertEqual(try JSONDecoder().decode(PlanReport.self, from: data), report)
        XCTAssertEqual(report.hosts.map(\.vms.count), [6, 6])
    }
}
