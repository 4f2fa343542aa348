import Drill
import LoadReport
import XCTest

/// The reports rendered from synthetic series: structure a reader relies on, and nothing fetched.
final class ReportTests: XCTestCase {
    func result() -> DrillResult {
        let r = DrillAnalysisTests.record(kind: .directorKill, daUntil: 1e9, dbFrom: 10_300, daUnreachableFrom: 10_020, heal: 16_000, restored: 18_500)
        return DrillResult(record: r, expect: nil, problems: [])
    }

    /// Occurrences of `needle` in `text`.
    func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    func testADrillReportIsOneFileWithChartsAxesLegendsAndMarkedEvents() {
        let html = DrillReport.html(result())
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertEqual(count("<svg", in: html), 3, "calls, latency, and who held the VIP")
        XCTAssertEqual(count("</svg>", in: html), 3)
        for title in ["Successful and failed calls per 20 ms slot", "Latency of the calls completed in each slot", "Who held the VIP"] {
            XCTAssertTrue(html.contains(title), title)
        }
        // Axes: the x axis in seconds from the fault, with ticks on both sides of 0.
        XCTAssertEqual(count("seconds from the fault", in: html), 3)
        XCTAssertTrue(html.contains(">-2</text>") && html.contains(">0</text>") && html.contains(">6</text>"), "x ticks")
        // Legends and marks.
        for label in ["successes", "errors", "p50", "p99", "holds the VIP", "backup", "no answer", "dual master"] {
            XCTAssertTrue(html.contains(">\(label)</text>"), "legend \(label)")
        }
        XCTAssertEqual(count(">fault</text>", in: html), 3, "the fault is marked on every chart")
        XCTAssertEqual(count(">heal</text>", in: html), 3)
        XCTAssertEqual(count(">restored</text>", in: html), 3)
        // The ownership band: da's green stretch, then "no answer"; db's backup then holding.
        XCTAssertTrue(html.contains("<title>da: holds the VIP</title>") && html.contains("<title>da: no answer</title>"))
        XCTAssertTrue(html.contains("<title>db: backup</title>") && html.contains("<title>db: holds the VIP</title>"))
        // Figures and verdict.
        XCTAssertTrue(html.contains("client-visible outage</td><td>400 ms"), "figure row")
        XCTAssertTrue(html.contains("<span class=\"badge pass\">PASS</span>"))
        // Self-contained: nothing to fetch.
        for forbidden in ["http://", "https://", "src=", "<script", "<link", "@import", "url("] {
            XCTAssertFalse(html.contains(forbidden), "the report must not reference \(forbidden)")
        }
    }

    func testAMemberDrillAddsTheWeightChartAndTheTextSummaryNamesFailures() {
        var r = result().record
        r.kind = .backendKill
        r.directors = ["d1"]
        r.target = "g1"
        r.targetService = "gums"
        r.samples = stride(from: 7000.0, through: 16000, by: 50).map { t in
            DirectorSample(at: t, director: "d1", reachable: true, holdsVIP: nil, members: [
                MemberSample(service: "gums", member: "g1", state: t >= 10_150 ? "down" : "up", drained: false,
                             weight: t >= 10_200 ? 0 : 100, topologyWeight: 100, kernelWeight: t >= 10_200 ? 0 : 100)])
        }
        // Healed, but never steady again afterwards: the verdict names it.
        r.marks.removeAll { $0.kind == .restored }
        r.hooks.append(HookRun(stage: "heal", command: ["start"], started: 16_000, ended: 16_100, outcome: "exit status 0", succeeded: true, output: ""))
        let d = DrillResult(record: r, expect: nil, problems: [])
        let html = DrillReport.html(d)
        XCTAssertEqual(count("<svg", in: html), 4)
        XCTAssertTrue(html.contains("g1&#39;s weight in the kernel"), "weight chart title, escaped")
        XCTAssertTrue(html.contains(">kernel weight</text>"))
        let text = DrillReport.text(d, html: "/r/x.html", json: "/r/x.json")
        XCTAssertTrue(text.hasPrefix("drill backend-kill on drill (tandemd), target g1: FAIL\n"), text)
        XCTAssertTrue(text.contains("detected 150 ms; drained 200 ms"), text)
        XCTAssertTrue(text.contains("FAILED site restored after the heal: not steady again within the settle bound"), text)
        XCTAssertTrue(text.hasSuffix("  report /r/x.html (JSON /r/x.json)\n"), text)
    }

    func testTheJSONReportRoundTrips() throws {
        let d = result()
        let back = try JSONDecoder().decode(DrillResult.self, from: JSONEncoder().encode(d))
        XCTAssertEqual(back, d)
    }

    func testHTMLEscapesWhatTheSiteWrote() {
        var r = result().record
        r.hooks = [HookRun(stage: "inject", command: ["sh", "-c", "echo <b>&\"'"], started: 0, ended: 1, outcome: "exit status 0", succeeded: true,
                           output: "<script>alert(1)</script>")]
        let html = DrillReport.html(DrillResult(record: r, expect: nil, problems: []))
        XCTAssertFalse(html.contains("<script>"))
        XCTAssertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        XCTAssertTrue(html.contains("echo &lt;b&gt;&amp;&quot;&#39;"))
    }

    func testComparisonAndAcceptanceReportsAreSelfContainedToo() {
        var k = result()
        k.record.label = "keepalived"
        let cmp = DrillComparison([result(), k]).html(title: "t", note: "n")
        XCTAssertTrue(cmp.contains("<th>ratio to tandemd</th>"), "the ratio column names the first director")
        XCTAssertTrue(cmp.contains("<td>keepalived</td>"), "one row per drill and director")
        XCTAssertEqual(count("<svg", in: cmp), 4, "calls and ownership of each trial")
        let probe = result().record.probe!
        let a = AcceptanceResult(site: "lab", startedAt: 0, endedAt: 60_000,
                                 probes: [.init(service: "gums", member: "g1", target: "10.0.0.1:8443", report: probe, passed: true, detail: "ok")],
                                 failovers: [result()], failoverRefusals: [], capacity: probe, capacityMix: "gums=1",
                                 minCallsPerDay: 30_000_000, maxErrorRatio: 0.001)
        let html = a.html()
        XCTAssertFalse(a.verdict.passed, "229 ok/s is 19.8 M calls/day, under the 30 M required, and 0.53% failed")
        XCTAssertEqual(a.verdict.failures.map(\.name), ["stress capacity"])
        XCTAssertTrue(html.contains("19.79 M calls/day"), html)
        for forbidden in ["http://", "https://", "src=", "<script"] { XCTAssertFalse(html.contains(forbidden) || cmp.contains(forbidden), forbidden) }
        XCTAssertTrue(a.text(html: nil, json: nil).contains("FAIL stress capacity"))
    }
}
