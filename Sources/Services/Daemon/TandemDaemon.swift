import DaemonAPI
import Foundation
import Health
import HealthCheck
import IPVS
import IPVSModel
import Logging
import Net
import Reconcile
import RingHealth
import RingMonitoring
import ServiceLifecycle
import UnixSignals
import Synchronization
import Topology
import TopologyFiles

/// How long a reload may take to read and validate its file before it is abandoned and refused.
let reloadReadBound = Duration.seconds(10)

/// What a reload did.
public enum ReloadOutcome: Sendable {
    /// The new file was applied as a diff.
    case applied(MonitorDiff)
    /// The file was refused; nothing changed. Carries the validator's messages.
    case refused(String)
}

/// A part of `tandemd` that follows a SIGHUP reload beside the health checks and weights: the
/// VRRP instance, the database ring monitor.
///
/// A reload runs in two phases so that a refusal leaves everything as it was. First every follower's
/// ``prepare`` sees the old and the new topology and either throws (the whole reload is refused, with
/// its message) or returns a commit that changes nothing yet. Only when every follower has prepared
/// are the checks, the weights and then each commit applied.
public struct ReloadFollower: Sendable {
    /// Applies a prepared change; returns a one-line summary of what changed, or `nil` for nothing.
    public typealias Commit = @Sendable () async -> String?
    /// Name in logs and in `/status` ("vrrp", "ring").
    public var name: String
    /// Checks the new topology against the old without changing anything.
    public var prepare: @Sendable (_ old: Topology, _ new: Topology) throws -> Commit

    /// Creates a follower.
    public init(name: String, prepare: @escaping @Sendable (_ old: Topology, _ new: Topology) throws -> Commit) {
        self.name = name; self.prepare = prepare
    }
}

/// The daemon's state and the operations on it: the topology in force, operator drains, the
/// health monitor, and the weights and kernel view that follow from them.
///
/// Effects stay at the edges: weights come from the pure ``WeightPolicy``; the kernel is reached
/// only through a ``KernelTable`` by the ``ReconcileService``.
public final class TandemDaemon<C: Clock>: Sendable where C.Duration == Duration {
    private struct State {
        var topology: Topology
        var topologyFile: String
        var drained: Set<MemberRef> = []
        /// The owned services as the kernel held them at the last pass that read or wrote them.
        var kernelView = IPVSState()
        /// The weights in force, kept per service: an event recomputes only its own service.
        var decision = WeightDecision()
        /// Each member's check, for the per-event state lookup.
        var checkKeys: [MemberRef: CheckKey] = [:]
        /// True until the first full pass (start) has run: it reads the whole owned table once.
        var needsSync = true
        /// Per service, how long its last change took from the event to the kernel.
        var eventToKernel: [String: Duration] = [:]
        /// What ``start()`` read of the kernel, for the first full pass (so it is not read twice).
        var startObserved: IPVSState?
        var lastReconcile: String?
        var lastReload: String?
        /// Single-writer database services: their controllers and last decisions (see ``refreshWriters()``).
        var writerControllers: [String: SingleWriterController] = [:]
        var writerDecisions: [String: WriterDecision] = [:]
    }

    /// This director's name (`--node`).
    public let node: String
    /// The health checks.
    public let monitor: HealthMonitor<C>
    /// Metrics.
    public let metrics: DaemonMetrics
    /// The kernel edge.
    public let kernel: any KernelTable
    /// True for `--dry-run-kernel`.
    public let dryRun: Bool
    /// The database ring monitor, when a service checks the ring.
    public let ring: RingMonitor?
    /// Where the daemon records the services it owns in the kernel across restarts (nil: in memory only).
    public let owned: OwnedServicesRecord?
    private let logger: Logger
    private let state: Mutex<State>
    private let startedAt = Date()
    private let triggers: AsyncStream<Void>
    private let triggerContinuation: AsyncStream<Void>.Continuation
    private let pending: PendingServices
    /// What the host controller follows: VMs' health verdicts and whether they serve in IPVS.
    let vmSignals: VMSignals
    /// The checker for a target, as the health monitor builds them (the host controller's VM probe
    /// uses the same).
    public let makeChecker: HealthMonitor<C>.CheckerMaker

