import Foundation
import HostControl
import HostLab
import Hosts
import Net

/// A host drill: a fault injected into lab host h1, which runs one member of every pair.
public enum HostDrillKind: String, CaseIterable, Codable, Sendable {
    /// Power loss: h1's libvirtd, controllers and domains SIGKILLed. Fenced and restored.
    case crash
    /// SIGSTOP of the same set: only keepalive notices, only the fence makes it safe.
    case hang
    /// h1's uplink cut and its libvirtd frozen (data and management): fenced and restored.
    case partition
    /// Only the management connection lost; the VMs keep serving: must NOT be fenced.
    case partitionManagement = "partition-mgmt"
    /// A crash with a fence device that fails: the right answer is no restart, awaiting an operator.
    case fenceFail = "fence-fail"
}

/// What one trial of a drill measured. Times are milliseconds from the fault's wall-clock instant
/// (the `at=` that `scripts/lab/hosts` prints); nil when the step did not happen.
public struct HostDrillTrial: Codable, Sendable {
    /// Per member of an affected pair: what a client pinned to it saw.
    public struct MemberLoss: Codable, Sendable {
        /// The VM.
        public var vm: String
        /// True for a member of the lost host; false for its partner on a survivor.
        public var lost: Bool
        /// Requests sent to it during the trial.
        public var sent: Int
        /// Requests that got no 200 within the request timeout.
        public var failed: Int
        /// From the first failed request's send time to the next answered one's (ms), or nil.
        public var downWindowMs: Double?
        /// The first failed request's send time, ms from the fault (negative: before it), or nil.
        public var firstFailureMs: Double?
    }

    public var drill: HostDrillKind
    public var trial: Int
    public var vms: Int
    public var firstSignalMs: Double?
    /// Both signals agreed: the host was condemned.
    public var detectedMs: Double?
    /// Confirmed off (fence agent, or the operator in the fence-fail drill).
    public var fencedMs: Double?
    public var restartsIssuedMs: Double?
    public var startedMs: Double?
    public var healthyMs: Double?
    /// Redundancy restored, as the controller's HostRecovery says.
    public var restoredMs: Double?
    /// Fence-fail: the host entered "awaiting operator". Partition-mgmt: the partition was reported.
    public var reportedMs: Double?
    /// Fence-fail: when the operator's confirm-off was sent (the trial then ends with a restore).
    public var operatorConfirmedMs: Double?
    public var confirmedBy: String?
    public var moves: [String]
    /// A VM of the lost host was restarted, or the host fenced, where the drill says it must not be.
    public var wrongAction: String?
    /// VMs seen with live processes on two hosts in one sample.
    public var runningTwice: [String]
    /// The most VMs the sampler saw live in one sample: every VM of the site at the baseline, or
    /// the sampler is blind and its "0 twice" means nothing (the verdict then fails).
    public var mostLiveSeen: Int
    public var samples: Int
    public var largestSampleGapMs: Double
    public var clients: [MemberLoss]
    /// A director in front (tandemd with IPVS in the UML, `--director`): the fields below are set.
    public var director: Bool
    /// Per affected pair's service (`vm` is the service's name): what clients of its VIP saw.
    public var vipClients: [MemberLoss]
    /// The last lost member to leave IPVS (its kernel weight 0 in tandemd's /status), ms from the fault.
    public var outOfIPVSMs: Double?
    /// The last lost member back at its weight in IPVS, ms from the fault: redundancy restored as
    /// the clients of the VIPs see it.
    public var backInIPVSMs: Double?
    public var pass: Bool
    public var verdict: String

    /// A trial with nothing measured yet (or one that failed before measuring: `verdict` says why).
    public init(drill: HostDrillKind, trial: Int, vms: Int, verdict: String = "") {
        self.drill = drill; self.trial = trial; self.vms = vms
        moves = []; runningTwice = []; mostLiveSeen = 0; samples = 0; largestSampleGapMs = 0; clients = []
        director = false; vipClients = []; pass = false; self.verdict = verdict
    }
}

