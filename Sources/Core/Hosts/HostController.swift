// The host controller: notices a lost hypervisor host, fences it, restores its VMs on the
// survivors, and keeps a returning host from running a second copy. A pure state machine: events
// in, actions out, time injected; the edge (Services/HostControl) runs fences, libvirt calls,
// probes and timers and feeds their results back as events.
import Net
import Placement

/// What a host's loss costs and how it was handled, step by step, for `/status`, the log and drills.
///
/// Every time is the `now` of the event that made the step, on the controller's clock.
public struct HostRecovery: Sendable, Equatable, Codable {
    /// How the host was confirmed off.
    public enum Confirmation: String, Sendable, Equatable, Codable {
        /// The fence agent's `off` succeeded and its `status` reported off.
        case fenceAgent = "fence agent"
        /// An operator said so (`tandemctl hosts confirm-off`).
        case operatorConfirmed = "operator"
    }

    /// The lost host.
    public var host: String
    /// The first signal of the loss: the connection dropped, or the last of its VMs failed its check.
    public var firstSignalAt: Duration
    /// Both signals agreed: the host was declared lost.
    public var condemnedAt: Duration
    /// The host was confirmed off.
    public var fencedAt: Duration
    /// Who confirmed it.
    public var confirmedBy: Confirmation
    /// The restarts were issued (all at once).
    public var restartsIssuedAt: Duration
    /// The last restart was confirmed by the hypervisor.
    public var startedAt: Duration?
    /// The last restarted member passed its health check.
    public var healthyAt: Duration?
    /// The last restarted member that serves a virtual service was back in IPVS (nil when none serves).
    public var inIPVSAt: Duration?
    /// Redundancy restored: every moved VM started, passed its check and, where it serves a
    /// virtual service, is back in IPVS. Nil while any of that is missing.
    public var restoredAt: Duration?
    /// Where each lost VM went.
    public var moves: [Move]

    /// One line for the log: each step's time from the first signal.
    public var summary: String {
        func t(_ d: Duration?) -> String { d.map { ($0 - firstSignalAt).humanReadable } ?? "—" }
        return "host \(host): condemned +\(t(condemnedAt)), off (\(confirmedBy.rawValue)) +\(t(fencedAt)), "
            + "restarts issued +\(t(restartsIssuedAt)), started +\(t(startedAt)), healthy +\(t(healthyAt)), "
            + "in IPVS +\(t(inIPVSAt)), restored +\(t(restoredAt)); moves: "
            + (moves.isEmpty ? "none" : moves.map(\.description).joined(separator: ", "))
    }
}

/// One host as the controller sees it now: its phase, its connection, its last loss.
public struct HostStanding: Sendable, Equatable {
    /// The controller's phase.
    public var phase: HostPhase
    /// Whether its hypervisor answers (nil: no connection attempt reported yet).
    public var connected: Bool?
    /// Why the connection was last lost, in the hypervisor's words ("" when it never was).
    public var lostReason: String
    /// Its last loss, finished or under way.
    public var recovery: HostRecovery?

    /// Creates a value.
    public init(phase: HostPhase, connected: Bool?, lostReason: String, recovery: HostRecovery?) {
        self.phase = phase; self.connected = connected; self.lostReason = lostReason; self.recovery = recovery
    }
}

/// Where a host stands in the controller's eyes.
public enum HostPhase: String, Sendable, Equatable, Codable {
    /// No connection has been tried or reported yet.
    case unknown
    /// Connected; nothing wrong.
    case up
    /// One signal says lost (the connection, or the VMs' checks): cross-checking, not acting.
    case suspect
    /// Both signals say lost, but this director is not the pair's master: waiting to act.
    case condemned
    /// The fence agent is running (`off`, then `status`).
    case fencing
    /// A fence attempt failed; another follows after a delay.
    case fenceRetryWait = "fence retry wait"
    /// Not confirmed off and not going to be by itself (no fence device, or fencing gave up):
    /// nothing is restarted until an operator confirms the host is off.
    case awaitingOperator = "awaiting operator"
    /// Confirmed off; its VMs are being started on the survivors.
    case restoring
    /// Confirmed off and every VM that could move runs elsewhere; waiting for the host to return.
    case restored
    /// Confirmed off, but its VMs could not be re-hosted (or restore was not possible as master).
    case down
}

/// Timers the edge runs for the controller; each has at most one deadline.
public enum HostTimer: Sendable, Hashable, CustomStringConvertible {
    /// A connection lost while the host's VMs still pass: when it fires, report a partition.
    case crossCheck(host: String)
    /// The next fence attempt.
    case fenceRetry(host: String)
    /// Report a restore that has not finished by now.
    case restoreDeadline(host: String)

    /// `crossCheck h1`.
    public var description: String {
        switch self {
        case .crossCheck(let h): "crossCheck \(h)"
        case .fenceRetry(let h): "fenceRetry \(h)"
        case .restoreDeadline(let h): "restoreDeadline \(h)"
        }
    }
}

