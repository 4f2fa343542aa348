import Foundation
import Syscall
import Logging
import MariaDB
import NIOPosix
import RingHealth
import ServiceLifecycle
import Synchronization
import Topology
import Health

/// Where one ring node listens.
public struct RingMemberAddress: Sendable, Hashable {
    /// Node name for reports (topology VM name, or "host:port").
    public var name: String
    /// Address to connect to.
    public var host: String
    /// MariaDB port.
    public var port: UInt16

    /// Creates an address.
    public init(name: String, host: String, port: UInt16) { self.name = name; self.host = host; self.port = port }

    /// "host:port", matched against slaves' `Master_Host:Master_Port`.
    public var endpoint: String { "\(host):\(port)" }
}

/// What a ``RingMonitor`` watches and how.
public struct RingMonitorConfig: Sendable {
    /// Nodes in ring order (node i replicates from node i-1, the first from the last).
    public var members: [RingMemberAddress]
    /// Monitor account (needs SLAVE MONITOR and SELECT/INSERT/UPDATE/CREATE on `tandem_monitor.*`).
    public var user: String
    /// Its password.
    public var password: String
    /// Names this monitor's heartbeat rows, so two directors' monitors never overwrite each other.
    public var monitorName: String
    /// Heartbeat interval and thresholds.
    public var policy: RingHealthPolicy
    /// Bound on each connect/read/write of a probe. libmariadb counts whole seconds and 0 means
    /// forever, so this is rounded up to whole seconds, at least 1 s (see `MariaDBConfig`).
    public var probeTimeout: Duration

    /// Creates a configuration.
    public init(members: [RingMemberAddress], user: String, password: String, monitorName: String = "tandem",
                policy: RingHealthPolicy = .init(), probeTimeout: Duration = .seconds(1)) {
        self.members = members; self.user = user; self.password = password
        self.monitorName = String(monitorName.prefix(64)); self.policy = policy; self.probeTimeout = probeTimeout
    }

    /// The service that checks the topology's database ring with a `mariadb` check (its account is the
    /// monitor's), or nil when there is no ring or no such service.
    public static func ringCheckService(in topology: Topology) -> VirtualService? {
        guard let ringNodes = topology.database.map({ Set($0.members) }) else { return nil }
        return topology.services.first { s in
            if case .mariadb = s.check.kind { return s.members.contains { ringNodes.contains($0.name) } }
            return false
        }
    }

    /// The ring of `topology.database`, with the credentials of the first service that checks ring
    /// members with a `mariadb` check (the password read from its `password_file`).
    /// Returns nil when the topology declares no ring.
    /// - Throws: ``RingMonitorError`` naming what is missing.
    public static func from(topology: Topology, monitorName: String, policy: RingHealthPolicy = .init()) throws -> RingMonitorConfig? {
        guard let db = topology.database else { return nil }
        var members: [RingMemberAddress] = []
        for name in db.members {
            guard let addresses = topology.addresses(ofNode: name), let a = addresses.first(where: { $0.address.family == .v4 }) ?? addresses.first else {
                throw RingMonitorError(message: "database ring member '\(name)' has no address in the topology; give the VM or machine an address")
            }
            members.append(RingMemberAddress(name: name, host: a.address.description, port: db.port))
        }
        guard let service = ringCheckService(in: topology), case .mariadb(let user, let passwordFile) = service.check.kind else {
            throw RingMonitorError(message: "no service checks the database ring with a 'mariadb' check, so the monitor has no account; add check: {kind: mariadb, user: ..., password_file: ...} to the database service")
        }
        let password = try passwordFile.map { p throws(SecretFileError) in try SecretFile.text(p, what: "password file") } ?? ""
        return RingMonitorConfig(members: members, user: user, password: password, monitorName: monitorName, policy: policy)
    }
}

/// A ring monitor could not be set up.
public struct RingMonitorError: Error, Sendable, CustomStringConvertible {
    /// What was wrong and what to do.
    public var message: String
    /// Same as `message`.
    public var description: String { message }
}

