import Drill
import LoadReport
import XCTest

/// The figures from synthetic series, including the edge cases of the issue-6 drills' awk (the
/// `outage_ms` that scripts/lib/vrrp-lab.sh now asks `tandemctl drill outage` for).
final class DrillAnalysisTests: XCTestCase {
    /// 20 ms slots of `seconds`, 5 successes each, except the slots whose index is in `empty`.
    static func slots(seconds: Double, empty: Set<Int> = [], errorsIn: Set<Int> = []) -> [TimeSlot] {
        (0..<Int(seconds * 50)).map { i in
            TimeSlot(t: Double(i) * 0.02, ok: empty.contains(i) ? 0 : 5, errors: errorsIn.contains(i) ? 2 : 0,
                     p99Millis: empty.contains(i) ? 0 : 4, p50Millis: empty.contains(i) ? 0 : 1.5)
        }
    }

    func testOutageIsTheLongestRunOfEmptySlotsFromHalfASecondBeforeTheFault() {
        // Fault at 3 s; slots 160..179 empty (3.2 s .. 3.58 s): 20 slots = 400 ms.
        let s = Self.slots(seconds: 8, empty: Set(160..<180))
        XCTAssertEqual(DrillAnalysis.outage(s, slotMillis: 20, faultSeconds: 3), .millis(400))
        // A shorter gap earlier, before the window (t < 2.5 s), does not count even if longer.
        let early = Self.slots(seconds: 8, empty: Set(50..<100).union(160..<165))
        XCTAssertEqual(DrillAnalysis.outage(early, slotMillis: 20, faultSeconds: 3), .millis(100))
        // No gap at all.
        XCTAssertEqual(DrillAnalysis.outage(Self.slots(seconds: 8), slotMillis: 20, faultSeconds: 3), .millis(0))
    }

    func testTheLastHalfSecondIsLeftOutAndAnOpenGapAtTheEndIsUnrecovered() {
        // Empty only in the last 0.5 s (calls cut off by the end of the run): not an outage.
        let tail = Self.slots(seconds: 8, empty: Set(375..<400))
        XCTAssertEqual(DrillAnalysis.outage(tail, slotMillis: 20, faultSeconds: 3), .millis(0))
        // Empty from 3.1 s to the end: the service never came back inside the window.
        let open = Self.slots(seconds: 8, empty: Set(155..<400))
        XCTAssertEqual(DrillAnalysis.outage(open, slotMillis: 20, faultSeconds: 3), .unrecovered(openMillis: (375 - 155) * 20))
        // An open run of 200 ms or less at the end is not "unrecovered" (awk: run * slot > 200).
        let short = Self.slots(seconds: 8, empty: Set(365..<375).union(160..<162))
        XCTAssertEqual(DrillAnalysis.outage(short, slotMillis: 20, faultSeconds: 3), .millis(40))
        // An open run shorter than a closed one is not unrecovered either: the closed one wins.
        let both = Self.slots(seconds: 8, empty: Set(160..<180).union(360..<375))
        XCTAssertEqual(DrillAnalysis.outage(both, slotMillis: 20, faultSeconds: 3), .millis(400))
    }

    func testNoSuccessBeforeTheFaultIsNoLoadAndNoneAtAllIsNoData() {
        // Nothing succeeded from 1.8 s to 2.7 s (the second before the window).
        let noLoad = Self.slots(seconds: 8, empty: Set(0..<140))
        XCTAssertEqual(DrillAnalysis.outage(noLoad, slotMillis: 20, faultSeconds: 3), .noLoadBefore)
        XCTAssertEqual(DrillAnalysis.outage(Self.slots(seconds: 8, empty: Set(0..<400)), slotMillis: 20, faultSeconds: 3), .noData)
        XCTAssertEqual(DrillAnalysis.outage([], slotMillis: 20, faultSeconds: 3), .noData)
        // The stretch before the first success inside the window is not counted (awk's `seen`).
        let lateStart = Self.slots(seconds: 8, empty: Set(125..<135))
        XCTAssertEqual(DrillAnalysis.outage(lateStart, slotMillis: 20, faultSeconds: 3), .millis(0))
    }

    func testUnrecoveredRanksAboveEveryMeasuredOutageForMedians() {
        XCTAssertEqual(Outage.unrecovered(openMillis: 100).rank, .infinity)
        XCTAssertEqual(Outage.millis(400).rank, 400)
        XCTAssertNil(Outage.noLoadBefore.rank)
    }

    // MARK: - directors

