import ArgumentParser
import Foundation
import Hosts
import Hypervisor
import Logging
import Placement
import Topology
import TopologyFiles

/// `tandemctl hosts …`: the hypervisor hosts as they are, beside the plan.
struct HostsGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hosts",
        abstract: "Look at the hypervisor hosts through libvirt and compare what they run with the placement plan.",
        subcommands: [HostsStatus.self])
}

/// `tandemctl hosts status FILE`: each host's connection, its domains as libvirt lists them beside
/// the plan, and every difference (a VM missing, stopped, running elsewhere or twice).
struct HostsStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Each host's connection and domains beside the plan, and every difference from it.",
        discussion: """
            Every host with a `libvirt:` URI in the topology is opened (read only: nothing is defined, \
            started or stopped) and its domains are listed; a VM's domain carries the VM's name. \
            Exit status: 0 when every host was reached and every VM runs once, on its planned host; \
            1 when there is a difference, a host could not be reached or has no URI, the file is invalid \
            or no placement exists; 2 when the command line is wrong.
            """)

    @Argument(help: "Topology file (YAML).")
    var file: String

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Seconds to wait for each host's libvirtd to answer.")
    var timeout = 5.0

    func validate() throws {
        guard timeout > 0 && timeout <= 300 else { throw ValidationError("--timeout must be more than 0 and at most 300 seconds, got \(timeout)") }
    }

    func run() async throws {
        let (topology, plan) = try LookedAtHosts.topologyAndPlan(file, purpose: "compare with")
        let looked = await LookedAtHosts.open(topology, timeout: timeout)
        await looked.close()
        let report = HostInventory.compare(plan: plan.assignment, hostOrder: topology.hosts.map(\.name), observed: looked.observed)
        print(json ? try jsonText(report) : report.render())
        if !report.matchesPlan { throw Exit.problem }
    }
}

/// Every host of a topology that has a `libvirt:` URI, opened and listed at once: what both
/// `hosts status` and `place` compare with the plan (``HostInventory``).
struct LookedAtHosts {
    /// The open connections, by host name (only the hosts that answered).
    var connections: [String: LibvirtHost]
    /// What each host with a URI answered, or why it did not.
    var observed: [String: HostObservation]

    /// The topology in `file` and its placement plan, or the reason there is none (printed; exit 1).
    static func topologyAndPlan(_ file: String, purpose: String) throws -> (Topology, PlacementPlan) {
        let topology: Topology
        do { topology = try TopologyLoader.load(path: file) } catch { throw fail(error.description) }
        switch Planner.plan(topology) {
        case .success(let p): return (topology, p)
        case .failure(let f): throw fail("\(file): no placement exists, so there is nothing to \(purpose):\n\(f)")
        }
    }

    /// Opens every host at once: one that does not answer costs `timeout` seconds, not the sum.
    static func open(_ topology: Topology, timeout: Double) async -> LookedAtHosts {
        let logger = Logger(label: "tandemctl.hosts")
        let wait = Duration.milliseconds(Int64(timeout * 1000))
        return await withTaskGroup(of: (String, HostObservation, LibvirtHost?).self) { group in
            for host in topology.hosts {
                guard let uri = host.libvirt else { continue }
                group.addTask {
                    let h = LibvirtHost(name: host.name, uri: uri, openTimeout: wait, threads: 1, logger: logger)
                    do {
                        try await h.connect()
                        return (host.name, .domains(try await h.listDomains()), h)
                    } catch {
                        await h.close()
                        return (host.name, .unreachable("\(uri): \(error)"), nil)
                    }
                }
            }
            var out = LookedAtHosts(connections: [:], observed: [:])
            for await (name, o, h) in group {
                out.observed[name] = o
                out.connections[name] = h
            }
            return out
        }
    }

    /// Closes every connection.
    func close() async {
        for h in connections.values { await h.close() }
    }
}
