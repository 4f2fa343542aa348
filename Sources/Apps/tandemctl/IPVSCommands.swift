import ArgumentParser
import Foundation
import IPVS
import Netlink
import Reconcile
import Topology
import IPVSModel

/// `tandemctl ipvs …`: read the kernel's IPVS table.
struct IPVSGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipvs", abstract: "Inspect the kernel's IPVS table.",
        subcommands: [IPVSList.self, IPVSInfoCommand.self])
}

/// `tandemctl ipvs list [--json]`: `ipvsadm -Ln` with counters.
struct IPVSList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List services and destinations with counters (like ipvsadm -Ln --stats).")

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let client = try openIPVS()
        let snapshot = try client.snapshot()
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(snapshot), as: UTF8.self))
        } else {
            print(IPVSTable.render(snapshot, info: try client.info()), terminator: "")
        }
    }
}

/// `tandemctl ipvs info`: version, connection table size, timeouts, sync daemons.
struct IPVSInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show the kernel's IPVS version, table size, timeouts and sync daemons.")
    func run() throws {
        let client = try openIPVS()
        let info = try client.info()
        let t = try client.timeouts()
        print("IPVS \(info.version) conn_tab_size=\(info.connectionTableSize)")
        print("timeouts tcp=\(t.tcp) tcpfin=\(t.tcpFin) udp=\(t.udp)")
        for d in try client.daemons() { print("sync daemon \(d.role.rawValue) if=\(d.interface) syncid=\(d.syncID)") }
    }
}

/// `tandemctl apply FILE [--dry-run]`: validate, then reconcile the kernel once and print the operations.
struct IPVSApply: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apply", abstract: "Reconcile the kernel's IPVS table to a topology file once; print the operations.")

    @Argument(help: "Topology file (YAML).")
    var file: String

    @Flag(help: "Print the operations without applying them.")
    var dryRun = false

    func run() throws {
        let topology = try loadTopology(file)
        let client = try openIPVS()
        let want = desired(topology)
        do {
            let ops = try reconcile(want, table: client, dryRun: dryRun)
            for op in ops { print(op) }
            print("\(ops.count) operation\(ops.count == 1 ? "" : "s")\(dryRun ? " (dry run, nothing applied)" : " applied")")
        } catch let e as ReconcileError {
            printError(e.description)
            throw ExitCode(1)
        }
    }
}

/// `tandemctl drain SERVICE MEMBER --topology FILE`: weight 0, destination kept.
struct IPVSDrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "drain", abstract: "Set a member's IPVS weight to 0 without removing it.")
    @Argument(help: "Service name.") var service: String
    @Argument(help: "Member VM name.") var member: String
    @Option(help: "Topology file (YAML).") var topology: String
    func run() throws { try setMemberWeight(service: service, member: member, topologyFile: topology, drain: true) }
}

/// `tandemctl undrain SERVICE MEMBER --topology FILE`: back to the topology's weight.
struct IPVSUndrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "undrain", abstract: "Restore a drained member's IPVS weight to its topology weight.")
    @Argument(help: "Service name.") var service: String
    @Argument(help: "Member VM name.") var member: String
    @Option(help: "Topology file (YAML).") var topology: String
    func run() throws { try setMemberWeight(service: service, member: member, topologyFile: topology, drain: false) }
}

private func setMemberWeight(service: String, member: String, topologyFile: String, drain: Bool) throws {
    let t = try loadTopology(topologyFile)
    let client = try openIPVS()
    do {
        let op = try memberWeightOperation(topology: t, service: service, member: member, drain: drain,
                                           observe: { key in try client.state(of: [key]) })
        guard let op else { print("\(service)/\(member): already \(drain ? "drained" : "at its topology weight")"); return }
        try client.perform(op)
        print(op)
    } catch let e as MemberWeightError {
        printError(e.description)
        throw ExitCode(1)
    }
}

private func loadTopology(_ file: String) throws -> Topology {
    do {
        return try TopologyLoader.load(path: file)
    } catch {
        printError(error.description)
        throw ExitCode(1)
    }
}

private func openIPVS() throws -> IPVSClient {
    do {
        return try IPVSClient()
    } catch {
        printError("tandemctl: \(error)")
        throw ExitCode(1)
    }
}