/// A step the controller took or declined, with its reason: the log line and the `/status` entry.
public struct HostNote: Sendable, Equatable, CustomStringConvertible {
    /// What kind of step, in one stable word.
    public enum Kind: String, Sendable, Equatable, Codable {
        /// The hypervisor answered.
        case connected
        /// One signal says the host is lost; cross-checking.
        case suspect
        /// The connection is gone but the VMs pass: not acting.
        case partition
        /// Every VM fails but the hypervisor answers: not acting.
        case vmsFailing = "vms-failing"
        /// Both signals agree: the host is lost.
        case condemned
        /// This director is (or became) a backup: it watches, the master acts.
        case standby
        /// This director became the master.
        case master
        /// A fence step started.
        case fencing
        /// A fence attempt failed.
        case fenceFailed = "fence-failed"
        /// The host is confirmed off.
        case fenced
        /// Nothing restarts until an operator confirms the host is off.
        case awaitingOperator = "awaiting-operator"
        /// An operator confirmed the host is off.
        case operatorConfirmed = "operator-confirmed"
        /// An operator's confirm-off was refused.
        case confirmRefused = "confirm-refused"
        /// Restarts were issued.
        case restoring
        /// A VM to restart already runs elsewhere: not started again.
        case alreadyRunning = "already-running"
        /// A restart failed.
        case startFailed = "start-failed"
        /// The re-plan found no home for the lost VMs.
        case cannotRehost = "cannot-rehost"
        /// Redundancy is restored.
        case restored
        /// A restore is taking longer than its deadline.
        case restoreLate = "restore-late"
        /// A lost host answers again.
        case hostBack = "host-back"
        /// A returned host held a copy of a VM that runs elsewhere: destroyed and undefined.
        case staleCopy = "stale-copy"
        /// A VM runs on two hosts at once.
        case runningTwice = "running-twice"
    }

    /// The kind.
    public var kind: Kind
    /// The host it concerns.
    public var host: String
    /// The step and its reason, for people.
    public var message: String

    /// Creates a note.
    public init(_ kind: Kind, host: String, _ message: String) {
        self.kind = kind; self.host = host; self.message = message
    }

    /// `[condemned] h1: ...`.
    public var description: String { "[\(kind.rawValue)] \(host): \(message)" }
}

/// Decides what to do about lost hypervisor hosts: a pure state machine.
///
/// Rules (docs/hosts.md):
/// - A host is lost only when two independent signals agree: its hypervisor connection is gone
///   (closed, or silent past libvirt's keepalive) **and** every VM the plan puts on it fails its
///   health check. The connection alone may be a management-network partition or a dead
///   hypervisor daemon with healthy guests; failing VMs alone may be a guest or service fault.
///   Either alone is reported, never acted on. When the connection drops first, the VMs are
///   probed at once, so a crash is condemned in one probe's time rather than after `fall` checks.
/// - Only the director pair's master acts (fences, starts, destroys, undefines). A backup keeps
///   the same view and reports what it would do.
/// - A lost host is fenced through its fence agent and counts as off only when `off` succeeded
///   **and** `status` then reported off. A timeout is a failure. Failed attempts are retried
///   (``Configuration/fenceAttempts``), then the controller waits for an operator.
/// - No VM of a host that is not confirmed off is ever restarted elsewhere. Without a fence device
///   the controller reports and waits for `tandemctl hosts confirm-off HOST`, as Pacemaker does
///   without STONITH.
/// - Once the host is off, its VMs are re-placed by ``Configuration/replan`` (fewest moves, every
///   other VM stays) and all restarted at once. Redundancy counts as restored only when every
///   restarted VM passed its health check and, for a real server of a virtual service, is back in
///   IPVS.
/// - When a lost host returns, each of its old domains that now belongs elsewhere is destroyed (if
///   it runs) and undefined, so none of them can start a second copy later; VMs the plan still puts
///   on it (they could not move) are started there again.
///
/// Every event carries `now`, the edge's monotonic time; timers are actions, deadlines absolute.
public struct HostController: Sendable {
    /// What the controller is told about the site.
    public struct Configuration: Sendable {
        /// Every host of the site.
        public var hosts: [String]
        /// The hosts that have a fence device; the others wait for an operator when lost.
        public var fenceDevices: Set<String>
        /// VMs that are real servers of a virtual service: they must be back in IPVS, not only
        /// healthy, before redundancy counts as restored.
        public var servedVMs: Set<String>
        /// After a connection loss with VMs still passing, how long to wait before reporting a
        /// partition (the VMs keep being watched after that; the report is made once).
        public var crossCheckWindow: Duration
        /// Fence attempts before giving up and waiting for an operator (at least 1).
        public var fenceAttempts: Int
        /// Per host, fence attempts that differ from ``fenceAttempts`` (a topology's `fence.attempts`).
        public var fenceAttemptsByHost: [String: Int] = [:]
        /// Pause between fence attempts.
        public var fenceRetryDelay: Duration
        /// A restore still unfinished this long after its restarts were issued is reported.
        public var restoreDeadline: Duration
        /// Re-places the VMs of a lost host (the current plan, the host) → the new plan; only the
        /// lost host's VMs may move. ``Planner/replan(_:current:without:limits:)`` in production.
        public var replan: @Sendable (PlacementPlan, String) -> Result<PlacementPlan, PlacementFailure>

