import DaemonAPI
import Fencing
import Foundation
import Health
import HealthCheck
import HostControl
import Hosts
import Hypervisor
import Logging
import Net
import Placement
import Reconcile
import RingMonitoring
import ServiceLifecycle
import Synchronization
import Topology

/// The host controller as a part of `tandemd` (docs/hosts.md): a ``HostControl`` for the hosts of
/// the topology that have a `libvirt:` key, fed by the daemon — whether this director is the
/// pair's master, the members' health verdicts, which members serve in IPVS — and shown in
/// `/status`, `/metrics` and the log.
///
/// Both directors run it with the same plan; only the pair's master acts (fences, starts,
/// destroys). A host whose hypervisor cannot be reached at start is not fatal: it shows as lost
/// in `/status` and is reconnected every ``HostControlSettings/reconnectInterval``.
public final class DaemonHosts: Service, Sendable {
    /// One watched host, as the topology describes it.
    struct Watched: Sendable {
        var name: String
        var uri: String
        var fenceAgent: String?
    }

    /// What the notes said about each host, for `/status`.
    private struct Seen: Sendable {
        var lastNote: HostsReport.Note?
        var fenceState: String?
    }

    /// The controller loop; nil when the placement could not be computed (see ``problem``).
    public let control: HostControl?
    /// The pair's election as this director sees it.
    public let mastership: PairMastership
    /// Why the controller does not run, or nil.
    public let problem: String?
    let watched: [Watched]
    let ignored: [String]
    private let hosts: [any HypervisorHost]
    private let seen = Mutex<[String: Seen]>([:])
    private let metrics: DaemonMetrics
    /// The wall clock at the controller's time zero: its times (durations since its start) become dates.
    private let wallZero: Date
    private let logger: Logger