    /// A record of a director drill: da holds the VIP until `daUntil`, db from `dbFrom` (epoch ms,
    /// fault at 10,000), sampled every 20 ms from 7,000 to 20,000.
    static func record(kind: DrillKind, daUntil: Double, dbFrom: Double, dbUntil: Double = 1e9, daBackFrom: Double = 1e9,
                       daUnreachableFrom: Double = 1e9, heal: Double? = nil, restored: Double? = nil) -> DrillRecord {
        var samples: [DirectorSample] = []
        var t = 7000.0
        while t <= 20000 {
            let daAlive = t < daUnreachableFrom
            samples.append(DirectorSample(at: t, director: "da", reachable: daAlive, holdsVIP: daAlive ? (t < daUntil || t >= daBackFrom) : nil,
                                          state: daAlive ? "master" : nil))
            samples.append(DirectorSample(at: t + 5, director: "db", reachable: true, holdsVIP: t + 5 >= dbFrom && t + 5 < dbUntil, state: "backup"))
            t += 20
        }
        var marks = [DrillMark(at: 7000, kind: .probeStart, label: "probe running"), DrillMark(at: 10000, kind: .fault, label: "fault")]
        if let heal { marks.append(DrillMark(at: heal, kind: .heal, label: "heal")) }
        if let restored { marks.append(DrillMark(at: restored, kind: .restored, label: "restored")) }
        let empty = Set(Int((10040 - 7000) / 20)..<Int((10440 - 7000) / 20))
        let probe = StressReport(mode: "open", concurrency: 8, targetRate: 250, mix: ["static": 1], requests: 3000, successes: 2984,
                                 errors: ["timeout": 16], durationSeconds: 13, throughput: 229, callsPerDay: 229 * 86400,
                                 latency: .init(p50: 1, p90: 2, p99: 4, p999: 200, max: 200, mean: 2),
                                 successLatency: .init(p50: 1, p90: 2, p99: 4, p999: 8, max: 9, mean: 1.2), largestGapSeconds: 0.4,
                                 largestGapStartSeconds: 3.04, stoppedBy: "signal", timeSeries: slots(seconds: 13, empty: empty),
                                 startedAtEpochMillis: 7000, slotMillis: 20,
                                 heldConnection: .init(connectedAt: 0.1, answerTimes: stride(from: 0.2, through: 12.0, by: 0.1).filter { $0 < 3.05 || $0 > 3.65 },
                                                       failure: nil, failedAt: nil))
        return DrillRecord(kind: kind, label: "tandemd", site: "drill", service: "web", probeTarget: "10.99.0.100:8080", target: "da",
                           targetService: nil, directors: ["da", "db"], startedAt: 6000, endedAt: 20000, probe: probe, samples: samples,
                           marks: marks, hooks: [HookRun(stage: "inject", command: ["kill"], started: 10000, ended: 10010, outcome: "exit status 0", succeeded: true, output: "")])
    }

    func testAKillFiguresTakeoverFromTheMasterLettingGoAndNoDualMaster() {
        let r = Self.record(kind: .directorKill, daUntil: 1e9, dbFrom: 10_300, daUnreachableFrom: 10_020, heal: 16_000, restored: 18_500)
        let f = DrillAnalysis.figures(r)
        XCTAssertEqual(f.outage, .millis(400))
        XCTAssertEqual(f.letGoMillis, 20, "da stopped answering at the first poll after the fault")
        XCTAssertEqual(f.takeoverMillis, 305 - 20, "db's first holding sample (10,305) from da letting go (10,020)")
        XCTAssertEqual(f.dualMaster, [])
        XCTAssertEqual(f.falseTakeovers, 0)
        XCTAssertEqual(f.connection, .survived)
        XCTAssertEqual(f.connectionGapMillis, 700, "the held connection waited from 3.0 s to 3.7 s")
        XCTAssertEqual(f.errors, ["timeout": 16])
        XCTAssertEqual(f.restoredMillis, 2500)
        XCTAssertEqual(f.holdersAtEnd, ["db"])
        let v = Verdict.judge(r, f, expect: nil, problems: [])
        XCTAssertTrue(v.passed, "\(v.failures)")
        XCTAssertTrue(v.checks.contains { $0.name == "never two masters" && $0.passed })
    }