        /// Creates a configuration.
        public init(hosts: [String], fenceDevices: Set<String>, servedVMs: Set<String> = [],
                    crossCheckWindow: Duration = .seconds(3), fenceAttempts: Int = 3,
                    fenceRetryDelay: Duration = .seconds(2), restoreDeadline: Duration = .seconds(30),
                    replan: @escaping @Sendable (PlacementPlan, String) -> Result<PlacementPlan, PlacementFailure>) {
            self.hosts = hosts; self.fenceDevices = fenceDevices; self.servedVMs = servedVMs
            self.crossCheckWindow = crossCheckWindow; self.fenceAttempts = max(1, fenceAttempts)
            self.fenceRetryDelay = fenceRetryDelay; self.restoreDeadline = restoreDeadline; self.replan = replan
        }

        /// Fence attempts for `host` before it waits for an operator (at least 1).
        public func fenceAttempts(for host: String) -> Int { max(1, fenceAttemptsByHost[host] ?? fenceAttempts) }
    }

    /// Inputs.
    public enum Event: Sendable, Equatable {
        /// The director pair's election: whether this director is the master.
        case mastership(isMaster: Bool, now: Duration)
        /// The host's hypervisor answered (first connection or reconnection), with its domains.
        case connected(host: String, domains: [DomainStatus], now: Duration)
        /// The host's connection closed, went silent past keepalive, or could not be opened.
        case connectionLost(host: String, reason: String, now: Duration)
        /// A domain of a connected host changed state (a lifecycle event).
        case domainChanged(host: String, domain: String, state: DomainState, now: Duration)
        /// A VM's health: its check's verdict (a probe, or rise/fall of the regular checks).
        case vmHealth(vm: String, passing: Bool, now: Duration)
        /// A real server is (or is no longer) in service in IPVS (weight above 0).
        case vmInIPVS(vm: String, inService: Bool, now: Duration)
        /// A ``Action/fence(host:action:)`` finished.
        case fenceFinished(host: String, action: FenceAction, outcome: FenceOutcome, now: Duration)
        /// An operator confirmed the host is off (`tandemctl hosts confirm-off HOST`).
        case operatorConfirmedOff(host: String, now: Duration)
        /// A ``Action/startVM(vm:on:)`` succeeded.
        case vmStarted(vm: String, host: String, now: Duration)
        /// A ``Action/startVM(vm:on:)`` failed.
        case vmStartFailed(vm: String, host: String, reason: String, now: Duration)
        /// A timer the controller set reached its deadline.
        case timerFired(HostTimer, now: Duration)
    }

    /// What the edge must do, in order (actions on different hosts may run in parallel).
    public enum Action: Sendable, Equatable {
        /// Check these VMs now and answer with ``Event/vmHealth(vm:passing:now:)`` for each.
        case probe(host: String, vms: [String])
        /// Run the host's fence agent with this action; answer with ``Event/fenceFinished(host:action:outcome:now:)``.
        case fence(host: String, action: FenceAction)
        /// Define the VM's domain on the host if it is not defined there, then start it; answer with
        /// ``Event/vmStarted(vm:host:now:)`` or ``Event/vmStartFailed(vm:host:reason:now:)``.
        case startVM(vm: String, on: String)
        /// Stop the VM's domain on the host at once (a stale copy).
        case destroyVM(vm: String, on: String)
        /// Remove the VM's domain definition from the host, so it can never start there again.
        case undefineVM(vm: String, on: String)
        /// The placement changed: where every VM runs from now on.
        case adoptPlan(PlacementPlan)
        /// Arm (or re-arm) a timer at an absolute deadline.
        case setTimer(HostTimer, deadline: Duration)
        /// Disarm a timer.
        case cancelTimer(HostTimer)
        /// Report a step and its reason (log, `/status`).
        case note(HostNote)
        /// Redundancy is restored after the loss of a host.
        case restored(HostRecovery)
    }

    /// One host's bookkeeping.
    struct HostRecord: Sendable {
        var phase: HostPhase = .unknown
        /// nil until the first connect attempt reports.
        var connected: Bool?
        var connectionLostAt: Duration?
        var lostReason = ""
        /// When every VM of the host began failing, if they all are.
        var allFailingSince: Duration?
        var reportedVMsFailing = false
        var reportedPartition = false
        var fenceAttempt = 0
        /// The fence action in flight, if any.
        var fenceStep: FenceAction?
        var firstSignalAt: Duration?
        var condemnedAt: Duration?
        var recovery: HostRecovery?
        /// VMs being restored because this host was lost (or restarted on it when it returned).
        var restoring: Set<String> = []
        /// VMs whose stale domains were removed when this host returned: one that still starts
        /// here (libvirtd's autostart racing the clean-up) is destroyed on sight.
        var staleRemoved: Set<String> = []
    }