    /// Creates the daemon around an already validated topology. Call ``start()`` before running
    /// the services.
    public init(topology: Topology, topologyFile: String, node: String, kernel: any KernelTable, dryRun: Bool,
                clock: C, seed: UInt64, logger: Logger, ring: RingMonitor? = nil, owned: OwnedServicesRecord? = nil,
                makeChecker: @escaping HealthMonitor<C>.CheckerMaker = CheckerFactory.make) {
        self.node = node; self.kernel = kernel; self.dryRun = dryRun; self.logger = logger; self.ring = ring; self.owned = owned
        let metrics = DaemonMetrics()
        self.metrics = metrics
        state = Mutex(State(topology: topology, topologyFile: topologyFile))
        let (stream, cont) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        triggers = stream; triggerContinuation = cont
        let pending = PendingServices()
        self.pending = pending
        self.makeChecker = makeChecker
        let vmSignals = VMSignals()
        self.vmSignals = vmSignals
        monitor = HealthMonitor(clock: clock, seed: seed, makeChecker: makeChecker, logger: logger,
                                onResult: { metrics.checkFinished($0, $1, $2) },
                                onTransition: { t in
                                    metrics.transition(t); pending.insert(t.key.service); cont.yield()
                                    vmSignals.transition(t)
                                })
    }

    /// The topology in force.
    public var topology: Topology { state.withLock { $0.topology } }

    /// Reads what the kernel already has, starts every check in the state that implies (see
    /// ``WeightPolicy/initialStates(_:observed:)``) and asks for the first (full) reconcile.
    public func start() async throws {
        let t = topology
        let keys = t.services.map(TopologyMapping.serviceKey)
        let observed = try await kernel.observe(keys)
        let initial = WeightPolicy.initialStates(t, observed: observed)
        let writers = makeWriterControllers(t, keeping: [:], observed: observed)
        let targets = CheckTarget.all(in: t)
        state.withLock {
            $0.kernelView = observed; $0.writerControllers = writers; $0.needsSync = true; $0.startObserved = observed
            $0.checkKeys = Self.checkKeys(targets)
        }
        metrics.site(members: targets.count)
        monitor.update(targets: targets) { k in initial[MemberRef(service: k.service, member: k.member)] ?? .unknown }
        requestReconcile()
    }

    private static func checkKeys(_ targets: [CheckTarget]) -> [MemberRef: CheckKey] {
        var out: [MemberRef: CheckKey] = [:]
        out.reserveCapacity(targets.count)
        for x in targets { out[MemberRef(service: x.service, member: x.member)] = x.key }
        return out
    }

    /// Asks the reconcile loop for a pass (coalesced: many requests, one pass).
    public func requestReconcile() { triggerContinuation.yield() }

    /// Asks for a pass that recomputes the weights of `service` only.
    public func serviceChanged(_ service: String) { pending.insert(service); triggerContinuation.yield() }

    /// Reconcile requests, for ``ReconcileService``.
    var reconcileRequests: AsyncStream<Void> { triggers }

    /// Health state of every member, by member.
    public func memberStates() -> [MemberRef: RiseFall.State] {
        var out: [MemberRef: RiseFall.State] = [:]
        for (k, h) in monitor.health() { out[MemberRef(service: k.service, member: k.member)] = h.state }
        return out
    }

    /// The current weight decision, computed afresh for every service (status, tests).
    public func decision() -> WeightDecision {
        let (t, drained, writers) = state.withLock { ($0.topology, $0.drained, $0.writerDecisions) }
        return WeightPolicy.decide(t, states: memberStates(), drained: drained, writers: writers)
    }

    // MARK: Single writer

    /// Controllers for the topology's single-writer services (`SingleWriterController.isSingleWriter`),
    /// when a ring monitor runs. An unchanged service keeps its controller (and so its writer); a new
    /// or changed one starts with the writer it had, else the one member the kernel gives weight.
    private func makeWriterControllers(_ t: Topology, keeping old: [String: (VirtualService, SingleWriterController, String?)],
                                       observed: IPVSState?) -> [String: SingleWriterController] {
        guard let ring else { return [:] }
        var out: [String: SingleWriterController] = [:]
        for s in t.services where SingleWriterController.isSingleWriter(s) {
            if let (svc, c, _) = old[s.name], svc == s { out[s.name] = c; continue }
            var writer = old[s.name]?.2
            if writer == nil, let observed {
                let dests = observed.services[TopologyMapping.serviceKey(s)]?.destinations ?? [:]
                let weighted = s.members.filter { m in
                    guard let a = t.address(of: m, in: s) else { return false }
                    return (dests[DestinationKey(address: a, port: m.port)]?.weight ?? 0) > 0
                }
                if weighted.count == 1 { writer = weighted[0].name }
            }
            out[s.name] = SingleWriterController(service: s, monitor: ring, writer: writer)
        }
        return out
    }