    /// Builds the host controller for `topology`, or returns nil when no host has a `libvirt:` key.
    ///
    /// - `definitions`: each VM's domain XML (for a start on a host that does not define it).
    /// - `connect`: the hypervisor edge of a host (libvirt in production; recording hosts in tests).
    /// - `fencer`: runs fence agents (nil: ``AgentFencer`` with the topology's `fence:` devices).
    /// - `adjust`: changes to the controller's timing (tests).
    ///
    /// The controller starts from the plan the placement planner computes for the topology (what
    /// `tandemctl plan` prints), not from what the hosts happen to run. The plan is the site's
    /// intent and the same on both directors, whatever each one can reach at start, so a handover
    /// acts on the same picture; it needs no host to answer before the controller can run. A VM
    /// found running elsewhere is still never started a second time (the controller checks what
    /// every hypervisor reports before a restart), and `tandemctl hosts status` shows the difference.
    public static func make<C: Clock>(
        topology: Topology, daemon: TandemDaemon<C>, definitions: [String: DomainDefinition], mastership: PairMastership,
        // No regular watch of its own: the daemon's health checks report every VM's verdict
        // (attachHostSignals below), and a second prober would check each VM twice.
        settings: HostControlSettings = HostControlSettings(checkInterval: nil),
        connect: @escaping @Sendable (XenHost, Logger) -> any HypervisorHost = { h, logger in
            LibvirtHost(name: h.name, uri: h.libvirt ?? "", logger: logger)
        },
        fencer: (any HostFencer)? = nil,
        adjust: @Sendable (inout HostController.Configuration) -> Void = { _ in },
        logger: Logger
    ) -> DaemonHosts? where C.Duration == Duration {
        var logger = logger
        logger[metadataKey: "component"] = "hosts"
        let withURI = topology.hosts.filter { $0.libvirt != nil }
        guard !withURI.isEmpty else { return nil }
        let ignored = topology.hosts.filter { $0.libvirt == nil }.map(\.name)
        if !ignored.isEmpty {
            logger.notice("hosts without a libvirt: key are not watched", metadata: ["hosts": "\(ignored.joined(separator: ", "))"])
        }
        let watched = withURI.map { Watched(name: $0.name, uri: $0.libvirt!, fenceAgent: $0.fence?.agent) }
        let plan: PlacementPlan
        switch Planner.plan(topology) {
        case .success(let p): plan = p
        case .failure(let f):
            let problem = "the host controller does not run: the placement cannot be computed: \(f.message) — \(f.hint)"
            logger.error("\(problem)")
            return DaemonHosts(control: nil, hosts: [], mastership: mastership, problem: problem, watched: watched, ignored: ignored,
                               metrics: daemon.metrics, logger: logger)
        }
        var devices: [String: FenceDevice] = [:]
        var attempts: [String: Int] = [:]
        for h in withURI {
            guard let f = h.fence else { continue }
            devices[h.name] = FenceDevice(f)
            attempts[h.name] = f.attempts
        }
        // A real server of an ordinary service must be back in IPVS before redundancy counts as
        // restored; a single-writer service keeps all but its writer at weight 0 by design, so its
        // members are judged by their health alone.
        let served = Set(topology.services.filter { !SingleWriterController.isSingleWriter($0) }.flatMap { $0.members.compactMap(\.vmName) })
        let checked = Set(topology.services.flatMap { $0.members.compactMap(\.vmName) })
        var config = HostController.Configuration(
            hosts: withURI.map(\.name), fenceDevices: Set(devices.keys), servedVMs: served,
            // A lost host's VMs restart only on hosts this director can start them on (a `libvirt:` key).
            replan: { current, lost in Planner.replan(topology, current: current, without: lost, notTargets: Set(ignored)) })
        config.fenceAttemptsByHost = attempts
        adjust(&config)
        let unchecked = plan.assignment.keys.filter { !checked.contains($0) }.sorted()
        if !unchecked.isEmpty {
            logger.notice("VMs without a health check never count as failing: a host running only those is not declared lost by itself (confirm-off is the way)",
                          metadata: ["vms": "\(unchecked.joined(separator: ", "))"])
        }
        let hosts = withURI.map { connect($0, logger) }
        let meteredFencer = MeteredFencer(inner: fencer ?? AgentFencer(devices: devices, logger: logger), metrics: daemon.metrics)
        let control = HostControl(controller: HostController(configuration: config, plan: plan), hosts: hosts, fencer: meteredFencer,
                                  probe: MemberCheckProbe(topology: topology, makeChecker: daemon.makeChecker),
                                  definitions: { definitions[$0] }, settings: settings, clock: ContinuousClock(), logger: logger)
        daemon.attachHostSignals(vms: checked, health: { control.report(vm: $0, passing: $1) },
                                 inIPVS: { control.report(vm: $0, inIPVS: $1) })
        for w in watched {
            daemon.metrics.hostRecovered(w.name, seconds: nil)
            for a in [FenceAction.off, .status] {
                for r in MeteredFencer.results(of: a) { daemon.metrics.hostFence(w.name, action: a.rawValue, result: r, increment: false) }
            }
        }
        logger.notice("host controller", metadata: [
            "hosts": "\(watched.map { "\($0.name)=\($0.uri)" }.joined(separator: " "))",
            "fence": "\(watched.map { "\($0.name):\($0.fenceAgent ?? "operator")" }.joined(separator: " "))",
            "mastership": "\(mastership.summary)",
        ])
        return DaemonHosts(control: control, hosts: hosts, mastership: mastership, problem: nil, watched: watched, ignored: ignored,
                           metrics: daemon.metrics, logger: logger)
    }

    private init(control: HostControl?, hosts: [any HypervisorHost], mastership: PairMastership, problem: String?,
                 watched: [Watched], ignored: [String], metrics: DaemonMetrics, logger: Logger) {
        self.control = control; self.hosts = hosts; self.mastership = mastership; self.problem = problem
        self.watched = watched; self.ignored = ignored; self.metrics = metrics; self.logger = logger
        wallZero = Date()
    }

    /// Runs the controller, follows the pair's election (at start and on every change) and records
    /// every note and recovery, until graceful shutdown. Then closes the hypervisor connections.
    public func run() async throws {
        guard let control else {
            try? await gracefulShutdown()
            return
        }
        await withDiscardingTaskGroup { group in
            group.addTask { for await n in control.notes { self.noted(n) } }
            group.addTask { for await r in control.recoveries { self.recovered(r) } }
            group.addTask {
                for await master in self.mastership.updates() { control.setMastership(master) }
            }
            try? await control.run()
            group.cancelAll()
        }
        for h in hosts { await h.close() }
    }

    private func noted(_ note: HostNote) {
        let entry = HostsReport.Note(at: TandemDaemon<ContinuousClock>.iso(Date()), kind: note.kind.rawValue, message: note.message)
        // "*": a note about this director (master, standby); "h1,h2": a VM running on both.
        let names = note.host == "*" ? watched.map(\.name) : note.host.split(separator: ",").map(String.init)
        let fenceStep: Set<HostNote.Kind> = [.fencing, .fenceFailed, .fenced, .awaitingOperator, .operatorConfirmed]
        seen.withLock { s in
            for h in names {
                s[h, default: Seen()].lastNote = entry
                if fenceStep.contains(note.kind) { s[h, default: Seen()].fenceState = note.message }
            }
        }
    }

