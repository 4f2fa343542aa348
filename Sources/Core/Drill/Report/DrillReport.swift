import LoadReport
import Net

/// A drill's reports: the HTML page (figures, verdict, and its charts: calls and errors per slot,
/// latency percentiles, who held the VIP, the target's weight, the fault and recovery marked on the
/// time axis) and the short text for the terminal. The JSON report is ``DrillResult`` itself.
public enum DrillReport {
    /// Colours shared by every chart, so a reader learns them once.
    enum Colour {
        static let ok = "#2e7d32", errors = "#c62828", p50 = "#1565c0", p99 = "#ef6c00"
        static let holding = "#43a047", backup = "#cfd8dc", silent = "#78909c", dual = "#d81b60"
        static let fault = "#c62828", heal = "#2e7d32", restored = "#1565c0", hook = "#6a1b9a", stop = "#5b6579", weight = "#5e35b1"
    }

    /// The whole page for one drill.
    public static func html(_ r: DrillResult) -> String {
        let rec = r.record
        var b = "<h1>Drill \(HTML.escape(rec.kind.rawValue)) on \(HTML.escape(rec.site)) \(HTML.badge(r.verdict.passed))</h1>"
        b += "<p class=\"sub\">\(HTML.escape(rec.label)) · service \(HTML.escape(rec.service)) through \(HTML.escape(rec.probeTarget)) · "
            + "target \(HTML.escape(rec.target)) · started \(HTML.escape(timestamp(rec.startedAt)))</p>"
        if let spec = rec.kind.spec { b += "<p>\(HTML.escape(spec.summary.prefix(1).uppercased() + spec.summary.dropFirst())).</p>" }
        b += section(r, heading: "h2")
        return HTML.page(title: "Tandem drill \(rec.kind) on \(rec.site) (\(rec.label))", body: b)
    }

    /// The figures, verdict and charts of one drill, for a page of its own or inside another report
    /// (an acceptance run, a comparison). `heading` is the level of its section titles.
    public static func section(_ r: DrillResult, heading: String) -> String {
        let f = r.figures, rec = r.record
        var b = "<\(heading)>Verdict</\(heading)>"
        b += HTML.table(["check", "result", "detail"], r.verdict.checks.map {
            [HTML.escape($0.name), $0.passed ? "<span class=\"ok\">pass</span>" : "<span class=\"bad\">fail</span>", HTML.escape($0.detail)]
        })
        b += "<\(heading)>Figures</\(heading)>"
        b += HTML.table(["figure", "value", "how it is measured"], figureRows(f, rec).map { [HTML.escape($0.0), HTML.escape($0.1), HTML.escape($0.2)] })
        b += "<\(heading)>Time series</\(heading)>"
        b += charts(r).joined()
        if !rec.hooks.isEmpty {
            b += "<\(heading)>Hooks</\(heading)>"
            for h in rec.hooks {
                b += "<p><b>\(HTML.escape(h.stage))</b> <code>\(HTML.escape(h.command.joined(separator: " ")))</code>: \(HTML.escape(h.outcome)), "
                    + "\(Int((h.ended - h.started).rounded())) ms</p>"
                if !h.output.isEmpty { b += "<pre>\(HTML.escape(h.output))</pre>" }
            }
        }
        return b
    }