    /// Feeds the ring monitor's latest report to every single-writer controller and asks for a
    /// reconcile when a writer's weights changed. Until every node has been probed once the
    /// controllers are not fed (a not-yet-probed writer would look lost), and such a service keeps
    /// the ordinary health weights. Called by ``SingleWriterService`` every ring heartbeat.
    public func refreshWriters() {
        guard let ring else { return }
        let (controllers, drained) = state.withLock { ($0.writerControllers, $0.drained) }
        guard !controllers.isEmpty else { return }
        let report = ring.report()
        guard !report.nodes.contains(where: { $0.reachability == .notYetProbed }) else { return }
        var changed: [(String, WriterDecision)] = []
        for (name, c) in controllers.sorted(by: { $0.key < $1.key }) {
            // An operator drain of the writer moves the writes too (to a member that has caught up).
            let d = c.decide(drained: Set(drained.filter { $0.service == name }.map(\.member)))
            let before = state.withLock { s -> WriterDecision? in
                let b = s.writerDecisions[name]
                s.writerDecisions[name] = d
                return b
            }
            if before?.weights != d.weights || before?.writer != d.writer { changed.append((name, d)) }
        }
        for (name, d) in changed {
            logger.notice("single writer", metadata: ["service": "\(name)", "writer": "\(d.writer ?? "none")", "reason": "\(d.reason)"])
        }
        for (name, _) in changed { serviceChanged(name) }
    }

    /// The writer of each single-writer service (nil while the writes wait for a node to catch up).
    public func writers() -> [String: WriterDecision] { state.withLock { $0.writerDecisions } }

    /// The table the kernel should hold now.
    public func desiredTable() -> (IPVSState, WeightDecision) {
        let t = topology
        let d = decision()
        return (WeightPolicy.table(t, d), d)
    }

    /// Runs one reconcile pass and records it. The first pass after start reads the whole owned
    /// table and converges it; every later one recomputes only the services whose members changed
    /// (a health transition, a drain, a writer decision, a reload) and hands the engine those.
    public func reconcileOnce() async {
        defer { metrics.heartbeat.reconcilePassEnded() }  // readiness and the watchdog (Systemd.swift)
        let since = pending.take()
        let names = Set(since.keys)
        let (t, full, startObserved) = state.withLock { s -> (Topology, Bool, IPVSState?) in
            let f = s.needsSync, o = s.startObserved
            s.needsSync = false; s.startObserved = nil
            return (s.topology, f, o)
        }
        let clock = ContinuousClock()
        let started = clock.now
        do {
            let pass: ReconcilePass
            var changed: [VirtualService] = []
            if full {
                let d = decision()
                let want = WeightPolicy.table(t, d)
                // Services this daemon (or an earlier run) put in the kernel that the topology no longer
                // has leave the kernel; the record then lists exactly what the topology asks for.
                let stale = try loadOwned().subtracting(want.services.keys)
                let (p, observed) = try await kernel.withEngine { e in
                    var p = try e.synchronize(want, observed: startObserved)
                    let r = try e.release(stale)
                    p.operations += r.operations; p.failures += r.failures
                    return (p, e.observed)
                }
                pass = p
                saveOwned(Set(want.services.keys))
                changed = t.services
                state.withLock { $0.decision = d; $0.kernelView = observed }
                kernelViewChanged()
            } else {
                guard !names.isEmpty else { return }
                var changes: [ServiceKey: ServiceState?] = [:]
                state.withLock { s in
                    let keys = names.flatMap { n in (s.topology.service(named: n)?.members ?? []).compactMap { s.checkKeys[MemberRef(service: n, member: $0.name)] } }
                    let health = monitor.states(of: keys)
                    for n in names.sorted() {
                        guard let svc = s.topology.service(named: n) else { continue }
                        WeightPolicy.decide(svc, state: { r in s.checkKeys[r].flatMap { health[$0] } }, drained: s.drained,
                                            writer: s.writerDecisions[n], into: &s.decision)
                        changes[TopologyMapping.serviceKey(svc)] = .some(WeightPolicy.service(svc, in: s.topology, s.decision))
                        changed.append(svc)
                    }
                }
                pass = try await kernel.apply(changes)
                state.withLock { s in for (k, v) in pass.touched { s.kernelView.services[k] = v } }
                kernelViewChanged()
            }
            let done = clock.now
            let took = started.duration(to: done)
            if !full {
                // How long each service's change waited from the event (a transition, a drain, a writer
                // decision) to the kernel holding it: the daemon's own latency, in /status and /metrics.
                let latencies = since.mapValues { $0.duration(to: done) }
                state.withLock { s in for (n, d) in latencies { s.eventToKernel[n] = d } }
                for (_, d) in latencies { metrics.eventToKernel(d) }
            }
            if metrics.perMemberSeries {
                let (d, keys) = state.withLock { s in
                    (s.decision, changed.flatMap { svc in svc.members.map { MemberRef(service: svc.name, member: $0.name) } }.map { ($0, s.checkKeys[$0]) })
                }
                let health = monitor.states(of: keys.compactMap(\.1))
                for (r, k) in keys {
                    metrics.member(service: r.service, member: r.member, weight: d.weights[r] ?? 0, up: k.flatMap { health[$0] } == .up)
                }
            }
            metrics.reconciled(pass, duration: took)
            // Every write is logged; a pass that programs a large table is summed up at info and
            // listed at debug (a cold start of 10,000 services is 30,000 operations).
            if pass.operations.count <= 100 {
                for op in pass.operations { logger.info("ipvs", metadata: ["operation": "\(op)"]) }
            } else {
                logger.info("ipvs", metadata: ["operations": "\(pass.operations.count)", "services": "\(Set(pass.operations.map(\.serviceKey)).count)"])
                for op in pass.operations { logger.debug("ipvs", metadata: ["operation": "\(op)"]) }
            }
            for f in pass.failures { logger.error("ipvs operation refused", metadata: ["failure": "\(f)"]) }
            let summary = "\(Self.iso(Date())): \(pass.operations.count) operations, \(pass.failures.count) refused, " + formatFixed(took.inMilliseconds, 2) + " ms"
            state.withLock { $0.lastReconcile = summary }
        } catch {
            if full { state.withLock { $0.needsSync = true } } else { for (n, at) in since { pending.insert(n, since: at) } }
            metrics.reconcileFailed()
            logger.error("reconcile failed; the next pass retries", metadata: ["error": "\(error)"])
            state.withLock { $0.lastReconcile = "\(Self.iso(Date())): failed: \(error)" }
        }
    }

