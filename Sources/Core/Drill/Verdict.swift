import Net

/// Pass or fail, and why: every check a drill's figures were held to.
public struct Verdict: Codable, Sendable, Equatable {
    /// One check.
    public struct Check: Codable, Sendable, Equatable {
        /// What was checked.
        public var name: String
        /// Whether it held.
        public var passed: Bool
        /// The figure against the requirement.
        public var detail: String
        /// Creates a check.
        public init(_ name: String, _ passed: Bool, _ detail: String) { self.name = name; self.passed = passed; self.detail = detail }
    }

    /// Every check.
    public var checks: [Check]
    /// All held.
    public var passed: Bool { !checks.isEmpty && checks.allSatisfy(\.passed) }
    /// The checks that failed.
    public var failures: [Check] { checks.filter { !$0.passed } }

    /// Creates a verdict.
    public init(checks: [Check]) { self.checks = checks }

    /// Judges one drill: its kind's invariants (``DrillKindSpec``), the site's extra requirements,
    /// and whether it ran at all (the probe, the hooks, the restore).
    public static func judge(_ record: DrillRecord, _ f: DrillFigures, expect: DrillFile.Expectations?, problems: [String]) -> Verdict {
        var c: [Check] = []
        if let why = record.aborted { c.append(Check("drill ran to the end", false, why)) }
        for p in problems { c.append(Check("drill ran as planned", false, p)) }
        if let inject = record.hooks.first(where: { $0.stage == "inject" }) {
            c.append(Check("fault injected", inject.succeeded, "inject hook: \(inject.outcome)"))
        }
        guard record.aborted == nil else { return Verdict(checks: c) }
        let spec = record.kind.spec
        switch f.outage {
        case .millis(let m):
            c.append(Check("service came back", true, "client-visible outage \(m) ms"))
        case .unrecovered, .noData, .noLoadBefore:
            c.append(Check("service came back", false, "client-visible outage: \(f.outage)"))
        }
        if let max = expect?.maxOutage {
            let ok = f.outage.millis.map { Int64($0) <= max.wholeMilliseconds } ?? false
            c.append(Check("outage within \(max.humanReadable)", ok, "outage \(f.outage)"))
        }
        if spec?.noDualMaster == true, record.directors.count > 1 {
            c.append(Check("never two masters", f.dualMasterMillis == 0,
                           f.dualMaster.isEmpty ? "no dual-master moment" : "\(f.dualMaster.count) dual-master episode(s), \(f.dualMasterMillis) ms in all"))
        }
        if let max = expect?.maxDualMaster {
            c.append(Check("dual master within \(max.humanReadable)", Int64(f.dualMasterMillis) <= max.wholeMilliseconds, "\(f.dualMasterMillis) ms"))
        }
        if record.kind == .heartbeatCut, record.directors.count > 1 {
            c.append(Check("no takeover while the heartbeat was cut", f.takeoversDuringFault == 0, "\(f.takeoversDuringFault) takeover(s) during the cut"))
        }
        let want = expect?.connection ?? (spec?.connectionSurvives == true ? "survives" : "any")
        if f.connection != .notHeld, want != "any" {
            let survived = f.connection == .survived
            let broke: Bool = { if case .broken = f.connection { return true }; return false }()
            c.append(Check("held connection \(want == "survives" ? "survives" : "breaks")", want == "survives" ? survived : broke,
                           "held connection \(f.connection)"))
        }
        if spec?.detectsTarget == true {
            c.append(Check("target seen failing", f.detectedMillis != nil,
                           f.detectedMillis.map { "\(record.target) down \($0) ms after the fault" } ?? "\(record.target) never seen down or drained"))
        }
        if spec?.drainsTarget == true {
            c.append(Check("target drained", f.drainedMillis != nil,
                           f.drainedMillis.map { "weight 0 in the kernel \($0) ms after the fault" } ?? "\(record.target) never at weight 0"))
        }
        if let max = expect?.maxTimeToDrain {
            let ok = f.drainedMillis.map { Int64($0) <= max.wholeMilliseconds } ?? false
            c.append(Check("drained within \(max.humanReadable)", ok, f.drainedMillis.map { "\($0) ms" } ?? "never"))
        }
        let failed = f.errors.values.reduce(0, +)
        if spec?.lossless == true { c.append(Check("no call lost", failed == 0, "\(failed) failed call(s)")) }
        if let max = expect?.maxErrors { c.append(Check("at most \(max) failed calls", failed <= max, "\(failed) failed")) }
        if record.hooks.contains(where: { $0.stage == "heal" }) {
            c.append(Check("site restored after the heal", f.restoredMillis != nil,
                           f.restoredMillis.map { "steady \($0) ms after the heal" } ?? "not steady again within the settle bound"))
            if let max = expect?.maxTimeToRestore {
                let ok = f.restoredMillis.map { Int64($0) <= max.wholeMilliseconds } ?? false
                c.append(Check("restored within \(max.humanReadable)", ok, f.restoredMillis.map { "\($0) ms" } ?? "never"))
            }
        }
        return Verdict(checks: c)
    }
}

/// One drill's whole outcome: what was recorded, the figures, the verdict. The JSON report.
public struct DrillResult: Codable, Sendable, Equatable {
    /// The record.
    public var record: DrillRecord
    /// The figures.
    public var figures: DrillFigures
    /// The verdict.
    public var verdict: Verdict

    /// Analyses and judges `record`.
    public init(record: DrillRecord, expect: DrillFile.Expectations?, problems: [String]) {
        self.record = record
        figures = DrillAnalysis.figures(record)
        verdict = Verdict.judge(record, figures, expect: expect, problems: problems)
    }
}
