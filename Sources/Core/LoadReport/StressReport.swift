import Foundation

/// What `tandem-stress --json` prints: the outcome of one bounded load run, for people
/// (``summary``) and machines. It lives in the core because two sides read it: the stress client
/// (Grid) writes it, and the drills (`tandemctl drill`, `tandemctl acceptance`) read it back as
/// their probe's series.
public struct StressReport: Sendable, Codable, Equatable {
    /// `closed` or `open`.
    public var mode: String
    /// Workers or connections.
    public var concurrency: Int
    /// Target rate (open loop) or nil.
    public var targetRate: Double?
    /// Call mix.
    public var mix: [String: Int]
    /// Calls completed.
    public var requests: Int
    /// 2xx answers.
    public var successes: Int
    /// Failures by kind (`http_503`, `connect_refused`, `timeout`, ...).
    public var errors: [String: Int]
    /// Wall time of the run in seconds.
    public var durationSeconds: Double
    /// Successful calls per second.
    public var throughput: Double
    /// Successful calls per day at that throughput.
    public var callsPerDay: Double
    /// Latency of all calls (ms).
    public var latency: LatencySummary
    /// Latency of successful calls only (ms).
    public var successLatency: LatencySummary
    /// Largest interval with no success (s), and where it started.
    public var largestGapSeconds: Double
    /// Start of that interval (s since run start).
    public var largestGapStartSeconds: Double
    /// Why the run stopped: `max-requests`, `max-duration` or `signal` (SIGTERM/SIGINT: the run
    /// was cut short on purpose, as a drill does at the end of its window).
    public var stoppedBy: String
    /// Per-slot series.
    public var timeSeries: [TimeSlot]
    /// The wall clock (Unix epoch, milliseconds) at the run's t = 0, so that other records of the
    /// same moments (a director's state, a fault hook) can be put on the series' time axis.
    public var startedAtEpochMillis: Double?
    /// The slot width of ``timeSeries`` in milliseconds.
    public var slotMillis: Double?
    /// The one long-lived connection held through the run (`--hold-connection`), if asked for.
    public var heldConnection: HeldConnectionReport?

    /// Creates a report.
    public init(mode: String, concurrency: Int, targetRate: Double?, mix: [String: Int], requests: Int, successes: Int,
                errors: [String: Int], durationSeconds: Double, throughput: Double, callsPerDay: Double,
                latency: LatencySummary, successLatency: LatencySummary, largestGapSeconds: Double,
                largestGapStartSeconds: Double, stoppedBy: String, timeSeries: [TimeSlot],
                startedAtEpochMillis: Double? = nil, slotMillis: Double? = nil, heldConnection: HeldConnectionReport? = nil) {
        self.mode = mode; self.concurrency = concurrency; self.targetRate = targetRate; self.mix = mix
        self.requests = requests; self.successes = successes; self.errors = errors; self.durationSeconds = durationSeconds
        self.throughput = throughput; self.callsPerDay = callsPerDay; self.latency = latency; self.successLatency = successLatency
        self.largestGapSeconds = largestGapSeconds; self.largestGapStartSeconds = largestGapStartSeconds
        self.stoppedBy = stoppedBy; self.timeSeries = timeSeries; self.startedAtEpochMillis = startedAtEpochMillis
        self.slotMillis = slotMillis; self.heldConnection = heldConnection
    }

    /// A readable summary.
    public var summary: String {
        func f(_ v: Double, _ d: Int = 2) -> String { String(format: "%.\(d)f", v) }
        var s = "tandem-stress: \(mode) loop, \(concurrency) \(mode == "open" ? "connections" : "workers")"
        if let r = targetRate { s += ", target \(f(r, 0))/s" }
        s += ", mix \(mix.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))\n"
        s += "  calls      \(requests) in \(f(durationSeconds)) s (stopped by \(stoppedBy)); ok \(successes), failed \(requests - successes)\n"
        s += "  throughput \(f(throughput, 0)) ok/s = \(String(format: "%.3g", callsPerDay)) calls/day\n"
        s += "  latency ms p50 \(f(latency.p50, 3))  p90 \(f(latency.p90, 3))  p99 \(f(latency.p99, 3))  p99.9 \(f(latency.p999, 3))  max \(f(latency.max, 3))\n"
        if !errors.isEmpty {
            s += "  errors     " + errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n"
        }
        s += "  largest gap in successes \(f(largestGapSeconds, 3)) s (from t=\(f(largestGapStartSeconds, 2)) s)\n"
        if let h = heldConnection {
            s += "  held connection: \(h.answerTimes.count) answers" + (h.failure.map { ", then \($0)" } ?? ", never broken") + "\n"
        }
        return s
    }
}

/// One slot of the time series (100 ms unless `--slot-ms` says otherwise).
public struct TimeSlot: Sendable, Codable, Equatable {
    /// Slot start, seconds since the run started.
    public var t: Double
    /// Successful calls completed in the slot.
    public var ok: Int
    /// Failed calls completed in the slot.
    public var errors: Int
    /// p99 latency of the slot's calls in milliseconds (0 when empty).
    public var p99Millis: Double
    /// Median latency of the slot's calls in milliseconds (0 when empty).
    public var p50Millis: Double

    /// Creates a slot.
    public init(t: Double, ok: Int, errors: Int, p99Millis: Double, p50Millis: Double = 0) {
        self.t = t; self.ok = ok; self.errors = errors; self.p99Millis = p99Millis; self.p50Millis = p50Millis
    }
}

/// Latency summary in milliseconds.
public struct LatencySummary: Sendable, Codable, Equatable {
    /// Median.
    public var p50: Double
    /// 90th percentile.
    public var p90: Double
    /// 99th percentile.
    public var p99: Double
    /// 99.9th percentile.
    public var p999: Double
    /// Largest.
    public var max: Double
    /// Mean.
    public var mean: Double

    /// Creates a summary.
    public init(p50: Double, p90: Double, p99: Double, p999: Double, max: Double, mean: Double) {
        self.p50 = p50; self.p90 = p90; self.p99 = p99; self.p999 = p999; self.max = max; self.mean = mean
    }
}

/// One HTTP/1.1 keep-alive connection held open through a run: a `GET` on the same socket at a
/// fixed interval, never reconnecting. It shows whether an established connection outlives a fault
/// (a director takeover with IPVS connection sync keeps it; one without sync resets it).
public struct HeldConnectionReport: Sendable, Codable, Equatable {
    /// When it connected, seconds since the run started (`nil`: it never did).
    public var connectedAt: Double?
    /// When each answer came back, seconds since the run started.
    public var answerTimes: [Double]
    /// How it ended if it broke: `closed`, `timeout`, `http_503`, `connect_refused`…; `nil` if it
    /// was still answering when the run ended.
    public var failure: String?
    /// When it broke, seconds since the run started.
    public var failedAt: Double?

    /// Creates a record.
    public init(connectedAt: Double?, answerTimes: [Double], failure: String?, failedAt: Double?) {
        self.connectedAt = connectedAt; self.answerTimes = answerTimes; self.failure = failure; self.failedAt = failedAt
    }
}