    /// One VM's bookkeeping.
    struct VMRecord: Sendable {
        /// nil: no verdict yet.
        var passing: Bool?
        var inIPVS: Bool?
        /// A restore in progress: where, and what has been confirmed.
        var restore: Restore?
    }

    struct Restore: Sendable {
        var target: String
        var started = false
        var healthy = false
        var inIPVS = false
        var failure: String?
    }

    /// The site as configured.
    public let configuration: Configuration
    /// Where every VM runs now (it changes as lost hosts' VMs move).
    public private(set) var plan: PlacementPlan
    /// Whether this director is the pair's master (only the master acts).
    public private(set) var isMaster = false
    var hosts: [String: HostRecord] = [:]
    var vms: [String: VMRecord] = [:]
    /// What each host's hypervisor last said about its domains (name → state).
    var view: [String: [String: DomainState]] = [:]
    /// VMs currently reported running on more than one host (reported once per occurrence).
    var runningTwice: Set<String> = []

    /// Creates a controller for `plan`; it starts as a backup, with every host unknown.
    public init(configuration: Configuration, plan: PlacementPlan) {
        self.configuration = configuration
        self.plan = plan
        for h in configuration.hosts { hosts[h] = HostRecord() }
        for vm in plan.assignment.keys { vms[vm] = VMRecord() }
    }

    /// The phase of `host` (nil for a host the site does not have).
    public func phase(of host: String) -> HostPhase? { hosts[host]?.phase }

    /// The recovery record of `host`'s last loss, complete or in progress.
    public func recovery(of host: String) -> HostRecovery? { hosts[host]?.recovery }

    /// Where `host` stands now (nil for a host the site does not have): for `/status`.
    public func standing(of host: String) -> HostStanding? {
        hosts[host].map { HostStanding(phase: $0.phase, connected: $0.connected, lostReason: $0.lostReason, recovery: $0.recovery) }
    }

    /// The hosts the hypervisors report `vm` alive on right now.
    public func hostsRunning(_ vm: String) -> [String] {
        view.filter { $0.value[vm]?.isAlive == true }.map(\.key).sorted()
    }

    /// Feeds one event and returns what to do.
    public mutating func on(_ event: Event) -> [Action] {
        switch event {
        case .mastership(let master, let now): return mastership(master, now: now)
        case .connected(let h, let domains, let now): return connected(h, domains: domains, now: now)
        case .connectionLost(let h, let reason, let now): return connectionLost(h, reason: reason, now: now)
        case .domainChanged(let h, let d, let state, _):
            guard hosts[h] != nil else { return [] }
            view[h, default: [:]][d] = state
            var out = checkRunningTwice()
            if state.isAlive, hosts[h]?.staleRemoved.contains(d) == true, plan.assignment[d] != h, isMaster {
                out.append(.note(HostNote(.staleCopy, host: h,
                    "\(d) started here after this host's clean-up but belongs to \(plan.assignment[d] ?? "another host"): destroying this copy")))
                out.append(.destroyVM(vm: d, on: h))
                out.append(.undefineVM(vm: d, on: h))
            }
            return out
        case .vmHealth(let vm, let passing, let now): return vmHealth(vm, passing: passing, now: now)
        case .vmInIPVS(let vm, let inService, let now): return vmInIPVS(vm, inService: inService, now: now)
        case .fenceFinished(let h, let action, let outcome, let now): return fenceFinished(h, action, outcome, now: now)
        case .operatorConfirmedOff(let h, let now): return operatorConfirmedOff(h, now: now)
        case .vmStarted(let vm, let h, let now): return vmStarted(vm, on: h, now: now)
        case .vmStartFailed(let vm, let h, let reason, _): return vmStartFailed(vm, on: h, reason: reason)
        case .timerFired(let timer, let now): return timerFired(timer, now: now)
        }
    }

    // MARK: - Mastership

    private mutating func mastership(_ master: Bool, now: Duration) -> [Action] {
        guard master != isMaster else { return [] }
        isMaster = master
        guard master else {
            return [.note(HostNote(.standby, host: "*", "this director is not the pair's master: watching hosts, not acting"))]
        }
        var out: [Action] = [.note(HostNote(.master, host: "*", "this director is the pair's master: acting on lost hosts"))]
        for h in configuration.hosts {
            switch hosts[h]?.phase {
            case .condemned: out += beginFencing(h, now: now)
            case .down where hosts[h]?.recovery != nil && hosts[h]?.restoring.isEmpty == true
                && !plan.vms(on: h).isEmpty:
                out += restore(h, now: now)
            default: break
            }
        }
        return out
    }

    // MARK: - Connection

