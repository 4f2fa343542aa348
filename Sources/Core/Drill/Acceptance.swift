import LoadReport
import Net

/// FermiGrid's three acceptance tests of a site, as one result: every active-active copy answers
/// (each member probed directly, and each service through its VIP), a failover of each service
/// sends requests to the survivors (a drill per service), and a stress run's capacity in calls/day.
public struct AcceptanceResult: Codable, Sendable, Equatable {
    /// One probe of the first test.
    public struct Probe: Codable, Sendable, Equatable {
        /// Service.
        public var service: String
        /// A member's name, or `VIP` for the service's address.
        public var member: String
        /// Where the calls went, `host:port`.
        public var target: String
        /// The probe's report (`nil`: it could not run, see ``detail``).
        public var report: StressReport?
        /// Whether the copy answered well enough.
        public var passed: Bool
        /// Why.
        public var detail: String

        /// Creates a probe result.
        public init(service: String, member: String, target: String, report: StressReport?, passed: Bool, detail: String) {
            self.service = service; self.member = member; self.target = target; self.report = report; self.passed = passed; self.detail = detail
        }
    }

    /// The site.
    public var site: String
    /// When it began and ended.
    public var startedAt: EpochMillis
    /// Ended.
    public var endedAt: EpochMillis
    /// Test 1: every copy answers.
    public var probes: [Probe]
    /// Test 2: a failover drill per service.
    public var failovers: [DrillResult]
    /// Test 2's services that could not be drilled, with why.
    public var failoverRefusals: [String]
    /// Test 3: the capacity run.
    public var capacity: StressReport?
    /// Test 3's mix, as service=weight.
    public var capacityMix: String
    /// The capacity the site had to reach (calls/day), if set.
    public var minCallsPerDay: Int?
    /// The failed share the capacity run could have.
    public var maxErrorRatio: Double

    /// Creates a result.
    public init(site: String, startedAt: EpochMillis, endedAt: EpochMillis, probes: [Probe], failovers: [DrillResult],
                failoverRefusals: [String], capacity: StressReport?, capacityMix: String, minCallsPerDay: Int?, maxErrorRatio: Double) {
        self.site = site; self.startedAt = startedAt; self.endedAt = endedAt; self.probes = probes; self.failovers = failovers
        self.failoverRefusals = failoverRefusals; self.capacity = capacity; self.capacityMix = capacityMix
        self.minCallsPerDay = minCallsPerDay; self.maxErrorRatio = maxErrorRatio
    }