    // MARK: Host controller signals

    /// The kernel view changed (a reconcile or repair pass wrote or read it): the host controller
    /// learns which VMs serve. This is the one place the daemon learns that a member entered or left
    /// service; it reads the view the passes keep, never the kernel again.
    private func kernelViewChanged() {
        vmSignals.kernelChanged { vms in self.vmsInService(vms) }
    }

    /// Whether each of `vms` has weight above 0 in at least one of its services, in the kernel as
    /// the last pass left it.
    func vmsInService(_ vms: Set<String>) -> [String: Bool] {
        let (t, view) = state.withLock { ($0.topology, $0.kernelView) }
        var out = Dictionary(uniqueKeysWithValues: vms.map { ($0, false) })
        for svc in t.services {
            let members = svc.members.filter { $0.vmName.map(vms.contains) == true }
            guard !members.isEmpty else { continue }
            let dests = view.services[TopologyMapping.serviceKey(svc)]?.destinations ?? [:]
            for m in members {
                guard let vm = m.vmName, let a = t.address(of: m, in: svc) else { continue }
                if (dests[DestinationKey(address: a, port: m.port)]?.weight ?? 0) > 0 { out[vm] = true }
            }
        }
        return out
    }

    /// Connects the host controller to the daemon's health verdicts and IPVS view for `vms` (the
    /// VMs of the topology that are members of services): both are reported at once as they
    /// stand, then on every change.
    func attachHostSignals(vms: Set<String>, health: @escaping @Sendable (String, Bool) -> Void,
                           inIPVS: @escaping @Sendable (String, Bool) -> Void) {
        vmSignals.attach(VMSignals.Sink(vms: vms, health: health, inIPVS: inIPVS), states: memberStates())
        kernelViewChanged()
    }

    /// What the record says the daemon owned (empty without a record, or when it cannot be read:
    /// then nothing is deleted).
    private func loadOwned() throws -> Set<ServiceKey> {
        guard let owned else { return [] }
        do { return try owned.load() ?? [] } catch {
            logger.error("owned-services record unreadable: services removed from the topology while tandemd was down stay in the kernel",
                         metadata: ["error": "\(error)"])
            return []
        }
    }

    private func saveOwned(_ keys: Set<ServiceKey>) {
        guard let owned else { return }
        do { try owned.save(keys) } catch {
            logger.error("cannot record the owned services; a service removed later may stay in the kernel", metadata: ["error": "\(error)"])
        }
    }

    /// One chunk of the repair sweep: re-reads up to `maxServices` owned services and fixes what was
    /// changed behind the daemon's back. Returns where the sweep stands.
    @discardableResult
    public func repairOnce(maxServices: Int) async -> (position: Int, count: Int) {
        do {
            let r = try await kernel.repair(maxServices: maxServices)
            if !r.pass.operations.isEmpty {
                for op in r.pass.operations { logger.notice("ipvs repair", metadata: ["operation": "\(op)"]) }
                metrics.reconciled(r.pass, duration: .zero)
                state.withLock { s in for (k, v) in r.pass.touched { s.kernelView.services[k] = v } }
                kernelViewChanged()
            }
            return (r.position, r.count)
        } catch {
            metrics.reconcileFailed()
            logger.error("repair pass failed; the next one retries", metadata: ["error": "\(error)"])
            return (0, 0)
        }
    }

