import ArgumentParser
import DaemonAPI
import Foundation
import IPVS
import Netlink
import Reconcile
import Syscall
import Topology
import IPVSModel
import TopologyFiles

/// `tandemctl ipvs …`: the kernel's IPVS table, directly, for sites without a tandemd. The writes
/// (`apply`, `drain`, `undrain`) refuse while a tandemd owns the table (``TableOwnership``).
struct IPVSGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipvs", abstract: "Read the kernel's IPVS table, or program it directly where no tandemd runs.",
        discussion: """
            The writes (apply, drain, undrain) refuse with exit status 1 while a tandemd runs in this \
            network namespace: its repair pass would undo them. Use `tandemctl drain` then.
            """,
        subcommands: [IPVSList.self, IPVSInfoCommand.self, IPVSApply.self, IPVSDrain.self, IPVSUndrain.self])
}

/// `--state-dir`, shared by the `ipvs` writes: where tandemd keeps the table's ownership lock.
struct StateDirectory: ParsableArguments {
    @Option(help: "tandemd's --state-dir, where it holds this IPVS table's ownership lock.")
    var stateDir = TableOwnership.defaultStateDirectory

    /// Takes the shared side of the table's lock for the length of a direct write (so tandemd cannot
    /// start in the middle of it); refuses, exit 1, while tandemd holds it. `command` names the write.
    func claimForDirectWrite(_ command: String) throws -> OwnershipLock {
        let path: String
        do { path = TableOwnership.lockPath(stateDirectory: stateDir, networkNamespace: try networkNamespaceInode()) } catch {
            throw fail("tandemctl: cannot tell which network namespace (and IPVS table) this is: \(error)")
        }
        do { return try OwnershipLock.acquire(path, mode: .shared) } catch {
            switch error {
            case .held(_, let record):
                throw fail("tandemctl: " + TableOwnership.refusal(owner: .init(record: record), lockPath: path, command: command))
            case .system(let e):
                throw fail("tandemctl: cannot check whether a tandemd owns this IPVS table (lock \(path)): \(e); "
                           + "run as root, or pass --state-dir (tandemd's --state-dir)")
            }
        }
    }

    /// The record of the services Tandem owns in this namespace's IPVS table (shared with tandemd).
    func ownedRecord() throws -> OwnedServicesRecord {
        do { return OwnedServicesRecord(path: TableOwnership.ownedRecordPath(stateDirectory: stateDir, networkNamespace: try networkNamespaceInode())) } catch {
            throw fail("tandemctl: cannot tell which network namespace (and IPVS table) this is: \(error)")
        }
    }
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
            print(try jsonText(snapshot))
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

/// `tandemctl ipvs apply FILE [--dry-run]` (also `tandemctl apply`): validate, then reconcile the
/// kernel once and print the operations.
struct IPVSApply: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apply", abstract: "Reconcile the kernel's IPVS table to a topology file once; print the operations (refused while tandemd runs).")

    @Argument(help: "Topology file (YAML).")
    var file: String

    @Flag(help: "Print the operations without applying them.")
    var dryRun = false

    @OptionGroup var state: StateDirectory

    func run() throws {
        let topology = try loadTopology(file)
        let lock = dryRun ? nil : try state.claimForDirectWrite("apply")
        defer { lock?.release() }
        let client = try openIPVS()
        let want = desired(topology)
        do {
            // Services an earlier apply (or tandemd) put in the kernel that the file no longer has
            // leave it; services Tandem never owned stay.
            let record = try state.ownedRecord()
            let stale = (try record.load() ?? []).subtracting(want.services.keys)
            let engine = ReconcileEngine(table: client)
            let synced = try engine.synchronize(want, dryRun: dryRun)
            var ops = synced.operations
            var failures = synced.failures
            if dryRun {
                ops += try client.read(Array(stale)).services.keys.sorted().map { IPVSOperation.deleteService($0) }
            } else {
                let released = try engine.release(stale)
                ops += released.operations; failures += released.failures
                if failures.isEmpty { try record.save(Set(want.services.keys)) }
            }
            if !failures.isEmpty { throw ReconcileError(failures: failures, attempted: ops.count) }
            for op in ops { print(op) }
            print("\(ops.count) operation\(ops.count == 1 ? "" : "s")\(dryRun ? " (dry run, nothing applied)" : " applied")")
        } catch let e as ReconcileError {
            throw fail(e.description)
        } catch {
            throw fail("tandemctl: \(error)")
        }
    }
}

/// `tandemctl ipvs drain SERVICE MEMBER --topology FILE`: weight 0, destination kept.
struct IPVSDrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "drain", abstract: "Set a member's IPVS weight to 0 without removing it (refused while tandemd runs: use `tandemctl drain`).")
    @OptionGroup var target: MemberArguments
    @Option(help: "Topology file (YAML).") var topology: String
    @OptionGroup var state: StateDirectory
    func run() throws { try setMemberWeight(target, topologyFile: topology, state: state, drain: true) }
}

/// `tandemctl ipvs undrain SERVICE MEMBER --topology FILE`: back to the topology's weight.
struct IPVSUndrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "undrain", abstract: "Restore a drained member's IPVS weight to its topology weight (refused while tandemd runs: use `tandemctl undrain`).")
    @OptionGroup var target: MemberArguments
    @Option(help: "Topology file (YAML).") var topology: String
    @OptionGroup var state: StateDirectory
    func run() throws { try setMemberWeight(target, topologyFile: topology, state: state, drain: false) }
}

private func setMemberWeight(_ target: MemberArguments, topologyFile: String, state: StateDirectory, drain: Bool) throws {
    let (service, member) = (target.service, target.member)
    let t = try loadTopology(topologyFile)
    let lock = try state.claimForDirectWrite(drain ? "drain" : "undrain")
    defer { lock.release() }
    let client = try openIPVS()
    do {
        let op = try memberWeightOperation(topology: t, service: service, member: member, drain: drain,
                                           observe: { key in try client.state(of: [key]) })
        guard let op else { print("\(service)/\(member): already \(drain ? "drained" : "at its topology weight")"); return }
        try client.perform(op)
        print(op)
    } catch let e as MemberWeightError {
        throw fail(e.description)
    } catch {
        throw fail("tandemctl: \(error)")
    }
}

private func loadTopology(_ file: String) throws -> Topology {
    do {
        return try TopologyLoader.load(path: file)
    } catch {
        throw fail(error.description)
    }
}

private func openIPVS() throws -> IPVSClient {
    do {
        return try IPVSClient()
    } catch {
        throw fail("tandemctl: \(error)")
    }
}
