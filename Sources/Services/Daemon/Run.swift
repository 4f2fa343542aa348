import DaemonAPI
import Foundation
import Syscall
import IPVS
import HealthCheck
import Logging
import ServiceLifecycle
import Topology
import VRRPTransport
import RingMonitoring

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
    /// Period of the repair reconcile (and of the sync-daemon check).
    public var resync: Duration = .seconds(5)
    /// Run the director pair's VRRP instance when `node` is a member of a pair (`--no-vrrp` turns it off).
    public var vrrp = true
    /// Per-node VRRP settings the topology does not carry (interfaces, fast detector, …).
    public var director = DirectorOverrides()
    /// Key file (mode 0600) for authenticated adverts and probes.
    public var authKeyFile: String?
    /// Run the IPVS connection-sync daemons (both-directions pattern) when VRRP runs.
    public var connectionSync = true
    /// Interface of the sync daemons; default: the VRRP interface.
    public var syncInterface: String?
    /// Directory of the IPVS table's ownership lock (`TableOwnership`).
    public var stateDirectory = TableOwnership.defaultStateDirectory

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
    /// `extraServices` run in the same group, after the reconcile loop and before the status API.
    public static func run(_ o: DaemonOptions, logger: Logger, extraServices: [any Service] = []) async throws {
        var o = o
        let files = raiseOpenFileLimit()
        // The key file's directory keeps the VRRP replay record (ReplayRecordFile), for start and reloads alike.
        o.director.authKeyFile = o.authKeyFile
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

        // This tandemd owns the namespace's IPVS table until it exits, so `tandemctl ipvs` writes refuse
        // meanwhile. A dry run writes no kernel table and claims none.
        let tableLock = o.dryRunKernel ? nil
            : try await claimIPVSTable(stateDirectory: o.stateDirectory, node: o.node, apiHost: host, apiPort: port)
        defer { tableLock?.release() }
        let kernel: any KernelTable
        var ipvs: IPVSKernel?
        if o.dryRunKernel {
            kernel = RecordingKernel()
        } else {
            do { let k = try await IPVSKernel(); ipvs = k; kernel = k } catch {
                throw DaemonStartError(description: "cannot open the kernel's IPVS table: \(error) (use --dry-run-kernel to run without one)")
            }
        }
        // The database ring monitor (docs/database.md, "Ring health"): when the topology has a ring that a
        // service checks with a `mariadb` check, one heartbeat monitor judges every node, and those checks
        // report its verdicts. A ring nobody checks gets no monitor (and a notice).
        let ringChecked = RingMonitorConfig.ringCheckService(in: topology) != nil
        if topology.database != nil && !ringChecked {
            logger.notice("the database ring has no service with a mariadb check: no ring monitor runs")
        }
        let ring: RingMonitor?
        if ringChecked {
            var ringLogger = logger
            ringLogger[metadataKey: "component"] = "ring"
            do {
                ring = try RingMonitorConfig.from(topology: topology, monitorName: o.node).map { try RingMonitor(config: $0, logger: ringLogger) }
            } catch {
                await ipvs?.shutdown()
                throw DaemonStartError(description: "\(o.topologyPath): the database ring monitor cannot start: \(error)")
            }
        } else {
            ring = nil
        }
        let monitors = ring.map { [$0] } ?? []
        let daemon = TandemDaemon(topology: topology, topologyFile: o.topologyPath, node: o.node, kernel: kernel,
                                  dryRun: o.dryRunKernel, clock: ContinuousClock(), seed: o.seed, logger: logger, ring: ring,
                                  owned: o.dryRunKernel ? nil : (try? networkNamespaceInode()).map {
                                      OwnedServicesRecord(path: TableOwnership.ownedRecordPath(stateDirectory: o.stateDirectory, networkNamespace: $0))
                                  },
                                  makeChecker: { RingCheckerFactory.make($0, monitors: monitors) })
        // The director half is built (sockets opened, flags checked) before the first reconcile, so a
        // bad VRRP setting stops tandemd before it touches anything.
        let director: DirectorRuntime?
        do { director = try makeDirector(o, topology: topology, ipvs: ipvs, metrics: daemon.metrics, logger: logger) } catch {
            await ipvs?.shutdown()
            throw error
        }
        try await daemon.start()
        let app = StatusAPI.application(daemon: daemon, host: host, port: port, token: token, director: director,
                                        ring: ring, logger: logger)

        // The service group, in start order; graceful shutdown runs in reverse. Extra services (for
        // example the database ring monitor) go in `extraServices`, after the core and before the API.
        // What follows a SIGHUP beside the checks and weights (prepared first, so any of them can refuse).
        var followers: [ReloadFollower] = [
            ReloadFollower(name: "ring") { old, new in try RingMonitor.prepareReload(ring, old: old, new: new) },
        ]
        if let d = director { followers.append(d.vrrp.reloadFollower(overrides: o.director, authKey: d.vrrp.setup.options.authKey)) }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = ring.map { [.init(service: $0)] } ?? []
        services += [
            .init(service: daemon.monitor),
            .init(service: ReconcileService(daemon: daemon, resync: o.resync)),
            .init(service: ReloadService(daemon: daemon, path: o.topologyPath, followers: followers)),
        ]
        // Passive silence detection reads the real kernel's connection table; it idles while no service
        // has `passive:` and follows reloads. A dry run has no traffic to read.
        if let ipvs {
            var passiveLogger = logger
            passiveLogger[metadataKey: "component"] = "passive"
            services.append(.init(service: PassiveWatch(daemon: daemon, source: ipvs, clock: ContinuousClock(), logger: passiveLogger)))
        } else if topology.services.contains(where: { $0.passive != nil }) {
            logger.notice("passive detection is off with --dry-run-kernel: there is no connection table to read")
        }
        if let ring { services.append(.init(service: SingleWriterService(daemon: daemon, period: ring.config.policy.heartbeatInterval))) }
        if let sync = director?.sync { services.append(.init(service: sync)) }
        services += extraServices.map { .init(service: $0) }
        services.append(.init(service: app))
        // VRRP last: it starts once the table is programmed and stops first, so a master resigns
        // (priority 0, VIPs removed) while everything else still runs.
        if let vrrp = director?.vrrp { services.append(.init(service: vrrp)) }
        let group = ServiceGroup(configuration: .init(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        if let d = director {
            logger.notice("director pair", metadata: ["vrrp": "\(d.vrrp.setup.summary)",
                                                      "sync": "\(d.sync?.desired.map { "\($0.role.rawValue):\($0.syncID)@\($0.interface)" } ?? ["off"])"])
        }
        logger.notice("tandemd started", metadata: ["node": "\(o.node)", "topology": "\(o.topologyPath)",
                                                     "status": "\(o.statusListen)", "kernel": "\(o.dryRunKernel ? "dry-run" : "real")",
                                                     "open_files": "\(files)"])
        if files < 2 * topology.services.reduce(0, { $0 + $1.members.count }) + 256 {
            logger.warning("the open-file limit is low for this site: each checked member holds a connection between checks",
                           metadata: ["limit": "\(files)", "members": "\(topology.services.reduce(0) { $0 + $1.members.count })",
                                      "fix": "raise LimitNOFILE (systemd) or ulimit -n"])
        }
        do { try await group.run() } catch {
            await ipvs?.shutdown()
            throw error
        }
        await ipvs?.shutdown()
        logger.notice("tandemd stopped; the IPVS table is left as it is")
    }

    /// The VRRP instance and the sync daemons for a node of a director pair; `nil` when the node is in
    /// no pair, with `--no-vrrp`, or with `--dry-run-kernel` (which must not move addresses either).
    static func makeDirector(_ o: DaemonOptions, topology: Topology, ipvs: IPVSKernel?, metrics: DaemonMetrics,
                             logger: Logger) throws -> DirectorRuntime? {
        guard o.vrrp, !o.dryRunKernel, DirectorSetup.pair(of: o.node, in: topology) != nil else { return nil }
        var key: [UInt8]?
        if let f = o.authKeyFile {
            do { key = try AuthKeyFile.load(path: f) } catch { throw DaemonStartError(description: error.description) }
        }
        let setup: DirectorSetup
        do { setup = try DirectorSetup.make(topology: topology, node: o.node, overrides: o.director, authKey: key) } catch {
            throw DaemonStartError(description: "\(o.topologyPath): \(error.description)")
        }
        var vrrpLogger = logger
        vrrpLogger[metadataKey: "pair"] = "\(setup.pair.name)"
        let vrrp = try DirectorService(setup: setup, metrics: metrics, logger: vrrpLogger)
        var sync: ConnectionSyncService?
        if o.connectionSync, let ipvs {
            let desired = ConnectionSyncPolicy.daemons(pair: setup.pair, node: o.node,
                                                       interface: o.syncInterface ?? setup.options.interface)
            sync = ConnectionSyncService(kernel: ipvs, desired: desired, period: o.resync, logger: logger)
        }
        return DirectorRuntime(vrrp: vrrp, sync: sync)
    }
}