    /// Validates `path` and, if it is good, applies it as a diff: unchanged checks keep running with
    /// their state; a member whose check changed keeps its last state; new members start
    /// `unknown`. A bad file changes nothing and the validator's messages come back.
    ///
    /// `followers` (``ReloadFollower``) prepare first; any of them can refuse the file, and then
    /// nothing changes either. Their commits run after the checks and weights are updated.
    @discardableResult
    public func reload(path: String, followers: [ReloadFollower] = []) async -> ReloadOutcome {
        let new: Topology
        var commits: [(String, ReloadFollower.Commit)] = []
        do {
            // Read and validated on a thread of its own, within a bound: a hostile or huge file never
            // holds the threads that serve checks, the API or the reconcile loop.
            new = try await TopologyLoader.load(path: path, timeout: reloadReadBound)
            let old = topology
            for f in followers {
                do { commits.append((f.name, try f.prepare(old, new))) } catch {
                    throw DaemonStartError(description: "\(path): \(f.name): \(error)")
                }
            }
        } catch {
            let text = "\(error)"
            metrics.reload(accepted: false)
            logger.error("reload refused: the running configuration is unchanged", metadata: ["file": "\(path)", "diagnostics": "\(text)"])
            state.withLock { $0.lastReload = "\(Self.iso(Date())): refused \(path): \(text)" }
            return .refused(text)
        }
        let previous = memberStates()
        let diff = monitor.update(targets: CheckTarget.all(in: new)) { k in
            previous[MemberRef(service: k.service, member: k.member)] ?? .unknown
        }
        let members = Set(new.services.flatMap { s in s.members.map { MemberRef(service: s.name, member: $0.name) } })
        let old = state.withLock { s in
            Dictionary(uniqueKeysWithValues: s.writerControllers.compactMap { name, c -> (String, (VirtualService, SingleWriterController, String?))? in
                guard let svc = s.topology.service(named: name) else { return nil }
                return (name, (svc, c, s.writerDecisions[name]?.writer ?? nil))
            })
        }
        let writers = makeWriterControllers(new, keeping: old, observed: nil)
        let oldTopology = topology
        let targets = CheckTarget.all(in: new)
        metrics.site(members: targets.count)
        state.withLock {
            $0.topology = new; $0.topologyFile = path
            $0.checkKeys = Self.checkKeys(targets)
            $0.writerControllers = writers
            $0.writerDecisions = $0.writerDecisions.filter { writers[$0.key] != nil && writers[$0.key] === old[$0.key]?.1 }
            $0.drained = $0.drained.filter { members.contains($0) }
            $0.lastReload = "\(Self.iso(Date())): applied \(path): \(diff.kept.count) checks kept, \(diff.added.count) started, \(diff.removed.count) stopped"
        }
        // Every service that changed or appeared is recomputed; one that left the file is left in the
        // kernel as it is (ownership rule) and no longer owned.
        // A service taken out of the file leaves the kernel (it was ours); what the daemon never
        // owned is never touched.
        let newKeys = Set(new.services.map(TopologyMapping.serviceKey))
        let gone = Set(oldTopology.services.map(TopologyMapping.serviceKey)).subtracting(newKeys)
        if !gone.isEmpty {
            do {
                let r = try await kernel.withEngine { e in try e.release(gone) }
                for op in r.operations { logger.notice("ipvs", metadata: ["operation": "\(op)", "reason": "service removed from the topology"]) }
                for f in r.failures { logger.error("ipvs operation refused", metadata: ["failure": "\(f)"]) }
            } catch {
                logger.error("removing services taken out of the topology failed; they stay in the kernel", metadata: ["error": "\(error)"])
            }
            state.withLock { s in for k in gone { s.kernelView.services[k] = nil } }
            kernelViewChanged()
        }
        saveOwned(newKeys)
        let withNewChecks = Set(diff.added.map(\.service))
        for svc in new.services where oldTopology.service(named: svc.name) != svc || withNewChecks.contains(svc.name) {
            pending.insert(svc.name)
        }
        for n in Set(diff.removed.map(\.service)) where new.service(named: n) != nil { pending.insert(n) }
        metrics.reload(accepted: true)
        logger.notice("reload applied", metadata: ["file": "\(path)", "kept": "\(diff.kept.count)",
                                                   "started": "\(diff.added.count)", "stopped": "\(diff.removed.count)"])
        requestReconcile()
        var changed: [String] = []
        for (name, commit) in commits {
            guard let summary = await commit() else { continue }
            changed.append("\(name): \(summary)")
            logger.notice("reload applied", metadata: ["part": "\(name)", "change": "\(summary)"])
        }
        if !changed.isEmpty { state.withLock { $0.lastReload! += "; " + changed.joined(separator: "; ") } }
        return .applied(diff)
    }

