import Net

/// One drill as a state machine with no I/O: prepare → baseline → inject → observe → heal → settle
/// → verdict. Timers, processes, polls and the probe live outside (the runner); they feed events in
/// and execute the returned actions, so the order of a drill can be read, and tested, as lines of
/// event → actions.
///
/// - **prepare**: the directors are watched (and a `prepare` hook run, if configured) until the site
///   is steady (``SiteState``), bounded by ``Plan/prepareBound``.
/// - **baseline**: the probe starts; once it runs, ``Plan/baseline`` of load before the fault.
/// - **inject**: the inject hook. A hook that fails ends the drill (after a heal, if one is
///   configured: a half-injected fault is still healed).
/// - **observe**: the fault stands. Kinds whose heal is part of the measure (``DrillKindSpec/Heal/after(_:)``)
///   heal after their hold, then observe ``Plan/observe``; the others observe ``Plan/observe`` from
///   the fault's end.
/// - **heal / settle**: the probe stops, the heal hook runs (if it has not), and the site must be
///   steady again within ``Plan/settleBound``: that moment is "restored".
/// - **verdict**: ``Action/finish(aborted:)``; the runner analyses what it recorded.
public struct DrillMachine: Sendable, Equatable {
    /// Where the drill stands.
    public enum Phase: String, Sendable, Equatable {
        case idle, prepare, baseline, inject, observe, heal, settle, verdict
    }

    /// Which hook.
    public enum Stage: String, Sendable, Equatable, Codable {
        /// Before anything: brings the site to its starting state (optional).
        case prepare
        /// The fault.
        case inject
        /// Ends the fault and restores the site.
        case heal
    }

    /// The machine's timers; each fires at most once per drill.
    public enum Timer: String, Sendable, Equatable {
        /// The site must be steady by then.
        case prepareDeadline
        /// The probe must have started by then.
        case probeStartDeadline
        /// The baseline is over: inject.
        case baselineEnd
        /// The fault has stood long enough: heal.
        case healDue
        /// The window is over: stop the probe.
        case observeEnd
        /// The site must be steady again by then.
        case settleDeadline
    }

    /// What the outside tells the machine.
    public enum Event: Sendable, Equatable {
        /// Begin.
        case start
        /// The site as the latest samples show it (after every round of polls).
        case site(SiteState)
        /// A hook returned (or was killed at its timeout).
        case hookFinished(Stage, succeeded: Bool, outcome: String)
        /// The probe reported its t = 0.
        case probeStarted
        /// The probe's process ended; `detail` says how.
        case probeEnded(succeeded: Bool, detail: String)
        /// A timer set by ``Action/setTimer(_:after:)`` fired.
        case timer(Timer)
    }

    /// What the outside must do.
    public enum Action: Sendable, Equatable {
        /// Start reading the directors (every ``Plan`` poll interval) and reporting ``Event/site(_:)``.
        case startWatching
        /// Stop reading them.
        case stopWatching
        /// Run this hook.
        case runHook(Stage)
        /// Start the probe, bounded by this duration.
        case startProbe(bound: Duration)
        /// Ask the probe to stop (it ends with its report).
        case stopProbe
        /// Fire ``Event/timer(_:)`` after this long.
        case setTimer(Timer, after: Duration)
        /// Forget a timer.
        case cancelTimer(Timer)
        /// Put a mark on the time axis, now.
        case mark(DrillMark.Kind, String)
        /// Tell the people watching what is happening.
        case say(String)
        /// The drill is over: collect, analyse, judge and report. `aborted` says why it stopped early.
        case finish(aborted: String?)
    }

    /// How one drill runs.
    public struct Plan: Sendable, Equatable {
        /// The kind (for messages).
        public var kind: DrillKind
        /// When the heal hook runs.
        public var heal: DrillKindSpec.Heal
        /// Load before the fault.
        public var baseline: Duration
        /// Load after the fault (or after the heal, for kinds healed under load).
        public var observe: Duration
        /// A `prepare` hook is configured.
        public var hasPrepareHook: Bool
        /// A `heal` hook is configured.
        public var hasHealHook: Bool
        /// How long the site may take to be steady before the drill.
        public var prepareBound: Duration
        /// How long the probe may take to start.
        public var probeStartBound: Duration
        /// How long the site may take to be steady after the heal.
        public var settleBound: Duration
        /// The probe's own bound: it never runs longer, even if nobody stops it.
        public var probeBound: Duration

