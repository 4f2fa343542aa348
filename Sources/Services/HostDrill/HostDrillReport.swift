import Foundation
import Net

/// A peer's published figure for restoring a lost host's VMs, printed beside ours
/// (the INFN prototype's report, the peers' own documentation).
public struct HostAnchor: Codable, Sendable {
    /// Who.
    public var name: String
    /// The figure, in seconds.
    public var seconds: Double
    /// What it measures and where it comes from.
    public var what: String

    /// The figures the issue names: the seed site's, Proxmox VE HA's and XenServer/XCP-ng HA's.
    public static let peers: [HostAnchor] = [
        HostAnchor(name: "seed (INFN HA prototype), 5 VMs", seconds: 150,
                   what: "Nagios + Cfengine + Xen restart of a dead host's VMs elsewhere: ~50 s for 1 VM, ~2.5 min for 5 (its report, the design's second source)"),
        HostAnchor(name: "seed, per VM", seconds: 50, what: "the same prototype, 1 VM per host (its report)"),
        HostAnchor(name: "Proxmox VE HA", seconds: 120,
                   what: "default end to end \"about 2 minutes\": corosync quorum, 60 s watchdog self-fence, 120 s lock (the Proxmox VE HA manager's documentation)"),
        HostAnchor(name: "XenServer / XCP-ng HA", seconds: 120,
                   what: "\"usually 2 minutes\": heartbeat timeout T >= 10 s (normally 60 s), Xen watchdog self-fence (the XenServer / XCP-ng HA documentation)"),
    ]
}

/// One column of a drill's summary: median, min and max over the trials that reached the step.
public struct HostDrillFigure: Codable, Sendable {
    /// What it is.
    public var name: String
    /// Trials that reached the step.
    public var n: Int
    public var median: Double?
    public var min: Double?
    public var max: Double?

    /// The figure of `values` (nil entries are trials that did not reach the step).
    public init(_ name: String, _ values: [Double?]) {
        self.name = name
        let v = values.compactMap { $0 }.sorted()
        n = v.count
        min = v.first; max = v.last
        median = v.isEmpty ? nil : v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
    }

    /// `412.3 ms [398.0–450.1] (5)`, or `—`.
    public var text: String {
        guard let median, let min, let max else { return "—" }
        return "\(formatFixed(median, 1)) [\(formatFixed(min, 1))–\(formatFixed(max, 1))] (\(n))"
    }
}

/// A drill's summary over its trials.
public struct HostDrillSummary: Codable, Sendable {
    public var drill: HostDrillKind
    public var trials: Int
    public var passed: Int
    /// Times from the fault, ms.
    public var figures: [HostDrillFigure]
    /// Requests that failed per lost member (a client pinned to it), and its down window (ms).
    public var lostMemberFailed: HostDrillFigure
    public var lostMemberWindowMs: HostDrillFigure
    public var lostMemberSent: Int
    /// Requests that failed to the surviving partners, in all trials.
    public var partnerFailed: Int
    public var partnerSent: Int
    /// When the partners' failures began (each trial's earliest, ms from the fault), for people.
    public var partnerFailureStarts: String
    /// VMs ever seen on two hosts at once, over all trials.
    public var runningTwice: Int
    public var samples: Int
    public var largestSampleGapMs: Double
    /// The fewest VMs any trial's sampler saw live at once at its busiest (the site's 2 × pairs
    /// when it sees them all).
    public var mostLiveSeenMin: Int