    /// An operator drain or undrain failed.
    public struct DrainError: Error, CustomStringConvertible {
        /// Why.
        public var description: String
    }

    /// Sets `service/member` to weight 0 (drained) or back to what its health says.
    public func setDrained(_ ref: MemberRef, _ drained: Bool) throws(DrainError) {
        let known = topology.service(named: ref.service)?.members.contains { $0.name == ref.member } ?? false
        guard known else { throw DrainError(description: "no member \(ref.member) in service \(ref.service)") }
        state.withLock { if drained { $0.drained.insert(ref) } else { $0.drained.remove(ref) } }
        logger.notice(drained ? "member drained by operator" : "member undrained by operator",
                      metadata: ["service": "\(ref.service)", "backend": "\(ref.member)"])
        refreshWriters()
        serviceChanged(ref.service)
    }

    /// What ``waitForKernelWeight(_:timeout:)`` saw.
    public enum KernelWeightWait: Sendable, Equatable {
        /// The kernel holds the weight the daemon wants, `after` the call began.
        case applied(weight: Int, after: Duration)
        /// Still different when the timeout ran out.
        case pending(wanted: Int, kernel: Int?)
    }

    /// Waits (polling the last reconcile's view of the kernel every 10 ms) until the kernel holds the
    /// weight the daemon wants for `ref`, so an operator's drain is answered only once it is in force.
    public func waitForKernelWeight(_ ref: MemberRef, timeout: Duration) async -> KernelWeightWait {
        let clock = ContinuousClock()
        let start = clock.now
        while true {
            let (wanted, kernel) = weights(of: ref)
            if let k = kernel, k == wanted { return .applied(weight: k, after: start.duration(to: clock.now)) }
            if start.duration(to: clock.now) >= timeout { return .pending(wanted: wanted, kernel: kernel) }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// The weight the daemon wants for `ref` and the one the kernel held at the last reconcile.
    private func weights(of ref: MemberRef) -> (wanted: Int, kernel: Int?) {
        let s = state.withLock { $0 }
        guard let svc = s.topology.service(named: ref.service), let m = svc.members.first(where: { $0.name == ref.member }),
              let addr = s.topology.address(of: m, in: svc) else { return (0, nil) }
        // Decided afresh for this one service: right after a drain the last pass's decision still
        // holds the old weight.
        let health = monitor.states(of: svc.members.compactMap { s.checkKeys[MemberRef(service: svc.name, member: $0.name)] })
        var d = WeightDecision()
        WeightPolicy.decide(svc, state: { r in s.checkKeys[r].flatMap { health[$0] } }, drained: s.drained,
                            writer: s.writerDecisions[svc.name], into: &d)
        let dests = s.kernelView.services[TopologyMapping.serviceKey(svc)]?.destinations ?? [:]
        let kw = dests[DestinationKey(address: addr, port: m.port)].map { Int($0.weight) }
        return (d.weights[ref] ?? 0, kw)
    }

    /// Members by state (`up`, `down`, `unknown`, and `drained` by an operator), for `/metrics`.
    public func memberCounts() -> [String: Int] {
        let s = state.withLock { $0 }
        let states = memberStates()
        return Self.census(s, state: { states[$0] }).counts
    }

    /// Counts members by state, and names the services that need a look (a member not up or
    /// drained, or a last-member policy in force).
    private static func census(_ s: State, state: (MemberRef) -> RiseFall.State?) -> (counts: [String: Int], attention: Set<String>) {
        var counts: [String: Int] = ["up": 0, "down": 0, "unknown": 0, "drained": 0]
        var attention: Set<String> = []
        for svc in s.topology.services {
            for m in svc.members {
                let r = MemberRef(service: svc.name, member: m.name)
                let st = (state(r) ?? .unknown).rawValue
                counts[st, default: 0] += 1
                if s.drained.contains(r) { counts["drained", default: 0] += 1 }
                if st != "up" || s.drained.contains(r) { attention.insert(svc.name) }
            }
            if s.decision.sorry[svc.name] != nil || s.decision.keptByLastMemberPolicy.contains(svc.name) { attention.insert(svc.name) }
        }
        return (counts, attention)
    }

    /// Up to this many services, `/status` lists every service; beyond, it lists those that need a
    /// look (a member not up, drained, or a last-member policy in force) unless asked for all.
    public static var statusFullLimit: Int { 1000 }

    /// On a site beyond ``statusFullLimit``, `/status` lists at most this many of the services that
    /// need a look (in topology order): a report a person reads, and one that stays fast when a whole
    /// site is degraded; the summary counts the rest and says how to see them.
    public static var statusAttentionLimit: Int { 200 }

    /// The status report. `services` limits it to those services; otherwise it lists every service
    /// on a site of up to ``statusFullLimit`` services (or with `all`), and on a larger one only the
    /// services that need a look, with counts over all of them in ``StatusReport/summary``.
    public func report(services only: Set<String>? = nil, all: Bool = false) -> StatusReport {
        let s = state.withLock { $0 }
        let health = monitor.health()
        var byRef: [MemberRef: MemberHealth] = [:]
        byRef.reserveCapacity(health.count)
        for (k, h) in health { byRef[MemberRef(service: k.service, member: k.member)] = h }
        let decision = s.decision
        let (counts, attention) = Self.census(s, state: { byRef[$0]?.state })
        let everything = only == nil && (all || s.topology.services.count <= Self.statusFullLimit)
        func listed(_ name: String) -> Bool { only?.contains(name) ?? (everything || attention.contains(name)) }
        var services: [StatusReport.Service] = []
        let capped = only == nil && !everything
        var beyondCap = 0
        for svc in s.topology.services where listed(svc.name) {
            if capped && services.count >= Self.statusAttentionLimit { beyondCap += 1; continue }
            let key = TopologyMapping.serviceKey(svc)
            let kernelDests = s.kernelView.services[key]?.destinations ?? [:]
            var members: [StatusReport.Member] = []
            for m in svc.members {
                let ref = MemberRef(service: svc.name, member: m.name)
                let addr = s.topology.address(of: m, in: svc)
                let h = byRef[ref]
                let kw = addr.flatMap { kernelDests[DestinationKey(address: $0, port: m.port)] }.map { Int($0.weight) }
                var result: String?
                switch h?.lastOutcome {
                case .success?: result = "success"
                case .timedOut?: result = "timeout"
                case .failure(let r, _)?: result = r
                case nil: result = nil
                }
                members.append(.init(
                    member: m.name, address: addr.map { Self.hostPort($0, m.port) } ?? "?", topologyWeight: m.weight,
                    weight: decision.weights[ref] ?? 0, kernelWeight: kw, state: (h?.state ?? .unknown).rawValue,
                    drained: s.drained.contains(ref), checks: h?.checks ?? 0, lastResult: result,
                    lastLatencyMs: h?.lastLatency.map(\.inMilliseconds),
                    lastTransition: h?.lastTransition.map { "\($0.from.rawValue) → \($0.to.rawValue)" },
                    lastReason: h?.lastTransition?.reason, lastTransitionAt: h?.lastTransition.map { Self.iso($0.wallTime) }))
            }
            var action: String?
            if decision.keptByLastMemberPolicy.contains(svc.name) { action = "every member failed: keep_last keeps them in at their weight" }
            if let sorry = decision.sorry[svc.name] { action = "every member failed: clients go to sorry server \(Self.hostPort(sorry.address, sorry.port))" }
            if let w = s.writerDecisions[svc.name] {
                action = w.writer.map { "single writer: \($0) has the writes (\(w.reason))" } ?? "single writer: no member has the writes: \(w.reason)"
            }
            let policy: String
            switch svc.lastMember {
            case .keepLast: policy = "keep_last"
            case .sorryServer(let a, let p): policy = "sorry_server \(Self.hostPort(a, p))"
            }
            let address = svc.proto == .fwmark ? "fwmark \(svc.fwmark ?? 0)" : "\(svc.proto.rawValue.uppercased()) \(Self.hostPort(svc.vip, svc.port))"
            services.append(.init(name: svc.name, address: address, scheduler: svc.scheduler.rawValue,
                                  check: Self.describe(svc.check), lastMemberPolicy: policy, lastMemberAction: action,
                                  lastEventToKernelMs: s.eventToKernel[svc.name]?.inMilliseconds, members: members))
        }
        var report = StatusReport(node: node, site: s.topology.site, topologyFile: s.topologyFile, startedAt: Self.iso(startedAt),
                                  kernel: dryRun ? "dry-run" : "real", lastReconcile: s.lastReconcile, lastReload: s.lastReload,
                                  services: services)
        let omitted = s.topology.services.count - services.count
        report.summary = StatusReport.Summary(
            services: s.topology.services.count, shown: services.count, members: counts,
            omitted: only == nil && omitted > 0
                ? (beyondCap > 0
                    ? "\(omitted) services are not listed: \(omitted - beyondCap) whose members are all up, and \(beyondCap) more that need a look beyond the first \(Self.statusAttentionLimit); ask /status?all=1 or /status?service=NAME[,NAME]"
                    : "\(omitted) services whose members are all up are not listed: ask /status?all=1 or /status?service=NAME[,NAME]")
                : nil)
        return report
    }

    static func hostPort(_ a: IPAddress, _ p: UInt16) -> String { a.family == .v6 ? "[\(a)]:\(p)" : "\(a):\(p)" }

    static func describe(_ c: HealthCheckSpec) -> String {
        let kind: String
        switch c.kind {
        case .tcp: kind = "tcp"
        case .http(let h): kind = "\(h.scheme) \(h.method) \(h.path) → \(h.expectStatus)"
        case .exec(let cmd): kind = "exec \(cmd.joined(separator: " "))"
        case .mariadb(let u, _): kind = "mariadb as \(u)"
        }
        return "\(kind) every \(c.intervalMs)ms timeout \(c.timeoutMs)ms rise \(c.rise) fall \(c.fall)"
    }

    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: d)
    }
}

