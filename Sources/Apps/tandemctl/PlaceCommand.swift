import ArgumentParser
import Foundation
import Hosts
import Hypervisor
import Placement
import Topology
import TopologyFiles

/// `tandemctl place --dry-run | --apply FILE [--move]`: make the hosts run the placement plan.
struct PlaceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "place",
        abstract: "Define and start, on each host, the VMs the placement plan puts there and that do not run.",
        discussion: """
            The hosts are looked at as `hosts status` does and compared with the plan. A VM that runs \
            where the plan puts it is left alone, whatever its definition (an existing domain is adopted \
            by its name). A VM that runs nowhere is defined from the topology (vms[].domain) when its \
            planned host has no domain of that name, then started; a defined but stopped one is started. \
            A VM that runs on another host, or on two, is reported and left alone unless --move is given: \
            then its stray copies are destroyed first and it is started where the plan puts it. \
            --dry-run prints the steps, one per line with its reason; --apply runs them (different VMs in \
            parallel) and prints each result. Exit status: 0 when every step succeeded (or, with \
            --dry-run, when the steps could be computed) and nothing the plan needs was impossible; 1 \
            when a step failed, something could not be done (no domain to define, a host not reached), \
            the file is invalid or no placement exists; 2 when the command line is wrong.
            """)

    @Argument(help: "Topology file (YAML).")
    var file: String

    @Flag(help: "Print the steps without doing anything.")
    var dryRun = false

    @Flag(help: "Run the steps.")
    var apply = false

    @Flag(help: "Also move VMs that run on another host than planned, or on two: destroy the stray copies, then start them where planned.")
    var move = false

    @Flag(help: "Print the steps (and with --apply their results) as JSON.")
    var json = false

    @Option(help: "Seconds to wait for each host's libvirtd to answer, and for each step.")
    var timeout = 30.0

    func validate() throws {
        guard dryRun != apply else { throw ValidationError("give exactly one of --dry-run and --apply") }
        guard timeout > 0 && timeout <= 600 else { throw ValidationError("--timeout must be more than 0 and at most 600 seconds, got \(timeout)") }
    }

    /// The JSON of `--json`: the steps, the notes, and with `--apply` each step's outcome.
    struct Report: Encodable {
        var steps: [PlaceSteps.Step]
        var notes: [PlaceSteps.Note]
        var results: [Result]?
        struct Result: Encodable { var step: PlaceSteps.Step; var ok: Bool; var error: String? }
    }

    func run() async throws {
        let (topology, plan) = try LookedAtHosts.topologyAndPlan(file, purpose: "place")
        let definitions: [String: DomainDefinition]
        do { definitions = try SiteDomains.definitions(for: topology) } catch { throw fail(error.description) }

        let looked = await LookedAtHosts.open(topology, timeout: timeout)
        let inventory = HostInventory.compare(plan: plan.assignment, hostOrder: topology.hosts.map(\.name), observed: looked.observed)
        let steps = PlaceSteps.plan(inventory: inventory, plan: plan.assignment, definable: Set(definitions.keys), move: move)
        guard apply else {
            await looked.close()
            print(json ? try jsonText(Report(steps: steps.steps, notes: steps.notes)) : steps.render())
            if steps.blocked { throw Exit.problem }
            return
        }
        let results = await run(steps, on: looked.connections, definitions: definitions)
        await looked.close()
        let failed = results.filter { !$0.ok }.count
        if json {
            print(try jsonText(Report(steps: steps.steps, notes: steps.notes, results: results)))
        } else {
            for r in results { print(r.ok ? "ok      \(r.step)" : "FAILED  \(r.step)\n        \(r.error ?? "")") }
            for n in steps.notes { print("note: \(n)") }
            print("\(results.count) step\(results.count == 1 ? "" : "s"): \(results.count - failed) ok, \(failed) failed")
        }
        if failed > 0 || steps.blocked { throw Exit.problem }
    }

    /// Runs each VM's steps in order, VMs in parallel; a VM's later steps are skipped once one fails.
    private func run(_ steps: PlaceSteps, on hosts: [String: LibvirtHost], definitions: [String: DomainDefinition]) async -> [Report.Result] {
        let bound = Duration.milliseconds(Int64(timeout * 1000))
        let groups = steps.byVM
        let outcomes = await withTaskGroup(of: (Int, [Report.Result]).self) { group in
            for (i, g) in groups.enumerated() {
                group.addTask {
                    var out: [Report.Result] = []
                    for step in g.steps {
                        if out.last?.ok == false {
                            out.append(.init(step: step, ok: false, error: "skipped: an earlier step of \(step.vm) failed"))
                            continue
                        }
                        guard let host = hosts[step.host] else {
                            out.append(.init(step: step, ok: false, error: "\(step.host) is not connected")); continue
                        }
                        do {
                            try await withDeadline(bound, what: "\(step.action.rawValue) \(step.vm) on \(step.host)") {
                                switch step.action {
                                case .define:
                                    guard let d = definitions[step.vm] else { throw PlaceError(description: "no definition of \(step.vm)") }
                                    try await host.define(d)
                                case .start: try await host.start(domain: step.vm)
                                case .destroy: try await host.destroy(domain: step.vm)
                                }
                            }
                            out.append(.init(step: step, ok: true, error: nil))
                        } catch {
                            out.append(.init(step: step, ok: false, error: "\(error)"))
                        }
                    }
                    return (i, out)
                }
            }
            var all: [(Int, [Report.Result])] = []
            for await r in group { all.append(r) }
            return all
        }
        // Printed in the plan's order, whatever order the VMs finished in.
        return outcomes.sorted { $0.0 < $1.0 }.flatMap(\.1)
    }
}

/// A step that could not run, or ran past its bound.
struct PlaceError: Error, CustomStringConvertible { var description: String }

/// `body`'s result, or a ``PlaceError`` once `bound` has passed. A libvirt call blocks on a thread
/// of its own and cannot be interrupted; past the bound it is left to finish and its result dropped,
/// so a host that stops answering costs the bound, not the run.
func withDeadline(_ bound: Duration, what: String, _ body: @escaping @Sendable () async throws -> Void) async throws {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
        let once = ResumeOnce(c)
        let timer = Task {
            try? await Task.sleep(for: bound)
            once.resume(.failure(PlaceError(description: "\(what): no answer within \(bound)")))
        }
        Task {
            do { try await body(); once.resume(.success(())) } catch { once.resume(.failure(error)) }
            timer.cancel()
        }
    }
}

/// Resumes a continuation with the first result only.
private final class ResumeOnce: @unchecked Sendable {
    // @unchecked Sendable: `continuation` is read and cleared only under `lock`.
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Void, any Error>?
    init(_ c: CheckedContinuation<Void, any Error>) { continuation = c }
    func resume(_ result: Result<Void, any Error>) {
        lock.lock()
        let c = continuation
        continuation = nil
        lock.unlock()
        c?.resume(with: result)
    }
}
