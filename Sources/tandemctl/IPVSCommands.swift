import ArgumentParser
import Foundation
import IPVS
import Netlink
import Reconciler
import Topology

/// `tandemctl ipvs …`: read the kernel's IPVS table.
struct IPVSGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipvs", abstract: "Inspect the kernel's IPVS table.",
        subcommands: [IPVSList.self, IPVSInfoCommand.self, IPVSBench.self])
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

/// `tandemctl ipvs bench`: the reconcile benchmark (run by scripts/bench-ipvs inside user-mode-linux).
struct IPVSBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Benchmark reconcile passes against the kernel (flushes the IPVS table: UML only).", shouldDisplay: false)
    @Option(help: "Services.") var services = 1000
    @Option(help: "Destinations per service.") var destinations = 5
    @Option(name: .customLong("repeat"), help: "Repetitions (0: only write --restore-file).") var repetitions = 3
    @Option(help: "Also write the same table as ipvsadm -R input here.") var restoreFile: String?

    func run() throws {
        if let restoreFile {
            try IPVSBenchmark.restoreFile(IPVSBenchmark.table(services: services, destinations: destinations))
                .write(toFile: restoreFile, atomically: true, encoding: .utf8)
        }
        guard repetitions > 0 else { return }
        let client = try openIPVS()
        var samples: [IPVSBenchmark.Sample] = []
        for _ in 0..<repetitions { samples.append(try IPVSBenchmark.run(client: client, services: services, destinations: destinations)) }
        func median(_ k: KeyPath<IPVSBenchmark.Sample, Double>) -> String {
            let v = samples.map { $0[keyPath: k] }.sorted()
            return String(format: "%.4f", v[v.count / 2])
        }
        print("ours services=\(services) destinations=\(services * destinations) full=\(median(\.full)) full_execute=\(median(\.fullExecute)) full_own=\(median(\.fullOwn)) verify_read=\(median(\.verifyRead)) change=\(median(\.change)) change_ops=\(samples[0].changeOps) noop=\(median(\.noop)) noop_resync=\(median(\.noopResync)) noop_ops=\(samples.map(\.noopOps).max()!)")
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
            let ops = try reconcile(want, client: client, dryRun: dryRun)
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
                                           observe: { key throws(NetlinkError) in try client.state(of: [key]) })
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