    /// The figures as rows: name, value, definition.
    static func figureRows(_ f: DrillFigures, _ rec: DrillRecord) -> [(String, String, String)] {
        var rows: [(String, String, String)] = [
            ("client-visible outage", f.outage.description,
             "longest run of \(slotText(rec)) slots without a successful call, from 0.5 s before the fault; the series' last 0.5 s left out"),
            ("calls", "\(f.calls) (\(f.successes) ok, \(formatFixed(f.throughput, 0)) ok/s)", "the probe's calls over the whole window"),
            ("errors by kind", f.errors.isEmpty ? "none" : f.errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
             "failed calls as the probe classified them"),
        ]
        if rec.directors.count > 1 {
            rows.append(("dual-master time", f.dualMaster.isEmpty ? "0 ms" : "\(f.dualMasterMillis) ms in \(f.dualMaster.count) episode(s)",
                         "stretches in which two directors held the VIP, from their /status (or VIP watch) every poll"))
        }
        if let t = f.takeoverMillis {
            rows.append(("takeover", "\(t) ms", rec.kind == .directorKill ? "from the master's links going down (its hook's first event) to another director holding the VIP"
                         : rec.kind == .directorGraceful ? "from the master letting go of the VIP to another director holding it"
                         : "from the fault to another director holding the VIP"))
        } else if rec.directors.contains(rec.target) {
            rows.append(("takeover", "none", "no other director took the VIP after the fault"))
        }
        if let l = f.letGoMillis { rows.append(("master let go", "\(l) ms", "from the fault until the master no longer held the VIP")) }
        if rec.directors.contains(rec.target) {
            rows.append(("false takeovers", "\(f.falseTakeovers)", "another director took the VIP between the probe's start and the fault"))
        }
        if case .after(let hold)? = rec.kind.spec?.heal, hold > .zero {
            rows.append(("takeovers during the fault", "\(f.takeoversDuringFault)", "another director took the VIP while the fault stood"))
        }
        if f.connection != .notHeld {
            rows.append(("held connection", f.connection.description + (f.connectionGapMillis.map { ", longest wait \($0) ms" } ?? ""),
                         "one keep-alive connection, a GET every interval, never reconnecting"))
        }
        if rec.targetService != nil {
            rows.append(("time to detect", f.detectedMillis.map { "\($0) ms" } ?? "never", "from the fault until the director saw \(rec.target) down or drained"))
            rows.append(("time to drain", f.drainedMillis.map { "\($0) ms" } ?? "never", "from the fault until \(rec.target)'s weight was 0 in the kernel"))
        }
        if f.healAt != nil {
            rows.append(("time to restore", f.restoredMillis.map { "\($0) ms" } ?? "not restored", "from the heal until the site was steady again"))
        }
        if rec.samples.contains(where: { $0.holdsVIP != nil }) {
            rows.append(("VIP at the end", f.holdersAtEnd.isEmpty ? "nobody" : f.holdersAtEnd.joined(separator: " and "), "who held it at the last sample"))
        }
        return rows
    }

    private static func slotText(_ rec: DrillRecord) -> String {
        rec.probe?.slotMillis.map { "\(Int($0)) ms" } ?? "probe"
    }

    /// The time axis of a drill: seconds from the fault (from the probe's start if there was none).
    static func origin(_ rec: DrillRecord) -> EpochMillis { rec.mark(.fault)?.at ?? rec.probeStart ?? rec.startedAt }

    /// Every chart of one drill.
    public static func charts(_ r: DrillResult) -> [String] {
        let rec = r.record
        let zero = origin(rec)
        let rel = { (t: EpochMillis) in (t - zero) / 1000 }
        let start = rec.probeStart.map(rel) ?? rel(rec.startedAt)
        var end = rel(rec.endedAt)
        if let p = rec.probe, let s = rec.probeStart { end = max(end, rel(s) + p.durationSeconds) }
        let xr = (start - 0.5)...(end + 0.2)
        var out: [String] = []
        if let probe = rec.probe, let ps = rec.probeStart {
            out.append(callsChart(probe, offset: rel(ps), xr, rec, zero))
            out.append(latencyChart(probe, offset: rel(ps), xr, rec, zero))
        }
        if !rec.samples.isEmpty {
            out.append(ownershipChart(rec, r.figures, xr, zero))
        }
        if let svc = rec.targetService {
            let view = DrillAnalysis.memberView(rec, service: svc, member: rec.target)
            if !view.isEmpty { out.append(memberChart(view, rec, xr, zero)) }
        }
        return out
    }

    static func callsChart(_ p: StressReport, offset: Double, _ xr: ClosedRange<Double>, _ rec: DrillRecord, _ zero: EpochMillis) -> String {
        let slot = (p.slotMillis ?? 100) / 1000
        let top = Double(p.timeSeries.map { $0.ok + $0.errors }.max() ?? 1)
        var c = SVGChart(title: "Successful and failed calls per \(Int(slot * 1000)) ms slot", yLabel: "calls per slot",
                         xRange: xr, yRange: 0...max(1, top * 1.15))
        c.wholeYTicks = true
        marks(&c, rec, zero)
        c.steps(p.timeSeries.map { (offset + $0.t, Double($0.ok)) }, colour: Colour.ok, label: "successes", fill: true)
        c.bars(p.timeSeries.map { (offset + $0.t, Double($0.errors)) }, barWidth: slot, colour: Colour.errors, label: "errors")
        return c.render()
    }