    private mutating func connected(_ h: String, domains: [DomainStatus], now: Duration) -> [Action] {
        guard var r = hosts[h] else { return [] }
        view[h] = Dictionary(domains.map { ($0.name, $0.state) }, uniquingKeysWith: { a, _ in a })
        r.connected = true
        r.connectionLostAt = nil
        r.reportedPartition = false
        var out: [Action] = []
        switch r.phase {
        case .unknown, .up:
            r.phase = .up
            out.append(.note(HostNote(.connected, host: h, "connected; \(domains.count) domains")))
        case .suspect, .condemned:
            r.phase = .up
            r.firstSignalAt = nil; r.condemnedAt = nil
            out.append(.cancelTimer(.crossCheck(host: h)))
            out.append(.note(HostNote(.hostBack, host: h, "connection back before the host was fenced: not lost")))
        case .fencing:
            // The fence agent is already cutting the power: the host will drop again.
            out.append(.note(HostNote(.hostBack, host: h, "connection back while fencing; the fence goes on")))
        case .fenceRetryWait, .awaitingOperator:
            r.phase = .up
            r.firstSignalAt = nil; r.condemnedAt = nil; r.fenceAttempt = 0
            out.append(.cancelTimer(.fenceRetry(host: h)))
            out.append(.note(HostNote(.hostBack, host: h,
                "host answers again; it was never confirmed off, so none of its VMs was restarted elsewhere")))
        case .restoring, .restored, .down:
            // A restore still under way on the survivors goes on; the host itself is usable again.
            r.phase = r.restoring.isEmpty ? .up : .restoring
            r.fenceAttempt = 0
            hosts[h] = r
            // Report first what the hypervisors show now (a stale copy alive is a VM running twice),
            // then remove the stale copies.
            out += checkRunningTwice()
            out += cleanUpReturned(h, domains: domains, now: now)
            return out
        }
        hosts[h] = r
        return out + checkRunningTwice()
    }

    /// A host that was confirmed off is back: none of its old domains may run (or later start) a
    /// second copy of a VM that now runs elsewhere; VMs that could not move start here again.
    private mutating func cleanUpReturned(_ h: String, domains: [DomainStatus], now: Duration) -> [Action] {
        var out: [Action] = [.note(HostNote(.hostBack, host: h, "host is back after being confirmed off"))]
        guard isMaster else {
            out.append(.note(HostNote(.standby, host: h, "not the master: its stale domains are left to the master")))
            return out
        }
        for d in domains.sorted(by: { $0.name < $1.name }) {
            guard vms[d.name] != nil, let owner = plan.assignment[d.name], owner != h else { continue }
            if d.state.isAlive {
                out.append(.note(HostNote(.staleCopy, host: h,
                    "\(d.name) is \(d.state) here but belongs to \(owner) now: destroying this copy")))
                out.append(.destroyVM(vm: d.name, on: h))
                view[h]?[d.name] = .shutOff
            }
            out.append(.undefineVM(vm: d.name, on: h))
            view[h]?[d.name] = nil
            hosts[h]?.staleRemoved.insert(d.name)
        }
        // Domains of VMs that moved away may still appear (autostart after the list was taken).
        for vm in hosts[h]?.recovery?.moves.map(\.vm) ?? [] { hosts[h]?.staleRemoved.insert(vm) }
        // VMs the re-plan could not move are still planned here: bring them back where they are.
        let stranded = plan.vms(on: h).filter { vm in
            view[h]?[vm]?.isAlive != true && hostsRunning(vm).isEmpty
        }
        if !stranded.isEmpty {
            hosts[h]?.restoring.formUnion(stranded)
            hosts[h]?.phase = .restoring
            for vm in stranded {
                vms[vm]?.restore = Restore(target: h)
                vms[vm]?.passing = nil
                vms[vm]?.inIPVS = nil
                out.append(.startVM(vm: vm, on: h))
            }
            out.append(.note(HostNote(.restoring, host: h, "starting \(stranded.joined(separator: ", ")) again on their own host")))
            out.append(.setTimer(.restoreDeadline(host: h), deadline: now + configuration.restoreDeadline))
        }
        return out
    }

    private mutating func connectionLost(_ h: String, reason: String, now: Duration) -> [Action] {
        guard var r = hosts[h] else { return [] }
        let wasConnected = r.connected
        r.connected = false
        r.lostReason = reason
        // The view stays as last seen: a host that is only cut off still runs what it ran. It is
        // cleared when the host is confirmed off.
        guard r.phase == .unknown || r.phase == .up else { hosts[h] = r; return [] }
        if wasConnected == false { hosts[h] = r; return [] }  // a failed reconnect: nothing new
        r.connectionLostAt = now
        r.firstSignalAt = min(now, r.allFailingSince ?? now)
        r.phase = .suspect
        hosts[h] = r
        let planned = plan.vms(on: h).sorted()
        var out: [Action] = [.note(HostNote(.suspect, host: h, "hypervisor connection lost (\(reason)); checking its VMs"))]
        if let condemned = evaluate(h, now: now) { return out + condemned }
        if !planned.isEmpty {
            out.append(.probe(host: h, vms: planned))
            out.append(.setTimer(.crossCheck(host: h), deadline: now + configuration.crossCheckWindow))
        }
        return out
    }

