import BuildInfo
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
import Syscall
import TopologyFiles
import Hosts

/// Options of `tandemd`, parsed by the thin executable. Everything about the site, the director
/// pair included, is in the topology; these say where to find it and how to run.
public struct DaemonOptions: Sendable {
    /// The default topology file of an installed tandemd.
    public static let defaultTopologyPath = "/etc/tandem/topology.yaml"
    /// Topology file.
    public var topologyPath: String
    /// This director's name.
    public var node: String
    /// `host:port` of the status API (loopback by default).
    public var statusListen: String = "127.0.0.1:9595"
    /// `host:port` of a listener that serves only `GET /metrics`, for a Prometheus that must not
    /// reach the admin API; `nil`: none (`/metrics` stays on the status API either way).
    public var metricsListen: String?
    /// Bearer token file for drain/undrain; `nil`: the topology's `daemon.token_file`.
    public var tokenFile: String?
    /// Keep the IPVS table in memory instead of the kernel.
    public var dryRunKernel = false
    /// Jitter seed.
    public var seed: UInt64 = 0
    /// Period of the repair sweep (and of the sync-daemon check); `nil`: the topology's
    /// `daemon.repair_interval`.
    public var resync: Duration?
    /// Run the director pair's VRRP instance when `node` is a member of a pair.
    public var vrrp = true
    /// Settings that win over the topology's director settings (tests; the topology is the place).
    public var director = DirectorOverrides()
    /// Run the IPVS connection-sync daemons when VRRP runs; `nil`: the topology's `connection_sync`.
    public var connectionSync: Bool?
    /// Interface of the sync daemons; `nil`: the topology's `sync_interface`, else the VRRP interface.
    public var syncInterface: String?
    /// Directory of the IPVS table's ownership lock (`TableOwnership`).
    public var stateDirectory = TableOwnership.defaultStateDirectory
    /// Where readiness, reload and watchdog notices go (`NOTIFY_SOCKET`); `nil`: not run by systemd.
    public var notifier: SystemdNotifier?
    /// The watchdog period systemd asked for (`WATCHDOG_USEC`); `nil`: no watchdog.
    public var watchdog: Duration?

    /// Creates options.
    public init(topologyPath: String, node: String) { self.topologyPath = topologyPath; self.node = node }
}

/// A start-up problem, said plainly, with the exit status it ends `tandemd` with.
public struct DaemonStartError: Error, CustomStringConvertible {
    /// Which exit status a start-up problem gives: the unit's `RestartPreventExitStatus=` keeps
    /// systemd from restarting a daemon whose configuration cannot work.
    public enum Kind: Sendable {
        /// The topology, a secret file or an option is wrong: exit 78 (EX_CONFIG, sysexits.h).
        /// Restarting cannot help; fixing the file and restarting does.
        case configuration
        /// Something outside the configuration is missing or busy (the IPVS module, a socket,
        /// another tandemd holding the table): exit 69 (EX_UNAVAILABLE). A restart may succeed.
        case unavailable
    }
    /// What is wrong and what to do.
    public var description: String
    /// The kind, which decides the exit status.
    public var kind: Kind

    /// A start-up problem; most are configuration errors.
    public init(description: String, kind: Kind = .configuration) { self.description = description; self.kind = kind }

    /// The exit status for ``kind``: 78 or 69.
    public var exitStatus: Int32 { kind == .configuration ? 78 : 69 }
}

