import ArgumentParser
import Daemon
import Logging

/// `tandemd`: the LVS director controller. Thin: parse flags, wire, run (see the Daemon module).
@main
struct Tandemd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandemd",
        abstract: "Health-check the topology's real servers and keep the kernel's IPVS table in step.")

    @Option(help: "Topology file (YAML).") var topology: String
    @Option(help: "This director's VM name.") var node: String
    @Option(help: "Status API address, HOST:PORT (loopback by default).") var statusListen = "127.0.0.1:9595"
    @Option(help: "Bearer token file for POST /drain and /undrain; must be mode 0600.") var tokenFile: String?
    @Flag(help: "Keep the IPVS table in memory instead of the kernel (for trying a topology).") var dryRunKernel = false
    @Option(help: "Seed of the check start jitter.") var seed: UInt64 = 0
    @Option(help: "Seconds between repair reconcile passes.") var resyncSeconds: Int = 5
    @Option(help: "Log level (trace, debug, info, notice, warning, error).") var logLevel = "info"

    func run() async throws {
        var logger = Logger(label: "tandemd")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var o = DaemonOptions(topologyPath: topology, node: node)
        o.statusListen = statusListen
        o.tokenFile = tokenFile
        o.dryRunKernel = dryRunKernel
        o.seed = seed
        o.resync = .seconds(max(1, resyncSeconds))
        do {
            try await DaemonRunner.run(o, logger: logger)
        } catch let e as DaemonStartError {
            throw ValidationError(e.description)
        }
    }
}
