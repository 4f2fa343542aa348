import Foundation
import HealthCheck
import Logging
import ServiceLifecycle
import Topology

/// Options of `tandemd`, parsed by the thin executable.
public struct DaemonOptions: Sendable {
    /// Topology file.
    public var topologyPath: String
    /// This director's name.
    public var node: String
    /// `host:port` of the status API (loopback by default).
    public var statusListen: String = "127.0.0.1:9595"
    /// Bearer token file for drain/undrain (mode 0600), if any.
    public var tokenFile: String?
    /// Keep the IPVS table in memory instead of the kernel.
    public var dryRunKernel = false
    /// Jitter seed.
    public var seed: UInt64 = 0
    /// Period of the repair reconcile.
    public var resync: Duration = .seconds(5)

    /// Creates options.
    public init(topologyPath: String, node: String) { self.topologyPath = topologyPath; self.node = node }
}

/// A start-up problem, said plainly.
public struct DaemonStartError: Error, CustomStringConvertible {
    /// What is wrong and what to do.
    public var description: String
}

/// Wires and runs `tandemd`: health monitor → weights → reconcile loop, the status API and SIGHUP
/// reload, in one `ServiceGroup`. SIGTERM/SIGINT shut down in reverse order and leave the kernel
/// table as it is.
public enum DaemonRunner {
    /// Runs until SIGTERM.
    public static func run(_ o: DaemonOptions, logger: Logger) async throws {
        let topology: Topology
        do { topology = try TopologyLoader.load(path: o.topologyPath) } catch {
            throw DaemonStartError(description: "\(o.topologyPath) is not a valid topology:\n\(error)")
        }
        if let pair = topology.directors, !pair.members.contains(o.node) {
            logger.warning("node is not a member of the director pair", metadata: ["node": "\(o.node)", "pair": "\(pair.members)"])
        }
        let token: BearerToken?
        do { token = try o.tokenFile.map { path throws(BearerToken.Problem) in try BearerToken.load(path: path) } } catch {
            throw DaemonStartError(description: error.description)
        }
        let parts = o.statusListen.split(separator: ":")
        guard parts.count >= 2, let port = Int(parts.last!) else {
            throw DaemonStartError(description: "--status-listen \(o.statusListen): want HOST:PORT, e.g. 127.0.0.1:9595")
        }
        let host = parts.dropLast().joined(separator: ":").trimmingCharacters(in: CharacterSet(charactersIn: "[]"))

        let kernel: any KernelTable
        var ipvs: IPVSKernel?
        if o.dryRunKernel {
            kernel = RecordingKernel()
        } else {
            do { let k = try await IPVSKernel(logger: logger); ipvs = k; kernel = k } catch {
                throw DaemonStartError(description: "cannot open the kernel's IPVS table: \(error) (use --dry-run-kernel to run without one)")
            }
        }
        let daemon = TandemDaemon(topology: topology, topologyFile: o.topologyPath, node: o.node, kernel: kernel,
                                  dryRun: o.dryRunKernel, clock: ContinuousClock(), seed: o.seed, logger: logger)
        try await daemon.start()
        let app = StatusAPI.application(daemon: daemon, host: host, port: port, token: token, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: daemon.monitor),
                .init(service: ReconcileService(daemon: daemon, resync: o.resync)),
                .init(service: ReloadService(daemon: daemon, path: o.topologyPath)),
                .init(service: app),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        logger.notice("tandemd started", metadata: ["node": "\(o.node)", "topology": "\(o.topologyPath)",
                                                     "status": "\(o.statusListen)", "kernel": "\(o.dryRunKernel ? "dry-run" : "real")"])
        do { try await group.run() } catch {
            await ipvs?.shutdown()
            throw error
        }
        await ipvs?.shutdown()
        logger.notice("tandemd stopped; the IPVS table is left as it is")
    }
}
