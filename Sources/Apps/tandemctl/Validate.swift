import ArgumentParser
import Topology
import TopologyFiles

/// `tandemctl validate FILE`: exit 0 on a valid file; otherwise print every problem and exit 1.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a topology file and print every problem found.")

    @Argument(help: "Topology file (YAML).")
    var file = "/etc/tandem/topology.yaml"

    func run() throws {
        do {
            let doc = try TopologyLoader.loadDocument(path: file)
            let t = doc.topology
            // Every section is counted, so a reader can check the numbers against the file: an
            // entry that vanished (once, `command: []` silently dropped a service) shows here.
            let counts = [(t.hosts.count, "host"), (t.vms.count, "VM"), (t.machines.count, "machine"), (t.services.count, "service"),
                          (t.directorPairs.count, "director pair"), (t.database == nil ? 0 : 1, "database ring"),
                          (t.antiAffinityGroups.count, "anti-affinity group")]
            print("\(file): ok — site \(t.site): " + counts.map { "\($0.0) \($0.1)\($0.0 == 1 ? "" : "s")" }.joined(separator: ", "))
            for note in t.inapplicableChecks { print("\(file): note: \(note)") }
            // Files the topology names but does not contain: checked here as this machine sees them,
            // as warnings, since the file is often validated away from the directors (CI, a laptop).
            for p in FenceSecrets.problems(in: t) {
                let at = doc.locations[p.keyPath].map { "\($0)" } ?? file
                printError("\(at): warning: \(p.problem) (\(p.keyPath))")
            }
            do { _ = try SiteDomains.definitions(for: t) } catch {
                for e in error.errors { printError(e.formatted(as: "warning")) }
            }
        } catch {
            throw fail(error.description)
        }
    }
}