/// Wires and runs `tandemd`: health monitor → weights → reconcile loop, the status API and SIGHUP
/// reload, in one `ServiceGroup`. SIGTERM/SIGINT shut down in reverse order and leave the kernel
/// table as it is.
public enum DaemonRunner {
    /// Runs until SIGTERM.
    /// `extraServices` run in the same group, after the reconcile loop and before the status API.
    public static func run(_ o: DaemonOptions, logger: Logger, extraServices: [any Service] = []) async throws {
        let files = raiseOpenFileLimit()
        let topology: Topology
        do { topology = try TopologyLoader.load(path: o.topologyPath) } catch {
            throw DaemonStartError(description: "\(o.topologyPath) is not a valid topology:\n\(error)")
        }
        if let pair = topology.directors, !pair.members.contains(o.node) {
            logger.warning("node is not a member of the director pair", metadata: ["node": "\(o.node)", "pair": "\(pair.members)"])
        }
        let token: BearerToken?
        do { token = try (o.tokenFile ?? topology.daemon.tokenFile).map { path throws(BearerToken.Problem) in try BearerToken.load(path: path) } } catch {
            throw DaemonStartError(description: error.description)
        }
        if token == nil { logger.notice("drain and undrain are disabled: the topology names no daemon.token_file") }
        let (host, port) = try listenAddress(o.statusListen, flag: "--status-listen", example: "127.0.0.1:9595")
        let metricsAddress = try o.metricsListen.map { try listenAddress($0, flag: "--metrics-listen", example: "127.0.0.1:9596") }
        let resync = o.resync ?? .milliseconds(topology.daemon.repairIntervalMs)

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
                throw DaemonStartError(description: "cannot open the kernel's IPVS table: \(error) (is the ip_vs module loaded? "
                                       + "`modprobe ip_vs`; or use --dry-run-kernel to run without one)", kind: .unavailable)
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
        // The VMs' domain XML (`vms[].domain`, rendered as `tandemctl place` renders it), for the host
        // controller's starts on hosts that do not define a VM; only when some host is watched, so a
        // director that watches none does not need the template files.
        let definitions: [String: DomainDefinition]
        do { definitions = topology.hosts.contains { $0.libvirt != nil } ? try SiteDomains.definitions(for: topology) : [:] } catch {
            await ipvs?.shutdown()
            throw DaemonStartError(description: "\(o.topologyPath): the VMs' domains cannot be rendered: \(error)")
        }
        try await daemon.start()
        // The host controller (docs/hosts.md) for the hosts with a `libvirt:` key; it acts only while
        // this node is its pair's master. Without a VRRP instance it watches and reports only.
        let mastership = director?.vrrp.mastership ?? .withoutVRRP()
        let hosts = DaemonHosts.make(topology: topology, daemon: daemon, definitions: definitions, mastership: mastership, logger: logger)
        let app = StatusAPI.application(daemon: daemon, host: host, port: port, token: token, director: director,
                                        ring: ring, hosts: hosts, logger: logger)
        let metricsApp = metricsAddress.map { StatusAPI.metricsApplication(daemon: daemon, host: $0.host, port: $0.port, director: director,
                                                                          ring: ring, hosts: hosts, logger: logger) }

        // The service group, in start order; graceful shutdown runs in reverse. Extra services (for
        // example the database ring monitor) go in `extraServices`, after the core and before the API.
        // What follows a SIGHUP beside the checks and weights (prepared first, so any of them can refuse).
        var followers: [ReloadFollower] = [
            ReloadFollower(name: "ring") { old, new in try RingMonitor.prepareReload(ring, old: old, new: new) },
        ]
        if let d = director { followers.append(d.vrrp.reloadFollower(overrides: o.director)) }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = ring.map { [.init(service: $0)] } ?? []
        services += [
            .init(service: daemon.monitor),
            .init(service: ReconcileService(daemon: daemon, resync: resync)),
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
        if let hosts { services.append(.init(service: hosts)) }
        services += extraServices.map { .init(service: $0) }
        services.append(.init(service: app))
        if let metricsApp { services.append(.init(service: metricsApp)) }
        // VRRP next to last: it starts once the table is programmed and stops (nearly) first, so a
        // master resigns (priority 0, VIPs removed) while everything else still runs.
        if let vrrp = director?.vrrp { services.append(.init(service: vrrp)) }
        // Last, so it stops first: STOPPING=1 goes out as soon as SIGTERM arrives. It also owns
        // SIGHUP (reload, between RELOADING=1 and READY=1) and, after the first reconcile, READY=1 and
        // the watchdog pings.
        services.append(.init(service: SystemdService(daemon: daemon, topologyPath: o.topologyPath, followers: followers,
                                                      notifier: o.notifier, watchdog: o.watchdog, logger: logger)))
        let group = ServiceGroup(configuration: .init(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        if let d = director {
            logger.notice("director pair", metadata: ["vrrp": "\(d.vrrp.setup.summary)",
                                                      "sync": "\(d.sync?.desired.map { "\($0.role.rawValue):\($0.syncID)@\($0.interface)" } ?? ["off"])"])
        }
        logger.notice("tandemd started", metadata: ["node": "\(o.node)", "topology": "\(o.topologyPath)", "version": "\(TandemBuild.version)",
                                                     "commit": "\(TandemBuild.commit)", "status": "\(o.statusListen)",
                                                     "metrics": "\(o.metricsListen ?? o.statusListen)", "kernel": "\(o.dryRunKernel ? "dry-run" : "real")",
                                                     "systemd": "\(o.notifier == nil ? "no" : o.watchdog.map { "watchdog \($0)" } ?? "notify")",
                                                     "open_files": "\(files)"])
        let members = topology.services.reduce(0) { $0 + $1.members.count }
        if files < 2 * members + 256 {
            logger.warning("the open-file limit is low for this site: each checked member holds a connection between checks",
                           metadata: ["limit": "\(files)", "members": "\(members)", "fix": "raise LimitNOFILE (systemd) or ulimit -n"])
        }
        do { try await group.run() } catch {
            await ipvs?.shutdown()
            throw error
        }
        await ipvs?.shutdown()
        logger.notice("tandemd stopped; the IPVS table is left as it is")
    }

    /// `HOST:PORT` (an IPv6 host in brackets) of a listen option; a malformed one is a configuration error.
    static func listenAddress(_ text: String, flag: String, example: String) throws(DaemonStartError) -> (host: String, port: Int) {
        let parts = text.split(separator: ":")
        guard parts.count >= 2, let port = Int(parts.last!), (0...65535).contains(port) else {
            throw DaemonStartError(description: "\(flag) \(text): want HOST:PORT, e.g. \(example)")
        }
        return (parts.dropLast().joined(separator: ":").trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port)
    }

    /// The VRRP instance and the sync daemons for a node of a director pair; `nil` when the node is in
    /// no pair, with `vrrp` off, or with `--dry-run-kernel` (which must not move addresses either).
    /// Every setting comes from the topology's `directors` (and `directors.nodes.NODE`), under the
    /// options' overrides.
    static func makeDirector(_ o: DaemonOptions, topology: Topology, ipvs: IPVSKernel?, metrics: DaemonMetrics,
                             logger: Logger) throws -> DirectorRuntime? {
        guard o.vrrp, !o.dryRunKernel, let pair = DirectorSetup.pair(of: o.node, in: topology) else { return nil }
        let key: [UInt8]?
        do { key = try DirectorSetup.loadKey(topology: topology, node: o.node, overrides: o.director) } catch {
            throw DaemonStartError(description: "\(o.topologyPath): directors.key_file: \(error.description)")
        }
        let setup: DirectorSetup
        do { setup = try DirectorSetup.make(topology: topology, node: o.node, overrides: o.director, authKey: key) } catch {
            throw DaemonStartError(description: "\(o.topologyPath): \(error.description)")
        }
        var vrrpLogger = logger
        vrrpLogger[metadataKey: "pair"] = "\(setup.pair.name)"
        let vrrp = try DirectorService(setup: setup, metrics: metrics, logger: vrrpLogger)
        var sync: ConnectionSyncService?
        let settings = pair.settings(for: o.node)
        if o.connectionSync ?? settings.connectionSync ?? true, let ipvs {
            let desired = ConnectionSyncPolicy.daemons(pair: setup.pair, node: o.node,
                                                       interface: o.syncInterface ?? settings.syncInterface ?? setup.options.interface)
            sync = ConnectionSyncService(kernel: ipvs, desired: desired, period: o.resync ?? .milliseconds(topology.daemon.repairIntervalMs),
                                         logger: logger)
        }
        return DirectorRuntime(vrrp: vrrp, sync: sync)
    }
}