/// Settings of a run of the host drills.
public struct HostDrillSettings: Sendable {
    /// Pairs (one member of each on h1).
    public var vms: Int
    /// Bound on a trial's wait for a recovery (or a report).
    public var maxSeconds: Double
    /// Requests a second per affected pair, alternating between its two members.
    public var ratePerPair: Int
    /// Bound on one request.
    public var requestTimeout: Duration
    /// How often every host's live domains are sampled.
    public var sampleInterval: Duration
    /// The repository whose scripts/lab drives the lab.
    public var repoRoot: String
    /// The gridsvc executable the lab's domains run.
    public var gridsvc: String
    /// The tandemd executable of a director in front of the lab (IPVS in a UML kernel), or nil
    /// for none: then only clients pinned to members are measured.
    public var director: String?

    /// Creates settings.
    public init(vms: Int = 5, maxSeconds: Double = 30, ratePerPair: Int = 50, requestTimeout: Duration = .milliseconds(100),
                sampleInterval: Duration = .milliseconds(50), repoRoot: String, gridsvc: String, director: String? = nil) {
        self.vms = vms; self.maxSeconds = maxSeconds; self.ratePerPair = ratePerPair; self.requestTimeout = requestTimeout
        self.sampleInterval = sampleInterval; self.repoRoot = repoRoot; self.gridsvc = gridsvc; self.director = director
    }
}

/// Runs host drills against a fresh lab per trial: three libvirtd hosts, `vms` pairs with every
/// a-member on h1, the product's HostControl as master, a fault through `scripts/lab/hosts`, a
/// bounded client against every affected pair, and a sampler of every host's live domains.
public enum HostDrillRunner {
    /// Runs one trial of `drill`. `progress` gets a line per step.
    public static func trial(_ drill: HostDrillKind, number: Int, settings s: HostDrillSettings,
                             progress: @escaping @Sendable (String) -> Void) async throws -> HostDrillTrial {
        let rig = try await LabRig(pairs: s.vms, label: "benchhosts", repoRoot: s.repoRoot, gridsvc: s.gridsvc,
                                   gateway: s.director == nil ? nil : LabHosts.directorGateway)
        return try await rig.running { rig in try await run(drill, number: number, rig: rig, settings: s, progress: progress) }
    }

