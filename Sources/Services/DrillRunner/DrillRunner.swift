import Drill
import Foundation
import LoadReport
import Net
import Synchronization
import Syscall
import Topology

/// What one drill runs against, resolved from the topology, the drill file and the command line.
public struct DrillSettings: Sendable {
    /// The site.
    public var topology: Topology
    /// Its file (hooks get it as TANDEM_DRILL_TOPOLOGY).
    public var topologyPath: String
    /// The drill file.
    public var drills: DrillFile
    /// The kind.
    public var kind: DrillKind
    /// The service to load (`nil`: the drill file's, or the target's).
    public var service: String?
    /// What to hurt (`nil`: the master for director kinds, the service's first member, the ring's first node).
    public var target: String?
    /// Whose pair this is, for reports (`tandemd`, `keepalived`), or the site's name.
    public var label: String
    /// The tandem-stress executable.
    public var stress: String
    /// Where reports go.
    public var reportDirectory: String
    /// The reports' base name (`nil`: site-kind-label-time).
    public var reportName: String?

    /// Creates settings.
    public init(topology: Topology, topologyPath: String, drills: DrillFile, kind: DrillKind, service: String? = nil, target: String? = nil,
                label: String, stress: String, reportDirectory: String, reportName: String? = nil) {
        self.topology = topology; self.topologyPath = topologyPath; self.drills = drills; self.kind = kind
        self.service = service; self.target = target; self.label = label; self.stress = stress
        self.reportDirectory = reportDirectory; self.reportName = reportName
    }
}

/// What a drill wrote.
public struct DrillOutcome: Sendable {
    /// The result (record, figures, verdict).
    public var result: DrillResult
    /// The HTML report.
    public var htmlPath: String
    /// The JSON report.
    public var jsonPath: String
}

/// Runs one drill on a site: executes ``DrillMachine``'s actions (the directors watched, hooks run,
/// the tandem-stress probe started and stopped, timers on an injected clock), then analyses what
/// it recorded and writes the reports.
public struct DrillRunner<C: Clock<Duration>>: Sendable {
    let settings: DrillSettings
    let progress: @Sendable (String) -> Void
    let clock: C

    /// A runner; `progress` receives a line at every step.
    public init(_ settings: DrillSettings, clock: C, progress: @escaping @Sendable (String) -> Void) {
        self.settings = settings; self.clock = clock; self.progress = progress
    }

    /// The resolved parts of a drill.
    struct Resolved: Sendable {
        var spec: DrillKindSpec
        var hooks: DrillFile.Hooks
        var service: VirtualService
        var probeHost: String
        var probePort: Int
        var target: String?
        var targetService: String?
        var directors: [String]
        var heal: DrillKindSpec.Heal
    }

