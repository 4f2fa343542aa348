import Synchronization

/// Request counters and latency histograms of one gridsvc instance, rendered in the Prometheus text
/// exposition format (version 0.0.4) by ``render(extra:)``. Written by hand: a few counters do not need a
/// metrics framework, and one lock per request is cheap next to the request itself.
public final class ServiceMetrics: Sendable {
    /// Upper bounds of the latency histogram buckets, in seconds.
    public static let bucketBounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5]

    private struct Key: Hashable {
        var endpoint: String
        var status: Int
    }

    private struct Histogram {
        var buckets = [UInt64](repeating: 0, count: ServiceMetrics.bucketBounds.count)
        var count: UInt64 = 0
        var sum: Double = 0

        mutating func record(_ seconds: Double) {
            count += 1
            sum += seconds
            for (i, bound) in ServiceMetrics.bucketBounds.enumerated() where seconds <= bound {
                buckets[i] += 1
                break
            }
        }
    }

    private struct State {
        var requests: [Key: UInt64] = [:]
        var latency: [String: Histogram] = [:]
        var dbErrors: [Int32: UInt64] = [:]
    }

    private let state = Mutex(State())

    /// Creates empty metrics.
    public init() {}

    /// Records one answered request.
    public func record(endpoint: String, status: Int, seconds: Double) {
        state.withLock { s in
            s.requests[Key(endpoint: endpoint, status: status), default: 0] += 1
            // In place: copying the histogram out and back would copy its bucket array on every request.
            s.latency[endpoint, default: Histogram()].record(seconds)
        }
    }

    /// Records a database error by MariaDB errno.
    public func recordDBError(errno: Int32) {
        state.withLock { $0.dbErrors[errno, default: 0] += 1 }
    }

    /// Total requests recorded with `status` (all endpoints), for tests.
    public func count(status: Int) -> UInt64 {
        state.withLock { s in s.requests.filter { $0.key.status == status }.values.reduce(0, +) }
    }

    /// A sample to add to the exposition: name, optional labels, value, and a HELP line / TYPE.
    public struct Sample: Sendable {
        /// Metric name.
        public var name: String
        /// HELP text.
        public var help: String
        /// `counter` or `gauge`.
        public var type: String
        /// Value.
        public var value: Double
        /// Creates a sample.
        public init(name: String, help: String, type: String, value: Double) {
            self.name = name
            self.help = help
            self.type = type
            self.value = value
        }
    }

    /// The exposition text: request counters, latency histograms, DB errors, then `extra` samples.
    public func render(extra: [Sample]) -> String {
        let s = state.withLock { $0 }
        var out = "# HELP gridsvc_requests_total Requests answered, by endpoint and HTTP status.\n# TYPE gridsvc_requests_total counter\n"
        for (k, v) in s.requests.sorted(by: { ($0.key.endpoint, $0.key.status) < ($1.key.endpoint, $1.key.status) }) {
            out += "gridsvc_requests_total{endpoint=\"\(k.endpoint)\",status=\"\(k.status)\"} \(v)\n"
        }
        out += "# HELP gridsvc_request_duration_seconds Time from request start to response, by endpoint.\n# TYPE gridsvc_request_duration_seconds histogram\n"
        for (endpoint, h) in s.latency.sorted(by: { $0.key < $1.key }) {
            var cumulative: UInt64 = 0
            for (i, bound) in Self.bucketBounds.enumerated() {
                cumulative += h.buckets[i]
                out += "gridsvc_request_duration_seconds_bucket{endpoint=\"\(endpoint)\",le=\"\(bound)\"} \(cumulative)\n"
            }
            out += "gridsvc_request_duration_seconds_bucket{endpoint=\"\(endpoint)\",le=\"+Inf\"} \(h.count)\n"
            out += "gridsvc_request_duration_seconds_sum{endpoint=\"\(endpoint)\"} \(h.sum)\n"
            out += "gridsvc_request_duration_seconds_count{endpoint=\"\(endpoint)\"} \(h.count)\n"
        }
        out += "# HELP gridsvc_db_errors_total Database errors, by MariaDB errno.\n# TYPE gridsvc_db_errors_total counter\n"
        for (errno, v) in s.dbErrors.sorted(by: { $0.key < $1.key }) {
            out += "gridsvc_db_errors_total{errno=\"\(errno)\"} \(v)\n"
        }
        for e in extra {
            out += "# HELP \(e.name) \(e.help)\n# TYPE \(e.name) \(e.type)\n\(e.name) \(Self.format(e.value))\n"
        }
        return out
    }

    private static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}