    func testAHeartbeatCutWithoutAWitnessIsDualMasterAndFailsItsVerdict() {
        // keepalived's behaviour: db takes the VIP 400 ms into the cut and keeps it until the heal.
        let r = Self.record(kind: .heartbeatCut, daUntil: 1e9, dbFrom: 10_405, dbUntil: 15_105, heal: 15_000, restored: 15_200)
        let f = DrillAnalysis.figures(r)
        XCTAssertEqual(f.dualMaster.count, 1)
        XCTAssertEqual(f.dualMasterMillis, 15_105 - 10_405, "from db's first holding sample to the first that shows it let go")
        XCTAssertEqual(f.takeoversDuringFault, 1)
        XCTAssertEqual(f.takeoverMillis, 405)
        let v = Verdict.judge(r, f, expect: nil, problems: [])
        XCTAssertFalse(v.passed)
        XCTAssertEqual(Set(v.failures.map(\.name)), ["never two masters", "no takeover while the heartbeat was cut"])
    }

    func testATakeoverBeforeTheFaultIsAFalseTakeover() {
        let r = Self.record(kind: .directorGraceful, daUntil: 1e9, dbFrom: 8_005, dbUntil: 8_205)
        let f = DrillAnalysis.figures(r)
        XCTAssertEqual(f.falseTakeovers, 1)
        XCTAssertEqual(f.dualMasterMillis, 200)
    }

    func testConnectionFatesAroundTheFault() {
        var r = Self.record(kind: .directorKill, daUntil: 1e9, dbFrom: 10_300, daUnreachableFrom: 10_020)
        r.probe?.heldConnection = .init(connectedAt: 0.1, answerTimes: [0.2, 0.3, 2.9], failure: "closed", failedAt: 3.4)
        XCTAssertEqual(DrillAnalysis.figures(r).connection, .broken("closed", afterFaultMillis: 400))
        r.probe?.heldConnection = .init(connectedAt: 0.1, answerTimes: [0.2], failure: "timeout", failedAt: 1.0)
        XCTAssertEqual(DrillAnalysis.figures(r).connection, .brokenBeforeFault("timeout"))
        r.probe?.heldConnection = .init(connectedAt: 0.1, answerTimes: [4.0], failure: nil, failedAt: nil)
        XCTAssertEqual(DrillAnalysis.figures(r).connection, .notReadyBeforeFault)
        r.probe?.heldConnection = .init(connectedAt: nil, answerTimes: [], failure: "connect_refused", failedAt: 0)
        XCTAssertEqual(DrillAnalysis.figures(r).connection, .neverConnected("connect_refused"))
        r.probe?.heldConnection = nil
        XCTAssertEqual(DrillAnalysis.figures(r).connection, .notHeld)
        // A kill whose connection broke fails its verdict by name.
        r.probe?.heldConnection = .init(connectedAt: 0.1, answerTimes: [0.2, 2.9], failure: "closed", failedAt: 3.4)
        let v = Verdict.judge(r, DrillAnalysis.figures(r), expect: nil, problems: [])
        XCTAssertEqual(v.failures.map(\.name), ["held connection survives"])
        // A site that expects the break (the no-sync control) passes with it.
        let control = Verdict.judge(r, DrillAnalysis.figures(r), expect: .init(connection: "breaks"), problems: [])
        XCTAssertTrue(control.passed, "\(control.failures)")
    }

    func testABackendKillIsDetectedDrainedAndRestoredFromTheDirectorsSamples() {
        var samples: [DirectorSample] = []
        for t in stride(from: 7000.0, through: 16000, by: 50) {
            let down = t >= 10_150 && t < 14_400
            let weight = t >= 10_200 && t < 14_450 ? 0 : 100
            samples.append(DirectorSample(at: t, director: "d1", reachable: true, holdsVIP: nil, members: [
                MemberSample(service: "gums", member: "g1", state: down ? "down" : "up", drained: false, weight: weight, topologyWeight: 100, kernelWeight: weight),
            ]))
        }
        var r = Self.record(kind: .backendKill, daUntil: 0, dbFrom: 0)
        r.directors = ["d1"]
        r.samples = samples
        r.target = "g1"
        r.targetService = "gums"
        r.marks = [DrillMark(at: 7000, kind: .probeStart, label: ""), DrillMark(at: 10_000, kind: .fault, label: ""),
                   DrillMark(at: 14_000, kind: .heal, label: ""), DrillMark(at: 14_460, kind: .restored, label: "")]
        r.hooks.append(HookRun(stage: "heal", command: ["start"], started: 14_000, ended: 14_100, outcome: "exit status 0", succeeded: true, output: ""))
        let f = DrillAnalysis.figures(r)
        XCTAssertEqual(f.detectedMillis, 150)
        XCTAssertEqual(f.drainedMillis, 200)
        XCTAssertEqual(f.restoredMillis, 460)
        XCTAssertNil(f.takeoverMillis)
        let v = Verdict.judge(r, f, expect: .init(maxTimeToDrain: .milliseconds(100)), problems: [])
        XCTAssertEqual(v.failures.map(\.name), ["drained within 100.0 ms"])
    }