        /// Creates a plan.
        public init(kind: DrillKind, heal: DrillKindSpec.Heal, baseline: Duration, observe: Duration, hasPrepareHook: Bool,
                    hasHealHook: Bool, prepareBound: Duration, probeStartBound: Duration, settleBound: Duration, probeBound: Duration) {
            self.kind = kind; self.heal = heal; self.baseline = baseline; self.observe = observe
            self.hasPrepareHook = hasPrepareHook; self.hasHealHook = hasHealHook; self.prepareBound = prepareBound
            self.probeStartBound = probeStartBound; self.settleBound = settleBound; self.probeBound = probeBound
        }
    }

    /// The plan.
    public let plan: Plan
    /// The current phase.
    public private(set) var phase: Phase = .idle
    /// The holder of the VIP when the site was found steady: the master a director drill hits.
    public private(set) var holderAtStart: String?
    /// Problems that do not stop the drill but that its verdict must name (a failed heal, a probe
    /// that ended before its window).
    public private(set) var problems: [String] = []

    private var prepared = false
    private var steady = false
    private var lastUnsteady = "no reading yet"
    private var injected = false
    private var healStarted = false
    private var healFinished = false
    private var probeRunning = false
    private var probeFinished = false
    private var aborting: String?

    /// A machine for `plan`, idle until ``Event/start``.
    public init(plan: Plan) { self.plan = plan }