/// The reconcile loop: one pass per (coalesced) request, and between them the repair sweep, one
/// small chunk at a time, that catches changes made behind the daemon's back. Stops on graceful
/// shutdown and leaves the kernel table as it is.
///
/// The sweep re-reads `repairRate` services a second at most, in chunks of `repairChunk` (so an
/// event waits behind at most one chunk: a few milliseconds), and starts a new sweep no sooner than
/// `resync` after the last one began: every `resync` on a small site, slower on a large one (at
/// 10,000 services and the default rate, about 5 minutes; kube-proxy re-lists every 30 s).
public struct ReconcileService<C: Clock>: Service where C.Duration == Duration {
    let daemon: TandemDaemon<C>
    let resync: Duration
    let repairChunk: Int
    let repairRate: Int

    /// Creates the loop.
    public init(daemon: TandemDaemon<C>, resync: Duration = .seconds(5), repairChunk: Int = 4, repairRate: Int = 32) {
        self.daemon = daemon; self.resync = resync; self.repairChunk = max(1, repairChunk); self.repairRate = max(1, repairRate)
    }

    /// Runs until shutdown.
    public func run() async throws {
        let daemon = self.daemon
        let (resync, chunk, rate) = (self.resync, self.repairChunk, self.repairRate)
        await withDiscardingTaskGroup { group in
            // The repair sweep, paced: chunk / rate seconds between chunks, a new sweep every `resync` at most.
            group.addTask {
                let pause = Duration.seconds(Double(chunk) / Double(rate))
                let clock = ContinuousClock()
                var sweepStart = clock.now
                while !Task.isCancelled {
                    do { try await Task.sleep(for: pause) } catch { return }
                    let (position, count) = await daemon.repairOnce(maxServices: chunk)
                    if position >= count {
                        let next = sweepStart.advanced(by: resync)
                        if clock.now < next { do { try await Task.sleep(until: next, clock: clock) } catch { return } }
                        sweepStart = clock.now
                    }
                }
            }
            for await _ in daemon.reconcileRequests.cancelOnGracefulShutdown() {
                await daemon.reconcileOnce()
            }
            group.cancelAll()
        }
    }
}

