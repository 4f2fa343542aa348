import LoadReport

/// The client-visible outage of a drill: the longest stretch of the probe's series without one
/// successful call, around and after the fault.
///
/// The definition is the one the first director drills used (`outage_ms` in vrrp-lab.sh, as drill.sh
/// called it), so figures stay comparable with docs/drills.md:
/// - the window starts 0.5 s before the fault (the alignment of the fault and the series is good to
///   about 0.1 s, and the probe's per-call timeout makes the first failures complete after it);
/// - the last 0.5 s of the series is left out (calls cut off by the end of the run leave empty
///   slots there);
/// - a stretch counts only after a first success inside the window;
/// - a stretch still open at the end of the window that is longer than 200 ms and at least as long
///   as every closed one is ``unrecovered(openMillis:)``: the service never came back in the window;
/// - no success in the second before the window (from 1.2 s to 0.3 s before the fault) is
///   ``noLoadBefore``: there was no service to lose; no success at all is ``noData``.
/// The resolution is one slot (20 ms at the drills' 20 ms slots), or 1/rate where that is larger.
public enum Outage: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The longest stretch without a success, in milliseconds.
    case millis(Int)
    /// The series ended inside a stretch this long.
    case unrecovered(openMillis: Int)
    /// Nothing succeeded in the second before the fault.
    case noLoadBefore
    /// Nothing succeeded at all.
    case noData

    /// The milliseconds, when measured.
    public var millis: Int? { if case .millis(let m) = self { return m }; return nil }

    /// `400 ms`, `unrecovered (1.9 s open)`, `no load before the fault`, `no data`.
    public var description: String {
        switch self {
        case .millis(let m): return "\(m) ms"
        case .unrecovered(let m): return "unrecovered (\(m) ms open at the end)"
        case .noLoadBefore: return "no load before the fault"
        case .noData: return "no data"
        }
    }

    /// For medians: an unrecovered outage counts as the longest possible one, so it can never make a
    /// median look better; no load and no data are not outages.
    public var rank: Double? {
        switch self {
        case .millis(let m): return Double(m)
        case .unrecovered: return .infinity
        case .noLoadBefore, .noData: return nil
        }
    }
}

/// What happened to the probe's held connection.
public enum ConnectionFate: Sendable, Equatable, Codable, CustomStringConvertible {
    /// It answered after the fault and never broke.
    case survived
    /// It broke after the fault: how, and when (ms after the fault).
    case broken(String, afterFaultMillis: Int)
    /// It broke before the fault: how.
    case brokenBeforeFault(String)
    /// It had not answered before the fault, so survival says nothing.
    case notReadyBeforeFault
    /// It never connected: how it failed.
    case neverConnected(String)
    /// It answered before the fault but not after, without breaking (the run ended first).
    case unfinished
    /// The probe held no connection.
    case notHeld

    /// For people.
    public var description: String {
        switch self {
        case .survived: return "survived"
        case .broken(let how, let at): return "broken (\(how), \(at) ms after the fault)"
        case .brokenBeforeFault(let how): return "broken before the fault (\(how))"
        case .notReadyBeforeFault: return "not answering before the fault"
        case .neverConnected(let how): return "never connected (\(how))"
        case .unfinished: return "no answer after the fault"
        case .notHeld: return "not held"
        }
    }
}

/// A stretch during which two directors held the VIP at once.
public struct DualMasterEpisode: Codable, Sendable, Equatable {
    /// From.
    public var from: EpochMillis
    /// To.
    public var to: EpochMillis
    /// Who.
    public var directors: [String]
    /// Its length in milliseconds.
    public var millis: Int { Int((to - from).rounded()) }
}

