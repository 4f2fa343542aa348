import ArgumentParser
import DaemonAPI
import Foundation
import Hosts
import Hypervisor
import Logging
import Placement
import Syscall
import Topology
import TopologyFiles

/// `tandemctl hosts …`: the hypervisor hosts as they are, beside the plan.
struct HostsGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hosts",
        abstract: "Look at the hypervisor hosts through libvirt and compare what they run with the placement plan.",
        subcommands: [HostsStatus.self, HostsConfirmOff.self])
}

/// `tandemctl hosts confirm-off HOST --token-file FILE`: the operator's word that a lost host is
/// really off, for a host without a fence device (or whose fencing failed); tandemd's host
/// controller then restarts its VMs on the survivors.
struct HostsConfirmOff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "confirm-off",
        abstract: "Tell tandemd a lost host is off, so its VMs restart elsewhere (POST /hosts/HOST/confirm-off).",
        discussion: """
            Make sure first: a host that still runs would then run its VMs twice. tandemd accepts it for \
            a host that waits for an operator (no fence device, or fencing failed) or is suspect. Run it \
            against the pair's master (the backup only records it). Exit 0 when tandemd took it; 1 when \
            it refused (unknown host, a host not waiting for an operator, wrong token); 3 when tandemd \
            cannot be reached.
            """)
    @Argument(help: "The host's name in the topology.") var host: String
    @OptionGroup var daemon: DaemonAddress
    @Option(help: "File holding tandemd's bearer token (its --token-file; mode 0600).") var tokenFile: String
    @Flag(help: "Print tandemd's JSON answer.") var json = false

    func run() async throws {
        let token: String
        do { token = try SecretFile.text(tokenFile, what: "token file") } catch { throw fail("tandemctl: \(error)") }
        let path = "hosts/\(host)/confirm-off"
        let client = daemon.client
        let answer = try await client.post(path, query: [], token: token, timeout: 15)
        switch answer.status {
        case 200:
            let result = try client.decode(ConfirmOffResult.self, from: answer, path)
            print(json ? answer.text : result.rendered())
        case 400..<500:
            let problem = try client.decode(APIProblem.self, from: answer, path)
            if json { print(answer.text) }
            throw fail("tandemctl: tandemd refused to confirm \(host) off: \(problem.message)")
        default:
            throw fail("tandemctl: \(client.endpoint(path)) answered HTTP \(answer.status): \(answer.text.prefix(200))", Exit.unreachable)
        }
    }
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