    static func latencyChart(_ p: StressReport, offset: Double, _ xr: ClosedRange<Double>, _ rec: DrillRecord, _ zero: EpochMillis) -> String {
        let filled = p.timeSeries.filter { $0.ok + $0.errors > 0 }
        let top = filled.map(\.p99Millis).max() ?? 1
        var c = SVGChart(title: "Latency of the calls completed in each slot", yLabel: "ms", xRange: xr, yRange: 0...max(1, top * 1.1))
        marks(&c, rec, zero)
        c.steps(filled.map { (offset + $0.t, $0.p99Millis) }, colour: Colour.p99, label: "p99")
        c.steps(filled.map { (offset + $0.t, $0.p50Millis) }, colour: Colour.p50, label: "p50")
        return c.render()
    }

    static func ownershipChart(_ rec: DrillRecord, _ f: DrillFigures, _ xr: ClosedRange<Double>, _ zero: EpochMillis) -> String {
        let n = Double(rec.directors.count)
        let pair = rec.samples.contains { $0.holdsVIP != nil }
        var c = SVGChart(title: pair ? "Who held the VIP (from each director's /status)" : "The director (answering its /status)",
                         yLabel: "", xRange: xr, yRange: 0...n, height: 70 + 34 * n)
        c.yTicks = false
        let rel = { (t: EpochMillis) in (t - zero) / 1000 }
        for (i, d) in rec.directors.enumerated() {
            let row = n - Double(i) - 1
            c.rowLabel(d, atY: row + 0.5)
            // One block per stretch of the same reading, from its first sample to the next change.
            let mine = rec.samples.filter { $0.director == d }
            var k = 0
            while k < mine.count {
                let s = mine[k]
                let what = !s.reachable ? "no answer" : s.holding ? "holds the VIP" : pair ? (s.state ?? "backup") : "answering"
                var j = k + 1
                while j < mine.count && mine[j].reachable == s.reachable && mine[j].holding == s.holding && mine[j].state == s.state { j += 1 }
                let until = j < mine.count ? mine[j].at : rec.endedAt
                let colour = !s.reachable ? Colour.silent : s.holding || (!pair) ? Colour.holding : Colour.backup
                c.block(x0: rel(s.at), x1: rel(until), y0: row + 0.15, y1: row + 0.85, colour: colour, title: "\(d): \(what)")
                k = j
            }
        }
        for e in f.dualMaster {
            c.block(x0: rel(e.from), x1: rel(e.to), y0: 0, y1: n, colour: Colour.dual, opacity: 0.45, title: "dual master \(e.millis) ms")
        }
        marks(&c, rec, zero)
        c.legendEntry(Colour.holding, pair ? "holds the VIP" : "answering")
        if pair { c.legendEntry(Colour.backup, "backup") }
        c.legendEntry(Colour.silent, "no answer")
        if pair { c.legendEntry(Colour.dual, "dual master") }
        return c.render()
    }

    static func memberChart(_ view: [(at: EpochMillis, member: MemberSample)], _ rec: DrillRecord, _ xr: ClosedRange<Double>, _ zero: EpochMillis) -> String {
        let top = Double(view.map { max($0.member.topologyWeight, $0.member.kernelWeight ?? 0) }.max() ?? 1)
        var c = SVGChart(title: "\(rec.target)'s weight in the kernel, as the director reported it", yLabel: "weight",
                         xRange: xr, yRange: 0...max(1, top * 1.15), height: 180)
        c.wholeYTicks = true
        marks(&c, rec, zero)
        c.steps(view.map { (($0.at - zero) / 1000, Double($0.member.kernelWeight ?? $0.member.weight)) }, colour: Colour.weight, label: "kernel weight")
        for (k, v) in view.enumerated() where v.member.state == "down" || v.member.drained {
            let next = k + 1 < view.count ? view[k + 1].at : v.at
            c.block(x0: (v.at - zero) / 1000, x1: (next - zero) / 1000, y0: 0, y1: top * 0.08, colour: Colour.errors, opacity: 0.8,
                    title: "\(rec.target) \(v.member.drained ? "drained" : "down")")
        }
        c.legendEntry(Colour.errors, "seen down or drained")
        return c.render()
    }

