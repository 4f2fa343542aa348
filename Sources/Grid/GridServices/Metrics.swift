import Net
import Prometheus
import Synchronization

/// Request counters and latency histograms of one gridsvc instance, on swift-prometheus (the same
/// metrics stack as tandemd's `DaemonMetrics`).
///
/// The per-request path touches only objects made up front: the endpoint's counter for the status (one
/// relaxed atomic add) and its latency histogram (swift-prometheus' lock around 13 buckets). No
/// dictionary lookup, no string hashing, no registry lock, so the cost per request does not grow with the
/// number of series. Every series the service can produce exists from the first scrape, at 0; a status
/// outside ``answeredStatuses`` gets its counter from the registry on first use.
///
/// The histogram is swift-prometheus' `ValueHistogram` of seconds, not its `DurationHistogram`: measured
/// in release (`tandem-bench-health`, CPU time per call), recording a `Duration` cost 77–80 ns against
/// 52–59 ns for a `Double` (128-bit compares and sums), and only the latter keeps the whole per-request
/// cost (lookup ~10 ns + counter ~3 ns + histogram) at or below the hand-written metrics' 73–82 ns. The
/// exposition is the same either way (`le="0.00025"`, the sum in seconds).
public final class ServiceMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry = PrometheusCollectorRegistry()

    /// Upper bounds of the latency histogram buckets, in seconds.
    public static let bucketBounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5]

    /// Statuses the service answers (GridService and its errors); their counters are made up front.
    public static let answeredStatuses = [200, 400, 404, 405, 413, 415, 500, 503]

    // (Computed: swift-prometheus' descriptor is not Sendable, so it cannot be a stored static.)
    private static var requestsName: MetricNameDescriptor {
        .init(metricName: "gridsvc_requests", unitName: "total", helpText: "Requests answered, by endpoint and HTTP status.")
    }
    private static var durationName: MetricNameDescriptor {
        .init(metricName: "gridsvc_request_duration", unitName: "seconds", helpText: "Time from request start to response, by endpoint.")
    }
    private static var dbErrorsName: MetricNameDescriptor {
        .init(metricName: "gridsvc_db_errors", unitName: "total", helpText: "Database errors, by MariaDB errno.")
    }

    /// The series of one endpoint, made once.
    public final class Endpoint: Sendable {
        /// The `endpoint` label.
        public let name: String
        fileprivate let requests: [Counter]  // by index in answeredStatuses
        fileprivate let latency: ValueHistogram
        fileprivate let registry: PrometheusCollectorRegistry

        fileprivate init(_ name: String, registry: PrometheusCollectorRegistry) {
            self.name = name
            self.registry = registry
            requests = ServiceMetrics.answeredStatuses.map {
                registry.makeCounter(descriptor: ServiceMetrics.requestsName, labels: [("endpoint", name), ("status", String($0))])
            }
            latency = registry.makeValueHistogram(descriptor: ServiceMetrics.durationName, labels: [("endpoint", name)],
                                                  buckets: ServiceMetrics.bucketBounds)
        }

        /// Records one answered request.
        @inline(__always)
        public func record(status: Int, duration: Duration) {
            if let i = ServiceMetrics.answeredStatuses.firstIndex(of: status) {
                requests[i].increment()
            } else {
                // A status the service does not normally answer: the registry lock, once per request of it.
                registry.makeCounter(descriptor: ServiceMetrics.requestsName, labels: [("endpoint", name), ("status", String(status))])
                    .increment()
            }
            latency.record(duration.inSeconds)
        }
    }

    /// Every endpoint's series, in the order given at creation.
    public let endpoints: [Endpoint]
    /// The series of requests to no known endpoint (`endpoint="other"`).
    public let other: Endpoint

    /// Values owned elsewhere (the admission gate, the GUMS cache) copied in at each scrape.
    private let gauges: [String: Gauge]
    private let counters: [String: Counter]
    /// What ``counters`` already counted, so a scrape adds only the difference; the lock also keeps two
    /// scrapes from adding the same difference twice.
    private let counted = Mutex<[String: UInt64]>([:])

    /// Gauges filled at each scrape: name and HELP.
    public static let scrapedGauges: [(String, String)] = [
        ("gridsvc_in_flight", "Requests being worked on."),
        ("gridsvc_capacity", "Most requests worked on at once."),
        ("gridsvc_gums_cache_entries", "GUMS mapping cache entries."),
        ("gridsvc_gums_cache_capacity", "GUMS mapping cache capacity (0 = off)."),
    ]
    /// Counters kept elsewhere and copied in at each scrape: name (without `_total`) and HELP.
    public static let scrapedCounters: [(String, String)] = [
        ("gridsvc_rejected", "Requests refused with 503 because the instance was at capacity."),
        ("gridsvc_gums_cache_hits", "GUMS cache hits."),
        ("gridsvc_gums_cache_misses", "GUMS cache misses."),
        ("gridsvc_gums_cache_invalidations", "GUMS cache invalidations."),
    ]

    /// Creates the series of `endpoints` (and `other`) at 0.
    public init(endpoints names: [String]) {
        let registry = self.registry
        endpoints = names.map { Endpoint($0, registry: registry) }
        other = Endpoint("other", registry: registry)
        gauges = Dictionary(uniqueKeysWithValues: Self.scrapedGauges.map { name, help in
            (name, registry.makeGauge(descriptor: .init(metricName: name, unitName: "", helpText: help)))
        })
        counters = Dictionary(uniqueKeysWithValues: Self.scrapedCounters.map { name, help in
            (name, registry.makeCounter(descriptor: .init(metricName: name, unitName: "total", helpText: help)))
        })
    }

    /// The series of `endpoint`, or ``other``.
    public func endpoint(_ name: String) -> Endpoint {
        for e in endpoints where e.name == name { return e }
        return other
    }

    /// Records a database error by MariaDB errno (the error path: the registry finds the series).
    public func recordDBError(errno: Int32) {
        registry.makeCounter(descriptor: Self.dbErrorsName, labels: [("errno", String(errno))]).increment()
    }

    /// The exposition text, with the scraped values set first: `gauges` by name, `counters` (running
    /// totals kept elsewhere, name without `_total`).
    public func render(gauges values: [String: Int], counters totals: [String: UInt64]) -> String {
        for (name, value) in values { gauges[name]?.set(to: Double(value)) }
        counted.withLock { seen in
            for (name, total) in totals {
                guard let counter = counters[name] else { continue }
                let before = seen[name, default: 0]
                // The totals only grow; a smaller one would be a restarted source: count nothing for it.
                if total > before { counter.increment(by: Int64(clamping: total - before)) }
                seen[name] = max(total, before)
            }
        }
        return registry.emitToString()
    }
}