    static func run(_ drill: HostDrillKind, number: Int, rig: LabRig, settings s: HostDrillSettings,
                    progress: @escaping @Sendable (String) -> Void) async throws -> HostDrillTrial {
        let lostVMs = rig.site.vms(on: "h1")
        let client = try PairClient(namespace: rig.lab.switchNamespace, addresses: rig.site.addresses,
                                    groups: lostVMs.map { [$0, LabSite.partner(of: $0)] }, settings: s)
        let sampler = TwiceSampler(lab: rig.lab, interval: s.sampleInterval)
        let limit = Duration.milliseconds(Int64(s.maxSeconds * 1000))
        var t = HostDrillTrial(drill: drill, trial: number, vms: s.vms)
        // With a director: its tandemd up with every member in IPVS first, then a client of every
        // affected pair's VIP and a watcher of the lost members' weights.
        let front: DirectorRun?
        if let tandemd = s.director {
            progress("  director: tandemd with IPVS in a UML kernel in front of the lab")
            let status = try NamespaceHTTPProbe(namespace: rig.lab.switchNamespace, addresses: [:], threads: 2, keepBodies: false)
            do {
                try await DirectorFront.start(rig: rig, pairs: s.vms, tandemd: tandemd, probe: status)
            } catch { status.shutdown(); client.probe.shutdown(); throw error }
            let pairs = lostVMs.compactMap { vm in (1...s.vms).first { LabSite.member($0, "a") == vm || LabSite.member($0, "b") == vm } }
            var vips: [String: String] = [:]
            for p in pairs { vips[DirectorFront.service(p)] = DirectorFront.vip(p) }
            front = DirectorRun(client: try PairClient(namespace: rig.lab.switchNamespace, addresses: vips,
                                                       groups: pairs.map { [DirectorFront.service($0)] }, settings: s),
                                watcher: IPVSWatcher(probe: status, members: lostVMs, interval: .milliseconds(50)), status: status)
            t.director = true
        } else {
            front = nil
        }
        let stopAt = ContinuousClock.now + limit + .seconds(30)
        async let clientDone: Void = client.run(until: stopAt)
        async let samplerDone: Void = sampler.run(until: stopAt)
        async let frontDone: Void = front?.run(until: stopAt) ?? ()
        // A baseline before the fault: every member answers, nothing runs twice.
        try await Task.sleep(for: .milliseconds(300))
        var fault = 0.0
        func ms(_ d: Duration?) -> Double? { d.map { ($0 - rig.controllerTime(fault)).inMilliseconds } }
        func msWall(_ w: Double?) -> Double? { w.map { ($0 - fault) * 1000 } }
        func record(_ r: HostRecovery) {
            t.firstSignalMs = ms(r.firstSignalAt); t.detectedMs = ms(r.condemnedAt); t.fencedMs = ms(r.fencedAt)
            t.restartsIssuedMs = ms(r.restartsIssuedAt); t.startedMs = ms(r.startedAt); t.healthyMs = ms(r.healthyAt)
            t.restoredMs = ms(r.restoredAt); t.confirmedBy = r.confirmedBy.rawValue; t.moves = r.moves.map(\.description)
        }
        do {
            switch drill {
            case .crash, .hang, .partition:
                let command = drill == .crash ? "crash" : drill == .hang ? "hang" : "partition"
                progress("  \(command) h1")
                fault = try rig.lab.fault(command, "h1")
                guard let r = await rig.firstRecovery(within: limit) else {
                    throw LabHosts.Unavailable(description: "no recovery within \(s.maxSeconds) s; notes:\n" + rig.notes.all.joined(separator: "\n"))
                }
                record(r)
                if r.confirmedBy != .fenceAgent { t.wrongAction = "confirmed by \(r.confirmedBy.rawValue), not the fence agent" }
            case .partitionManagement:
                progress("  partition h1 --management-only")
                fault = try rig.lab.fault("partition", "h1", "--management-only")
                let reported = await LabRig.poll(upTo: limit) { rig.firstNote("[partition] h1") != nil }
                t.reportedMs = msWall(rig.firstNote("[partition] h1")?.at)
                t.detectedMs = msWall(rig.firstNote("[condemned] h1")?.at)
                // Give a wrong controller every chance to fence and restart.
                try await Task.sleep(for: .seconds(3))
                if !reported { t.wrongAction = "the partition was never reported" }
                if let f = rig.firstNote("[fencing] h1") { t.wrongAction = "fenced a host whose VMs serve: \(f.note)"; t.fencedMs = msWall(f.at) }
                if let r = rig.firstNote("[restoring] h1") { t.wrongAction = "restarted: \(r.note)"; t.restartsIssuedMs = msWall(r.at) }
                rig.lab.run("heal", "h1")
                _ = await LabRig.poll(upTo: .seconds(15)) { rig.control.phases()["h1"] == .up }
            case .fenceFail:
                rig.lab.run("fence-fault", "h1", "fail")
                progress("  fence-fault h1 fail; crash h1")
                fault = try rig.lab.fault("crash", "h1")
                let waiting = await LabRig.poll(upTo: limit) { rig.control.phases()["h1"] == .awaitingOperator }
                t.detectedMs = msWall(rig.firstNote("[condemned] h1")?.at)
                t.reportedMs = msWall(rig.firstNote("[awaiting-operator] h1")?.at)
                try await Task.sleep(for: .seconds(2))
                if !waiting { t.wrongAction = "h1 never awaited an operator (\(String(describing: rig.control.phases()["h1"])))" }
                if let r = rig.firstNote("[restoring] h1") { t.wrongAction = "restarted without a confirmed fence: \(r.note)" }
                for vm in lostVMs where !rig.hostsRunning(vm, among: ["h2", "h3"]).isEmpty {
                    t.wrongAction = "\(vm) runs on a survivor without a confirmed fence"
                }
                // The operator checked: the host is off. The trial ends with the restore.
                t.operatorConfirmedMs = msWall(wallClockSeconds())
                progress("  confirm-off h1")
                rig.control.confirmOff(host: "h1")
                if let r = await rig.firstRecovery(within: limit) { record(r) }
            }
            // A tail after the restore: the moved members answer the client again (and, with a
            // director, are back at their weight in IPVS: at most 10 s more).
            try await Task.sleep(for: .milliseconds(300))
            if let front, t.restoredMs != nil {
                _ = await LabRig.poll(upTo: .seconds(10)) { front.watcher.result().back.count == lostVMs.count }
                try await Task.sleep(for: .milliseconds(300))
            }
        } catch {
            client.stop(); sampler.stop(); front?.stop()
            _ = await (clientDone, samplerDone, frontDone)
            throw error
        }
        client.stop(); sampler.stop(); front?.stop()
        _ = await (clientDone, samplerDone, frontDone)
        t.clients = client.losses(lost: Set(lostVMs), fault: fault)
        if let front {
            t.vipClients = front.client.losses(lost: [], fault: fault)
            let seen = front.watcher.result()
            if seen.out.count == lostVMs.count { t.outOfIPVSMs = msWall(seen.out.values.max()) }
            if seen.back.count == lostVMs.count { t.backInIPVSMs = msWall(seen.back.values.max()) }
        }
        let seen = sampler.result()
        t.runningTwice = seen.twice; t.samples = seen.samples; t.largestSampleGapMs = seen.largestGapMs; t.mostLiveSeen = seen.mostLive
        (t.pass, t.verdict) = verdict(t)
        return t
    }

