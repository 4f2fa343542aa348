import ArgumentParser
import BuildInfo
import Daemon
import Foundation
import LogOutput
import Logging
import Syscall

/// `tandemd`: the LVS director controller. Thin: parse flags, wire, run (see the Daemon module).
/// Everything about the site, this director's VRRP settings included, is in the topology file.
@main
struct Tandemd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandemd",
        abstract: "Health-check the topology's real servers, keep the kernel's IPVS table in step, and run the director pair's VRRP and connection sync.",
        discussion: """
            The site, the director pair and this director's own settings (interfaces, primary address, \
            unicast peers, key file, fast detector, preemption, connection sync) are in the topology \
            file (docs/topology.md); SIGHUP reloads it and says what needs a restart. Run by systemd \
            (Type=notify), tandemd says READY=1 after its first reconcile, RELOADING=1 on SIGHUP, \
            STOPPING=1 on SIGTERM, and pings the watchdog while its reconcile loop and health checks live.
            Exit status: 0 after SIGTERM; 78 (EX_CONFIG) for a configuration that cannot work (topology, \
            secret file, option), which the unit does not restart; 69 (EX_UNAVAILABLE) when the kernel \
            or a socket is not available; 64 for a usage error.
            """,
        version: TandemBuild.versionText("tandemd"))

    @Option(help: "Topology file (YAML).") var topology = DaemonOptions.defaultTopologyPath
    @Option(help: "This director's VM name (default: the host name up to its first dot).") var node: String?
    @Option(help: "Status API address, HOST:PORT (loopback by default).") var statusListen = "127.0.0.1:9595"
    @Option(help: "A second listener serving only GET /metrics, HOST:PORT, for Prometheus (no admin API there).") var metricsListen: String?
    @Option(help: "Directory of the IPVS table's ownership lock, held while tandemd runs so that `tandemctl ipvs` writes refuse.")
    var stateDir = "/run/tandem"
    @OptionGroup var log: LogOptions
    @Flag(help: "Keep the IPVS table in memory instead of the kernel (for trying a topology).") var dryRunKernel = false

    func run() async throws {
        let logger = log.bootstrap(label: "tandemd")
        let environment = ProcessInfo.processInfo.environment
        var o = DaemonOptions(topologyPath: topology, node: node ?? Self.hostName())
        o.statusListen = statusListen
        o.metricsListen = metricsListen
        o.dryRunKernel = dryRunKernel
        o.stateDirectory = stateDir
        o.notifier = SystemdNotifier.fromEnvironment(environment)
        o.watchdog = SystemdNotifier.watchdogPeriod(environment)
        // The VRRP replay record (a restarted director still refuses old adverts) must survive restarts
        // and be writable: the package's state directory, where it exists; beside the key otherwise.
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: Self.stateDirectory, isDirectory: &isDirectory), isDirectory.boolValue {
            o.director.replayRecordDirectory = Self.stateDirectory
        }
        do {
            try await DaemonRunner.run(o, logger: logger)
        } catch let e as DaemonStartError {
            // Said once, plainly, and ended with a status the unit file can tell apart (RestartPreventExitStatus=78).
            // One record per line: the journal keeps each line's priority, and each names its own place in the file.
            for line in e.description.split(separator: "\n") { logger.critical("tandemd cannot start: \(line)") }
            throw ExitCode(e.exitStatus)
        }
    }

    /// The package's state directory (systemd's `StateDirectory=tandem`).
    static let stateDirectory = "/var/lib/tandem"

    /// The node name when `--node` is not given: the host name's first label (`fg5x1.example.org` → `fg5x1`).
    static func hostName() -> String {
        String(ProcessInfo.processInfo.hostName.split(separator: ".").first ?? "localhost")
    }
}