    // MARK: - Health

    private mutating func vmHealth(_ vm: String, passing: Bool, now: Duration) -> [Action] {
        guard vms[vm] != nil else { return [] }
        let before = vms[vm]?.passing
        vms[vm]?.passing = passing
        var out: [Action] = []
        if var restore = vms[vm]?.restore, passing, !restore.healthy {
            restore.healthy = true
            vms[vm]?.restore = restore
            out += progress(of: ownerOfRestore(vm), now: now)
        }
        guard before != passing, let h = plan.assignment[vm], let r = hosts[h] else { return out }
        let planned = plan.vms(on: h)
        let allFailing = !planned.isEmpty && planned.allSatisfy { vms[$0]?.passing == false }
        if allFailing && r.allFailingSince == nil { hosts[h]?.allFailingSince = now }
        if !allFailing { hosts[h]?.allFailingSince = nil; hosts[h]?.reportedVMsFailing = false }
        if let condemned = evaluate(h, now: now) { return out + condemned }
        if allFailing, r.connected == true, r.phase == .up, hosts[h]?.reportedVMsFailing == false {
            hosts[h]?.reportedVMsFailing = true
            out.append(.note(HostNote(.vmsFailing, host: h,
                "every VM here fails its check but the hypervisor answers: a guest or service fault, not a host loss")))
        }
        return out
    }

    /// Condemns `h` if both signals agree; returns nil when they do not.
    private mutating func evaluate(_ h: String, now: Duration) -> [Action]? {
        guard var r = hosts[h], r.phase == .suspect || r.phase == .up, r.connected == false,
              let failingSince = r.allFailingSince else { return nil }
        r.phase = .condemned
        r.condemnedAt = now
        r.firstSignalAt = min(r.connectionLostAt ?? now, failingSince)
        r.fenceAttempt = 0
        hosts[h] = r
        var out: [Action] = [.cancelTimer(.crossCheck(host: h)),
                             .note(HostNote(.condemned, host: h,
                                            "lost: connection gone (\(r.lostReason)) and every VM fails its check (\(plan.vms(on: h).sorted().joined(separator: ", ")))"))]
        if isMaster {
            out += beginFencing(h, now: now)
        } else {
            out.append(.note(HostNote(.standby, host: h, "not the master: the master fences and restores")))
        }
        return out
    }

    private mutating func vmInIPVS(_ vm: String, inService: Bool, now: Duration) -> [Action] {
        guard vms[vm] != nil else { return [] }
        vms[vm]?.inIPVS = inService
        guard inService, var restore = vms[vm]?.restore, !restore.inIPVS else { return [] }
        restore.inIPVS = true
        vms[vm]?.restore = restore
        return progress(of: ownerOfRestore(vm), now: now)
    }

    // MARK: - Fencing

    private mutating func beginFencing(_ h: String, now: Duration) -> [Action] {
        guard configuration.fenceDevices.contains(h) else {
            hosts[h]?.phase = .awaitingOperator
            return [.note(HostNote(.awaitingOperator, host: h,
                "no fence device: nothing of it restarts until an operator makes sure it is off and runs 'tandemctl hosts confirm-off \(h)'"))]
        }
        hosts[h]?.phase = .fencing
        hosts[h]?.fenceAttempt += 1
        hosts[h]?.fenceStep = .off
        let attempt = hosts[h]?.fenceAttempt ?? 1
        return [.note(HostNote(.fencing, host: h, "fencing: off (attempt \(attempt) of \(configuration.fenceAttempts(for: h)))")),
                .fence(host: h, action: .off)]
    }

    private mutating func fenceFinished(_ h: String, _ action: FenceAction, _ outcome: FenceOutcome, now: Duration) -> [Action] {
        guard let r = hosts[h], r.phase == .fencing, r.fenceStep == action else { return [] }
        switch (action, outcome) {
        case (.off, .succeeded):
            hosts[h]?.fenceStep = .status
            return [.note(HostNote(.fencing, host: h, "off succeeded; verifying with status")), .fence(host: h, action: .status)]
        case (.status, .power(.off)):
            hosts[h]?.fenceStep = nil
            return confirmedOff(h, by: .fenceAgent, now: now)
        case (.status, .power(.on)):
            return fenceFailed(h, "off reported success but status says the power is on", now: now)
        case (.off, .failed(let reason)):
            return fenceFailed(h, reason, now: now)
        case (.off, _):
            return fenceFailed(h, "off \(outcome)", now: now)
        default:
            return fenceFailed(h, "status could not confirm off: \(outcome)", now: now)
        }
    }