    /// Pass or fail, and why.
    static func verdict(_ t: HostDrillTrial) -> (Bool, String) {
        if !t.runningTwice.isEmpty { return (false, "ran twice: \(t.runningTwice.joined(separator: ", "))") }
        if t.mostLiveSeen < 2 * t.vms { return (false, "the running-twice sampler saw at most \(t.mostLiveSeen) of \(2 * t.vms) VMs live: blind") }
        if let wrong = t.wrongAction { return (false, wrong) }
        switch t.drill {
        case .crash, .hang, .partition:
            guard t.restoredMs != nil else { return (false, "not restored") }
            if t.director {
                guard t.backInIPVSMs != nil else { return (false, "restored, but not every moved member back in IPVS within 10 s") }
                return (true, "fenced, \(t.moves.count) restarted, restored and back in IPVS, 0 twice")
            }
            return (true, "fenced, \(t.moves.count) restarted, restored, 0 twice")
        case .partitionManagement:
            return (true, "reported, not fenced, nothing restarted, 0 twice")
        case .fenceFail:
            guard t.reportedMs != nil else { return (false, "never awaited an operator") }
            return (true, "no restart until the operator's confirm-off, 0 twice")
        }
    }
}

/// A bounded client of the affected pairs: `ratePerPair` GETs a second per group, cycling through
/// the group's targets, from the lab's switch namespace; each request records whether it got a
/// 200 within the timeout. Groups of a pair's two members make a client pinned to each member (a
/// request sent to a lost member fails: what a client pinned to it loses); a group of one VIP
/// (with a director in front) is what the service's clients lose.
final class PairClient: @unchecked Sendable {
    // @unchecked Sendable: `results` and `stopped` are only touched under `lock`.
    let probe: NamespaceHTTPProbe
    private let groups: [[String]]
    private let settings: HostDrillSettings
    private let lock = NSLock()
    private var results: [(vm: String, sentAt: Double, ok: Bool)] = []
    private var stopped = false