/// The edge of the ring check: probes every ring node on its own schedule and feeds the pure
/// ``RingHealthModel``.
///
/// Each node gets one probe loop and one connection (as the monitor user, every timeout bounded):
/// every `heartbeatInterval` it commits a heartbeat row for that node, then reads the node's
/// `@@server_id`, GTID positions, this monitor's heartbeat rows and `SHOW ALL SLAVES STATUS`.
/// Loops are independent, so a hung node delays only its own loop; the model notices the silence
/// after `silentAfter` without waiting for the probe's timeout. Blocking libmariadb calls run on
/// the MariaDB module's thread pool (``MariaDB/MariaDBThreads``), never on the cooperative pool.
///
/// A swift-service-lifecycle `Service`: `run()` probes until graceful shutdown or cancellation.
///
/// A reload (``reconfigure(_:)``, or ``prepareReload(_:old:new:)`` for tandemd's SIGHUP) changes
/// the ring in place: a loop starts for an added node, the loop of a removed node ends, a changed
/// address, account or policy is used from the next probe, and nodes that stay keep their state
/// and heartbeat history (the run id does not change).
public final class RingMonitor: Service, Sendable {
    /// The ring being watched (changes only by ``reconfigure(_:)``).
    public var ring: Ring { live.withLock { $0.ring } }
    /// Configuration (changes only by ``reconfigure(_:)``).
    public var config: RingMonitorConfig { live.withLock { $0.config } }
    /// This run's id, written in every heartbeat row.
    public let runID: UInt64
    private let model: Mutex<RingHealthModel>
    private let live: Mutex<Live>

    /// What the probe loops read at every probe, and which loops should run.
    private struct Live: Sendable {
        var config: RingMonitorConfig
        var ring: Ring
        /// Node → token of its running probe loop; a loop whose token is gone ends.
        var loops: [String: UInt64] = [:]
        var nextToken: UInt64 = 0
        /// Last heartbeat sequence written per node, so a loop started again continues it.
        var seqs: [String: UInt64] = [:]
    }
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private let logger: Logger
    private let executor: NIOThreadPool

    /// The heartbeat table, created (replicated, idempotent) on first contact with each node.
    /// One row per (origin server, monitor): rows of different origins never conflict.
    public static let heartbeatTableDDL = """
        CREATE TABLE IF NOT EXISTS tandem_monitor.heartbeat (
          origin_server_id INT UNSIGNED NOT NULL,
          monitor VARCHAR(64) NOT NULL,
          run_id BIGINT UNSIGNED NOT NULL,
          seq BIGINT UNSIGNED NOT NULL,
          written_at DATETIME(6) NOT NULL,
          PRIMARY KEY (origin_server_id, monitor)
        ) ENGINE=InnoDB
        """

    /// Creates a monitor (nothing runs until `run()`).
    /// - Throws: ``RingDefinitionError`` for fewer than two nodes or duplicate names.
    public init(config: RingMonitorConfig, logger: Logger = Logger(label: "tandem.ring"), executor: NIOThreadPool = MariaDBThreads.shared) throws {
        let ring = try Self.ring(of: config)
        live = Mutex(Live(config: config, ring: ring))
        self.logger = logger
        self.executor = executor
        runID = UInt64.random(in: 1...UInt64(Int64.max))
        start = clock.now
        model = Mutex(RingHealthModel(ring: ring, policy: config.policy, runID: runID, start: .zero))
    }

    private static func ring(of config: RingMonitorConfig) throws(RingDefinitionError) -> Ring {
        try Ring(nodes: config.members.map { RingNode(name: $0.name, endpoint: $0.endpoint) })
    }

    /// Monitor time now.
    public var now: Duration { start.duration(to: clock.now) }

    /// The ring as of now.
    public func report() -> RingReport {
        let t = now
        return model.withLock { $0.report(at: t) }
    }

    /// Feeds one event (used by the probe loops; public for tools that replay events).
    public func record(_ event: RingEvent) {
        model.withLock { $0.on(event) }
    }

    /// Ring node name of `host:port`, if it is one of the ring's nodes.
    public func nodeName(host: String, port: UInt16) -> String? {
        live.withLock { $0.config.members.first { $0.host == host && $0.port == port }?.name }
    }