    private func recovered(_ r: HostRecovery) {
        metrics.hostRecovered(r.host, seconds: r.restoredAt.map { ($0 - r.firstSignalAt).inSeconds })
    }

    /// Every phase name, for the `tandem_host_phase` series.
    static let phaseNames: [String] = [HostPhase.unknown, .up, .suspect, .condemned, .fencing, .fenceRetryWait, .awaitingOperator,
                                       .restoring, .restored, .down].map(\.rawValue)

    /// The `hosts` part of `/status`.
    public func report() -> HostsReport {
        let standings = control?.standings() ?? [:]
        let seen = seen.withLock { $0 }
        let rows = watched.map { w -> HostsReport.Host in
            let st = standings[w.name]
            let connection: String
            switch st?.connected {
            case nil: connection = control == nil ? "not watched" : "not yet connected"
            case true?: connection = "connected"
            case false?: connection = "lost: \(st?.lostReason ?? "")"
            }
            return HostsReport.Host(name: w.name, libvirt: w.uri, phase: (st?.phase ?? .unknown).rawValue, connection: connection,
                                    fenceAgent: w.fenceAgent, fenceState: seen[w.name]?.fenceState, lastNote: seen[w.name]?.lastNote,
                                    lastRecovery: st?.recovery.map(recoveryRow))
        }
        let acting = control?.isMaster ?? false
        return HostsReport(acting: acting, mastership: mastership.summary, hosts: rows, ignored: ignored, problem: problem)
    }

    private func recoveryRow(_ r: HostRecovery) -> HostsReport.Recovery {
        func ms(_ d: Duration?) -> Double? { d.map { ($0 - r.firstSignalAt).inMilliseconds } }
        let first = wallZero.addingTimeInterval(r.firstSignalAt.inSeconds)
        return HostsReport.Recovery(firstSignalAt: TandemDaemon<ContinuousClock>.iso(first), confirmedBy: r.confirmedBy.rawValue,
                                    condemnedMs: ms(r.condemnedAt) ?? 0, fencedMs: ms(r.fencedAt) ?? 0,
                                    restartsIssuedMs: ms(r.restartsIssuedAt) ?? 0, startedMs: ms(r.startedAt), healthyMs: ms(r.healthyAt),
                                    inIPVSMs: ms(r.inIPVSAt), restoredMs: ms(r.restoredAt),
                                    moves: r.moves.map { HostsReport.Move(vm: $0.vm, from: $0.from ?? r.host, to: $0.to) }, summary: r.summary)
    }

    /// Brings the host gauges of `/metrics` up to date.
    public func refreshMetrics() {
        let standings = control?.standings() ?? [:]
        for w in watched {
            metrics.host(w.name, phase: (standings[w.name]?.phase ?? .unknown).rawValue, of: Self.phaseNames,
                         connected: standings[w.name]?.connected == true)
        }
    }

    /// An operator confirmed `host` is off (`POST /hosts/HOST/confirm-off`). Accepted for a host that
    /// waits for an operator, and for a suspect one (its loss cannot be proven by the checks: a
    /// partition, or VMs without checks); answered once the controller moved on, or after `wait`.
    public func confirmOff(host: String, wait: Duration = .seconds(2)) async -> Result<ConfirmOffResult, APIProblem> {
        guard let control, let before = control.standings()[host]?.phase else {
            let known = watched.map(\.name)
            return .failure(APIProblem(.unknownHost, known.isEmpty || control == nil
                ? "this tandemd controls no hosts\(problem.map { ": \($0)" } ?? "")"
                : "no host \(host) among the hosts this tandemd watches (\(known.joined(separator: ", ")))"))
        }
        guard before == .awaitingOperator || before == .suspect else {
            return .failure(APIProblem(.hostPhase, "\(host) is \(before.rawValue), not awaiting an operator: nothing to confirm"))
        }
        logger.notice("operator confirmed the host is off", metadata: ["host": "\(host)", "phase": "\(before.rawValue)"])
        control.confirmOff(host: host)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: wait)
        var phase = before
        while clock.now < deadline {
            phase = control.standings()[host]?.phase ?? before
            if phase != before { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return .success(ConfirmOffResult(host: host, phaseBefore: before.rawValue, phase: phase.rawValue, acting: control.isMaster))
    }
}

/// A fencer that counts every run in `tandem_host_fence_total{host,action,result}` and passes it on.
struct MeteredFencer: HostFencer {
    let inner: any HostFencer
    let metrics: DaemonMetrics