    /// Checks everything a drill needs before anything is touched; every refusal says what to set.
    func resolve() throws(DrillRunError) -> Resolved {
        let s = settings, t = s.topology
        guard let spec = s.kind.spec else {
            throw DrillRunError("unknown drill kind '\(s.kind)'", hint: "known kinds: \(DrillKindSpec.names.joined(separator: ", "))")
        }
        let hooks: DrillFile.Hooks
        do { hooks = try s.drills.hooks(for: s.kind) } catch { throw DrillRunError(error.message, hint: error.hint) }
        var target = s.target
        var targetService: String?
        switch spec.target {
        case .master:
            let pair = t.directors?.members ?? []
            guard pair.count == 2 else {
                throw DrillRunError("\(s.kind) needs a director pair, and \(s.topologyPath) has none", hint: "run it on a site whose topology has `directors:`")
            }
            if let tg = target, !pair.contains(tg) {
                throw DrillRunError("--target \(tg) is not a director of the pair (\(pair.joined(separator: ", ")))", hint: "name one of them, or leave --target out for the master")
            }
        case .member, .ringNode:
            if target == nil {
                if spec.target == .ringNode {
                    target = t.database?.members.first
                } else {
                    target = (s.service ?? s.drills.service).flatMap { t.service(named: $0) }?.members.first?.name
                }
            }
            guard let tg = target else {
                throw DrillRunError("\(s.kind) needs a target", hint: spec.target == .ringNode ? "the topology has no database ring; pass --target NODE" : "pass --target MEMBER (a VM)")
            }
            guard let owner = t.services.first(where: { $0.members.contains { $0.name == tg } }) else {
                throw DrillRunError("--target \(tg) is not a member of any service", hint: "name a member VM of a service in \(s.topologyPath)")
            }
            targetService = owner.name
        }
        let serviceName = s.service ?? s.drills.service ?? targetService ?? t.services.first?.name
        guard let name = serviceName, let service = t.service(named: name) else {
            throw DrillRunError("no service to load: '\(serviceName ?? "")' is not in the topology", hint: "pass --service NAME or set `service:` in \(s.drills.file)")
        }
        let host: String, port: Int
        if let explicit = s.drills.probe.target {
            guard let hp = DrillFileLoader.parseHostPort(explicit) else { throw DrillRunError("probe.target \(explicit) is not IPV4:PORT", hint: "fix \(s.drills.file)") }
            (host, port) = hp
        } else {
            guard service.vip.family == .v4, service.port > 0 else {
                throw DrillRunError("the probe calls IPv4 TCP addresses, and \(service.name) is \(service.vip) port \(service.port)",
                                    hint: "set probe.target in \(s.drills.file) to an IPv4 address:port that reaches \(service.name)")
            }
            (host, port) = ("\(service.vip)", Int(service.port))
        }
        let directors = s.drills.directors.map(\.name)
        var heal = spec.heal
        if case .after = heal, let hold = hooks.hold { heal = .after(hold) }
        return Resolved(spec: spec, hooks: hooks, service: service, probeHost: host, probePort: port, target: target,
                        targetService: targetService, directors: directors, heal: heal)
    }