    /// The fault, its end, the heal, the restore, the probe's stop and the hooks' own events, on `c`.
    static func marks(_ c: inout SVGChart, _ rec: DrillRecord, _ zero: EpochMillis) {
        let rel = { (t: EpochMillis) in (t - zero) / 1000 }
        if let f = rec.mark(.fault) { c.window(from: rel(f.at), to: rel(rec.mark(.heal)?.at ?? rec.mark(.probeStop)?.at ?? rec.endedAt), colour: Colour.fault, label: nil) }
        for m in rec.marks {
            switch m.kind {
            case .fault: c.marker(at: rel(m.at), label: "fault", colour: Colour.fault)
            case .heal: c.marker(at: rel(m.at), label: "heal", colour: Colour.heal)
            case .restored: c.marker(at: rel(m.at), label: "restored", colour: Colour.restored)
            case .probeStop: c.marker(at: rel(m.at), label: "probe stop", colour: Colour.stop)
            case .hook: c.marker(at: rel(m.at), label: m.label, colour: Colour.hook, dashed: false)
            case .probeStart, .faultDone, .healDone: break
            }
        }
    }

    /// A few lines for the terminal.
    public static func text(_ r: DrillResult, html: String?, json: String?) -> String {
        let f = r.figures, rec = r.record
        var s = "drill \(rec.kind) on \(rec.site) (\(rec.label)), target \(rec.target): \(r.verdict.passed ? "PASS" : "FAIL")\n"
        var line = "  outage \(f.outage)"
        line += "; errors " + (f.errors.isEmpty ? "none" : f.errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        if rec.directors.count > 1 { line += "; dual master \(f.dualMasterMillis) ms" }
        s += line + "\n"
        var more: [String] = []
        if let t = f.takeoverMillis { more.append("takeover \(t) ms" + (f.letGoMillis.map { " (master let go after \($0) ms)" } ?? "")) }
        if f.connection != .notHeld { more.append("held connection \(f.connection)") }
        if let d = f.detectedMillis { more.append("detected \(d) ms") }
        if let d = f.drainedMillis { more.append("drained \(d) ms") }
        if let d = f.restoredMillis { more.append("restored \(d) ms after the heal") }
        if !more.isEmpty { s += "  " + more.joined(separator: "; ") + "\n" }
        for c in r.verdict.failures { s += "  FAILED \(c.name): \(c.detail)\n" }
        if let html { s += "  report \(html)" + (json.map { " (JSON \($0))" } ?? "") + "\n" }
        return s
    }

    /// `2026-11-23 05:18:02 UTC` for an epoch time, without Foundation.
    static func timestamp(_ t: EpochMillis) -> String {
        let c = civil(t)
        return "\(c.y)-\(two(c.m))-\(two(c.d)) \(two(c.h)):\(two(c.min)):\(two(c.s)) UTC"
    }

    /// `20261123-051802` (UTC), for file names.
    public static func timestampCompact(_ t: EpochMillis) -> String {
        let c = civil(t)
        return "\(c.y)\(two(c.m))\(two(c.d))-\(two(c.h))\(two(c.min))\(two(c.s))"
    }

    private static func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }

    /// The UTC calendar date and time of an epoch time (Howard Hinnant's days-to-civil algorithm).
    private static func civil(_ t: EpochMillis) -> (y: Int64, m: Int64, d: Int64, h: Int64, min: Int64, s: Int64) {
        let secs = Int64((t / 1000).rounded(.down))
        let days = secs >= 0 ? secs / 86_400 : (secs - 86_399) / 86_400
        let rem = secs - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d, rem / 3600, rem % 3600 / 60, rem % 60)
    }
}
