import Histogram
import LoadReport

/// One finished call as recorded by a worker: when it ended, how long it took, and how it went.
public struct CallSample: Sendable, Hashable {
    /// Completion time, nanoseconds since the run started.
    public var endNanos: UInt64
    /// Latency in nanoseconds (in open loop, measured from the intended send time).
    public var latencyNanos: UInt64
    /// nil on success, else the failure kind (``CallFailure/kind``).
    public var failure: String?

    /// Creates a sample.
    public init(endNanos: UInt64, latencyNanos: UInt64, failure: String?) {
        self.endNanos = endNanos
        self.latencyNanos = latencyNanos
        self.failure = failure
    }
}

/// Pure computations over samples: percentiles (HdrHistogram), time series, gaps.
public enum StressAnalysis {
    /// Latency summary of `latenciesNanos` (HdrHistogram, 3 significant digits, 1 µs .. 1 h).
    public static func latency(_ latenciesNanos: [UInt64]) -> LatencySummary {
        var h = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        for n in latenciesNanos { _ = h.record(Swift.max(1, Swift.min(n / 1000, 3_600_000_000))) }
        guard h.totalCount > 0 else { return LatencySummary(p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0) }
        func ms(_ us: UInt64) -> Double { Double(us) / 1000 }
        return LatencySummary(p50: ms(h.valueAtPercentile(50)), p90: ms(h.valueAtPercentile(90)), p99: ms(h.valueAtPercentile(99)),
                              p999: ms(h.valueAtPercentile(99.9)), max: ms(h.max), mean: h.mean / 1000)
    }

    /// Buckets samples by completion time into slots of `slotNanos`, covering [0, durationNanos).
    /// Empty slots are kept, so an outage shows as a run of `ok == 0`.
    public static func timeSeries(_ samples: [CallSample], durationNanos: UInt64, slotNanos: UInt64 = 100_000_000) -> [TimeSlot] {
        let count = Int((durationNanos + slotNanos - 1) / slotNanos)
        guard count > 0 else { return [] }
        var ok = [Int](repeating: 0, count: count)
        var err = [Int](repeating: 0, count: count)
        var lat = [[UInt64]](repeating: [], count: count)
        for s in samples {
            let i = Swift.min(count - 1, Int(s.endNanos / slotNanos))
            if s.failure == nil { ok[i] += 1 } else { err[i] += 1 }
            lat[i].append(s.latencyNanos)
        }
        return (0..<count).map { i in
            let l = lat[i].isEmpty ? nil : latency(lat[i])
            return TimeSlot(t: Double(UInt64(i) * slotNanos) / 1e9, ok: ok[i], errors: err[i],
                            p99Millis: l?.p99 ?? 0, p50Millis: l?.p50 ?? 0)
        }
    }

    /// The longest interval with no successful completion, in seconds, counting from the run start to
    /// the first success and from the last success to the run end. Returns (gap, where it started).
    public static func largestSuccessGap(_ samples: [CallSample], durationNanos: UInt64) -> (seconds: Double, startSeconds: Double) {
        let times = samples.filter { $0.failure == nil }.map(\.endNanos).sorted()
        var prev: UInt64 = 0
        var best: (UInt64, UInt64) = (0, 0)
        for t in times + [Swift.max(durationNanos, times.last ?? 0)] {
            if t - prev > best.0 { best = (t - prev, prev) }
            prev = t
        }
        return (Double(best.0) / 1e9, Double(best.1) / 1e9)
    }

    /// Calls per day at `perSecond`.
    public static func callsPerDay(_ perSecond: Double) -> Double { perSecond * 86_400 }
}