    /// Summarises `trials` (all of one drill).
    public init(_ drill: HostDrillKind, _ trials: [HostDrillTrial]) {
        self.drill = drill
        self.trials = trials.count
        passed = trials.filter(\.pass).count
        var f = [HostDrillFigure("first signal", trials.map(\.firstSignalMs)),
                 HostDrillFigure("detected (condemned)", trials.map(\.detectedMs))]
        if drill == .partitionManagement || drill == .fenceFail {
            f.append(HostDrillFigure(drill == .fenceFail ? "awaiting operator" : "partition reported", trials.map(\.reportedMs)))
        }
        if drill == .fenceFail { f.append(HostDrillFigure("operator confirm-off sent", trials.map(\.operatorConfirmedMs))) }
        f += [HostDrillFigure(drill == .fenceFail ? "confirmed off" : "fenced", trials.map(\.fencedMs)),
              HostDrillFigure("restarts issued", trials.map(\.restartsIssuedMs)),
              HostDrillFigure("all started", trials.map(\.startedMs)),
              HostDrillFigure("all healthy (HTTP)", trials.map(\.healthyMs)),
              HostDrillFigure("restored (HostRecovery)", trials.map(\.restoredMs))]
        if trials.contains(where: \.director) {
            f += [HostDrillFigure("out of IPVS (last of h1's)", trials.map(\.outOfIPVSMs)),
                  HostDrillFigure("back in IPVS (last moved)", trials.map(\.backInIPVSMs))]
        }
        if drill == .fenceFail {
            f.append(HostDrillFigure("restored after confirm-off", trials.map { t in
                t.restoredMs.flatMap { r in t.operatorConfirmedMs.map { r - $0 } }
            }))
        }
        figures = f
        let lost = trials.flatMap(\.clients).filter(\.lost), partners = trials.flatMap(\.clients).filter { !$0.lost }
        lostMemberFailed = HostDrillFigure("failed requests per lost member", lost.map { Double($0.failed) })
        lostMemberWindowMs = HostDrillFigure("lost member's down window", lost.map(\.downWindowMs))
        lostMemberSent = lost.map(\.sent).reduce(0, +)
        partnerFailed = partners.map(\.failed).reduce(0, +)
        partnerSent = partners.map(\.sent).reduce(0, +)
        partnerFailureStarts = trials.compactMap { t in t.clients.filter { !$0.lost }.compactMap(\.firstFailureMs).min() }
            .map { formatFixed($0, 0) }.joined(separator: ", ")
        runningTwice = trials.map(\.runningTwice.count).reduce(0, +)
        samples = trials.map(\.samples).reduce(0, +)
        largestSampleGapMs = trials.map(\.largestSampleGapMs).max() ?? 0
        mostLiveSeenMin = trials.map(\.mostLiveSeen).min() ?? 0
        let vip = trials.flatMap(\.vipClients)
        vipFailed = HostDrillFigure("failed requests per service", vip.map { Double($0.failed) })
        vipSent = vip.map(\.sent).reduce(0, +)
        vipFailedTotal = vip.map(\.failed).reduce(0, +)
        director = trials.contains(where: \.director)
    }

    /// With a director in front: failed requests per affected service's VIP (per trial), all sent, all failed.
    public var vipFailed: HostDrillFigure
    public var vipSent: Int
    public var vipFailedTotal: Int
    /// A director was in front (tandemd with IPVS): the VIP figures and "back in IPVS" are measured.
    public var director: Bool

    /// The median of "restored", ms.
    public var restoredMedian: Double? { figures.first { $0.name == "restored (HostRecovery)" }?.median }

    /// The drill's lines for people.
    public func lines(vms: Int, ratePerPair: Int) -> [String] {
        var out = ["drill \(drill.rawValue): \(vms) pairs, every a-member on h1; \(trials) trials, \(passed) passed",
                   "  times from the fault (ms): median [min–max] (trials that reached the step)"]
        for f in figures { out.append("    " + f.name.padding(toLength: 28, withPad: " ", startingAt: 0) + f.text) }
        if !director {
            out.append("    " + "back in IPVS".padding(toLength: 28, withPad: " ", startingAt: 0)
                       + "not measured: no director in front (run with --director)")
        }
        out.append("  client pinned to members (\(ratePerPair) GET/s per affected pair, alternating its members, straight to them):")
        out.append("    pinned to a lost member: failed per member \(lostMemberFailed.text), down window ms \(lostMemberWindowMs.text); "
                   + "\(lostMemberSent) sent in all")
        out.append("    pinned to the surviving partner: \(partnerFailed) failed of \(partnerSent)"
                   + (partnerFailureStarts.isEmpty ? "" : "; failures began at " + partnerFailureStarts + " ms from the fault"))
        if director {
            out.append("  clients of the VIPs through the director (\(ratePerPair) GET/s per affected service): failed per service "
                       + "\(vipFailed.text); \(vipFailedTotal) failed of \(vipSent) sent in all")
        }
        out.append("  VMs ever on two hosts at once: \(runningTwice) (live processes sampled every ~50 ms: \(samples) samples, "
                   + "largest gap \(formatFixed(largestSampleGapMs, 0)) ms; every trial's sampler saw at least \(mostLiveSeenMin) of the \(2 * vms) VMs live at once)")
        return out
    }
}