/// The figures of one drill.
public struct DrillFigures: Codable, Sendable, Equatable {
    /// The client-visible outage (``Outage``).
    public var outage: Outage
    /// Calls the probe made, and how many succeeded.
    public var calls: Int
    /// Successful calls.
    public var successes: Int
    /// Failed calls by kind (`timeout`, `connect_refused`, `closed`, `http_503`…).
    public var errors: [String: Int]
    /// The probe's achieved rate of successful calls per second.
    public var throughput: Double
    /// The stretches during which two directors held the VIP.
    public var dualMaster: [DualMasterEpisode]
    /// Their total, in milliseconds.
    public var dualMasterMillis: Int
    /// Director kinds: ms from the fault until the master stopped holding the VIP.
    public var letGoMillis: Int?
    /// Director kinds: ms until another director held the VIP, counted from the master's links going
    /// down (a kill: the hook's first reported moment), from the master letting go of the VIP (a
    /// graceful stop), from the fault otherwise.
    public var takeoverMillis: Int?
    /// Director kinds: times another director took the VIP between the probe's start and the fault
    /// (with the master alive: false takeovers).
    public var falseTakeovers: Int
    /// Times another director took the VIP while a fault healed under load still stood
    /// (a heartbeat cut: the split-brain rule should keep this at 0).
    public var takeoversDuringFault: Int
    /// The held connection's fate.
    public var connection: ConnectionFate
    /// The held connection's longest wait between answers from 1 s before the fault (ms): mostly
    /// TCP retransmission while the VIP moves.
    public var connectionGapMillis: Int?
    /// Member kinds: ms from the fault until the director saw the target down (or drained).
    public var detectedMillis: Int?
    /// Member kinds: ms from the fault until the target's weight was 0 in the kernel.
    public var drainedMillis: Int?
    /// ms from the heal until the site was steady again (``SiteState``); `nil` if it never was.
    public var restoredMillis: Int?
    /// Who held the VIP at the end of the window.
    public var holdersAtEnd: [String]
    /// The fault's moment.
    public var faultAt: EpochMillis?
    /// The heal's moment.
    public var healAt: EpochMillis?
}

/// Turns a ``DrillRecord`` into ``DrillFigures``. Pure; every definition is documented where it is computed.
public enum DrillAnalysis {
    /// The figures of `record`.
    public static func figures(_ record: DrillRecord) -> DrillFigures {
        let fault = record.mark(.fault)?.at
        let heal = record.mark(.heal)?.at
        let probe = record.probe
        let probeStart = record.probeStart
        let outage: Outage
        if let probe, let fault, let probeStart {
            outage = self.outage(probe.timeSeries, slotMillis: probe.slotMillis ?? 100,
                                 faultSeconds: (fault - probeStart) / 1000)
        } else {
            outage = .noData
        }
        let holding = holdingIntervals(record.samples, directors: record.directors, end: record.endedAt)
        let dual = dualMaster(holding)
        let master = record.directors.contains(record.target) ? record.target : nil
        var letGo: Int?, takeover: Int?, falseTakeovers = 0, duringFault = 0
        if let master, let fault {
            let others = holding.filter { $0.key != master }.flatMap(\.value)
            let masterDrop = holding[master]?.first { $0.to >= fault && $0.to < record.endedAt }?.to
            letGo = masterDrop.map { Int(($0 - fault).rounded()) }
            // The takeover is counted from the moment the master stopped serving: for a kill, the
            // first moment its hook reports (the links down: the dead master's daemon may answer
            // /status a while longer); for a graceful stop, the master letting go of the VIP; for
            // the others, the fault itself.
            let hookMoment = record.marks.first { $0.kind == .hook && $0.at >= fault }?.at
            let ref: EpochMillis = switch record.kind {
            case .directorKill: hookMoment ?? masterDrop ?? fault
            case .directorGraceful: masterDrop ?? fault
            default: fault
            }
            takeover = others.map(\.from).filter { $0 >= fault }.min().map { Int(($0 - ref).rounded()) }
            let start = probeStart ?? record.startedAt
            falseTakeovers = others.filter { $0.from >= start && $0.from < fault }.count
            if case .after(let hold)? = record.kind.spec?.heal, hold > .zero {
                let end = heal ?? record.endedAt
                duringFault = others.filter { $0.from >= fault && $0.from < end }.count
            }
        }
        let (fate, gap) = connection(probe, faultAt: fault, probeStart: probeStart)
        var detected: Int?, drained: Int?
        if let fault, let service = record.targetService {
            let view = memberView(record, service: service, member: record.target)
            detected = view.first { $0.at >= fault && ($0.member.state == "down" || $0.member.drained) }.map { Int(($0.at - fault).rounded()) }
            drained = view.first { $0.at >= fault && $0.member.drainedInKernel }.map { Int(($0.at - fault).rounded()) }
        }
        let restored = record.mark(.restored).flatMap { r in heal.map { Int((r.at - $0).rounded()) } }
        let endHolders = record.directors.filter { d in
            record.samples.last { $0.director == d }?.holding == true
        }
        return DrillFigures(
            outage: outage, calls: probe?.requests ?? 0, successes: probe?.successes ?? 0, errors: probe?.errors ?? [:],
            throughput: probe?.throughput ?? 0, dualMaster: dual, dualMasterMillis: dual.reduce(0) { $0 + $1.millis },
            letGoMillis: letGo, takeoverMillis: takeover, falseTakeovers: falseTakeovers, takeoversDuringFault: duringFault,
            connection: fate, connectionGapMillis: gap, detectedMillis: detected, drainedMillis: drained,
            restoredMillis: restored, holdersAtEnd: endHolders, faultAt: fault, healAt: heal)
    }