    /// Runs the drill and writes its reports.
    public func run() async throws(DrillRunError) -> DrillOutcome {
        let r = try resolve()
        let s = settings
        let timing = s.drills.timing
        var hold = Duration.zero
        if case .after(let h) = r.heal { hold = h }
        let plan = DrillMachine.Plan(
            kind: s.kind, heal: r.heal, baseline: timing.baseline, observe: timing.observe,
            hasPrepareHook: r.hooks.prepare != nil, hasHealHook: r.hooks.heal != nil,
            prepareBound: timing.settle, probeStartBound: .seconds(30), settleBound: timing.settle,
            probeBound: timing.baseline + hold + timing.observe * 2 + r.hooks.timeout + .seconds(10))
        let started = Self.now()
        let watch = DirectorWatch(service: r.targetService ?? r.service.name)
        let run = RunState()
        let (events, sink) = AsyncStream.makeStream(of: DrillMachine.Event.self)
        var machine = DrillMachine(plan: plan)
        say("drill \(s.kind) on \(s.topology.site) (\(s.label)): probe \(r.service.name) at \(r.probeHost):\(r.probePort)"
            + (r.target.map { ", target \($0)" } ?? ", target: the master"))
        var aborted: String?
        await withTaskGroup(of: Void.self) { group in
            sink.yield(.start)
            group.addTask {
                // Every poll interval, the site as the latest samples show it (only while watching).
                while !Task.isCancelled {
                    do { try await clock.sleep(for: max(timing.poll, .milliseconds(20))) } catch { return }
                    if run.watching { sink.yield(.site(SiteState.assess(latest: watch.current, directors: r.directors))) }
                }
            }
            let trace = ProcessInfo.processInfo.environment["TANDEM_DRILL_TRACE"] != nil
            loop: for await event in events {
                let actions = machine.on(event)
                if trace, !(actions.isEmpty && { if case .site = event { return true }; return false }()) {
                    say("trace: \(event) → \(actions)")
                }
                for action in actions {
                    switch action {
                    case .startWatching:
                        do { try watch.start(s.drills.directors, every: timing.poll); run.watching = true } catch {
                            sink.yield(.hookFinished(.prepare, succeeded: false, outcome: "the directors cannot be watched: \(error)"))
                        }
                    case .stopWatching:
                        run.watching = false
                    case .runHook(let stage):
                        let argv: [String]? = switch stage { case .prepare: r.hooks.prepare; case .inject: r.hooks.inject; case .heal: r.hooks.heal }
                        guard let argv else { sink.yield(.hookFinished(stage, succeeded: true, outcome: "none configured")); continue }
                        let env = hookEnvironment(stage, r, master: machine.holderAtStart)
                        group.addTask {
                            let outcome = await runHook(stage, argv, env: env, timeout: r.hooks.timeout, run: run)
                            sink.yield(.hookFinished(stage, succeeded: outcome.succeeded, outcome: outcome.outcome))
                        }
                    case .startProbe(let bound):
                        do throws(DrillRunError) { try startProbe(r, bound: bound, run: run, sink: sink) } catch {
                            sink.yield(.probeEnded(succeeded: false, detail: error.description))
                        }
                    case .stopProbe:
                        run.probe?.terminate()
                    case .setTimer(let timer, let after):
                        let token = run.arm(timer)
                        group.addTask {
                            do { try await clock.sleep(for: after) } catch { return }
                            if run.fires(timer, token) { sink.yield(.timer(timer)) }
                        }
                    case .cancelTimer(let timer):
                        run.disarm(timer)
                    case .mark(let kind, let label):
                        run.mark(DrillMark(at: Self.now(), kind: kind, label: label))
                    case .say(let text):
                        say(text)
                    case .finish(let why):
                        aborted = why
                        break loop
                    }
                }
            }
            sink.finish()
            group.cancelAll()
        }
        // The probe ends with its report (SIGTERM asked it to); bounded, then killed.
        if let p = run.probe {
            p.terminate()
            if await p.wait(bound: .seconds(15)).timedOut { say("the probe did not stop within 15 s; killed") }
        }
        await watch.stop()
        let probe = run.probe.flatMap { _ in Self.readProbe(run.probeFile) }
        if run.probe != nil && probe == nil { run.problem("the probe wrote no report (\(run.probeFile)): \(run.probeTail)") }
        let record = DrillRecord(
            kind: s.kind, label: s.label, site: s.topology.site, service: r.service.name, probeTarget: "\(r.probeHost):\(r.probePort)",
            target: r.target ?? machine.holderAtStart ?? "the master", targetService: r.targetService, directors: r.directors,
            startedAt: started, endedAt: Self.now(), probe: probe, samples: watch.all, marks: run.marks.sorted { $0.at < $1.at },
            hooks: run.hooks, aborted: aborted)
        let result = DrillResult(record: record, expect: s.drills.expectations[s.kind], problems: machine.problems + run.problems)
        return try write(result)
    }

    private func say(_ text: String) { progress(text) }