    /// Judges one probe of the first test: at least one success, and at most 1% failed.
    public static func judge(probe report: StressReport?) -> (Bool, String) {
        guard let r = report else { return (false, "the probe did not run") }
        let failed = r.requests - r.successes
        let detail = "\(r.successes) of \(r.requests) calls answered, p50 \(formatFixed(r.successLatency.p50, 1)) ms, p99 \(formatFixed(r.successLatency.p99, 1)) ms"
            + (r.errors.isEmpty ? "" : "; errors " + r.errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        return (r.successes > 0 && failed * 100 <= r.requests, detail)
    }

    /// The capacity test's outcome.
    public var capacityCheck: Verdict.Check {
        guard let r = capacity else { return .init("stress capacity", false, "the capacity run did not run") }
        let failed = r.requests - r.successes
        let ratio = r.requests > 0 ? Double(failed) / Double(r.requests) : 1
        var ok = r.successes > 0 && ratio <= maxErrorRatio
        var detail = "\(Self.perDay(r.callsPerDay)) calls/day (\(formatFixed(r.throughput, 0)) ok/s), p50 \(formatFixed(r.successLatency.p50, 1)) ms, "
            + "p99 \(formatFixed(r.successLatency.p99, 1)) ms, p99.9 \(formatFixed(r.successLatency.p999, 1)) ms; \(failed) of \(r.requests) failed "
            + "(at most \(formatFixed(maxErrorRatio * 100, 2))% allowed)"
        if let min = minCallsPerDay {
            ok = ok && r.callsPerDay >= Double(min)
            detail += "; required \(Self.perDay(Double(min))) calls/day"
        }
        return .init("stress capacity", ok, detail)
    }

    /// The three tests as a verdict.
    public var verdict: Verdict {
        let bad = probes.filter { !$0.passed }
        let answers = Verdict.Check("every active-active copy answers", !probes.isEmpty && bad.isEmpty,
                                    probes.isEmpty ? "nothing was probed" : bad.isEmpty ? "\(probes.count) probes answered"
                                        : bad.map { "\($0.service)/\($0.member): \($0.detail)" }.joined(separator: "; "))
        let failedDrills = failovers.filter { !$0.verdict.passed }
        let failover = Verdict.Check("failover sends requests to the survivors", !failovers.isEmpty && failedDrills.isEmpty && failoverRefusals.isEmpty,
                                     (failedDrills.map { "\($0.record.service): " + $0.verdict.failures.map { "\($0.name) (\($0.detail))" }.joined(separator: ", ") }
                                      + failoverRefusals).joined(separator: "; ").nonEmpty ?? "\(failovers.count) service(s) failed over")
        return Verdict(checks: [answers, failover, capacityCheck])
    }

    /// `1.2 M`, `850 k`.
    static func perDay(_ v: Double) -> String {
        v >= 1e6 ? formatFixed(v / 1e6, 2) + " M" : v >= 1e3 ? formatFixed(v / 1e3, 1) + " k" : formatFixed(v, 0)
    }

    /// The HTML report.
    public func html() -> String {
        let v = verdict
        var b = "<h1>Acceptance of \(HTML.escape(site)) \(HTML.badge(v.passed))</h1>"
        b += "<p class=\"sub\">FermiGrid's three acceptance tests · started \(HTML.escape(DrillReport.timestamp(startedAt))) · "
            + "\(Int(((endedAt - startedAt) / 1000).rounded())) s</p>"
        b += HTML.table(["test", "result", "detail"], v.checks.map {
            [HTML.escape($0.name), $0.passed ? "<span class=\"ok\">pass</span>" : "<span class=\"bad\">fail</span>", HTML.escape($0.detail)]
        })
        b += "<h2>1. Every active-active copy answers</h2><p>Each member probed directly at its own address, then each service through its VIP.</p>"
        b += HTML.table(["service", "copy", "address", "result", "detail"], probes.map {
            [HTML.escape($0.service), HTML.escape($0.member), HTML.escape($0.target),
             $0.passed ? "<span class=\"ok\">answers</span>" : "<span class=\"bad\">fails</span>", HTML.escape($0.detail)]
        })
        b += "<h2>2. Failover sends requests to the survivors</h2>"
        for r in failoverRefusals { b += "<p class=\"bad\">\(HTML.escape(r))</p>" }
        for d in failovers {
            b += "<h3>\(HTML.escape(d.record.service)): \(HTML.escape(d.record.kind.rawValue)) of \(HTML.escape(d.record.target)) \(HTML.badge(d.verdict.passed))</h3>"
            b += DrillReport.section(d, heading: "h4")
        }
        b += "<h2>3. Stress capacity</h2>"
        b += "<p>\(HTML.escape(capacityCheck.detail)). Mix \(HTML.escape(capacityMix)).</p>"
        if let c = capacity {
            let l = c.successLatency
            b += HTML.table(["calls", "ok", "ok/s", "calls/day", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"], [[
                "\(c.requests)", "\(c.successes)", formatFixed(c.throughput, 0), Self.perDay(c.callsPerDay),
                formatFixed(l.p50, 2), formatFixed(l.p90, 2), formatFixed(l.p99, 2), formatFixed(l.p999, 2), formatFixed(l.max, 2),
            ]])
            let slot = (c.slotMillis ?? 100) / 1000
            let xr = 0...max(1, c.durationSeconds)
            let perSecond = { (n: Int) in Double(n) / slot }
            let top = c.timeSeries.map { perSecond($0.ok + $0.errors) }.max() ?? 1
            var calls = SVGChart(title: "Calls per second (each \(Int(slot * 1000)) ms slot)", yLabel: "calls/s", xRange: xr, yRange: 0...max(1, top * 1.15))
            calls.xLabel = "seconds into the run"
            calls.steps(c.timeSeries.map { ($0.t, perSecond($0.ok)) }, colour: DrillReport.Colour.ok, label: "successes/s", fill: true)
            calls.bars(c.timeSeries.map { ($0.t, perSecond($0.errors)) }, barWidth: slot, colour: DrillReport.Colour.errors, label: "errors/s")
            b += calls.render()
            let filled = c.timeSeries.filter { $0.ok + $0.errors > 0 }
            var lat = SVGChart(title: "Latency per slot", yLabel: "ms", xRange: xr, yRange: 0...max(1, (filled.map(\.p99Millis).max() ?? 1) * 1.1))
            lat.xLabel = "seconds into the run"
            lat.steps(filled.map { ($0.t, $0.p99Millis) }, colour: DrillReport.Colour.p99, label: "p99")
            lat.steps(filled.map { ($0.t, $0.p50Millis) }, colour: DrillReport.Colour.p50, label: "p50")
            b += lat.render()
        }
        return HTML.page(title: "Tandem acceptance of \(site)", body: b)
    }

    /// A few lines for the terminal.
    public func text(html: String?, json: String?) -> String {
        let v = verdict
        var s = "acceptance of \(site): \(v.passed ? "PASS" : "FAIL")\n"
        for c in v.checks { s += "  \(c.passed ? "pass" : "FAIL") \(c.name): \(c.detail)\n" }
        if let html { s += "  report \(html)" + (json.map { " (JSON \($0))" } ?? "") + "\n" }
        return s
    }
}

extension String {
    /// `nil` for an empty string.
    var nonEmpty: String? { isEmpty ? nil : self }
}