    /// The outage as ``Outage`` defines it, over `slots` of `slotMillis`, the fault `faultSeconds`
    /// into the series.
    public static func outage(_ slots: [TimeSlot], slotMillis: Double, faultSeconds: Double) -> Outage {
        let from = faultSeconds - 0.2
        // The series minus its last 0.5 s.
        let drop = Int((500 / slotMillis).rounded(.up))
        let kept = slots.count > drop ? Array(slots.dropLast(drop)) : []
        var pre = 0, run = 0, longest = 0, seen = false
        for s in kept {
            if s.t >= from - 1.0 && s.t < from - 0.1 { pre += s.ok }
            guard s.t >= from - 0.3 else { continue }
            if s.ok > 0 {
                if seen && run > longest { longest = run }
                run = 0
                seen = true
            } else if seen {
                run += 1
            }
        }
        let ms = { (n: Int) in Int((Double(n) * slotMillis).rounded()) }
        if !seen { return .noData }
        if from > 0 && pre == 0 { return .noLoadBefore }
        if ms(run) > 200 && run >= longest { return .unrecovered(openMillis: ms(run)) }
        return .millis(ms(longest))
    }

    /// Each director's stretches of holding the VIP. A stretch begins at the first sample that shows
    /// it holding and ends at the first that shows it not holding (or not answering): the samples
    /// are the only evidence, so a stretch shorter than one poll can be missed. One still open ends
    /// at `end`.
    public static func holdingIntervals(_ samples: [DirectorSample], directors: [String], end: EpochMillis) -> [String: [(from: EpochMillis, to: EpochMillis)]] {
        var out: [String: [(from: EpochMillis, to: EpochMillis)]] = [:]
        for d in directors {
            var list: [(from: EpochMillis, to: EpochMillis)] = []
            var since: EpochMillis?
            for s in samples where s.director == d {
                if s.holding, since == nil { since = s.at }
                if !s.holding, let f = since { list.append((f, s.at)); since = nil }
            }
            if let f = since { list.append((f, max(f, end))) }
            out[d] = list
        }
        return out
    }

    /// The stretches during which two directors held the VIP at once.
    public static func dualMaster(_ holding: [String: [(from: EpochMillis, to: EpochMillis)]]) -> [DualMasterEpisode] {
        let names = holding.keys.sorted()
        var out: [DualMasterEpisode] = []
        for (i, a) in names.enumerated() {
            for b in names[(i + 1)...] {
                for x in holding[a] ?? [] {
                    for y in holding[b] ?? [] {
                        let lo = max(x.from, y.from), hi = min(x.to, y.to)
                        if hi > lo { out.append(DualMasterEpisode(from: lo, to: hi, directors: [a, b])) }
                    }
                }
            }
        }
        return out.sorted { $0.from < $1.from }
    }

    /// The held connection's fate, and its longest wait between answers from 1 s before the fault.
    static func connection(_ probe: StressReport?, faultAt: EpochMillis?, probeStart: EpochMillis?) -> (ConnectionFate, Int?) {
        guard let h = probe?.heldConnection else { return (.notHeld, nil) }
        guard h.connectedAt != nil else { return (.neverConnected(h.failure ?? "no answer"), nil) }
        guard let faultAt, let probeStart else { return (.unfinished, nil) }
        let fault = (faultAt - probeStart) / 1000
        let before = h.answerTimes.filter { $0 < fault }.count
        let after = h.answerTimes.count - before
        var gap = 0.0
        for (x, y) in zip(h.answerTimes, h.answerTimes.dropFirst()) where y >= fault - 1 { gap = max(gap, y - x) }
        let gapMillis = Int((gap * 1000).rounded())
        if let f = h.failure, let at = h.failedAt, at < fault { return (.brokenBeforeFault(f), gapMillis) }
        if before == 0 { return (.notReadyBeforeFault, gapMillis) }
        if let f = h.failure { return (.broken(f, afterFaultMillis: Int((((h.failedAt ?? fault) - fault) * 1000).rounded())), gapMillis) }
        return (after > 0 ? .survived : .unfinished, gapMillis)
    }

    /// The target member as the director directing traffic saw it, in time order: the one holding
    /// the VIP at each sample (a pair), or the only director.
    static func memberView(_ record: DrillRecord, service: String, member: String) -> [(at: EpochMillis, member: MemberSample)] {
        var holder: String?
        var out: [(at: EpochMillis, member: MemberSample)] = []
        for s in record.samples {
            if s.holding { holder = s.director }
            let directing = s.holdsVIP == nil || s.director == (holder ?? s.director)
            guard directing, s.reachable, let m = s.members.first(where: { $0.service == service && $0.member == member }) else { continue }
            out.append((s.at, m))
        }
        return out
    }
}
