import ArgumentParser
import Topology

/// `tandemctl validate FILE`: exit 0 on a valid file; otherwise print every problem and exit 1.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a topology file and print every problem found.")

    @Argument(help: "Topology file (YAML).")
    var file: String

    func run() throws {
        do {
            let doc = try TopologyLoader.loadDocument(path: file)
            let t = doc.topology
            print("\(file): ok — site \(t.site): \(t.hosts.count) hosts, \(t.vms.count) VMs, \(t.services.count) services, \(t.antiAffinityGroups.count) anti-affinity groups")
        } catch {
            throw fail(error.description)
        }
    }
}