/// Service names waiting for a weight recomputation, shared by the health monitor's transition
/// callback and the reconcile loop.
final class PendingServices: Sendable {
    /// Each name with the moment its first unprocessed change arrived (for the event → kernel time).
    private let names = Mutex<[String: ContinuousClock.Instant]>([:])
    func insert(_ name: String) { let now = ContinuousClock.now; names.withLock { if $0[name] == nil { $0[name] = now } } }
    func insert(_ name: String, since: ContinuousClock.Instant) { names.withLock { $0[name] = min($0[name] ?? since, since) } }
    func take() -> [String: ContinuousClock.Instant] { names.withLock { n in defer { n = [:] }; return n } }
}

/// Feeds the single-writer controllers at the ring monitor's heartbeat (see
/// ``TandemDaemon/refreshWriters()``).
public struct SingleWriterService<C: Clock>: Service where C.Duration == Duration {
    let daemon: TandemDaemon<C>
    let period: Duration

    /// Creates the loop; `period` should be the ring monitor's heartbeat interval.
    public init(daemon: TandemDaemon<C>, period: Duration) { self.daemon = daemon; self.period = period }

    /// Runs until shutdown.
    public func run() async throws {
        while !Task.isCancelled {
            daemon.refreshWriters()
            do { try await Task.sleep(for: period) } catch { return }
            if Task.isShuttingDownGracefully { return }
        }
    }
}

/// SIGHUP → reload the topology file named at start (validated first; see
/// ``TandemDaemon/reload(path:)``).
public struct ReloadService<C: Clock>: Service where C.Duration == Duration {
    let daemon: TandemDaemon<C>
    let path: String
    let followers: [ReloadFollower]

    /// Creates the service; `followers` reload with the daemon (``ReloadFollower``).
    public init(daemon: TandemDaemon<C>, path: String, followers: [ReloadFollower] = []) {
        self.daemon = daemon; self.path = path; self.followers = followers
    }

    /// Waits for SIGHUP until shutdown.
    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            await daemon.reload(path: path, followers: followers)
        }
    }
}
