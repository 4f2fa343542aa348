import BuildInfo
import HealthCheck
import IPVS
import Prometheus
import Synchronization
import RingHealth
import VRRP
import VRRPTransport
import Health
import IPVSModel
import Reconcile

/// The daemon's Prometheus metrics (swift-prometheus), all prefixed `tandem_`.
public final class DaemonMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry = PrometheusCollectorRegistry()

    private static let checkBuckets: [Duration] = [
        .microseconds(250), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5),
    ]
    private static let reconcileBuckets: [Duration] = [
        .microseconds(100), .milliseconds(1), .milliseconds(5), .milliseconds(20), .milliseconds(100),
        .milliseconds(500), .seconds(1), .seconds(5),
    ]

    private let checkHistograms: [DurationHistogram]

    /// What the reconcile loop and the health monitor did last: readiness and the watchdog follow it.
    public let heartbeat = DaemonHeartbeat()

    /// Every IPVS operation label, so `tandem_reconcile_operations_total{op}` exists for each from the start.
    static let operationLabels = ["add_service", "edit_service", "delete_service", "add_destination", "edit_destination", "delete_destination"]

    /// Creates the registry, with every series that has no per-object label already present (a
    /// `*_total` that appears only after its first event breaks alerting: `rate()` and
    /// `increase()` see nothing until the second event), and `tandem_build_info`.
    public init() {
        let registry = self.registry
        checkHistograms = ["success", "failure", "timeout"].map { outcome in
            registry.makeDurationHistogram(
                descriptor: .init(metricName: "tandem_check_duration", unitName: "seconds", helpText: "Health check latency by outcome"),
                labels: [("outcome", outcome)], buckets: Self.checkBuckets)
        }
        registry.makeGauge(descriptor: .init(metricName: "tandem_build_info", unitName: "",
                                             helpText: "Always 1; the labels say which tandemd runs"),
                           labels: [("version", TandemBuild.version), ("commit", TandemBuild.commit)]).set(to: 1)
        for op in Self.operationLabels { _ = reconcileOperations(op) }
        _ = reconcileErrors
        for result in [true, false] { _ = reloads(accepted: result) }
        _ = reconcileDuration
        _ = eventToKernelHistogram
    }

    private func reconcileOperations(_ op: String) -> Counter {
        registry.makeCounter(
            descriptor: .init(metricName: "tandem_reconcile_operations", unitName: "total", helpText: "IPVS operations sent"),
            labels: [("op", op)])
    }

    private var reconcileErrors: Counter {
        registry.makeCounter(
            descriptor: .init(metricName: "tandem_reconcile_errors", unitName: "total", helpText: "Failed IPVS operations or passes"),
            labels: [])
    }

    private func reloads(accepted: Bool) -> Counter {
        registry.makeCounter(
            descriptor: .init(metricName: "tandem_reloads", unitName: "total", helpText: "SIGHUP reloads by result"),
            labels: [("result", accepted ? "applied" : "refused")])
    }

    private var reconcileDuration: DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: .init(metricName: "tandem_reconcile_duration", unitName: "seconds", helpText: "Reconcile pass duration"),
            labels: [], buckets: Self.reconcileBuckets)
    }

    private var eventToKernelHistogram: DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: .init(metricName: "tandem_event_to_kernel", unitName: "seconds", helpText: "From a health event (or drain, writer decision, reload) to the kernel holding the new weights"),
            labels: [], buckets: Self.reconcileBuckets)
    }

    /// Check latency by outcome, created once: a check result (tens of thousands a second on a large
    /// site) costs one histogram update, not a registry lookup. Per member, the state is in
    /// `tandem_member_up`; a latency histogram per member would be 12 series per check.
    /// One check's latency and outcome.
    public func checkFinished(_ key: CheckKey, _ outcome: CheckOutcome, _ latency: Duration) {
        checkHistograms[Self.outcomeIndex(outcome)].record(latency)
        heartbeat.checkFinished()
    }

    private static func outcomeIndex(_ o: CheckOutcome) -> Int {
        switch o {
        case .success: return 0
        case .failure: return 1
        case .timedOut: return 2
        }
    }

    /// One state transition.
    public func transition(_ t: HealthTransition) {
        let labels = perMember.load(ordering: .relaxed)
            ? [("service", t.key.service), ("member", t.key.member), ("to", t.to.rawValue)] : [("to", t.to.rawValue)]
        registry.makeCounter(
            descriptor: .init(metricName: "tandem_check_transitions", unitName: "total", helpText: "Health state transitions"),
            labels: labels
        ).increment()
    }

    /// Up to this many members, the per-member series (`tandem_member_weight`, `tandem_member_up`,
    /// per-member transitions) are published; beyond, only totals by state (`tandem_members`), and
    /// /status has every member. swift-prometheus copies a metric family's series to add one, so
    /// creating tens of thousands of labelled series costs minutes, and a Prometheus server would
    /// rather not scrape 60,000 series of one director either.
    public static let perMemberLimit = 2000

    private let perMember = Atomic<Bool>(true)

    /// True while per-member series are published.
    public var perMemberSeries: Bool { perMember.load(ordering: .relaxed) }

    /// Says how many members the site has (at start and on every reload).
    public func site(members: Int) { perMember.store(members <= Self.perMemberLimit, ordering: .relaxed) }

    /// Members by state (`up`, `down`, `unknown`, `drained`), refreshed at each scrape.
    public func members(_ counts: [String: Int]) {
        for (state, n) in counts {
            registry.makeGauge(descriptor: .init(metricName: "tandem_members", unitName: "", helpText: "Members by health state (drained: by an operator)"),
                               labels: [("state", state)]).set(to: Double(n))
        }
    }

    /// One reconcile pass.
    public func reconciled(_ pass: ReconcilePass, duration: Duration) {
        reconcileDuration.record(duration)
        for op in pass.operations { reconcileOperations(Self.label(op)).increment() }
        if !pass.failures.isEmpty { reconcileFailed(count: pass.failures.count) }
    }

    /// How long one service's change took from the event to the kernel.
    public func eventToKernel(_ d: Duration) { eventToKernelHistogram.record(d) }

    /// Operations the kernel refused, or a pass that could not run.
    public func reconcileFailed(count: Int = 1) { reconcileErrors.increment(by: Int64(count)) }

    /// A member's desired weight and health (on sites up to ``perMemberLimit`` members).
    public func member(service: String, member: String, weight: Int, up: Bool) {
        guard perMember.load(ordering: .relaxed) else { return }
        registry.makeGauge(
            descriptor: .init(metricName: "tandem_member_weight", unitName: "", helpText: "IPVS weight the daemon wants"),
            labels: [("service", service), ("member", member)]
        ).set(to: Double(weight))
        registry.makeGauge(
            descriptor: .init(metricName: "tandem_member_up", unitName: "", helpText: "1 when the member passes its checks"),
            labels: [("service", service), ("member", member)]
        ).set(to: up ? 1.0 : 0.0)
    }

    /// The ring monitor's gauges (`tandem_ring_*`, see `RingReport.metrics`), refreshed at each scrape.
    public func ring(_ samples: [RingMetricSample]) {
        for s in samples {
            registry.makeGauge(descriptor: .init(metricName: s.name, unitName: "", helpText: "Database ring health"),
                               labels: s.labels).set(to: s.value)
        }
    }

    /// Passive silence detection found `member` of `service` silent (one per episode).
    public func passiveSilence(service: String, member: String) {
        registry.makeCounter(
            descriptor: .init(metricName: "tandem_passive_silences", unitName: "total",
                              helpText: "Members found silent by passive detection (new connections unanswered)"),
            labels: [("service", service), ("member", member)]
        ).increment()
    }

    /// A reload attempt.
    public func reload(accepted: Bool) { reloads(accepted: accepted).increment() }

    /// One VRRP transition, by the state entered and a stable reason code.
    public func vrrpTransition(vrid: Int, to: String, reason: String) {
        registry.makeCounter(
            descriptor: .init(metricName: "tandem_vrrp_transitions", unitName: "total", helpText: "VRRP state transitions by new state and reason"),
            labels: [("vrid", "\(vrid)"), ("to", to), ("reason", reason)]
        ).increment()
    }

    /// The VRRP gauges from a snapshot, plus the counts that changed since the last call.
    func vrrp(status s: VRRPStatus, delta: VRRPCounters, peerAge: Double?) {
        let vrid = ("vrid", "\(s.vrid)")
        // Every state the machine has (fault included), so a new one cannot be missing from the gauge.
        for st in VRRPState.allCases.map(\.rawValue) {
            registry.makeGauge(
                descriptor: .init(metricName: "tandem_vrrp_state", unitName: "", helpText: "1 for the VRRP state this node is in"),
                labels: [vrid, ("state", st)]
            ).set(to: s.state == st ? 1 : 0)
        }
        registry.makeGauge(
            descriptor: .init(metricName: "tandem_vrrp_vips_held", unitName: "", helpText: "1 when this node holds the VIPs"),
            labels: [vrid]
        ).set(to: s.vipsHeld ? 1 : 0)
        registry.makeGauge(
            descriptor: .init(metricName: "tandem_vrrp_peer_last_seen_age", unitName: "seconds", helpText: "Seconds since the peer's last advert (-1: never heard)"),
            labels: [vrid]
        ).set(to: peerAge ?? -1)
        registry.makeCounter(
            descriptor: .init(metricName: "tandem_vrrp_adverts_sent", unitName: "total", helpText: "VRRP adverts sent"),
            labels: [vrid]
        ).increment(by: Int64(max(0, delta.sent)))
        registry.makeCounter(
            descriptor: .init(metricName: "tandem_vrrp_adverts_received", unitName: "total", helpText: "VRRP adverts accepted"),
            labels: [vrid]
        ).increment(by: Int64(max(0, delta.received)))
        for (reason, n) in delta.drops.sorted(by: { $0.key < $1.key }) where n > 0 {
            registry.makeCounter(
                descriptor: .init(metricName: "tandem_vrrp_drops", unitName: "total", helpText: "VRRP packets dropped by reason"),
                labels: [vrid, ("reason", reason)]
            ).increment(by: Int64(n))
        }
    }

    /// A host's phase as 1 for the phase it is in and 0 for every other of `phases`, and whether
    /// its hypervisor answers (refreshed at each scrape).
    public func host(_ host: String, phase: String, of phases: [String], connected: Bool) {
        for p in phases {
            registry.makeGauge(descriptor: .init(metricName: "tandem_host_phase", unitName: "", helpText: "1 for the host controller's phase of the host"),
                               labels: [("host", host), ("phase", p)]).set(to: p == phase ? 1 : 0)
        }
        registry.makeGauge(descriptor: .init(metricName: "tandem_host_connected", unitName: "", helpText: "1 when the host's hypervisor answers"),
                           labels: [("host", host)]).set(to: connected ? 1 : 0)
    }

    /// One fence-agent run: its action (`off`, `status`) and how it ended (`succeeded`, `power_off`,
    /// `power_on`, `failed`, `timed_out`). `increment: false` only creates the series.
    public func hostFence(_ host: String, action: String, result: String, increment: Bool = true) {
        let c = registry.makeCounter(descriptor: .init(metricName: "tandem_host_fence", unitName: "total", helpText: "Fence-agent runs by action and result"),
                                     labels: [("host", host), ("action", action), ("result", result)])
        if increment { c.increment() }
    }

    /// A finished recovery of `host`: counted, and how long it took from the first signal to
    /// redundancy restored. `seconds: nil` only creates the series.
    public func hostRecovered(_ host: String, seconds: Double?) {
        let c = registry.makeCounter(descriptor: .init(metricName: "tandem_host_recoveries", unitName: "total",
                                                       helpText: "Lost hosts whose VMs were restored elsewhere"), labels: [("host", host)])
        let g = registry.makeGauge(descriptor: .init(metricName: "tandem_host_recovery", unitName: "seconds",
                                                     helpText: "The last recovery: first signal to redundancy restored"), labels: [("host", host)])
        guard let seconds else { return }
        c.increment()
        g.set(to: seconds)
    }

    /// The IPVS sync daemons the kernel runs.
    public func syncDaemons(_ running: [SyncDaemon]) {
        for role in [SyncDaemon.Role.master, .backup] {
            let d = running.first { $0.role == role }
            registry.makeGauge(
                descriptor: .init(metricName: "tandem_ipvs_sync_daemon_running", unitName: "", helpText: "1 when the IPVS sync daemon of this role runs"),
                labels: [("role", role.rawValue)]
            ).set(to: d == nil ? 0 : 1)
        }
    }

    /// The exposition text.
    public func render() -> String { registry.emitToString() }

    static func label(_ o: CheckOutcome) -> String {
        switch o {
        case .success: return "success"
        case .failure: return "failure"
        case .timedOut: return "timeout"
        }
    }

    static func label(_ op: IPVSOperation) -> String {
        switch op {
        case .addService: return "add_service"
        case .editService: return "edit_service"
        case .deleteService: return "delete_service"
        case .addDestination: return "add_destination"
        case .editDestination: return "edit_destination"
        case .deleteDestination: return "delete_destination"
        }
    }
}