    /// The result labels an action can end with.
    static func results(of action: FenceAction) -> [String] {
        action == .status ? ["power_on", "power_off", "failed", "timed_out"] : ["succeeded", "failed", "timed_out"]
    }

    func fence(host: String, action: FenceAction) async -> FenceOutcome {
        let outcome = await inner.fence(host: host, action: action)
        let result: String
        switch outcome {
        case .succeeded: result = "succeeded"
        case .power(let p): result = "power_\(p.rawValue)"
        case .failed: result = "failed"
        case .timedOut: result = "timed_out"
        }
        metrics.hostFence(host, action: action.rawValue, result: result)
        return outcome
    }
}

/// Checks a VM the way the daemon checks it as a member: each of its services' checks (HTTP, TCP…),
/// built by the daemon's own checker factory; it passes when one of them passes. A VM that is a
/// member of no service has no check: it never counts as failing, so it never helps condemn a host.
struct MemberCheckProbe: VMProbe {
    let targets: [String: [CheckTarget]]
    let makeChecker: @Sendable (CheckTarget) -> any HealthChecker

    init(topology: Topology, makeChecker: @escaping @Sendable (CheckTarget) -> any HealthChecker) {
        let vms = Set(topology.vms.map(\.name))
        targets = Dictionary(grouping: CheckTarget.all(in: topology).filter { vms.contains($0.member) }, by: \.member)
        self.makeChecker = makeChecker
    }

    func check(vm: String, timeout: Duration) async -> Bool {
        guard let targets = targets[vm], !targets.isEmpty else { return true }
        for t in targets {
            // A checker of its own per probe: the monitor's checkers belong to its loops (one check
            // at a time each); a held keep-alive connection is closed at once.
            let checker = makeChecker(t)
            let outcome = await checker.check(timeout: timeout)
            (checker as? any ConnectionWatching)?.shutdown()
            if outcome.isSuccess { return true }
        }
        return false
    }
}

/// The daemon's health verdicts and IPVS view, per VM, for the host controller: a VM passes when
/// one of its member checks is up and fails when none is up and one is down (all unknown: no
/// verdict yet); it is in IPVS when one of its services gives it weight. Each is reported when it
/// changes.
final class VMSignals: Sendable {
    struct Sink: Sendable {
        var vms: Set<String>
        var health: @Sendable (String, Bool) -> Void
        var inIPVS: @Sendable (String, Bool) -> Void
    }
    private struct State {
        var sink: Sink?
        /// VM → service → its check's state.
        var checks: [String: [String: RiseFall.State]] = [:]
        var passing: [String: Bool] = [:]
        var inIPVS: [String: Bool] = [:]
    }
    private let state = Mutex(State())

    /// Starts reporting to `sink`, from the members' states as they are.
    func attach(_ sink: Sink, states: [MemberRef: RiseFall.State]) {
        state.withLock { s in
            s.sink = sink
            for (ref, st) in states where sink.vms.contains(ref.member) { s.checks[ref.member, default: [:]][ref.service] = st }
            for vm in s.checks.keys.sorted() { Self.judge(vm, &s) }
        }
    }

    /// A member's check changed state.
    func transition(_ t: HealthTransition) {
        state.withLock { s in
            guard let sink = s.sink, sink.vms.contains(t.key.member) else { return }
            s.checks[t.key.member, default: [:]][t.key.service] = t.to
            Self.judge(t.key.member, &s)
        }
    }

    private static func judge(_ vm: String, _ s: inout State) {
        let states = s.checks[vm]?.values.map { $0 } ?? []
        let verdict: Bool? = states.contains(.up) ? true : (states.contains(.down) ? false : nil)
        guard let verdict, s.passing[vm] != verdict, let sink = s.sink else { return }
        s.passing[vm] = verdict
        sink.health(vm, verdict)
    }

    /// The kernel view changed: `compute` says which VMs serve now; changes are reported.
    func kernelChanged(_ compute: (Set<String>) -> [String: Bool]) {
        state.withLock { s in
            guard let sink = s.sink else { return }
            for (vm, serving) in compute(sink.vms).sorted(by: { $0.key < $1.key }) where s.inIPVS[vm] != serving {
                s.inIPVS[vm] = serving
                sink.inIPVS(vm, serving)
            }
        }
    }
}