    /// Feeds one event and returns what to do.
    public mutating func on(_ event: Event) -> [Action] {
        switch (phase, event) {
        case (.idle, .start):
            phase = .prepare
            prepared = !plan.hasPrepareHook
            var out: [Action] = [.say("prepare: waiting for a steady site (at most \(seconds(plan.prepareBound)))"),
                                 .startWatching, .setTimer(.prepareDeadline, after: plan.prepareBound)]
            if plan.hasPrepareHook { out.append(.runHook(.prepare)) }
            return out

        case (.prepare, .site(let s)):
            steady = s.isSteady
            switch s {
            case .steady(let holder): holderAtStart = holder
            case .unsteady(let why): lastUnsteady = why
            }
            return prepared && steady ? beginBaseline() : []
        case (.prepare, .hookFinished(.prepare, let ok, let outcome)):
            guard ok else { return abort("the prepare hook failed (\(outcome))") }
            prepared = true
            return steady ? beginBaseline() : []
        case (.prepare, .timer(.prepareDeadline)):
            return abort(prepared ? "the site was not steady within \(seconds(plan.prepareBound)): \(lastUnsteady)"
                                  : "the prepare hook did not finish within \(seconds(plan.prepareBound))")

        case (.baseline, .probeStarted):
            probeRunning = true
            return [.cancelTimer(.probeStartDeadline), .mark(.probeStart, "probe running"),
                    .say("baseline: probe running, fault in \(seconds(plan.baseline))"), .setTimer(.baselineEnd, after: plan.baseline)]
        case (.baseline, .timer(.probeStartDeadline)):
            return abort("the probe did not start within \(seconds(plan.probeStartBound))")
        case (.baseline, .timer(.baselineEnd)):
            phase = .inject
            injected = true
            return [.mark(.fault, "fault: \(plan.kind)"), .say("inject: \(plan.kind)"), .runHook(.inject)]

        case (.inject, .hookFinished(.inject, let ok, let outcome)):
            guard ok else { return abort("the inject hook failed (\(outcome))") }
            phase = .observe
            var out: [Action] = [.mark(.faultDone, "fault in place")]
            switch plan.heal {
            case .after(let hold):
                out += [.say("observe: the fault stands \(seconds(hold)), then heal"), .setTimer(.healDue, after: hold)]
            case .afterProbe:
                out += [.say("observe: \(seconds(plan.observe)) under the fault"), .setTimer(.observeEnd, after: plan.observe)]
            }
            return out
        case (.observe, .timer(.healDue)):
            guard plan.hasHealHook else {
                problems.append("no heal hook: the fault was never ended")
                return [.setTimer(.observeEnd, after: plan.observe)]
            }
            phase = .heal
            healStarted = true
            return [.mark(.heal, "heal"), .say("heal: ending the fault under load"), .runHook(.heal)]
        case (.heal, .hookFinished(.heal, let ok, let outcome)):
            healFinished = true
            if let reason = aborting { return finish(reason, after: [.mark(.healDone, "healed")]) }
            if !ok { problems.append("the heal hook failed (\(outcome))") }
            phase = .observe
            return [.mark(.healDone, "healed"), .say("observe: \(seconds(plan.observe)) after the heal"),
                    .setTimer(.observeEnd, after: plan.observe)]
        case (.observe, .timer(.observeEnd)):
            phase = .settle
            var out: [Action] = [.mark(.probeStop, "probe stop"), .stopProbe, .setTimer(.settleDeadline, after: plan.settleBound)]
            if plan.hasHealHook && !healStarted {
                healStarted = true
                out += [.mark(.heal, "heal"), .say("heal: restoring the site"), .runHook(.heal)]
            } else {
                out.append(.say("settle: waiting for a steady site (at most \(seconds(plan.settleBound)))"))
            }
            return out
        case (.settle, .hookFinished(.heal, let ok, let outcome)):
            healFinished = true
            if !ok { problems.append("the heal hook failed (\(outcome))") }
            return [.mark(.healDone, "healed"), .say("settle: waiting for a steady site (at most \(seconds(plan.settleBound)))")]
        case (.settle, .site(let s)):
            if case .unsteady(let why) = s { lastUnsteady = why }
            guard s.isSteady, probeFinished, healFinished || !plan.hasHealHook else { return [] }
            return finish(nil, after: [.cancelTimer(.settleDeadline), .mark(.restored, "restored")])
        case (.settle, .timer(.settleDeadline)):
            problems.append("the site was not steady within \(seconds(plan.settleBound)) after the heal: \(lastUnsteady)")
            return finish(nil, after: [])

        case (_, .probeEnded(let ok, let detail)):
            probeRunning = false
            probeFinished = true
            if !ok { problems.append("the probe failed: \(detail)") }
            switch phase {
            case .baseline: return abort("the probe ended before the fault: \(detail)")
            case .inject, .observe, .heal where aborting == nil:
                problems.append("the probe ended before the window did (the load did not cover the fault and its aftermath)")
                return []
            default: return []
            }

        default:
            // Late or stray events (a site reading during the window, a timer already cancelled).
            return []
        }
    }

    private mutating func beginBaseline() -> [Action] {
        phase = .baseline
        let who = holderAtStart.map { ", VIP on \($0)" } ?? ""
        return [.cancelTimer(.prepareDeadline), .say("baseline: site steady\(who); starting the probe"),
                .startProbe(bound: plan.probeBound), .setTimer(.probeStartDeadline, after: plan.probeStartBound)]
    }

    /// Stops early; a fault already (partly) injected is healed first.
    private mutating func abort(_ reason: String) -> [Action] {
        var out: [Action] = [.say("stopping: \(reason)")]
        if probeRunning { out.append(.stopProbe) }
        if injected && plan.hasHealHook && !healStarted {
            aborting = reason
            phase = .heal
            healStarted = true
            return out + [.mark(.heal, "heal"), .runHook(.heal)]
        }
        return finish(reason, after: out)
    }

    private mutating func finish(_ aborted: String?, after actions: [Action]) -> [Action] {
        phase = .verdict
        return actions + [.stopWatching, .finish(aborted: aborted)]
    }

    private func seconds(_ d: Duration) -> String { d.humanReadable }
}