    private mutating func fenceFailed(_ h: String, _ reason: String, now: Duration) -> [Action] {
        hosts[h]?.fenceStep = nil
        let attempt = hosts[h]?.fenceAttempt ?? 1
        if attempt < configuration.fenceAttempts(for: h) {
            hosts[h]?.phase = .fenceRetryWait
            return [.note(HostNote(.fenceFailed, host: h,
                                   "fence attempt \(attempt) failed: \(reason); retrying in \(configuration.fenceRetryDelay.humanReadable); nothing restarts meanwhile")),
                    .setTimer(.fenceRetry(host: h), deadline: now + configuration.fenceRetryDelay)]
        }
        hosts[h]?.phase = .awaitingOperator
        return [.note(HostNote(.fenceFailed, host: h, "fence attempt \(attempt) failed: \(reason)")),
                .note(HostNote(.awaitingOperator, host: h,
                               "not confirmed off after \(attempt) fence attempts: nothing of it restarts until an operator makes sure it is off and runs 'tandemctl hosts confirm-off \(h)'"))]
    }

    private mutating func operatorConfirmedOff(_ h: String, now: Duration) -> [Action] {
        guard let r = hosts[h] else { return [] }
        switch r.phase {
        case .suspect, .condemned, .fencing, .fenceRetryWait, .awaitingOperator:
            var out: [Action] = [.cancelTimer(.crossCheck(host: h)), .cancelTimer(.fenceRetry(host: h)),
                                 .note(HostNote(.operatorConfirmed, host: h, "an operator confirmed the host is off"))]
            if hosts[h]?.condemnedAt == nil { hosts[h]?.condemnedAt = now }
            if hosts[h]?.firstSignalAt == nil { hosts[h]?.firstSignalAt = now }
            hosts[h]?.fenceStep = nil
            out += confirmedOff(h, by: .operatorConfirmed, now: now)
            return out
        case .unknown, .up:
            return [.note(HostNote(.confirmRefused, host: h,
                                   "confirm-off refused: the host's hypervisor \(r.connected == true ? "answers" : "has not been seen lost"), so it is not off"))]
        case .restoring, .restored, .down:
            return [.note(HostNote(.confirmRefused, host: h, "already confirmed off"))]
        }
    }

    private mutating func confirmedOff(_ h: String, by who: HostRecovery.Confirmation, now: Duration) -> [Action] {
        guard let r = hosts[h] else { return [] }
        hosts[h]?.recovery = HostRecovery(host: h, firstSignalAt: r.firstSignalAt ?? now, condemnedAt: r.condemnedAt ?? now,
                                          fencedAt: now, confirmedBy: who, restartsIssuedAt: now, moves: [])
        hosts[h]?.phase = .down
        // What ran there is gone: no domain of it is alive any more.
        view[h] = nil
        var out: [Action] = [.note(HostNote(.fenced, host: h, who == .fenceAgent
                                            ? "confirmed off: off succeeded and status reports off"
                                            : "confirmed off by an operator"))]
        if isMaster { out += restore(h, now: now) }
        return out
    }

    // MARK: - Restore

    private mutating func restore(_ h: String, now: Duration) -> [Action] {
        let lost = plan.vms(on: h).sorted()
        guard !lost.isEmpty else {
            hosts[h]?.phase = .restored
            return [.note(HostNote(.restored, host: h, "no VM ran there: nothing to restore"))]
        }
        let next: PlacementPlan
        switch configuration.replan(plan, h) {
        case .failure(let f):
            hosts[h]?.phase = .down
            return [.note(HostNote(.cannotRehost, host: h,
                                   "its VMs (\(lost.joined(separator: ", "))) cannot move: \(f.message) — \(f.hint); they stay down until the host returns"))]
        case .success(let p): next = p
        }
        let moves = lost.compactMap { vm in next.assignment[vm].flatMap { $0 == h ? nil : Move(vm: vm, from: h, to: $0) } }
        plan = next
        hosts[h]?.phase = .restoring
        hosts[h]?.restoring = Set(moves.map(\.vm))
        hosts[h]?.recovery?.moves = moves
        hosts[h]?.recovery?.restartsIssuedAt = now
        var out: [Action] = [.adoptPlan(next),
                             .note(HostNote(.restoring, host: h, "restarting on survivors: \(moves.map(\.description).joined(separator: ", "))"))]
        for m in moves {
            vms[m.vm]?.passing = nil
            vms[m.vm]?.inIPVS = nil
            var restore = Restore(target: m.to)
            let running = hostsRunning(m.vm).filter { $0 != h }
            if !running.isEmpty {
                // Something already runs it (an operator, or an earlier run): a start would be a second copy.
                restore.started = true
                out.append(.note(HostNote(.alreadyRunning, host: h,
                                          "\(m.vm) already runs on \(running.joined(separator: ", ")): not starting another copy")))
            } else {
                out.append(.startVM(vm: m.vm, on: m.to))
            }
            vms[m.vm]?.restore = restore
        }
        out.append(.setTimer(.restoreDeadline(host: h), deadline: now + configuration.restoreDeadline))
        return out
    }