    /// The health-check outcome of one member: success when trusted, a failure with the verdict's
    /// reason when it must be drained (immediate when the node refused the connection). Waits, up
    /// to `timeout`, for the first probe of that node to finish; nil if `name` is not a ring node.
    public func outcome(for name: String, timeout: Duration) async -> CheckOutcome? {
        guard ring.node(name) != nil else { return nil }
        let deadline = clock.now + timeout
        while true {
            guard let n = report().node(name) else { return nil }
            if n.reachability == .notYetProbed && clock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
                continue
            }
            switch n.verdict {
            case .trusted: return .success
            case .drain(let reason):
                if case .failed(.refused) = n.reachability { return .failure(reason: reason, immediate: true) }
                if n.reachability == .notYetProbed { return .timedOut }
                return .failure(reason: reason, immediate: false)
            }
        }
    }

    /// Probes every node until graceful shutdown or cancellation. One loop per node; loops for
    /// nodes a ``reconfigure(_:)`` adds start within one heartbeat interval.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                while !Task.isCancelled {
                    for (name, token) in self.claimLoops() {
                        group.addTask { await self.probeLoop(name, token: token) }
                    }
                    let interval = self.live.withLock { $0.config.policy.heartbeatInterval }
                    do { try await self.clock.sleep(for: interval) } catch { break }
                }
            }
        }
        live.withLock { $0.loops = [:] }
    }

    /// Tokens for the nodes that have no probe loop yet (marked as running).
    private func claimLoops() -> [(String, UInt64)] {
        live.withLock { s in
            s.config.members.compactMap { m -> (String, UInt64)? in
                guard s.loops[m.name] == nil else { return nil }
                s.nextToken += 1
                s.loops[m.name] = s.nextToken
                return (m.name, s.nextToken)
            }
        }
    }

    // MARK: Reload

    /// What ``reconfigure(_:)`` would change, by node name. Pure.
    public struct ConfigChange: Sendable, Equatable {
        /// Nodes that get a probe loop.
        public var added: [String] = []
        /// Nodes whose loop ends.
        public var removed: [String] = []
        /// Nodes whose address changed (their loop reconnects).
        public var moved: [String] = []
        /// The ring order changed (links are judged along the new order).
        public var reordered = false
        /// Account, password, policy or probe timeout changed (every loop uses it from its next probe).
        public var settings: [String] = []

        /// True when nothing changes.
        public var isEmpty: Bool { added.isEmpty && removed.isEmpty && moved.isEmpty && !reordered && settings.isEmpty }

        /// One line for logs and `/status` (`lastReload`), or nil when nothing changes.
        public var summary: String? {
            guard !isEmpty else { return nil }
            var parts: [String] = []
            if !added.isEmpty { parts.append("probing \(added.joined(separator: ", ")) (added)") }
            if !removed.isEmpty { parts.append("stopped probing \(removed.joined(separator: ", ")) (removed)") }
            if !moved.isEmpty { parts.append("new address for \(moved.joined(separator: ", "))") }
            if reordered { parts.append("new ring order") }
            if !settings.isEmpty { parts.append("new \(settings.joined(separator: ", "))") }
            return parts.joined(separator: "; ")
        }

        /// The change from `old` to `new`. Pure.
        public static func between(_ old: RingMonitorConfig, _ new: RingMonitorConfig) -> ConfigChange {
            var c = ConfigChange()
            let before = Dictionary(old.members.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let after = Set(new.members.map(\.name))
            c.added = new.members.map(\.name).filter { before[$0] == nil }
            c.removed = old.members.map(\.name).filter { !after.contains($0) }
            c.moved = new.members.filter { m in before[m.name].map { $0 != m } ?? false }.map(\.name)
            let kept = new.members.map(\.name).filter { before[$0] != nil }
            c.reordered = kept != old.members.map(\.name).filter { after.contains($0) }
            if old.user != new.user { c.settings.append("account") }
            if old.password != new.password { c.settings.append("password") }
            if old.policy != new.policy { c.settings.append("policy") }
            if old.probeTimeout != new.probeTimeout { c.settings.append("probe timeout") }
            if old.monitorName != new.monitorName { c.settings.append("monitor name") }
            return c
        }
    }

    /// Validates `new` for this monitor without changing anything.
    /// - Throws: ``RingMonitorError`` (fewer than two nodes, duplicate names).
    public func check(_ new: RingMonitorConfig) throws {
        do { _ = try Self.ring(of: new) } catch {
            throw RingMonitorError(message: "the new database ring cannot be monitored: \(error)")
        }
    }

    /// Changes what the monitor watches, in place, while it runs (see the type's documentation).
    /// Returns what changed, or nil when nothing did. The monitor name must stay (it names the
    /// heartbeat rows); a new name is ignored.
    /// - Throws: ``RingMonitorError`` when `new` is not a ring (nothing changes then).
    @discardableResult
    public func reconfigure(_ new: RingMonitorConfig) throws -> String? {
        var new = new
        let ring: Ring
        do { ring = try Self.ring(of: new) } catch {
            throw RingMonitorError(message: "the new database ring cannot be monitored: \(error)")
        }
        let t = now
        let change = live.withLock { s -> ConfigChange in
            new.monitorName = s.config.monitorName
            let change = ConfigChange.between(s.config, new)
            s.config = new
            s.ring = ring
            for name in change.removed { s.loops[name] = nil }
            return change
        }
        model.withLock { $0.reconfigure(ring: ring, policy: new.policy, at: t) }
        if let summary = change.summary {
            logger.notice("ring monitor reconfigured", metadata: ["change": "\(summary)"])
        }
        return change.summary
    }

    /// The ring monitor's part of tandemd's SIGHUP reload (a `ReloadFollower` in `Daemon`): checks
    /// the new topology and returns the commit that applies it, without changing anything yet.
    ///
    /// - With a monitor: the new ring and its monitor account come from `new` as at start
    ///   (``RingMonitorConfig/from(topology:monitorName:policy:)``); the monitor name and policy stay.
    ///   An unreadable password file, a ring that lost its `mariadb` check service, or a ring of fewer
    ///   than two nodes refuse the reload: a running monitor is never dropped by a reload (restart
    ///   tandemd to run without one).
    /// - Without a monitor (tandemd started with no checked ring): a ring cannot gain a monitor at
    ///   runtime, because the monitor is a service of the daemon's service group, fixed at start.
    ///   The rest of the reload applies and the commit's summary says to restart tandemd.
    ///
    /// The commit returns a one-line summary, or nil when the ring monitor has nothing to change.
    public static func prepareReload(_ monitor: RingMonitor?, old: Topology, new: Topology) throws -> @Sendable () async -> String? {
        guard let monitor else {
            guard new.database != nil, RingMonitorConfig.ringCheckService(in: new) != nil else { return { nil } }
            return { "the database ring is checked now, but tandemd started without a ring monitor: restart tandemd to monitor the ring (its mariadb checks are member-local until then)" }
        }
        let current = monitor.config
        let next: RingMonitorConfig
        do {
            guard let c = try RingMonitorConfig.from(topology: new, monitorName: current.monitorName, policy: current.policy) else {
                throw RingMonitorError(message: "the new file has no database ring, but the ring monitor runs: a reload cannot stop it; restore the database section or restart tandemd")
            }
            next = c
        } catch let e as RingMonitorError {
            throw e
        } catch {
            throw RingMonitorError(message: "\(error)")
        }
        var withTimeout = next
        withTimeout.probeTimeout = current.probeTimeout
        try monitor.check(withTimeout)
        let final = withTimeout
        return { (try? monitor.reconfigure(final)) ?? nil }
    }

    /// Runs the probes for `duration`, then returns the report: a one-shot look for `tandemctl`.
    public func observe(for duration: Duration) async -> RingReport {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await self.run() }
            try? await Task.sleep(for: duration)
            group.cancelAll()
        }
        return report()
    }

    // MARK: Probing

    private struct ProbeState {
        var connection: MariaDBConnection?
        /// Address and account the connection was opened with (a reload may change them).
        var connectedAs: (RingMemberAddress, String, String)?
        var tableReady = false
        var seq: UInt64 = 0
    }

    private func probeLoop(_ name: String, token: UInt64) async {
        var state = ProbeState()
        state.seq = live.withLock { $0.seqs[name] ?? 0 }
        var next = clock.now
        while !Task.isCancelled {
            do { try await clock.sleep(until: next, tolerance: .milliseconds(5)) } catch { break }
            // Read what to probe now: a reload may have moved, changed or removed this node.
            let current = live.withLock { s -> (RingMemberAddress, RingMonitorConfig)? in
                guard s.loops[name] == token, let m = s.config.members.first(where: { $0.name == name }) else { return nil }
                return (m, s.config)
            }
            guard let (member, config) = current else { break }
            if let (m, u, p) = state.connectedAs, m != member || u != config.user || p != config.password, let c = state.connection {
                state.connection = nil
                await c.close()
            }
            await probe(member, config, &state)
            let seq = state.seq
            live.withLock { $0.seqs[name] = max($0.seqs[name] ?? 0, seq) }
            next = next.advanced(by: config.policy.heartbeatInterval)
            if next < clock.now { next = clock.now }
        }
        await state.connection?.close()
        live.withLock { s in if s.loops[name] == token { s.loops[name] = nil } }
    }

    private func probe(_ m: RingMemberAddress, _ config: RingMonitorConfig, _ s: inout ProbeState, retry: Bool = true) async {
        let began = clock.now
        let reused = s.connection.map { !$0.isBroken } ?? false
        do {
            let c: MariaDBConnection
            if let existing = s.connection, !existing.isBroken {
                c = existing
            } else {
                s.connection = nil
                c = try await MariaDBConnection.connect(
                    MariaDBConfig(host: m.host, port: Int(m.port), user: config.user, password: config.password,
                                  connectTimeout: config.probeTimeout, readTimeout: config.probeTimeout,
                                  writeTimeout: config.probeTimeout),
                    executor: executor)
                s.connection = c
                s.connectedAs = (m, config.user, config.password)
                s.tableReady = false
            }
            if !s.tableReady {
                _ = try await c.query(Self.heartbeatTableDDL)
                s.tableReady = true
            }
            s.seq += 1
            do {
                _ = try await c.execute("""
                    INSERT INTO tandem_monitor.heartbeat (origin_server_id, monitor, run_id, seq, written_at)
                    VALUES (@@server_id, ?, ?, ?, NOW(6))
                    ON DUPLICATE KEY UPDATE run_id = VALUES(run_id), seq = VALUES(seq), written_at = VALUES(written_at)
                    """, [.text(config.monitorName), .uint(runID), .uint(s.seq)])
                record(.heartbeatWritten(node: m.name, seq: s.seq, at: now))
            } catch let e as MariaDBError where !e.isConnectionLevel {
                // The node answers but refuses the write (read_only, privileges, no table): the
                // reads below still judge it; the links it sources are reported as unjudgeable.
                record(.heartbeatWriteFailed(node: m.name, at: now, error: e.description))
                if e.errno == MariaDBError.noSuchTable { s.tableReady = false }
            }
            let at = now
            let vars = try await c.query("SELECT @@server_id AS sid, @@gtid_domain_id AS dom, @@gtid_binlog_pos AS b, @@gtid_current_pos AS c").rows.first
            let rows = try await c.execute("SELECT origin_server_id, run_id, seq FROM tandem_monitor.heartbeat WHERE monitor = ?",
                                           [.text(config.monitorName)]).rows
            let slaves = try await c.query("SHOW ALL SLAVES STATUS").rows
            record(.observed(NodeObservation(
                node: m.name, at: at,
                serverID: UInt32(clamping: vars?.int("sid") ?? 0), gtidDomainID: UInt32(clamping: vars?.int("dom") ?? 0),
                gtidBinlogPos: Self.positions(vars?.string("b")), gtidCurrentPos: Self.positions(vars?.string("c")),
                slaves: slaves.map(Self.slaveStatus), heartbeats: rows.compactMap(Self.heartbeat))))
        } catch {
            let elapsed = began.duration(to: clock.now)
            if let c = s.connection { s.connection = nil; await c.close() }
            // A kept connection that breaks at once (server killed: EOF/RST on the open socket)
            // says little; one fresh connect in the same probe tells refused from the rest.
            if retry, reused, (error as? MariaDBError)?.isConnectionLevel == true, elapsed < timeoutFloor(config) {
                await probe(m, config, &s, retry: false)
                return
            }
            let failure = classify(error, elapsed: elapsed, config: config)
            record(.probeFailed(node: m.name, at: now, failure: failure))
            logger.debug("ring probe failed", metadata: ["node": "\(m.name)", "db": "\(m.endpoint)", "error": "\(error)"])
        }
    }

    /// A call that took this long used up libmariadb's timeout (whole seconds, at least 1 s).
    private func timeoutFloor(_ config: RingMonitorConfig) -> Duration { MariaDBConfig.clampedTimeout(config.probeTimeout) * 0.9 }

    /// Refused when the server's kernel said so at once; timed out when the call used up the
    /// probe timeout (a hung server accepts TCP and then never answers).
    private func classify(_ error: any Error, elapsed: Duration, config: RingMonitorConfig) -> ProbeFailure {
        let text = "\(error)"
        if elapsed >= timeoutFloor(config) { return .timedOut(text) }
        if let e = error as? MariaDBError {
            if e.errno == MariaDBError.connectionError || e.errno == MariaDBError.connHostError { return .refused(text) }
        }
        return .error(text)
    }

    static func positions(_ text: String?) -> [UInt32: UInt64] {
        GTIDPosition(text ?? "").domains.mapValues(\.sequence)
    }

    static func heartbeat(_ row: MariaDBRow) -> HeartbeatRow? {
        guard let o = row.int("origin_server_id"), let r = row["run_id"], let s = row["seq"] else { return nil }
        func u(_ v: MariaDBValue) -> UInt64? {
            switch v { case .uint(let x): return x; case .int(let x): return UInt64(exactly: x); case .text(let t): return UInt64(t); default: return nil }
        }
        guard let run = u(r), let seq = u(s) else { return nil }
        return HeartbeatRow(originServerID: UInt32(clamping: o), runID: run, seq: seq)
    }

    static func slaveStatus(_ row: MariaDBRow) -> SlaveLinkStatus {
        let r = ReplicationStatus(row: row)
        let filters = ["Replicate_Do_DB", "Replicate_Ignore_DB", "Replicate_Do_Table", "Replicate_Ignore_Table",
                       "Replicate_Wild_Do_Table", "Replicate_Wild_Ignore_Table"].compactMap { k -> String? in
            guard let v = row.string(k), !v.isEmpty else { return nil }
            return "\(k)=\(v)"
        }
        return SlaveLinkStatus(
            connectionName: r.connectionName, masterServerID: UInt32(clamping: row.int("Master_Server_Id") ?? 0),
            masterEndpoint: "\(r.masterHost):\(r.masterPort)", io: ThreadState(r.ioRunning),
            sql: ThreadState(r.sqlRunning), secondsBehindMaster: r.secondsBehindMaster,
            lastIOErrno: r.lastIOErrno, lastIOError: r.lastIOError, lastSQLErrno: r.lastSQLErrno,
            lastSQLError: r.lastSQLError, filters: filters)
    }
}

