import ArgumentParser
import Daemon
import Logging

/// `tandemd`: the LVS director controller. Thin: parse flags, wire, run (see the Daemon module).
@main
struct Tandemd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandemd",
        abstract: "Health-check the topology's real servers, keep the kernel's IPVS table in step, and run the director pair's VRRP and connection sync.")

    @Option(help: "Topology file (YAML).") var topology: String
    @Option(help: "This director's VM name.") var node: String
    @Option(help: "Status API address, HOST:PORT (loopback by default).") var statusListen = "127.0.0.1:9595"
    @Option(help: "Bearer token file for POST /drain and /undrain; must be mode 0600.") var tokenFile: String?
    @Flag(help: "Keep the IPVS table in memory instead of the kernel (for trying a topology).") var dryRunKernel = false
    @Option(help: "Seed of the check start jitter.") var seed: UInt64 = 0
    @Option(help: "Seconds between repair reconcile passes.") var resyncSeconds: Int = 5
    @Option(help: "Log level (trace, debug, info, notice, warning, error).") var logLevel = "info"
    @Flag(help: "Do not run the director pair's VRRP instance even if --node is a member of the pair.") var noVrrp = false
    @Option(help: "VRRP: interface for adverts (default: the pair's `interface`).") var vrrpInterface: String?
    @Option(help: "VRRP: interface for the VIPs when the heartbeat has its own link.") var vipInterface: String?
    @Option(help: "VRRP: advert source address (default: the VM's first address).") var primaryAddress: String?
    @Option(help: "VRRP: the peer's heartbeat address, for fast-detector probes off the topology addresses.") var peerPrimaryAddress: String?
    @Option(help: "VRRP: key file (mode 0600) for authenticated adverts and probes.") var authKeyFile: String?
    @Option(help: "VRRP: unicast peer address (repeatable); default multicast.") var unicastPeer: [String] = []
    @Flag(help: "VRRP: disable preemption.") var noPreempt = false
    @Option(help: "VRRP: preempt delay in milliseconds.") var preemptDelayMs: Int = 0
    @Option(help: "VRRP: fast detector probe interval in milliseconds (off by default).") var fastDetectorMs: Int?
    @Option(help: "VRRP: fast detector missed probes before the peer is declared down.") var fastDetectorMisses: Int = 3
    @Option(help: "VRRP: SCHED_FIFO priority of the fast detector and VRRP loop threads (1-99, 0 = normal).") var fastDetectorPriority: Int = 10
    @Option(help: "VRRP: override the pair's advert interval in milliseconds.") var advertIntervalMs: Int?
    @Option(help: "VRRP: override this node's priority (1-255).") var priority: Int?
    @Flag(help: "Do not run the IPVS connection-sync daemons.") var noConnectionSync = false
    @Option(help: "Interface of the IPVS sync daemons (default: the VRRP interface).") var syncInterface: String?
    @Option(help: "Directory of the IPVS table's ownership lock, held while tandemd runs so that `tandemctl ipvs` writes refuse (default /run/tandem).") var stateDir: String?

    func run() async throws {
        var logger = Logger(label: "tandemd")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var o = DaemonOptions(topologyPath: topology, node: node)
        o.statusListen = statusListen
        o.tokenFile = tokenFile
        o.dryRunKernel = dryRunKernel
        o.seed = seed
        o.resync = .seconds(max(1, resyncSeconds))
        o.vrrp = !noVrrp
        o.director.interface = vrrpInterface
        o.director.vipInterface = vipInterface
        o.director.primaryAddress = primaryAddress
        o.director.peerPrimaryAddress = peerPrimaryAddress
        o.director.unicastPeers = unicastPeer
        o.director.preempt = !noPreempt
        o.director.preemptDelay = .milliseconds(preemptDelayMs)
        o.director.fastDetectorInterval = fastDetectorMs.map { .milliseconds($0) }
        o.director.fastDetectorMisses = fastDetectorMisses
        o.director.fastDetectorRealtimePriority = fastDetectorPriority == 0 ? nil : Int32(clamping: fastDetectorPriority)
        o.director.advertInterval = advertIntervalMs.map { .milliseconds($0) }
        o.director.priority = priority
        o.authKeyFile = authKeyFile
        o.connectionSync = !noConnectionSync
        o.syncInterface = syncInterface
        if let stateDir { o.stateDirectory = stateDir }
        do {
            try await DaemonRunner.run(o, logger: logger)
        } catch let e as DaemonStartError {
            throw ValidationError(e.description)
        }
    }
}