    /// The environment every hook gets: what the drill is and whom it hits.
    func hookEnvironment(_ stage: DrillMachine.Stage, _ r: Resolved, master: String?) -> [String: String] {
        let s = settings, t = s.topology
        var env = s.drills.environment
        env["TANDEM_DRILL_KIND"] = s.kind.rawValue
        env["TANDEM_DRILL_STAGE"] = stage.rawValue
        env["TANDEM_DRILL_SITE"] = t.site
        env["TANDEM_DRILL_TOPOLOGY"] = s.topologyPath
        env["TANDEM_DRILL_FILE"] = s.drills.file
        env["TANDEM_DRILL_LABEL"] = s.label
        env["TANDEM_DRILL_SERVICE"] = r.service.name
        env["TANDEM_DRILL_VIP"] = "\(r.service.vip)"
        env["TANDEM_DRILL_PORT"] = "\(r.service.port)"
        let target = r.target ?? master ?? ""
        env["TANDEM_DRILL_TARGET"] = target
        if let ts = r.targetService, let svc = t.service(named: ts), let m = svc.members.first(where: { $0.name == target }) {
            env["TANDEM_DRILL_TARGET_SERVICE"] = ts
            if let a = t.address(of: m, in: svc) { env["TANDEM_DRILL_TARGET_ADDRESS"] = "\(a):\(m.port == 0 ? svc.port : m.port)" }
        } else if let a = t.addresses(ofNode: target)?.first {
            env["TANDEM_DRILL_TARGET_ADDRESS"] = "\(a.address)"
        }
        if let pair = t.directors?.members, pair.contains(target) {
            env["TANDEM_DRILL_PEER"] = pair.first { $0 != target } ?? ""
        }
        return env
    }

    /// Runs one hook, recording it and the events it reports (`tandem-drill-event EPOCH_MS LABEL`).
    func runHook(_ stage: DrillMachine.Stage, _ argv: [String], env: [String: String], timeout: Duration, run: RunState) async -> HookRun {
        let started = Self.now()
        let child: ChildProcess
        do {
            child = try ChildProcess(argv, environment: env) { line in
                let p = line.split(separator: " ", maxSplits: 2)
                if p.count >= 2, p[0] == "tandem-drill-event", let at = Double(p[1]) {
                    run.mark(DrillMark(at: at, kind: .hook, label: p.count > 2 ? String(p[2]) : stage.rawValue))
                }
            }
            try child.start()
        } catch {
            let h = HookRun(stage: stage.rawValue, command: argv, started: started, ended: Self.now(), outcome: "could not start: \(error)", succeeded: false, output: "")
            run.hook(h)
            return h
        }
        say("\(stage.rawValue) hook: \(argv.joined(separator: " "))")
        let (end, timedOut) = await child.wait(bound: timeout)
        let outcome = timedOut ? "timed out after \(timeout.humanReadable)" : end.description
        let h = HookRun(stage: stage.rawValue, command: argv, started: started, ended: Self.now(), outcome: outcome,
                        succeeded: !timedOut && end == .exited(0), output: child.output)
        run.hook(h)
        if !h.succeeded { say("\(stage.rawValue) hook failed: \(outcome)\(h.output.isEmpty ? "" : ": " + h.output.suffix(300))") }
        return h
    }

    /// Starts tandem-stress against the service; its t = 0 and its end come back as events.
    func startProbe(_ r: Resolved, bound: Duration, run: RunState, sink: AsyncStream<DrillMachine.Event>.Continuation) throws(DrillRunError) {
        let p = settings.drills.probe
        let seconds = max(1, Int((bound.inSeconds).rounded(.up)))
        let argv = StressCommand.argv(
            stress: settings.stress, targets: [.init(call: p.call, host: r.probeHost, port: r.probePort)], mix: [(p.call, 1)],
            load: .open(rate: p.rate, connections: p.connections), timeoutMillis: p.timeoutMillis, slotMillis: p.slotMillis,
            seconds: seconds, path: p.path, seed: p.seed, users: p.users, holdConnectionMillis: p.holdConnectionMillis)
        let out = open(run.probeFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else {
            throw DrillRunError("cannot write the probe's report to \(run.probeFile): errno \(errno)", hint: "check that the temporary directory is writable")
        }
        defer { close(out) }   // the child has its own copy once started
        let say = self.say
        let child = try ChildProcess(argv, environment: [:], stdout: out) { line in
            if line.hasPrefix("tandem-stress: started at epoch-ms ") {
                sink.yield(.probeStarted)
            } else if line.hasPrefix("tandem-stress: t=") {
                say("probe: " + line.dropFirst("tandem-stress: ".count))
            } else {
                run.probeLine(line)
            }
        }
        child.onEnd { end in
            sink.yield(.probeEnded(succeeded: end == .exited(0), detail: end == .exited(0) ? "ended" : "\(end): \(run.probeTail)"))
        }
        try child.start()
        run.probe = child
        say("probe: \(argv.joined(separator: " "))")
    }

    static func readProbe(_ path: String) -> StressReport? {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return nil }
        return try? JSONDecoder().decode(StressReport.self, from: data)
    }