    /// `addresses`: each target's address (port 8080) seen from `namespace`.
    init(namespace: String, addresses: [String: String], groups: [[String]], settings: HostDrillSettings) throws {
        // Enough threads that requests to a dead member (each waiting its full timeout) never
        // delay the others: rate × timeout in flight, doubled.
        let inFlight = Int(Double(settings.ratePerPair * groups.count) * settings.requestTimeout.inMilliseconds / 1000) * 2 + 4
        probe = try NamespaceHTTPProbe(namespace: namespace, addresses: addresses, threads: min(64, inFlight), keepBodies: false)
        self.groups = groups; self.settings = settings
    }

    func stop() { lock.withLock { stopped = true } }

    /// Sends on a fixed schedule until ``stop()`` or `deadline`; returns when every request ended.
    func run(until deadline: ContinuousClock.Instant) async {
        let period = Duration.nanoseconds(Int64(1e9) / Int64(max(1, settings.ratePerPair)))
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            // Bounded by the deadline: at most rate × (maxSeconds + 30 s) ticks.
            for tick in 0... {
                let due = start + period * tick
                if due >= deadline || lock.withLock({ stopped }) { break }
                try? await Task.sleep(until: due, clock: .continuous)
                for g in groups {
                    let vm = g[tick % g.count]
                    group.addTask {
                        let sentAt = wallClockSeconds()
                        let ok = await self.probe.check(vm: vm, timeout: self.settings.requestTimeout)
                        self.lock.withLock { self.results.append((vm, sentAt, ok)) }
                    }
                }
            }
            await group.waitForAll()
        }
        probe.shutdown()
    }

    /// Per target: requests sent, failed, and the first down window (`fault`: wall-clock seconds).
    func losses(lost: Set<String>, fault: Double) -> [HostDrillTrial.MemberLoss] {
        let all = lock.withLock { results }.sorted { $0.sentAt < $1.sentAt }
        return groups.flatMap { $0 }.map { vm in
            let mine = all.filter { $0.vm == vm }
            var window: Double?, first: Double?
            if let firstFail = mine.firstIndex(where: { !$0.ok }) {
                let back = mine[firstFail...].first(where: \.ok)
                window = ((back?.sentAt ?? mine.last!.sentAt) - mine[firstFail].sentAt) * 1000
                first = (mine[firstFail].sentAt - fault) * 1000
            }
            return .init(vm: vm, lost: lost.contains(vm), sent: mine.count, failed: mine.filter { !$0.ok }.count, downWindowMs: window,
                         firstFailureMs: first)
        }
    }
}

/// Samples every host's live domains (``LabHosts/liveDomains(on:)``: processes, not libvirtd's
/// word) every `interval` and keeps every VM seen on two hosts in one sample.
final class TwiceSampler: @unchecked Sendable {
    // @unchecked Sendable: the mutable state is only touched under `lock`.
    private let lab: LabHosts
    private let interval: Duration
    private let lock = NSLock()
    private var twice: Set<String> = []
    private var samples = 0
    private var largestGap = 0.0
    private var mostLive = 0
    private var stopped = false

    init(lab: LabHosts, interval: Duration) { self.lab = lab; self.interval = interval }

    func stop() { lock.withLock { stopped = true } }

    /// Samples until ``stop()`` or `deadline`.
    func run(until deadline: ContinuousClock.Instant) async {
        var last: Double?
        // Bounded by the deadline.
        while ContinuousClock.now < deadline, !lock.withLock({ stopped }) {
            var on: [String: Int] = [:]
            for host in lab.hosts { for vm in lab.liveDomains(on: host) { on[vm, default: 0] += 1 } }
            let now = wallClockSeconds()
            lock.withLock {
                for (vm, n) in on where n > 1 { twice.insert(vm) }
                mostLive = max(mostLive, on.count)
                samples += 1
                if let last { largestGap = max(largestGap, (now - last) * 1000) }
            }
            last = now
            try? await Task.sleep(for: interval)
        }
    }

    func result() -> (twice: [String], samples: Int, largestGapMs: Double, mostLive: Int) {
        lock.withLock { (twice.sorted(), samples, largestGap, mostLive) }
    }
}