/// Everything a run of the host drills produced (what `--json` writes).
public struct HostDrillReport: Codable, Sendable {
    public var vms: Int
    public var ratePerPair: Int
    public var build: String
    public var loadAverageAtEnd: String
    /// A director (tandemd with IPVS in a UML kernel) was in front of the pairs.
    public var director: Bool
    public var anchors: [HostAnchor]
    public var summaries: [HostDrillSummary]
    public var trials: [HostDrillTrial]

    /// A report of `trials`.
    public init(vms: Int, ratePerPair: Int, build: String, loadAverageAtEnd: String, director: Bool = false, trials: [HostDrillTrial]) {
        self.vms = vms; self.ratePerPair = ratePerPair; self.build = build; self.loadAverageAtEnd = loadAverageAtEnd
        self.director = director
        anchors = HostAnchor.peers
        self.trials = trials
        summaries = HostDrillKind.allCases.compactMap { k in
            let mine = trials.filter { $0.drill == k }
            return mine.isEmpty ? nil : HostDrillSummary(k, mine)
        }
    }

    /// The table beside the peers' figures: our median "restored" and the ratio to each anchor.
    public var table: [String] {
        let peers = HostAnchor.peers
        var out = ["| drill | restored, median [min–max] | " + (director ? "back in IPVS, median | VIP requests failed | " : "") + "target | "
                   + peers.map { "\($0.name) (\(formatFixed($0.seconds, 0)) s)" }.joined(separator: " | ")
                   + " | VMs twice | pass |",
                   "|---|---|---|" + (director ? "---|---|" : "") + String(repeating: "---|", count: peers.count) + "---|---|"]
        for s in summaries {
            let restored = s.figures.first { $0.name == "restored (HostRecovery)" }
            let afterConfirm = s.figures.first { $0.name == "restored after confirm-off" }
            let target: String
            switch s.drill {
            case .crash: target = "< 1 s: " + met(s.restoredMedian, 1000)
            case .hang: target = "< 5 s: " + met(s.restoredMedian, 5000)
            case .partition: target = "restored, 0 twice"
            case .partitionManagement: target = "no fence, no restart"
            case .fenceFail: target = "no restart until confirm-off"
            }
            let ours: String
            let ratios: [String]
            if s.drill == .partitionManagement || s.drill == .fenceFail || s.restoredMedian == nil {
                ours = s.drill == .partitionManagement ? "not restarted (right)" :
                       s.drill == .fenceFail ? "waits for the operator (right); after confirm-off restored in \(afterConfirm?.text ?? "—") ms" : "—"
                ratios = peers.map { _ in "—" }
            } else {
                let m = s.restoredMedian!
                ours = "\(formatFixed(m, 1)) ms [\(formatFixed(restored?.min ?? 0, 1))–\(formatFixed(restored?.max ?? 0, 1))]"
                ratios = peers.map { "×\(formatFixed($0.seconds * 1000 / m, 0)) faster" }
            }
            let front = director
                ? "\(s.figures.first { $0.name == "back in IPVS (last moved)" }?.median.map { formatFixed($0, 1) + " ms" } ?? "—") | "
                  + "\(s.vipFailedTotal) of \(s.vipSent) | "
                : ""
            out.append("| \(s.drill.rawValue) | \(ours) | \(front)\(target) | " + ratios.joined(separator: " | ")
                       + " | \(s.runningTwice) | \(s.passed)/\(s.trials) |")
        }
        return out
    }

    func met(_ value: Double?, _ bound: Double) -> String { value.map { $0 < bound ? "met" : "NOT met" } ?? "NOT met" }

    /// The whole printed report: each drill's lines, the table, what the anchors measure.
    public var text: [String] {
        var out: [String] = []
        for s in summaries { out += s.lines(vms: vms, ratePerPair: ratePerPair); out.append("") }
        out.append("host drills beside the peers (ours: fault → redundancy restored; theirs: host loss → VMs back, by their docs):")
        out += table
        out.append("anchors:")
        for a in HostAnchor.peers { out.append("  \(a.name): \(formatFixed(a.seconds, 0)) s — \(a.what)") }
        out.append("build: \(build); load average at the end: \(loadAverageAtEnd)")
        return out
    }
}