    /// Writes the HTML and JSON reports.
    func write(_ result: DrillResult) throws(DrillRunError) -> DrillOutcome {
        let s = settings
        let base = s.reportName ?? "\(s.topology.site)-\(s.kind)-\(s.label)-\(Self.stamp(result.record.startedAt))"
        let dir = s.reportDirectory
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let html = "\(dir)/\(base).html", json = "\(dir)/\(base).json"
            try DrillReport.html(result).write(toFile: html, atomically: true, encoding: .utf8)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(result).write(to: URL(fileURLWithPath: json))
            return DrillOutcome(result: result, htmlPath: html, jsonPath: json)
        } catch {
            throw DrillRunError("cannot write the reports into \(dir): \(error.localizedDescription)", hint: "pass --report-dir to a writable directory")
        }
    }

    static func now() -> EpochMillis { Double(Clocks.wallMicroseconds()) / 1000 }

    /// `20261123-051802`.
    static func stamp(_ t: EpochMillis) -> String {
        DrillReport.timestampCompact(t)
    }
}

/// What a running drill has recorded, shared by the tasks and threads that record it.
final class RunState: Sendable {
    private let state = Mutex(S())
    private struct S {
        var marks: [DrillMark] = []
        var hooks: [HookRun] = []
        var problems: [String] = []
        var timers: [DrillMachine.Timer: Int] = [:]
        var nextToken = 0
        var probe: ChildProcess?
        var probeLines: [String] = []
        var watching = false
    }
    /// Where the probe writes its report.
    let probeFile: String

    init() {
        probeFile = NSTemporaryDirectory() + "tandem-drill-probe-\(getpid())-\(UUID().uuidString).json"
    }

    var marks: [DrillMark] { state.withLock { $0.marks } }
    var hooks: [HookRun] { state.withLock { $0.hooks } }
    var problems: [String] { state.withLock { $0.problems } }
    var probe: ChildProcess? {
        get { state.withLock { $0.probe } }
        set { state.withLock { $0.probe = newValue } }
    }
    var watching: Bool {
        get { state.withLock { $0.watching } }
        set { state.withLock { $0.watching = newValue } }
    }
    /// The probe's last lines of output, for messages.
    var probeTail: String { state.withLock { $0.probeLines.suffix(3).joined(separator: " | ") } }

    func mark(_ m: DrillMark) { state.withLock { $0.marks.append(m) } }
    func hook(_ h: HookRun) { state.withLock { $0.hooks.append(h) } }
    func problem(_ p: String) { state.withLock { $0.problems.append(p) } }
    func probeLine(_ l: String) { state.withLock { $0.probeLines.append(l); if $0.probeLines.count > 50 { $0.probeLines.removeFirst() } } }

    /// Arms `timer`; the token tells a firing from a stale one.
    func arm(_ timer: DrillMachine.Timer) -> Int {
        state.withLock { s in s.nextToken += 1; s.timers[timer] = s.nextToken; return s.nextToken }
    }
    func disarm(_ timer: DrillMachine.Timer) { state.withLock { _ = $0.timers.removeValue(forKey: timer) } }
    /// Whether the firing of `timer` armed with `token` still counts (once).
    func fires(_ timer: DrillMachine.Timer, _ token: Int) -> Bool {
        state.withLock { s in
            guard s.timers[timer] == token else { return false }
            s.timers.removeValue(forKey: timer)
            return true
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: probeFile) }
}