    func testAnAbortedDrillFailsWithItsReasonOnly() {
        var r = Self.record(kind: .directorKill, daUntil: 1e9, dbFrom: 1e9)
        r.aborted = "the site was not steady within 30.00 s: db does not answer"
        let v = Verdict.judge(r, DrillAnalysis.figures(r), expect: nil, problems: [])
        XCTAssertFalse(v.passed)
        XCTAssertEqual(v.failures.first?.detail, "the site was not steady within 30.00 s: db does not answer")
    }

    func testComparisonMediansRatiosAndUnrecoveredTrials() {
        func result(_ label: String, _ outage: Int?, dual: Bool = false) -> DrillResult {
            var r = Self.record(kind: .heartbeatCut, daUntil: 1e9, dbFrom: dual ? 10_405 : 1e9, dbUntil: 15_105, heal: 15_000)
            r.label = label
            if outage == nil { r.probe?.timeSeries = Self.slots(seconds: 13, empty: Set(200..<650)) }
            else { r.probe?.timeSeries = Self.slots(seconds: 13, empty: Set(160..<(160 + outage! / 20))) }
            return DrillResult(record: r, expect: nil, problems: [])
        }
        let c = DrillComparison([result("tandemd", 20), result("keepalived", nil, dual: true), result("tandemd", 40),
                                 result("keepalived", 400, dual: true), result("tandemd", 20), result("keepalived", nil, dual: true)])
        XCTAssertEqual(c.labels, ["tandemd", "keepalived"])
        XCTAssertEqual(c.group(.heartbeatCut, "tandemd")?.medianOutage, 20)
        XCTAssertEqual(c.group(.heartbeatCut, "keepalived")?.medianOutage, .infinity)
        XCTAssertEqual(c.ratio(.heartbeatCut), ">1")
        XCTAssertEqual(c.group(.heartbeatCut, "keepalived")?.dualMasterMillis, [4700, 4700, 4700])
        XCTAssertTrue(c.text().contains("heartbeat-cut      | 20 ms (20, 40, 20)"), c.text())
    }

    /// The series file round-trips through the one writer and the one reader, and gives the same
    /// outage as the slots it came from (what `tandemctl drill outage` prints for bench-failover).
    func testSeriesCSVRoundTripsAndGivesTheSameOutage() throws {
        let slots = Self.slots(seconds: 6, empty: Set(150..<170)).map { TimeSlot(t: $0.t, ok: $0.ok, errors: $0.errors, p99Millis: $0.p99Millis) }
        let text = SeriesCSV.render(slots)
        XCTAssertTrue(text.hasPrefix("t,ok,errors,p99_ms\n"))
        let parsed = try SeriesCSV.parse(text)
        XCTAssertEqual(parsed, slots)
        XCTAssertEqual(DrillAnalysis.outage(parsed, slotMillis: 20, faultSeconds: 3), .millis(400))
        XCTAssertEqual(try SeriesCSV.parse(text.replacingOccurrences(of: "\n", with: "\r\n")), slots)
    }

    /// A file that is not a series says where and what.
    func testSeriesCSVErrorsNameLineAndColumn() {
        func error(_ text: String) -> SeriesCSV.ParseError? {
            do { _ = try SeriesCSV.parse(text); return nil } catch { return error }
        }
        XCTAssertEqual(error(""), .init(line: 1, column: 1, message: "the file is empty: expected the header 't,ok,errors,p99_ms'"))
        XCTAssertEqual(error("time,ok\n")?.line, 1)
        XCTAssertEqual(error("t,ok,errors,p99_ms\n0.0,5,0,1.5\n0.02,5,x,1.5\n"),
                       .init(line: 3, column: 8, message: "'x' is not a valid count of failures"))
        XCTAssertEqual(error("t,ok,errors,p99_ms\n0.0,-1,0,1.5\n")?.column, 5)
        XCTAssertEqual(error("t,ok,errors,p99_ms\n0.0,5,0\n")?.message, "expected 4 comma-separated fields (t,ok,errors,p99_ms), found 3")
    }
}