    /// The host whose restore `vm` belongs to.
    private func ownerOfRestore(_ vm: String) -> String? {
        hosts.first { $0.value.restoring.contains(vm) }?.key
    }

    private mutating func vmStarted(_ vm: String, on h: String, now: Duration) -> [Action] {
        view[h, default: [:]][vm] = .running
        guard var restore = vms[vm]?.restore, restore.target == h else { return checkRunningTwice() }
        restore.started = true
        restore.failure = nil
        vms[vm]?.restore = restore
        return checkRunningTwice() + progress(of: ownerOfRestore(vm), now: now)
    }

    private mutating func vmStartFailed(_ vm: String, on h: String, reason: String) -> [Action] {
        guard var restore = vms[vm]?.restore, restore.target == h else { return [] }
        restore.failure = reason
        vms[vm]?.restore = restore
        return [.note(HostNote(.startFailed, host: ownerOfRestore(vm) ?? h, "\(vm) did not start on \(h): \(reason)"))]
    }

    /// Records restore progress of host `h` and finishes it when every member is back.
    private mutating func progress(of owner: String?, now: Duration) -> [Action] {
        guard let h = owner, var r = hosts[h], r.phase == .restoring, var rec = r.recovery else { return [] }
        let members = r.restoring.compactMap { vm in vms[vm]?.restore.map { (vm: vm, restore: $0) } }
        if rec.startedAt == nil, members.allSatisfy({ $0.restore.started }) { rec.startedAt = now }
        if rec.healthyAt == nil, members.allSatisfy({ $0.restore.healthy }) { rec.healthyAt = now }
        let served = members.filter { configuration.servedVMs.contains($0.vm) }
        if rec.inIPVSAt == nil, !served.isEmpty, served.allSatisfy({ $0.restore.inIPVS }) { rec.inIPVSAt = now }
        r.recovery = rec
        let done = members.allSatisfy { $0.restore.started && $0.restore.healthy
            && ($0.restore.inIPVS || !configuration.servedVMs.contains($0.vm)) }
        guard done else { hosts[h] = r; return [] }
        rec.restoredAt = now
        r.recovery = rec
        for vm in r.restoring { vms[vm]?.restore = nil }
        r.restoring = []
        // A host that returned and restarted its stranded VMs is up again; a lost one stays out.
        r.phase = r.connected == true ? .up : .restored
        hosts[h] = r
        return [.cancelTimer(.restoreDeadline(host: h)),
                .note(HostNote(.restored, host: h, "redundancy restored: \(rec.summary)")),
                .restored(rec)]
    }

    // MARK: - Timers

    private mutating func timerFired(_ timer: HostTimer, now: Duration) -> [Action] {
        switch timer {
        case .crossCheck(let h):
            guard let r = hosts[h], r.phase == .suspect, r.connected == false, !r.reportedPartition else { return [] }
            hosts[h]?.reportedPartition = true
            let passing = plan.vms(on: h).sorted().filter { vms[$0]?.passing != false }
            return [.note(HostNote(.partition, host: h,
                                   "connection lost for \(configuration.crossCheckWindow.humanReadable) but \(passing.joined(separator: ", ")) still pass: a partition or a hypervisor daemon fault, not a lost host; not fencing"))]
        case .fenceRetry(let h):
            guard hosts[h]?.phase == .fenceRetryWait else { return [] }
            guard isMaster else {
                hosts[h]?.phase = .condemned
                return [.note(HostNote(.standby, host: h, "not the master any more: the master fences"))]
            }
            return beginFencing(h, now: now)
        case .restoreDeadline(let h):
            guard let r = hosts[h], r.phase == .restoring else { return [] }
            let pending = r.restoring.sorted().compactMap { vm -> String? in
                guard let s = vms[vm]?.restore else { return nil }
                if let f = s.failure { return "\(vm) on \(s.target): start failed (\(f))" }
                if !s.started { return "\(vm) on \(s.target): not started" }
                if !s.healthy { return "\(vm) on \(s.target): not healthy" }
                if configuration.servedVMs.contains(vm) && !s.inIPVS { return "\(vm) on \(s.target): not back in IPVS" }
                return nil
            }
            return [.note(HostNote(.restoreLate, host: h,
                                   "restore not finished after \(configuration.restoreDeadline.humanReadable): \(pending.joined(separator: "; "))"))]
        }
    }

    // MARK: - Running twice

    /// Reports each VM that the hypervisors show alive on more than one host (once per occurrence).
    private mutating func checkRunningTwice() -> [Action] {
        var out: [Action] = []
        var now: Set<String> = []
        for vm in vms.keys.sorted() {
            let where_ = hostsRunning(vm)
            guard where_.count > 1 else { continue }
            now.insert(vm)
            if !runningTwice.contains(vm) {
                out.append(.note(HostNote(.runningTwice, host: where_.joined(separator: ","),
                                          "\(vm) runs on \(where_.joined(separator: " and ")) at the same time")))
            }
        }
        runningTwice = now
        return out
    }
}