/// The single-writer policy of one database service, fed from a ``RingMonitor``.
///
/// A service is single-writer when its scheduler is `fo` and it is checked with `mariadb`
/// (``isSingleWriter(_:)``). ``decide()`` returns the weights to put in IPVS: the writer keeps its
/// topology weight, every other member 0, and the writes move only to a member that has applied
/// the old writer's last heartbeat (see `SingleWriter`).
public final class SingleWriterController: Sendable {
    /// Service name.
    public let service: String
    private let monitor: RingMonitor
    private let machine: Mutex<SingleWriter>

    /// True when `service` is declared single-writer: scheduler `fo` with a `mariadb` check.
    public static func isSingleWriter(_ service: VirtualService) -> Bool {
        guard service.scheduler == .fo, case .mariadb = service.check.kind else { return false }
        return true
    }

    /// Creates the controller; members are the service's members that are ring nodes, with their
    /// topology weights. `writer` is the member the kernel already gives the writes to, if any.
    public init(service: VirtualService, monitor: RingMonitor, writer: String? = nil) {
        self.service = service.name
        self.monitor = monitor
        // Every member, ring node or not: one the ring does not know never answers the monitor, so
        // it never gets the writes; a node a reload adds to the ring can get them from then on.
        let members = service.members.map { SingleWriter.Member(name: $0.name, weight: Int($0.weight)) }
        machine = Mutex(SingleWriter(members: members, writer: writer))
    }

    /// The decision for the ring as it is now. `drained`: members the operator drained; they
    /// cannot take the writes, and a drained writer hands them to a member that has caught up.
    public func decide(drained: Set<String> = []) -> WriterDecision {
        let r = monitor.report()
        return machine.withLock { $0.on(r, drained: drained) }
    }

    /// Operator override: give the writes to `member` at the next decision.
    public func force(_ member: String) { machine.withLock { $0.force(member) } }
}
