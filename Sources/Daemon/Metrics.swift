import HealthCheck
import IPVS
import Prometheus

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

    /// Creates the registry.
    public init() {}

    /// One check's latency and outcome.
    public func checkFinished(_ key: CheckKey, _ outcome: CheckOutcome, _ latency: Duration) {
        registry.makeDurationHistogram(
            descriptor: .init(metricName: "tandem_check_duration", unitName: "seconds", helpText: "Health check latency"),
            labels: [("service", key.service), ("member", key.member), ("outcome", Self.label(outcome))],
            buckets: Self.checkBuckets
        ).record(latency)
    }

    /// One state transition.
    public func transition(_ t: HealthTransition) {
        registry.makeCounter(
            descriptor: .init(metricName: "tandem_check_transitions", unitName: "total", helpText: "Health state transitions"),
            labels: [("service", t.key.service), ("member", t.key.member), ("to", t.to.rawValue)]
        ).increment()
    }

    /// One reconcile pass.
    public func reconciled(_ pass: ReconcilePass, duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: .init(metricName: "tandem_reconcile_duration", unitName: "seconds", helpText: "Reconcile pass duration"),
            labels: [], buckets: Self.reconcileBuckets
        ).record(duration)
        for op in pass.operations {
            registry.makeCounter(
                descriptor: .init(metricName: "tandem_reconcile_operations", unitName: "total", helpText: "IPVS operations sent"),
                labels: [("op", Self.label(op))]
            ).increment()
        }
        if !pass.failures.isEmpty { reconcileFailed(count: pass.failures.count) }
    }

    /// Operations the kernel refused, or a pass that could not run.
    public func reconcileFailed(count: Int = 1) {
        registry.makeCounter(
            descriptor: .init(metricName: "tandem_reconcile_errors", unitName: "total", helpText: "Failed IPVS operations or passes"),
            labels: []
        ).increment(by: Int64(count))
    }

    /// A member's desired weight and health.
    public func member(service: String, member: String, weight: Int, up: Bool) {
        registry.makeGauge(
            descriptor: .init(metricName: "tandem_member_weight", unitName: "", helpText: "IPVS weight the daemon wants"),
            labels: [("service", service), ("member", member)]
        ).set(to: Double(weight))
        registry.makeGauge(
            descriptor: .init(metricName: "tandem_member_up", unitName: "", helpText: "1 when the member passes its checks"),
            labels: [("service", service), ("member", member)]
        ).set(to: up ? 1.0 : 0.0)
    }

    /// A reload attempt.
    public func reload(accepted: Bool) {
        registry.makeCounter(
            descriptor: .init(metricName: "tandem_reloads", unitName: "total", helpText: "SIGHUP reloads by result"),
            labels: [("result", accepted ? "applied" : "refused")]
        ).increment()
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
