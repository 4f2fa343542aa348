import ArgumentParser
import Foundation
import Placement
import Topology
import TopologyFiles

/// `tandemctl plan FILE [--json] [--without HOST]`: validate, place every VM, and print the plan
/// with its N+1 report, or the re-plan after losing one host.
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Place every VM on a Xen host, splitting each anti-affinity group; report N+1.",
        discussion: """
            Exit status: 0 when a plan (or re-plan) exists, or when the site has no VMs to place (it \
            says so); 1 when the file is invalid or no placement exists (the reason is printed to \
            standard error, or as JSON with --json).
            """)

    @Argument(help: "Topology file (YAML).")
    var file: String

    @Flag(help: "Print the plan (or re-plan) as JSON instead of tables.")
    var json = false

    @Option(help: "Re-plan as if this host were lost: only its VMs move.")
    var without: String?

    func run() throws {
        let topology: Topology
        do {
            topology = try TopologyLoader.load(path: file)
        } catch {
            throw fail(error.description)
        }
        if let nothing = Planner.nothingToPlace(topology) {
            if without != nil { throw fail("\(file): --without: \(nothing.reason)") }
            try emit(nothing) { nothing.reason }
            return
        }
        let plan: PlacementPlan
        switch Planner.plan(topology) {
        case .success(let p): plan = p
        case .failure(let f): try placementFailed(f)
        }
        if let without {
            switch Planner.replan(topology, current: plan, without: without) {
            case .success(let after):
                let report = ReplanReport(topology: topology, without: without, before: plan, after: after)
                try emit(report) { report.render() }
            case .failure(let f):
                try placementFailed(f)
            }
        } else {
            let report = PlanReport(topology: topology, plan: plan, nPlusOne: Planner.nPlusOne(topology, plan))
            try emit(report) { report.render() }
        }
    }

    private func emit<T: Encodable>(_ value: T, text: () -> String) throws {
        if json { print(try jsonText(value)) } else { print(text()) }
    }

    /// Prints the failure (JSON on stdout with --json, so scripts get it whole) and exits 1.
    private func placementFailed(_ f: PlacementFailure) throws -> Never {
        if json, let j = try? jsonText(f) { print(j) }
        throw fail("\(file): \(f.description)")
    }
}
